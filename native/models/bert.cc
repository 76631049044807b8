#include "models/bert.h"
#include "token_ids.h"

#include <torch/csrc/jit/frontend/tracer.h>

#include <limits>

#include "models/inference_path.h"
#include "models/registry.h"
#include "small_forward.h"

namespace et {

namespace {

bool OneOf(const std::string& value, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (value == a) return true;
  return false;
}

// torch.finfo(dtype).min: HF's additive mask value, which softmax turns into 0
// without the NaNs that -inf gives on a fully masked row.
double LowestValue(c10::ScalarType dtype) {
  double lowest = 0;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "LowestValue", [&] {
    lowest = static_cast<double>(std::numeric_limits<scalar_t>::lowest());
  });
  return lowest;
}

}  // namespace

void CheckBertOptions(const BertOptions& o) {
  const std::pair<const char*, int64_t> positive[] = {
      {"vocab_size", o.vocab_size()},
      {"hidden_size", o.hidden_size()},
      {"num_hidden_layers", o.num_hidden_layers()},
      {"num_attention_heads", o.num_attention_heads()},
      {"intermediate_size", o.intermediate_size()},
      {"max_position_embeddings", o.max_position_embeddings()},
      {"type_vocab_size", o.type_vocab_size()}};
  for (const auto& field : positive)
    TORCH_CHECK(field.second > 0, "config.json: ", field.first, " must be positive, got ", field.second);
  TORCH_CHECK(o.hidden_size() % o.num_attention_heads() == 0, "config.json: num_attention_heads (",
              o.num_attention_heads(), ") must divide hidden_size (", o.hidden_size(), ")");
  TORCH_CHECK(OneOf(o.hidden_act(), {"gelu", "gelu_new", "gelu_pytorch_tanh", "relu"}),
              "config.json: hidden_act must be gelu, gelu_new, gelu_pytorch_tanh or relu, got \"", o.hidden_act(),
              "\"");
  TORCH_CHECK(o.hidden_dropout_prob() >= 0 && o.hidden_dropout_prob() < 1,
              "config.json: hidden_dropout_prob must be in [0, 1), got ", o.hidden_dropout_prob());
  TORCH_CHECK(o.attention_probs_dropout_prob() >= 0 && o.attention_probs_dropout_prob() < 1,
              "config.json: attention_probs_dropout_prob must be in [0, 1), got ", o.attention_probs_dropout_prob());
  TORCH_CHECK(o.layer_norm_eps() > 0, "config.json: layer_norm_eps must be positive, got ", o.layer_norm_eps());
  TORCH_CHECK(o.pad_token_id() >= 0 && o.pad_token_id() < o.vocab_size(), "config.json: pad_token_id (",
              o.pad_token_id(), ") must be a token id below vocab_size (", o.vocab_size(), ")");
  TORCH_CHECK(o.position_offset() == 0 || o.position_offset() == o.pad_token_id() + 1,
              "position_offset must be 0 (BERT) or pad_token_id + 1 (XLM-R: ", o.pad_token_id() + 1, "), got ",
              o.position_offset());
  TORCH_CHECK(o.position_offset() < o.max_position_embeddings(), "config.json: max_position_embeddings (",
              o.max_position_embeddings(), ") leaves no position after the offset ", o.position_offset(),
              " (pad_token_id + 1)");
  TORCH_CHECK(OneOf(o.pooling(), {"none", "pooler", "mean", "mean_l2"}),
              "pooling must be none, pooler, mean or mean_l2, got \"", o.pooling(), "\"");
  TORCH_CHECK(o.pooling() != "pooler" || o.add_pooling_layer(),
              "pooling \"pooler\" needs pooler.dense, but add_pooling_layer is false (as for XLM-R and E5 "
              "checkpoints, which have no pooler weights); use pooling \"mean\", \"mean_l2\" or \"none\"");
}

BertPoolerImpl::BertPoolerImpl(const BertOptions& options_) : options(options_) { reset(); }

void BertPoolerImpl::reset() {
  dense = register_module("dense", torch::nn::Linear(options.hidden_size(), options.hidden_size()));
}

torch::Tensor BertPoolerImpl::forward(const torch::Tensor& hidden) {
  const auto first = hidden.select(1, 0);  // [B, H]
  // On the inference path the product runs where the encoder's do: at::linear would call OpenBLAS, whose
  // threads then spin for ~0.1 s against the next forward's (README "Threads and BLAS").
  if (UseInferencePath(*this, hidden)) return dense_.forward({dense}, first).tanh_();
  return torch::tanh(dense->forward(first));
}

