#pragma once
// COCO run-length encoding, the mask format of COCO annotations and of SAM's output.
// Runs are counted in column-major order (down the first column, then the next), starting
// with a run of zeros (possibly of length 0); the compressed string is pycocotools'
// ASCII form (5-bit groups offset by 48, runs from the fourth on stored relative to the
// run two before). Everything here is byte-for-byte compatible with pycocotools.
#include <opencv2/core/mat.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace regionlm {

/// Run lengths of a mask (CV_8UC1, non-zero = inside), column-major, first run = zeros.
std::vector<uint32_t> rle_counts(const cv::Mat& mask01);
/// Compresses run lengths to the COCO string (pycocotools `rleToString`).
std::string rle_counts_to_string(const std::vector<uint32_t>& counts);
/// Parses a COCO string back to run lengths. Throws ArgumentError on characters outside
/// '0'..'o', a value cut off at the end of the string, or a negative/oversized run.
std::vector<uint32_t> rle_string_to_counts(const std::string& counts);
/// Expands run lengths to a height x width CV_8UC1 0/1 mask. Throws ArgumentError when
/// the runs do not add up to height * width, the size is not positive, or it exceeds
/// limits::kMaxImageSide / limits::kMaxImagePixels (checked before allocating).
cv::Mat rle_counts_to_mask(const std::vector<uint32_t>& counts, int height, int width);

/// Encodes a mask (CV_8UC1, non-zero = inside) to the COCO compressed string.
/// Throws ArgumentError for an empty or non-CV_8UC1 matrix.
std::string rle_encode(const cv::Mat& mask01);
/// Decodes a COCO compressed string of a height x width mask to CV_8UC1 0/1.
cv::Mat rle_decode(const std::string& counts, int height, int width);

}  // namespace regionlm
