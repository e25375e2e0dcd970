#include "vision_test_util.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "regionlm/io/weights.hpp"

namespace regionlm::test {

torch::Tensor to_tensor(const cv::Mat& image) {
  const cv::Mat continuous = image.isContinuous() ? image : image.clone();
  return torch::from_blob(continuous.data,
                          {continuous.rows, continuous.cols, continuous.channels()}, torch::kUInt8)
      .clone();
}

cv::Mat to_mat(const torch::Tensor& hwc) {
  const auto t = hwc.to(torch::kCPU).contiguous();
  if (t.dim() != 3 || t.scalar_type() != torch::kUInt8) {
    throw std::invalid_argument("to_mat: expected [H, W, C] uint8");
  }
  const cv::Mat view(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)),
                     CV_8UC(static_cast<int>(t.size(2))), t.data_ptr());
  return view.clone();
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) {
    ADD_FAILURE() << "shape mismatch: " << a.sizes() << " vs " << b.sizes();
    return std::numeric_limits<double>::infinity();
  }
  const auto fa = a.to(torch::kCPU, torch::kFloat32);
  const auto fb = b.to(torch::kCPU, torch::kFloat32);
  return (fa - fb).abs().max().item<double>();
}

double relative_to_max(const torch::Tensor& actual, const torch::Tensor& reference) {
  const double scale = reference.to(torch::kCPU, torch::kFloat32).abs().max().item<double>();
  return max_abs_diff(actual, reference) / scale;
}

std::string metadata_value(const std::filesystem::path& file, const std::string& key) {
  for (const auto& [k, v] : safetensors_metadata(file)) {
    if (k == key) return v;
  }
  ADD_FAILURE() << file << ": metadata has no '" << key << "'";
  return {};
}

VisionConfig config_from_metadata(const std::filesystem::path& file) {
  VisionConfig cfg;
  cfg.depths = nlohmann::json::parse(metadata_value(file, "depths")).get<std::vector<int64_t>>();
  cfg.dims = nlohmann::json::parse(metadata_value(file, "dims")).get<std::vector<int64_t>>();
  cfg.layer_norm_eps = nlohmann::json::parse(metadata_value(file, "layer_norm_eps")).get<double>();
  return cfg;
}

}  // namespace regionlm::test
