// Ranking losses as native functions on tensors with autograd, computed off
// the JS thread. Each takes embeddings and returns a scalar loss tensor whose
// graph reaches the models' parameters (when the embeddings were made with
// {grad: true}).
//
// [async] loss(name, tensors: Tensor[], options) -> Promise<Tensor>  (a scalar, float32)
//
//   "cosine_margin"              [query, positive, negative], each [B, D]; {margin = 0.2}
//       mean(relu(margin - cos(q, pos) + cos(q, neg)))  (the fixtures' training step)
//   "prob_margin_ranking"        [query, positive, negative (, positiveConfidence, negativeConfidence [B])];
//                                {margin = 1.0}
//       EmbeddingStudio's ProbMarginRankingLoss with cosine similarity as the rank
//       (target +1): mean(sigmoid(margin - (cos(q, pos) - cos(q, neg))) * min(cp, cn)),
//       confidences 1 when not given.
//   "cosine_prob_margin_ranking" same inputs; {margin = 0.05, scale = 400, shift = 6}
//       EmbeddingStudio's CosineProbMarginRankingLoss as it was meant to work:
//       mean(sigmoid(scale * (margin - (cos(q, pos) - cos(q, neg))) - shift) * min(cp, cn)).
//       In the original the subclass's `__adjust` is name-mangled to
//       `_CosineProbMarginRankingLoss__adjust`, while the base class's forward calls
//       `_ProbMarginRankingLoss__adjust`, so the steep cosine adjustment never ran
//       and the loss was the plain ProbMarginRankingLoss. The default margin is
//       small because with the original's 1.0 this sigmoid saturates (loss 1, zero
//       gradient) unless cos(q, pos) - cos(q, neg) > 0.985. Written with sigmoid: the
//       original's literal 1 / (1 + exp(-400 x + 6)) overflows float32 for pairs
//       already ranked right (exp(>88) = inf) and its gradient is then NaN.
//   "info_nce"                   [query, positive (, negatives [M, D])]; {temperature = 0.05}
//       in-batch InfoNCE: logits[i, j] = cos(q_i, c_j) / temperature over the
//       candidates c = positives (then the extra negatives); cross-entropy with
//       target j = i.
#pragma once
#include <napi.h>

namespace et {

void InitLosses(Napi::Env env, Napi::Object exports);

}  // namespace et
