#pragma once
// The picture regionlm-describe writes with --annotate: the image with each region's outline
// in its own colour, labelled with its answer.
#include <opencv2/core/mat.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "regionlm/sam/prompt.hpp"

namespace regionlm::examples {

/// Draws on a copy of `rgb8` (CV_8UC3, RGB): the outline of each mask (CV_8UC1 0/1 at the
/// image's size) in a distinct colour with `labels[i]` next to it, and `caption` (if not
/// empty) in a bar below the image. Small images are enlarged first so the text stays
/// legible. Writes `out` (format from its extension); throws regionlm::IoError on failure.
/// `clicks` (SAM points that made the regions) are drawn as dots: green positive, red negative.
void write_annotated_image(const cv::Mat& rgb8, const std::vector<cv::Mat>& masks,
                           const std::vector<std::string>& labels, const std::string& caption,
                           const std::filesystem::path& out, const std::vector<sam::Point>& clicks = {});

/// Writes a CV_8UC3 RGB image (format from the extension); throws regionlm::IoError on failure.
void write_rgb_image(const cv::Mat& rgb8, const std::filesystem::path& out);

}  // namespace regionlm::examples
