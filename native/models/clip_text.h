// CLIP's text tower (Hugging Face CLIPTextModelWithProjection): token and
// position embeddings, a causal pre-LayerNorm encoder, final LayerNorm,
// pooling at the end-of-text token, text_projection. Registered as
// "clip-text"; its parameters are the `text_model.*` and
// `text_projection.weight` keys of a CLIPModel checkpoint.
//
// Inputs: input_ids [B, L] int64 (int32 accepted), attention_mask [B, L] (optional).
// Output: [B, projection_dim] (or [B, hidden_size] with output "pooler_output").
#pragma once
#include <torch/torch.h>

#include "models/clip.h"
#include "module.h"

namespace et {

// text_config fields (config.json keys; defaults: CLIPTextConfig's).
struct CLIPTextOptions : CLIPEncoderOptions {
  CLIPTextOptions() {  // the text tower's own defaults over the shared ones
    hidden_size(512);
    intermediate_size(2048);
    num_attention_heads(8);
  }
  TORCH_ARG(int64_t, vocab_size) = 49408;
  TORCH_ARG(int64_t, max_position_embeddings) = 77;
  // The token whose hidden state is pooled. 2 selects the legacy rule
  // (argmax of the ids: the original vocabulary's end-of-text has the largest
  // id), as Hugging Face does for configs written before eos_token_id was fixed.
  TORCH_ARG(int64_t, eos_token_id) = 49407;
};

struct CLIPTextEmbeddingsImpl : torch::nn::Module {  // HF: CLIPTextEmbeddings
  explicit CLIPTextEmbeddingsImpl(const CLIPTextOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& input_ids);  // [B, L] -> [B, L, D]

  CLIPTextOptions options;
  torch::nn::Embedding token_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};  // position ids: arange in forward, not a buffer
};
TORCH_MODULE(CLIPTextEmbeddings);

struct CLIPTextTransformerImpl : torch::nn::Module {  // HF: CLIPTextTransformer
  explicit CLIPTextTransformerImpl(const CLIPTextOptions& options);
  void reset();
  // input_ids [B, L], attention_mask [B, L] or undefined -> pooled [B, D]
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);

  CLIPTextOptions options;
  CLIPTextEmbeddings embeddings{nullptr};
  CLIPEncoder encoder{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(CLIPTextTransformer);

struct CLIPTextModelWithProjectionImpl : NativeModel {  // HF: CLIPTextModelWithProjection
  explicit CLIPTextModelWithProjectionImpl(const CLIPTextOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);  // [B, P]
  std::vector<std::string> input_names() const override { return {"input_ids", "attention_mask"}; }
  c10::IValue forward_inputs(const std::vector<at::Tensor>& inputs) override;

  CLIPTextOptions options;
  CLIPTextTransformer text_model{nullptr};
  torch::nn::Linear text_projection{nullptr};  // no bias, as in the checkpoint
};

}  // namespace et
