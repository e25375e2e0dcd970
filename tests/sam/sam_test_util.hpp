#pragma once
// Helpers shared by the SAM tests: reference models made by tests/sam/sam_reference.py,
// synthetic test images, tensor comparisons.
#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace regionlm::sam::test {

/// A directory holding `sam.pth` (random weights of `kind`, official key layout) and, with
/// `with_config`, `sam_config.json`; made once per process and kind.
std::filesystem::path reference_model(const std::string& kind, bool with_config = false);

/// A synthetic RGB image (CV_8UC3) with overlapping shapes on a gradient, saved as PNG in a
/// scratch directory; returns the image and the file.
std::pair<cv::Mat, std::filesystem::path> test_image(int height, int width, const std::string& name);

/// max|a - b| / max|reference| (both converted to float32 on the CPU).
double relative_error(const torch::Tensor& actual, const torch::Tensor& reference);

/// Mask comparison against the reference logits (> 0 is inside).
struct MaskAgreement {
  double equal_fraction = 0;   // pixels with the same decision
  double worst_margin = 0;     // largest |reference logit| where the decisions differ
};
MaskAgreement compare_masks(const torch::Tensor& mask, const torch::Tensor& reference_logits);

/// [H, W, C] uint8 tensor from a CV_8UC(C) image and back.
torch::Tensor to_tensor(const cv::Mat& image);
cv::Mat to_mat(const torch::Tensor& hwc);

}  // namespace regionlm::sam::test
