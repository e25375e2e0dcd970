#pragma once
// The picture regionlm-segment writes with --overlay: masks tinted over the image, prompt
// points as dots (green positive, red negative) and the box outlined.
#include <opencv2/core.hpp>

#include <filesystem>
#include <optional>
#include <vector>

#include "regionlm/sam/prompt.hpp"

namespace regionlm::examples {

/// Draws on a copy of `rgb8`: each mask (CV_8UC1 0/1) tinted in its own colour with its
/// outline, then the prompt. Writes `out` (format from its extension); throws
/// regionlm::IoError when it cannot be written.
void write_overlay(const cv::Mat& rgb8, const std::vector<cv::Mat>& masks, const std::vector<sam::Point>& points,
                   const std::optional<sam::Box>& box, const std::filesystem::path& out);

}  // namespace regionlm::examples
