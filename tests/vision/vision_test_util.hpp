#pragma once
// Helpers shared by the vision tests: cv::Mat <-> tensor, error measures, configs from
// fixture metadata.
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "regionlm/config.hpp"

namespace regionlm::test {

/// [H, W, C] uint8 tensor (CPU, contiguous copy) from a CV_8UC(C) image.
torch::Tensor to_tensor(const cv::Mat& image);
/// CV_8UC(C) image (deep copy) from a [H, W, C] uint8 tensor.
cv::Mat to_mat(const torch::Tensor& hwc);
/// Largest |a - b| after converting both to float32 on the CPU; shapes must match.
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);
/// max|a - b| / max|reference|: error relative to the reference map's magnitude.
double relative_to_max(const torch::Tensor& actual, const torch::Tensor& reference);
/// VisionConfig with depths, dims and layer_norm_eps from a safetensors file's metadata.
VisionConfig config_from_metadata(const std::filesystem::path& file);
/// Text of one metadata entry; fails the calling test when absent.
std::string metadata_value(const std::filesystem::path& file, const std::string& key);

}  // namespace regionlm::test
