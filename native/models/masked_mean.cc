#include "models/masked_mean.h"
#include "token_ids.h"

#include "models/registry.h"

namespace et {

MaskedMeanEncoderImpl::MaskedMeanEncoderImpl(const MaskedMeanOptions& options_) : options(options_) { reset(); }

void MaskedMeanEncoderImpl::reset() {
  word_embeddings = register_module("word_embeddings", torch::nn::Embedding(options.vocab_size(), options.hidden_size()));
  token_type_embeddings =
      register_module("token_type_embeddings", torch::nn::Embedding(options.type_vocab_size(), options.hidden_size()));
  dense = register_module("dense", torch::nn::Linear(options.hidden_size(), options.hidden_size()));
}

torch::Tensor MaskedMeanEncoderImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                             const torch::Tensor& token_type_ids) {
  auto hidden = word_embeddings->forward(input_ids);  // [B, L, H]
  if (token_type_ids.defined()) hidden = hidden + token_type_embeddings->forward(token_type_ids);
  if (options.freeze_sizes()) hidden = hidden.reshape({input_ids.size(0), input_ids.size(1), options.hidden_size()});
  const auto mask = attention_mask.unsqueeze(-1).to(hidden.scalar_type());  // [B, L, 1]
  // Otherwise no size is read as a C++ integer: the same code traces for any B and L.
  const auto pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9);  // [B, H]
  return dense->forward(pooled);  // [B, H]
}

c10::IValue MaskedMeanEncoderImpl::forward_inputs(const std::vector<at::Tensor>& inputs) {
  auto input = [&](size_t i) { return i < inputs.size() ? inputs[i] : at::Tensor(); };
  const auto ids = input(0);
  const auto mask = input(1);
  TORCH_CHECK(ids.defined() && mask.defined(), "[ERR_SHAPE] masked-mean needs input_ids and attention_mask");
  TORCH_CHECK(ids.dim() == 2 && mask.sizes() == ids.sizes(),
              "[ERR_SHAPE] masked-mean: input_ids and attention_mask must both be [batch, length], got ", ids.sizes(),
              " and ", mask.sizes());
  TORCH_CHECK(!input(2).defined() || input(2).sizes() == ids.sizes(),
              "[ERR_SHAPE] masked-mean: token_type_ids must be [batch, length] like input_ids, got ", input(2).sizes());
  CheckTokenIds(ids, options.vocab_size(), "masked-mean: input_ids", "vocab_size");
  CheckTokenIds(input(2), options.type_vocab_size(), "masked-mean: token_type_ids", "type_vocab_size");
  return forward(ids, mask, input(2));
}

namespace {
std::shared_ptr<NativeModel> MakeMaskedMean(const ModelOptions& o) {
  MaskedMeanOptions options;
  options.vocab_size(o.integer("vocab_size", 100))
      .hidden_size(o.integer("hidden_size", 16))
      .type_vocab_size(o.integer("type_vocab_size", 2))
      .freeze_sizes(o.boolean("freeze_sizes", false));
  TORCH_CHECK(options.vocab_size() > 0 && options.hidden_size() > 0 && options.type_vocab_size() > 0,
              "masked-mean: vocab_size, hidden_size and type_vocab_size must be positive");
  return std::make_shared<MaskedMeanEncoderImpl>(options);
}
}  // namespace

ET_REGISTER_MODEL("masked-mean", MakeMaskedMean);

}  // namespace et
