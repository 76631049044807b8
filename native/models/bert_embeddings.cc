#include "models/bert_embeddings.h"

#include "models/inference_path.h"

namespace et {

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertEmbeddingsImpl::reset() {
  const auto h = options.hidden_size();
  // padding_idx as in HF: the padding row gets no gradient, so fine-tuning
  // leaves it as loaded.
  word_embeddings = register_module(
      "word_embeddings",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(options.vocab_size(), h).padding_idx(options.pad_token_id())));
  auto positions = torch::nn::EmbeddingOptions(options.max_position_embeddings(), h);
  if (options.position_offset() > 0) positions.padding_idx(options.pad_token_id());  // XLM-R only, as HF
  position_embeddings = register_module("position_embeddings", torch::nn::Embedding(positions));
  token_type_embeddings =
      register_module("token_type_embeddings", torch::nn::Embedding(options.type_vocab_size(), h));
  LayerNorm = register_module(
      "LayerNorm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(options.layer_norm_eps())));
}

torch::Tensor BertEmbeddingsImpl::position_ids(const torch::Tensor& input_ids) const {
  // Counted with cumsum over a [B, L] tensor rather than torch::arange(L): the
  // C++ tracer records an integer L as a constant, and a traced module must
  // accept any sequence length.
  if (options.position_offset() == 0) return torch::ones_like(input_ids).cumsum(1) - 1;  // [B, L]: 0..L-1
  // HF create_position_ids_from_input_ids: real tokens count up from
  // pad_token_id + 1, padding tokens get pad_token_id.
  const auto real = input_ids.ne(options.pad_token_id()).to(torch::kLong);  // [B, L] 0/1
  return real.cumsum(1) * real + options.pad_token_id();                    // [B, L]
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids) {
  if (UseInferencePath(*this, input_ids)) return forward_inference(input_ids, token_type_ids);
  const auto types = token_type_ids.defined() ? token_type_ids : torch::zeros_like(input_ids);  // [B, L]
  auto embeddings = word_embeddings->forward(input_ids)                  // [B, L, H]
                    + token_type_embeddings->forward(types)              // [B, L, H]
                    + position_embeddings->forward(position_ids(input_ids));  // [B, L, H]
  return torch::dropout(LayerNorm->forward(embeddings), options.hidden_dropout_prob(), is_training());  // [B, L, H]
}

torch::Tensor BertEmbeddingsImpl::forward_inference(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids) {
  // The same sums in the same order, ((word + type) + position), added in place into the word rows:
  // 4 ops instead of 9 (a MiniLM query's embeddings cost ~70 µs, mostly per-op overhead). Positions
  // counting from 0 are the table's first L rows, a view; no token types are type 0's row.
  auto embeddings = word_embeddings->forward(input_ids);  // [B, L, H], a tensor of its own
  if (token_type_ids.defined())
    embeddings.add_(token_type_embeddings->forward(token_type_ids));
  else
    embeddings.add_(token_type_embeddings->weight.select(0, 0));
  if (options.position_offset() == 0)
    embeddings.add_(position_embeddings->weight.narrow(0, 0, input_ids.size(1)));  // check_inputs bounds L
  else
    embeddings.add_(position_embeddings->forward(position_ids(input_ids)));
  return LayerNormInference(LayerNorm, embeddings);  // [B, L, H]; dropout is off in eval mode
}

}  // namespace et
