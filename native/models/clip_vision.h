// CLIP's vision tower (Hugging Face CLIPVisionModelWithProjection): patch
// convolution, class embedding, position embeddings, pre_layrnorm, the
// encoder, post_layernorm of the class token, visual_projection. Registered
// as "clip-vision"; its parameters are the `vision_model.*` and
// `visual_projection.weight` keys of a CLIPModel checkpoint.
//
// Input: pixel_values [B, num_channels, image_size, image_size], floating point.
// Output: [B, projection_dim] (or [B, hidden_size] with output "pooler_output").
#pragma once
#include <torch/torch.h>

#include "models/clip.h"
#include "module.h"

namespace et {

// vision_config fields (config.json keys; defaults: CLIPVisionConfig's).
struct CLIPVisionOptions : CLIPEncoderOptions {
  TORCH_ARG(int64_t, num_channels) = 3;
  TORCH_ARG(int64_t, image_size) = 224;
  TORCH_ARG(int64_t, patch_size) = 32;
};

struct CLIPVisionEmbeddingsImpl : torch::nn::Module {  // HF: CLIPVisionEmbeddings
  explicit CLIPVisionEmbeddingsImpl(const CLIPVisionOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& pixel_values);  // [B, C, S, S] -> [B, 1 + patches, D]
  int64_t num_positions() const;                             // class token + (S / patch)^2

  CLIPVisionOptions options;
  torch::Tensor class_embedding;  // [D]
  torch::nn::Conv2d patch_embedding{nullptr};
  torch::nn::Embedding position_embedding{nullptr};
};
TORCH_MODULE(CLIPVisionEmbeddings);

struct CLIPVisionTransformerImpl : torch::nn::Module {  // HF: CLIPVisionTransformer
  explicit CLIPVisionTransformerImpl(const CLIPVisionOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& pixel_values);  // -> pooled [B, D]

  CLIPVisionOptions options;
  CLIPVisionEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};  // HF's spelling: the name is a checkpoint key
  CLIPEncoder encoder{nullptr};
  torch::nn::LayerNorm post_layernorm{nullptr};
};
TORCH_MODULE(CLIPVisionTransformer);

struct CLIPVisionModelWithProjectionImpl : NativeModel {  // HF: CLIPVisionModelWithProjection
  explicit CLIPVisionModelWithProjectionImpl(const CLIPVisionOptions& options);
  void reset();
  torch::Tensor forward(const torch::Tensor& pixel_values);  // [B, P]
  std::vector<std::string> input_names() const override { return {"pixel_values"}; }
  c10::IValue forward_inputs(const std::vector<at::Tensor>& inputs) override;

  CLIPVisionOptions options;
  CLIPVisionTransformer vision_model{nullptr};
  torch::nn::Linear visual_projection{nullptr};  // no bias, as in the checkpoint
};

}  // namespace et
