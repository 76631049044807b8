#include "models/clip_vision.h"

#include "models/inference_path.h"
#include "models/registry.h"

namespace et {

CLIPVisionEmbeddingsImpl::CLIPVisionEmbeddingsImpl(const CLIPVisionOptions& options_) : options(options_) { reset(); }

int64_t CLIPVisionEmbeddingsImpl::num_positions() const {
  const int64_t side = options.image_size() / options.patch_size();
  return side * side + 1;
}

void CLIPVisionEmbeddingsImpl::reset() {
  const int64_t d = options.hidden_size();
  class_embedding = register_parameter("class_embedding", torch::randn({d}));
  patch_embedding = register_module(
      "patch_embedding",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(options.num_channels(), d, options.patch_size()).stride(options.patch_size()).bias(false)));
  position_embedding = register_module("position_embedding", torch::nn::Embedding(num_positions(), d));
}

torch::Tensor CLIPVisionEmbeddingsImpl::forward(const torch::Tensor& pixel_values) {
  // Pixels follow the weights' dtype (a float16 model takes float32 images), as in HF.
  const auto pixels = pixel_values.to(patch_embedding->weight.scalar_type());
  const auto patches = patch_embedding->forward(pixels).flatten(2).transpose(1, 2);  // [B, patches, D]
  const auto cls = class_embedding.expand_as(patches.narrow(1, 0, 1));  // [B, 1, D]; expand_as keeps B free in a trace
  return torch::cat({cls, patches}, 1) + position_embedding->weight.unsqueeze(0);  // [B, 1 + patches, D]
}

CLIPVisionTransformerImpl::CLIPVisionTransformerImpl(const CLIPVisionOptions& options_) : options(options_) { reset(); }

void CLIPVisionTransformerImpl::reset() {
  const auto norm = torch::nn::LayerNormOptions({options.hidden_size()}).eps(options.layer_norm_eps());
  embeddings = register_module("embeddings", CLIPVisionEmbeddings(options));
  pre_layrnorm = register_module("pre_layrnorm", torch::nn::LayerNorm(norm));
  encoder = register_module("encoder", CLIPEncoder(options));
  post_layernorm = register_module("post_layernorm", torch::nn::LayerNorm(norm));
}

torch::Tensor CLIPVisionTransformerImpl::forward(const torch::Tensor& pixel_values) {
  auto hidden = embeddings->forward(pixel_values);  // [B, N, D]
  if (UseInferencePath(*this, hidden)) {
    hidden = encoder->forward(LayerNormInference(pre_layrnorm, hidden), torch::Tensor());
    return LayerNormInference(post_layernorm, hidden.select(1, 0).contiguous());  // class token [B, D]
  }
  hidden = encoder->forward(pre_layrnorm->forward(hidden), torch::Tensor());  // no mask: every patch is real
  return post_layernorm->forward(hidden.select(1, 0));                        // class token [B, D]
}

CLIPVisionModelWithProjectionImpl::CLIPVisionModelWithProjectionImpl(const CLIPVisionOptions& options_)
    : options(options_) {
  reset();
}

void CLIPVisionModelWithProjectionImpl::reset() {
  vision_model = register_module("vision_model", CLIPVisionTransformer(options));
  visual_projection = register_module(
      "visual_projection", torch::nn::Linear(torch::nn::LinearOptions(options.hidden_size(), options.projection_dim()).bias(false)));
}

torch::Tensor CLIPVisionModelWithProjectionImpl::forward(const torch::Tensor& pixel_values) {
  const auto pooled = vision_model->forward(pixel_values);  // [B, D]
  return options.output() == "pooler_output" ? pooled : visual_projection->forward(pooled);  // [B, P]
}

c10::IValue CLIPVisionModelWithProjectionImpl::forward_inputs(const std::vector<at::Tensor>& inputs) {
  const int64_t c = options.num_channels(), s = options.image_size();
  TORCH_CHECK(inputs.size() == 1 && inputs[0].defined(), "[ERR_SHAPE] clip-vision: takes one input, pixel_values [batch, ", c,
              ", ", s, ", ", s, "]");
  const auto& pixels = inputs[0];
  // Other sizes would need interpolated position embeddings, which HF only does on request.
  TORCH_CHECK(pixels.dim() == 4 && pixels.size(1) == c && pixels.size(2) == s && pixels.size(3) == s,
              "[ERR_SHAPE] clip-vision: pixel_values must be [batch, ", c, ", ", s, ", ", s, "] (image_size ", s,
              "), got ", pixels.sizes(), "; resize and crop images with the preprocessor first");
  TORCH_CHECK(at::isFloatingType(pixels.scalar_type()), "clip-vision: pixel_values must be floating point, got ",
              pixels.scalar_type());
  return forward(pixels);
}

namespace {
std::shared_ptr<NativeModel> MakeCLIPVision(const ModelOptions& o) {
  CLIPVisionOptions options;
  ReadEncoderOptions(o, options);
  options.num_channels(o.integer("num_channels", options.num_channels()));
  options.image_size(o.integer("image_size", options.image_size()));
  options.patch_size(o.integer("patch_size", options.patch_size()));
  CheckEncoderOptions(options, "clip-vision");
  TORCH_CHECK(options.num_channels() > 0 && options.image_size() > 0 && options.patch_size() > 0,
              "clip-vision: num_channels, image_size and patch_size must be positive");
  TORCH_CHECK(options.image_size() % options.patch_size() == 0, "clip-vision: patch_size (", options.patch_size(),
              ") must divide image_size (", options.image_size(), ")");
  return std::make_shared<CLIPVisionModelWithProjectionImpl>(options);
}
}  // namespace

ET_REGISTER_MODEL("clip-vision", MakeCLIPVision);

}  // namespace et
