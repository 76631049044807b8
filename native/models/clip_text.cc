#include "models/clip_text.h"
#include "token_ids.h"

#include <limits>

#include "models/inference_path.h"
#include "models/registry.h"
#include "small_forward.h"

namespace et {

namespace {

// The most negative finite value of `type`: Hugging Face's masked score
// (finfo.min). Finite, unlike -inf, so a row with every key masked gives a
// uniform softmax instead of NaNs that would spread through later layers.
double Lowest(c10::ScalarType type) {
  switch (type) {
    case torch::kDouble: return std::numeric_limits<double>::lowest();
    case torch::kHalf: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    case torch::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    default: return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

// Causal mask, combined with the key padding mask when given, as additive
// scores: 0 where a query may attend, Lowest() elsewhere. [B, 1, L, L]
// Built from the positions tensor, not from sizes, so a trace keeps B and L free.
torch::Tensor AttentionMask(const torch::Tensor& positions, const torch::Tensor& attention_mask,
                            const torch::TensorOptions& like) {
  auto allowed = positions.unsqueeze(-1).ge(positions.unsqueeze(-2)).unsqueeze(1);  // query >= key: [B, 1, L, L]
  if (attention_mask.defined()) allowed = allowed.logical_and(attention_mask.to(torch::kBool).unsqueeze(1).unsqueeze(2));
  return torch::zeros_like(allowed, like).masked_fill(allowed.logical_not(), Lowest(like.dtype().toScalarType()));
}

// 0, 1, ..., L-1 for each row: [B, L], from the ids' shape without reading it.
torch::Tensor Positions(const torch::Tensor& input_ids) { return torch::ones_like(input_ids).cumsum(1) - 1; }

}  // namespace

CLIPTextEmbeddingsImpl::CLIPTextEmbeddingsImpl(const CLIPTextOptions& options_) : options(options_) { reset(); }

void CLIPTextEmbeddingsImpl::reset() {
  token_embedding = register_module("token_embedding", torch::nn::Embedding(options.vocab_size(), options.hidden_size()));
  position_embedding =
      register_module("position_embedding", torch::nn::Embedding(options.max_position_embeddings(), options.hidden_size()));
}

torch::Tensor CLIPTextEmbeddingsImpl::forward(const torch::Tensor& input_ids) {
  return token_embedding->forward(input_ids) + position_embedding->forward(Positions(input_ids));  // [B, L, D]
}

CLIPTextTransformerImpl::CLIPTextTransformerImpl(const CLIPTextOptions& options_) : options(options_) { reset(); }

void CLIPTextTransformerImpl::reset() {
  embeddings = register_module("embeddings", CLIPTextEmbeddings(options));
  encoder = register_module("encoder", CLIPEncoder(options));
  final_layer_norm = register_module(
      "final_layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({options.hidden_size()}).eps(options.layer_norm_eps())));
}

torch::Tensor CLIPTextTransformerImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  // A query-sized inference forward runs on one OpenMP thread from the embeddings to the pooling,
  // its products split across partner threads (inference_path.h: SplitsProducts).
  SmallForwardScope small(SplitsProducts(*this, input_ids, embeddings->token_embedding->weight.scalar_type()), input_ids.numel());
  const auto ids = input_ids.to(torch::kLong);
  auto hidden = embeddings->forward(ids);  // [B, L, D]
  const auto mask = AttentionMask(Positions(ids), attention_mask, hidden.options());
  hidden = encoder->forward(hidden, mask);
  hidden = UseInferencePath(*this, hidden) ? LayerNormInference(final_layer_norm, hidden) : final_layer_norm->forward(hidden);  // [B, L, D]
  // Pool at the end-of-text token: its first position, or with the legacy
  // eos_token_id 2 the position of the largest id (Hugging Face's two rules).
  // argmax, not .item(): a trace keeps the rule for every input.
  const auto ids32 = ids.to(torch::kInt);
  const auto eos = options.eos_token_id() == 2 ? ids32.argmax(-1) : ids32.eq(options.eos_token_id()).to(torch::kInt).argmax(-1);
  const auto index = eos.to(torch::kLong).view({-1, 1, 1}).expand({-1, 1, options.hidden_size()});  // [B, 1, D]
  return hidden.gather(1, index).squeeze(1);  // [B, D]
}

CLIPTextModelWithProjectionImpl::CLIPTextModelWithProjectionImpl(const CLIPTextOptions& options_) : options(options_) {
  reset();
}

void CLIPTextModelWithProjectionImpl::reset() {
  text_model = register_module("text_model", CLIPTextTransformer(options));
  text_projection = register_module(
      "text_projection", torch::nn::Linear(torch::nn::LinearOptions(options.hidden_size(), options.projection_dim()).bias(false)));
}

torch::Tensor CLIPTextModelWithProjectionImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  const auto pooled = text_model->forward(input_ids, attention_mask);  // [B, D]
  return options.output() == "pooler_output" ? pooled : text_projection->forward(pooled);  // [B, P]
}

c10::IValue CLIPTextModelWithProjectionImpl::forward_inputs(const std::vector<at::Tensor>& inputs) {
  TORCH_CHECK(!inputs.empty() && inputs[0].defined(), "[ERR_SHAPE] clip-text: input_ids [batch, length] is required");
  const auto& ids = inputs[0];
  TORCH_CHECK(ids.dim() == 2 && ids.size(1) > 0, "[ERR_SHAPE] clip-text: input_ids must be [batch, length] with length > 0, got ",
              ids.sizes());
  TORCH_CHECK(ids.scalar_type() == torch::kLong || ids.scalar_type() == torch::kInt,
              "clip-text: input_ids must be int64 (or int32), got ", ids.scalar_type());
  TORCH_CHECK(ids.size(1) <= options.max_position_embeddings(), "[ERR_SHAPE] clip-text: input_ids ", ids.sizes(), " has ",
              ids.size(1), " positions but max_position_embeddings is ", options.max_position_embeddings(),
              "; truncate to at most that many tokens");
  CheckTokenIds(ids, options.vocab_size(), "clip-text: input_ids", "config.json vocab_size");
  at::Tensor mask;
  if (inputs.size() > 1 && inputs[1].defined()) {
    mask = inputs[1];
    TORCH_CHECK(mask.sizes() == ids.sizes(), "[ERR_SHAPE] clip-text: attention_mask must have input_ids' shape ", ids.sizes(),
                ", got ", mask.sizes());
  }
  return forward(ids, mask);
}

namespace {
std::shared_ptr<NativeModel> MakeCLIPText(const ModelOptions& o) {
  CLIPTextOptions options;
  ReadEncoderOptions(o, options);
  options.vocab_size(o.integer("vocab_size", options.vocab_size()));
  options.max_position_embeddings(o.integer("max_position_embeddings", options.max_position_embeddings()));
  options.eos_token_id(o.integer("eos_token_id", options.eos_token_id()));
  CheckEncoderOptions(options, "clip-text");
  TORCH_CHECK(options.vocab_size() > 0 && options.max_position_embeddings() > 0,
              "clip-text: vocab_size and max_position_embeddings must be positive");
  return std::make_shared<CLIPTextModelWithProjectionImpl>(options);
}
}  // namespace

ET_REGISTER_MODEL("clip-text", MakeCLIPText);

}  // namespace et