BertModelImpl::BertModelImpl(const BertOptions& options_) : options(options_) {
  CheckBertOptions(options);
  reset();
}

void BertModelImpl::reset() {
  embeddings = register_module("embeddings", BertEmbeddings(options));
  encoder = register_module("encoder", BertEncoder(options));
  // Registered only when the checkpoint has it, so named_parameters() stays
  // equal to the checkpoint's keys.
  if (options.add_pooling_layer()) pooler = register_module("pooler", BertPooler(options));
}

void BertModelImpl::check_inputs(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                 const torch::Tensor& token_type_ids) const {
  TORCH_CHECK(input_ids.defined(), "[ERR_SHAPE] input_ids is required: an int64 tensor [batch, sequence]");
  TORCH_CHECK(input_ids.dim() == 2, "[ERR_SHAPE] input_ids must be [batch, sequence], got shape ", input_ids.sizes());
  TORCH_CHECK(input_ids.scalar_type() == torch::kLong, "[ERR_SHAPE] input_ids must be int64, got ",
              input_ids.scalar_type(), " of shape ", input_ids.sizes());
  const auto length = input_ids.size(1);
  const auto limit = options.max_position_embeddings() - options.position_offset();
  TORCH_CHECK(length >= 1, "[ERR_SHAPE] input_ids must hold at least one token per sequence, got shape ",
              input_ids.sizes());
  TORCH_CHECK(length <= limit, "[ERR_SHAPE] input_ids of shape ", input_ids.sizes(), " has ", length,
              " tokens per sequence, but max_position_embeddings (", options.max_position_embeddings(), ")",
              options.position_offset() > 0 ? " minus the position offset" : "", " allows ", limit,
              "; truncate to ", limit);
  const auto device = embeddings->word_embeddings->weight.device();
  const std::pair<const char*, const torch::Tensor*> given[] = {
      {"input_ids", &input_ids}, {"attention_mask", &attention_mask}, {"token_type_ids", &token_type_ids}};
  for (const auto& input : given) {
    const auto& t = *input.second;
    if (!t.defined()) continue;
    TORCH_CHECK(t.sizes() == input_ids.sizes(), "[ERR_SHAPE] ", input.first, " must have input_ids' shape ",
                input_ids.sizes(), ", got ", t.sizes());
    TORCH_CHECK(t.device() == device, "[ERR_DEVICE] ", input.first, " is on ", t.device(), " but the model is on ",
                device, "; move the input or the model");
  }
  CheckTokenIds(input_ids, options.vocab_size(), "input_ids", "config.json vocab_size");
  CheckTokenIds(token_type_ids, options.type_vocab_size(), "token_type_ids", "config.json type_vocab_size");
  TORCH_CHECK(!token_type_ids.defined() || token_type_ids.scalar_type() == torch::kLong,
              "[ERR_SHAPE] token_type_ids must be int64, got ", token_type_ids.scalar_type());
  TORCH_CHECK(!attention_mask.defined() || !attention_mask.is_complex(),
              "[ERR_SHAPE] attention_mask must be integer, bool or float (1 real, 0 padding), got ",
              attention_mask.scalar_type());
}

