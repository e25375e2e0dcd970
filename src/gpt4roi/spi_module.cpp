#include "regionlm/gpt4roi/spi_module.hpp"

#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>

#include <string>

#include "regionlm/error.hpp"
#include "regionlm/io/module_loader.hpp"
#include "shape_text.hpp"

namespace regionlm::gpt4roi {

SpiModuleImpl::SpiModuleImpl(const ClipVisionConfig& vision, int64_t out_dims,
                             const SpiConfig& config, const torch::TensorOptions& options)
    : vision_(vision), config_(config) {
  mlvl_fuse = register_module("mlvl_fuse", MlvlFuse(vision.hidden_size, config, options));
  roi_align = register_module("roi_align", RoiExtractor(vision.hidden_size, out_dims, vision.image_size,
                                                        vision.patch_size, config, options));
}

torch::TensorOptions SpiModuleImpl::options() const { return roi_align->updims->weight.options(); }

std::vector<torch::Tensor> SpiModuleImpl::fused_levels(const std::vector<torch::Tensor>& tokens) {
  namespace F = torch::nn::functional;
  const int64_t levels = config_.num_levels, g = vision_.grid(), c = vision_.hidden_size;
  if (static_cast<int64_t>(tokens.size()) != levels) {
    throw ShapeError("SpiModule: expected " + std::to_string(levels) + " hidden states, got " +
                     std::to_string(tokens.size()));
  }
  std::vector<torch::Tensor> maps;
  for (int64_t l = 0; l < levels; ++l) {
    const auto& t = tokens[static_cast<size_t>(l)];
    if (t.dim() != 3 || t.size(0) != 1 || t.size(1) != g * g || t.size(2) != c) {
      throw ShapeError("SpiModule: hidden state " + std::to_string(l) + " must be [1, " +
                       std::to_string(g * g) + ", " + std::to_string(c) + "] (patch tokens, CLS dropped), got " +
                       shape_text(t.sizes()));
    }
    if (t.device() != options().device()) {
      throw ShapeError("SpiModule: hidden states are on " + t.device().str() + ", the module on " +
                       options().device().str());
    }
    const auto grid = t.to(options().dtype()).reshape({1, g, g, c}).permute({0, 3, 1, 2});  // [1, C, g, g]
    const int64_t side = g << (levels - 1 - l);  // finest level first
    maps.push_back(F::interpolate(grid, F::InterpolateFuncOptions()
                                            .size(std::vector<int64_t>{side, side})
                                            .mode(torch::kBilinear)
                                            .align_corners(true)));  // [1, C, side, side]
  }
  return mlvl_fuse(maps);
}

torch::Tensor SpiModuleImpl::forward(const std::vector<torch::Tensor>& tokens, const torch::Tensor& boxes) {
  return roi_align(fused_levels(tokens), boxes);  // [K, out_dims]
}

SpiModule load_spi_module(const Weights& weights, const Gpt4roiConfig& config,
                          const torch::TensorOptions& options, const std::string& prefix) {
  SpiModule spi(config.vision, config.text.hidden_size, config.spi, options);
  load_module(*spi, weights, prefix);
  return spi;
}

}  // namespace regionlm::gpt4roi
