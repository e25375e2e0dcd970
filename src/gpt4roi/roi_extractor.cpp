#include "regionlm/gpt4roi/roi_extractor.hpp"

#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/roi_align.hpp"
#include "shape_text.hpp"

namespace regionlm::gpt4roi {

BoxEmbeddingImpl::BoxEmbeddingImpl(int64_t hidden, int64_t out, const torch::TensorOptions& options) {
  first_ = register_module("0", layers::Linear(4, hidden, options));
  first_norm_ = register_module("2", vision::LayerNorm(hidden, 1e-5, options));
  second_ = register_module("3", layers::Linear(hidden, out, options));
  second_norm_ = register_module("5", vision::LayerNorm(out, 1e-5, options));
}

torch::Tensor BoxEmbeddingImpl::forward(const torch::Tensor& boxes) {
  auto h = first_norm_(torch::relu(first_(boxes)));  // [K, P]
  return second_norm_(torch::relu(second_(h)));      // [K, Q]
}

RoiExtractorImpl::RoiExtractorImpl(int64_t channels, int64_t out_dims, int64_t image_size,
                                   int64_t patch_size, const SpiConfig& config,
                                   const torch::TensorOptions& options)
    : config_(config), image_size_(image_size), patch_size_(patch_size) {
  pconvs = torch::nn::ModuleList();
  for (int64_t l = 0; l < config.num_levels; ++l) {
    level_convs_.push_back(vision::Conv2d(
        vision::Conv2dSpec{.in_channels = channels, .out_channels = channels, .kernel_size = 3,
                           .padding = 1},
        options));
    pconvs->push_back(level_convs_.back());
  }
  register_module("pconvs", pconvs);
  pos_embedd = register_module("pos_embedd", BoxEmbedding(config.pos_hidden_dims, config.query_dims, options));
  const int64_t flat = channels * config.roi_output_size * config.roi_output_size;
  flatten_linear = register_module("flatten_linear", layers::Linear(flat, config.query_dims, options));
  updims = register_module("updims", layers::Linear(config.query_dims, out_dims, options));
}

torch::Tensor RoiExtractorImpl::forward(const std::vector<torch::Tensor>& levels,
                                        const torch::Tensor& boxes) {
  const auto dtype = updims->weight.scalar_type();
  const auto device = updims->weight.device();
  if (boxes.dim() != 2 || boxes.size(1) != 4 || boxes.device() != device) {
    throw ShapeError("RoiExtractor: expected boxes [K, 4] on " + device.str() + ", got " +
                     shape_text(boxes.sizes()) + " on " + boxes.device().str());
  }
  const auto count = static_cast<int64_t>(levels.size());
  if (count != config_.num_levels) {
    throw ShapeError("RoiExtractor: expected " + std::to_string(config_.num_levels) +
                     " levels, got " + std::to_string(count));
  }
  const auto b = boxes.to(dtype);                          // [K, 4] in the module's precision
  const auto pos = pos_embedd(b);                          // [K, Q]
  const auto scaled = (b * static_cast<double>(image_size_)).to(torch::kFloat32);  // [K, 4]
  const auto rois = torch::cat({torch::zeros({b.size(0), 1}, scaled.options()), scaled}, 1);  // [K, 5]

  torch::Tensor sum;  // [K, C, O, O]
  for (int64_t l = 0; l < count; ++l) {
    const double stride = static_cast<double>(patch_size_) / static_cast<double>(int64_t{1} << (count - 1 - l));
    RoiAlignOptions opts;
    opts.output_size = config_.roi_output_size;
    opts.spatial_scale = 1.0 / stride;
    opts.sampling_ratio = config_.sampling_ratio;
    opts.aligned = true;
    const auto pooled =
        roi_align(levels[static_cast<size_t>(l)].to(torch::kFloat32), rois, opts).to(dtype);  // [K, C, O, O]
    const auto y = level_convs_[static_cast<size_t>(l)](pooled);                            // [K, C, O, O]
    sum = l == 0 ? y : sum + y;
  }
  const auto flat = torch::relu(sum).flatten(1);  // [K, C * O * O]
  return updims(flatten_linear(flat) + pos);      // [K, out_dims]
}

}  // namespace regionlm::gpt4roi