torch::Tensor BertModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                     const torch::Tensor& token_type_ids) {
  check_inputs(input_ids, attention_mask, token_type_ids);
  // A query-sized inference forward runs on one OpenMP thread from the embeddings to the pooling,
  // its products split across partner threads (inference_path.h: SplitsProducts).
  SmallForwardScope small(SplitsProducts(*this, input_ids, embeddings->word_embeddings->weight.scalar_type()), input_ids.numel());
  const auto mask = attention_mask.defined() ? attention_mask : torch::ones_like(input_ids);       // [B, L]
  const auto hidden = embeddings->forward(input_ids, token_type_ids);                              // [B, L, H]
  // Like HF (sdpa), a batch without padding runs attention without a mask, so
  // libtorch 2.x can pick FlashAttention. The check reads one value back, a
  // branch on data that a trace would freeze: a traced module always keeps
  // the mask and stays right for padded batches.
  const bool no_padding =
      !torch::jit::tracer::isTracing() && (!attention_mask.defined() || mask.min().item<double>() >= 1.0);
  // HF's extended attention mask: 0 on real keys, the dtype's lowest value on padding keys.
  torch::Tensor additive;  // undefined: no mask
  if (!no_padding) {
    const auto keep = mask.to(hidden.scalar_type()).unsqueeze(1).unsqueeze(2);  // [B, 1, 1, L]
    additive = (1.0 - keep) * LowestValue(hidden.scalar_type());                // [B, 1, 1, L]
  }
  const auto last = encoder->forward(hidden, additive);  // [B, L, H]
  // CheckBertOptions validated pooling; these branches are on the config, not on values.
  const auto& pooling = options.pooling();
  if (pooling == "none") return last;                     // [B, L, H]
  if (pooling == "pooler") return pooler->forward(last);  // [B, H]
  const auto weights = mask.to(last.scalar_type()).unsqueeze(-1);             // [B, L, 1]
  // clamp_min: an all-padding row gives zeros instead of NaN (sentence-transformers does the same).
  const auto mean = (last * weights).sum(1) / weights.sum(1).clamp_min(1e-9);  // [B, H]
  if (pooling == "mean") return mean;
  return torch::nn::functional::normalize(mean, torch::nn::functional::NormalizeFuncOptions().p(2).dim(-1));  // [B, H]
}

c10::IValue BertModelImpl::forward_inputs(const std::vector<at::Tensor>& inputs) {
  TORCH_CHECK(inputs.size() <= 3, "[ERR_SHAPE] BERT takes at most 3 inputs (input_ids, attention_mask, "
              "token_type_ids), got ", inputs.size());
  auto input = [&](size_t i) { return i < inputs.size() ? inputs[i] : at::Tensor(); };
  return forward(input(0), input(1), input(2));
}

namespace {

// config.json keys over `defaults` (the family's HF config defaults).
BertOptions ReadBertOptions(const ModelOptions& o, const std::string& architecture, BertOptions defaults) {
  TORCH_CHECK(o.string("position_embedding_type", "absolute") == "absolute", "config.json: ", architecture,
              " supports position_embedding_type \"absolute\" only, got \"",
              o.string("position_embedding_type", "absolute"), "\"");
  TORCH_CHECK(!o.boolean("is_decoder", false), "config.json: is_decoder is true, but ", architecture,
              " is an encoder (bidirectional attention only)");
  auto& d = defaults;
  d.vocab_size(o.integer("vocab_size", d.vocab_size()))
      .hidden_size(o.integer("hidden_size", d.hidden_size()))
      .num_hidden_layers(o.integer("num_hidden_layers", d.num_hidden_layers()))
      .num_attention_heads(o.integer("num_attention_heads", d.num_attention_heads()))
      .intermediate_size(o.integer("intermediate_size", d.intermediate_size()))
      .hidden_act(o.string("hidden_act", d.hidden_act()))
      .hidden_dropout_prob(o.number("hidden_dropout_prob", d.hidden_dropout_prob()))
      .attention_probs_dropout_prob(o.number("attention_probs_dropout_prob", d.attention_probs_dropout_prob()))
      .max_position_embeddings(o.integer("max_position_embeddings", d.max_position_embeddings()))
      .type_vocab_size(o.integer("type_vocab_size", d.type_vocab_size()))
      .layer_norm_eps(o.number("layer_norm_eps", d.layer_norm_eps()))
      .pad_token_id(o.integer("pad_token_id", d.pad_token_id()))
      .add_pooling_layer(o.boolean("add_pooling_layer", d.add_pooling_layer()))
      .pooling(o.string("pooling", d.pooling()));
  return d;
}

std::shared_ptr<NativeModel> MakeBert(const ModelOptions& o) {
  return std::make_shared<BertModelImpl>(ReadBertOptions(o, "bert", BertOptions()));
}

// XLMRobertaConfig differs from BertConfig only in pad_token_id; XLM-R
// checkpoints (E5 included) ship without pooler weights.
std::shared_ptr<NativeModel> MakeXLMRoberta(const ModelOptions& o) {
  auto options = ReadBertOptions(o, "xlm-roberta", BertOptions().pad_token_id(1).add_pooling_layer(false));
  options.position_offset(options.pad_token_id() + 1);
  return std::make_shared<BertModelImpl>(options);
}

}  // namespace

ET_REGISTER_MODEL("bert", MakeBert);
ET_REGISTER_MODEL("xlm-roberta", MakeXLMRoberta);

}  // namespace et
