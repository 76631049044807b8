// BertOptions: the config.json of a BertModel or XLMRobertaModel checkpoint,
// shared by every BERT sub-block (models/bert_*.h). XLM-R is BERT with
// position_offset set, not a fork.
#pragma once
#include <torch/torch.h>

#include <string>

namespace et {

// Field = config.json key, default = HF BertConfig default. The last three
// fields are not config.json keys: the factories in models/bert.cc set them.
struct BertOptions {
  TORCH_ARG(int64_t, vocab_size) = 30522;
  TORCH_ARG(int64_t, hidden_size) = 768;
  TORCH_ARG(int64_t, num_hidden_layers) = 12;
  TORCH_ARG(int64_t, num_attention_heads) = 12;
  TORCH_ARG(int64_t, intermediate_size) = 3072;
  // "gelu" (exact, erf: HF's default), "gelu_new" / "gelu_pytorch_tanh" (tanh
  // approximation) or "relu".
  TORCH_ARG(std::string, hidden_act) = "gelu";
  TORCH_ARG(double, hidden_dropout_prob) = 0.1;
  TORCH_ARG(double, attention_probs_dropout_prob) = 0.1;
  TORCH_ARG(int64_t, max_position_embeddings) = 512;
  TORCH_ARG(int64_t, type_vocab_size) = 2;
  TORCH_ARG(double, layer_norm_eps) = 1e-12;
  TORCH_ARG(int64_t, pad_token_id) = 0;
  // 0: BERT, token i has position i. pad_token_id + 1: RoBERTa / XLM-R (HF's
  // create_position_ids_from_input_ids): real tokens (id != pad_token_id) count
  // up from position_offset, padding tokens sit at pad_token_id, so a sequence
  // may hold at most max_position_embeddings - position_offset tokens.
  TORCH_ARG(int64_t, position_offset) = 0;
  // Whether the checkpoint has pooler.dense (HF's add_pooling_layer argument).
  TORCH_ARG(bool, add_pooling_layer) = true;
  // What forward returns: "none" -> last_hidden_state [B, L, H]; "pooler" ->
  // tanh(dense(token 0)) [B, H]; "mean" -> mean over attention_mask == 1
  // tokens [B, H]; "mean_l2" -> that, L2-normalised (E5) [B, H].
  TORCH_ARG(std::string, pooling) = "none";
};

// Throws c10::Error naming the field, its value and the rule it breaks.
void CheckBertOptions(const BertOptions& options);

}  // namespace et
