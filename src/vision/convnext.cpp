#include "regionlm/vision/convnext.hpp"

#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"

namespace regionlm::vision {
namespace {

constexpr int64_t kMlpRatio = 4;
constexpr int64_t kBlockKernel = 7;
constexpr int64_t kPatchSize = 4;  // stem stride
constexpr int64_t kDownsampleStride = 2;

std::string join(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

void validate(const VisionConfig& cfg) {
  bool ok = !cfg.depths.empty() && cfg.depths.size() == cfg.dims.size() &&
            cfg.layer_norm_eps > 0.0;
  for (size_t i = 0; ok && i < cfg.depths.size(); ++i) ok = cfg.depths[i] > 0 && cfg.dims[i] > 0;
  if (!ok) {
    throw ConfigError("ConvNeXt: invalid vision config: depths " + join(cfg.depths) + ", dims " +
                      join(cfg.dims) + ", layer_norm_eps " + std::to_string(cfg.layer_norm_eps) +
                      " (expected equally long, non-empty lists of positive values, eps > 0)");
  }
}

}  // namespace

ConvNeXtBlockImpl::ConvNeXtBlockImpl(int64_t channels, double eps,
                                     const torch::TensorOptions& options) {
  Conv2dSpec depthwise;
  depthwise.in_channels = channels;
  depthwise.out_channels = channels;
  depthwise.kernel_size = kBlockKernel;
  depthwise.padding = kBlockKernel / 2;
  depthwise.groups = channels;
  conv_dw = register_module("conv_dw", Conv2d(depthwise, options));
  norm = register_module("norm", LayerNorm(channels, eps, options));
  mlp = register_module("mlp", Mlp(channels, kMlpRatio * channels, options));
  gamma = register_parameter("gamma", torch::empty({channels}, options));
}

torch::Tensor ConvNeXtBlockImpl::forward(const torch::Tensor& x) {
  auto h = conv_dw(x).permute({0, 2, 3, 1});  // [B, H, W, C]
  h = mlp(norm(h));                           // [B, H, W, C]
  h = h.permute({0, 3, 1, 2});                // [B, C, H, W]
  return h.mul(gamma.view({1, -1, 1, 1})) + x;
}

ConvNeXtStageImpl::ConvNeXtStageImpl(int64_t in_channels, int64_t out_channels, int64_t depth,
                                     bool with_downsample, double eps,
                                     const torch::TensorOptions& options) {
  if (with_downsample) {
    Conv2dSpec reduce;
    reduce.in_channels = in_channels;
    reduce.out_channels = out_channels;
    reduce.kernel_size = kDownsampleStride;
    reduce.stride = kDownsampleStride;
    downsample = register_module(
        "downsample",
        torch::nn::Sequential(LayerNorm2d(in_channels, eps, options), Conv2d(reduce, options)));
  }
  blocks = register_module("blocks", torch::nn::Sequential());
  for (int64_t i = 0; i < depth; ++i) blocks->push_back(ConvNeXtBlock(out_channels, eps, options));
}

torch::Tensor ConvNeXtStageImpl::forward(torch::Tensor x) {
  if (downsample) x = downsample->forward(x);  // [B, out, H/2, W/2]
  return blocks->forward(x);                   // [B, out, H', W']
}

ConvNeXtImpl::ConvNeXtImpl(const VisionConfig& cfg, const torch::TensorOptions& options) {
  validate(cfg);
  dims_ = cfg.dims;
  Conv2dSpec patchify;
  patchify.in_channels = 3;
  patchify.out_channels = cfg.dims[0];
  patchify.kernel_size = kPatchSize;
  patchify.stride = kPatchSize;
  stem = register_module("stem", torch::nn::Sequential(Conv2d(patchify, options),
                                                       LayerNorm2d(cfg.dims[0], cfg.layer_norm_eps,
                                                                   options)));
  stages = register_module("stages", torch::nn::ModuleList());
  for (size_t s = 0; s < cfg.dims.size(); ++s) {
    const int64_t in_channels = s == 0 ? cfg.dims[0] : cfg.dims[s - 1];
    const bool with_downsample = s > 0;
    stages->push_back(ConvNeXtStage(in_channels, cfg.dims[s], cfg.depths[s], with_downsample,
                                    cfg.layer_norm_eps, options));
  }
}

int64_t ConvNeXtImpl::total_stride() const {
  return kPatchSize << (dims_.size() - 1);
}

std::vector<torch::Tensor> ConvNeXtImpl::forward(const torch::Tensor& pixels) {
  const torch::Tensor& weight = stem->at<Conv2dImpl>(0).weight;
  if (pixels.dim() != 4 || pixels.size(1) != 3 || !pixels.is_floating_point()) {
    throw ShapeError("ConvNeXt: expected floating-point pixels [B, 3, H, W], got " +
                     std::string(toString(pixels.scalar_type())) + " " +
                     join(pixels.sizes().vec()));
  }
  if (pixels.device() != weight.device()) {
    throw ShapeError("ConvNeXt: pixels are on " + pixels.device().str() +
                     " but the trunk's weights on " + weight.device().str());
  }
  if (pixels.size(2) < total_stride() || pixels.size(3) < total_stride()) {
    throw ShapeError("ConvNeXt: image " + std::to_string(pixels.size(3)) + "x" +
                     std::to_string(pixels.size(2)) + " is smaller than the trunk's stride " +
                     std::to_string(total_stride()) + " px");
  }
  auto x = stem->forward(pixels.to(weight.scalar_type()));  // [B, dims[0], H/4, W/4]
  std::vector<torch::Tensor> outputs;
  outputs.reserve(stages->size());
  for (const auto& stage : *stages) {
    x = stage->as<ConvNeXtStageImpl>()->forward(x);  // [B, dims[s], H/2^(s+2), W/2^(s+2)]
    outputs.push_back(x);
  }
  return outputs;
}

}  // namespace regionlm::vision
