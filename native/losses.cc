#include "losses.h"

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "compute_thread.h"
#include "tensor.h"
#include "workers.h"

namespace et {

namespace {

using Options = std::map<std::string, double>;

double Option(const Options& options, const char* key, double fallback) {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

void CheckEmbeddings(const std::string& name, const std::vector<at::Tensor>& t, size_t first, size_t count,
                     const char* const* labels) {
  for (size_t i = first; i < first + count; ++i) {
    TORCH_CHECK(t[i].dim() == 2, "[ERR_SHAPE] ", name, ": ", labels[i], " must be [batch, dim], got ", t[i].sizes());
    TORCH_CHECK(t[i].is_floating_point(), name, ": ", labels[i], " must be a float tensor, got ", t[i].scalar_type());
    TORCH_CHECK(t[i].size(1) == t[0].size(1), "[ERR_SHAPE] ", name, ": ", labels[i], " has dim ", t[i].size(1),
                " but ", labels[0], " has ", t[0].size(1));
  }
}

// cos(q, pos) and cos(q, neg) for the triplet losses, after checking shapes.
std::pair<at::Tensor, at::Tensor> TripletCosines(const std::string& name, const std::vector<at::Tensor>& t) {
  static const char* const labels[] = {"query", "positive", "negative", "positiveConfidence", "negativeConfidence"};
  TORCH_CHECK(t.size() == 3 || t.size() == 5, name, " takes [query, positive, negative] or those and ",
              "[positiveConfidence, negativeConfidence], got ", t.size(), " tensors");
  CheckEmbeddings(name, t, 0, 3, labels);
  for (size_t i = 1; i < t.size(); ++i)
    TORCH_CHECK(t[i].size(0) == t[0].size(0), "[ERR_SHAPE] ", name, ": ", labels[i], " has ", t[i].size(0),
                " rows but query has ", t[0].size(0));
  for (size_t i = 3; i < t.size(); ++i)
    TORCH_CHECK(t[i].dim() == 1, "[ERR_SHAPE] ", name, ": ", labels[i], " must be [batch], got ", t[i].sizes());
  return {torch::cosine_similarity(t[0], t[1], 1, 1e-8), torch::cosine_similarity(t[0], t[2], 1, 1e-8)};
}

// min(positive, negative confidence) per pair, or 1 when none were given (EmbeddingStudio's weighting).
at::Tensor Confidences(const std::vector<at::Tensor>& t, const at::Tensor& like) {
  if (t.size() < 5) return torch::ones_like(like);
  return torch::min(t[3], t[4]).to(like.dtype());
}

at::Tensor CosineMargin(const std::vector<at::Tensor>& t, const Options& o) {
  TORCH_CHECK(t.size() == 3, "cosine_margin takes [query, positive, negative], got ", t.size(), " tensors");
  auto cos = TripletCosines("cosine_margin", t);                            // [B], [B]
  return torch::relu(Option(o, "margin", 0.2) - cos.first + cos.second).mean();
}

at::Tensor ProbMarginRanking(const std::vector<at::Tensor>& t, const Options& o) {
  auto cos = TripletCosines("prob_margin_ranking", t);
  auto adjusted = Option(o, "margin", 1.0) - (cos.first - cos.second);     // [B]
  return (torch::sigmoid(adjusted) * Confidences(t, adjusted)).mean();
}

at::Tensor CosineProbMarginRanking(const std::vector<at::Tensor>& t, const Options& o) {
  auto cos = TripletCosines("cosine_prob_margin_ranking", t);
  auto adjusted = Option(o, "margin", 0.05) - (cos.first - cos.second);    // [B]
  auto steep = Option(o, "scale", 400.0) * adjusted - Option(o, "shift", 6.0);
  return (torch::sigmoid(steep) * Confidences(t, adjusted)).mean();
}

at::Tensor InfoNce(const std::vector<at::Tensor>& t, const Options& o) {
  static const char* const labels[] = {"query", "positive", "negatives"};
  TORCH_CHECK(t.size() == 2 || t.size() == 3, "info_nce takes [query, positive] or [query, positive, negatives], got ",
              t.size(), " tensors");
  CheckEmbeddings("info_nce", t, 0, t.size(), labels);
  TORCH_CHECK(t[1].size(0) == t[0].size(0), "[ERR_SHAPE] info_nce: positive has ", t[1].size(0),
              " rows but query has ", t[0].size(0));
  const double temperature = Option(o, "temperature", 0.05);
  TORCH_CHECK(temperature > 0, "info_nce: temperature must be positive, got ", temperature);
  namespace F = torch::nn::functional;
  auto candidates = t.size() == 3 ? torch::cat({t[1], t[2]}, 0) : t[1];     // [B (+ M), D]
  auto q = F::normalize(t[0], F::NormalizeFuncOptions().dim(1));            // [B, D]
  auto c = F::normalize(candidates, F::NormalizeFuncOptions().dim(1));
  auto logits = q.mm(c.t()) / temperature;                                  // [B, B (+ M)]
  auto target = torch::arange(t[0].size(0), torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
  return F::cross_entropy(logits, target);
}

using LossFn = at::Tensor (*)(const std::vector<at::Tensor>&, const Options&);

const std::map<std::string, LossFn>& Losses() {
  static const std::map<std::string, LossFn> losses{
      {"cosine_margin", CosineMargin},
      {"prob_margin_ranking", ProbMarginRanking},
      {"cosine_prob_margin_ranking", CosineProbMarginRanking},
      {"info_nce", InfoNce},
  };
  return losses;
}

Napi::Value Loss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = info[0].As<Napi::String>();
  auto it = Losses().find(name);
  if (it == Losses().end()) {
    std::string known;
    for (const auto& l : Losses()) known += (known.empty() ? "" : ", ") + l.first;
    throw Napi::RangeError::New(env, "loss: unknown loss \"" + name + "\"; expected one of " + known);
  }
  auto array = info[1].As<Napi::Array>();
  std::vector<at::Tensor> tensors;
  for (uint32_t i = 0; i < array.Length(); ++i)
    tensors.push_back(TensorWrap::FromValue(array.Get(i), "loss(\"" + name + "\"): tensor " + std::to_string(i)));
  Options options;
  if (info[2].IsObject()) {
    auto object = info[2].As<Napi::Object>();
    const auto keys = object.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      const std::string key = keys.Get(i).As<Napi::String>();
      if (object.Get(key).IsNumber()) options[key] = object.Get(key).As<Napi::Number>().DoubleValue();
    }
  }
  const LossFn fn = it->second;
  return QueueTensorTask(env, "loss(\"" + name + "\")", nullptr, [fn, tensors, options]() {
    return RunOnComputeThread([&] {
      torch::AutoGradMode grad_mode(true);  // thread-local: set it where the graph is recorded
      return fn(tensors, options);
    });
  });
}

}  // namespace

void InitLosses(Napi::Env env, Napi::Object exports) {
  ExportFunction<Loss>(env, exports, "loss");
}

}  // namespace et
