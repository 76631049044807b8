// Hugging Face BertModel / XLMRobertaModel encoders as NativeModels,
// registered as "bert" and "xlm-roberta". named_parameters() equals the keys
// of the checkpoint's model.safetensors (no "bert."/"roberta." prefix), so
// loading is a name match.
#pragma once
#include <torch/torch.h>

#include "models/bert_embeddings.h"
#include "models/bert_layer.h"
#include "models/bert_options.h"
#include "models/inference_path.h"
#include "module.h"

namespace et {

// tanh(dense(hidden state of token 0)): BERT's [CLS] summary.
struct BertPoolerImpl : torch::nn::Module {
  explicit BertPoolerImpl(const BertOptions& options);
  void reset();
  // hidden [B, L, H] -> pooler_output [B, H]
  torch::Tensor forward(const torch::Tensor& hidden);

  BertOptions options;
  torch::nn::Linear dense{nullptr};
  InferenceLinear dense_;  // dense for inference (oneDNN's packed GEMM where it serves, as the encoder's)
};
TORCH_MODULE(BertPooler);

struct BertModelImpl : NativeModel {
  explicit BertModelImpl(const BertOptions& options);
  void reset();
  // input_ids [B, L] int64; attention_mask [B, L] (1 real, 0 padding; undefined
  // = all real); token_type_ids [B, L] int64 (undefined = zeros). Returns the
  // options.pooling output: [B, L, H] for "none", else [B, H].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                        const torch::Tensor& token_type_ids = {});
  std::vector<std::string> input_names() const override { return {"input_ids", "attention_mask", "token_type_ids"}; }
  c10::IValue forward_inputs(const std::vector<at::Tensor>& inputs) override;

  BertOptions options;
  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};
  BertPooler pooler{nullptr};  // null unless options.add_pooling_layer

 private:
  void check_inputs(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                    const torch::Tensor& token_type_ids) const;
};
TORCH_MODULE(BertModel);

}  // namespace et
