#pragma once
// Decoding uploaded images safely: the size is read from the PNG/JPEG header and checked
// before anything is allocated, so a small file that claims to be 100000 x 100000 pixels is
// refused instead of decoded.
#include <opencv2/core/mat.hpp>

#include <cstdint>
#include <string>

namespace regionlm::server {

/// Width and height from a PNG (IHDR) or JPEG (SOFn) header (vision::read_image_header).
/// Throws ApiError 422 naming `param` for another format, an unreadable header, a 0 size or
/// one over limits::kMaxImageSide / limits::kMaxImagePixels (code "image_too_large").
cv::Size image_header_size(const std::string& bytes, const std::string& param);

/// An uploaded image as CV_8UC3 RGB (vision::decode_image after the header check); 422 for a
/// truncated or corrupt file.
cv::Mat decode_rgb(const std::string& bytes, const std::string& param);

/// A mask PNG as CV_8UC1 0/1 (non-zero in any channel = inside), which must be `size`; 422
/// otherwise.
cv::Mat decode_mask(const std::string& bytes, cv::Size size, const std::string& param);

}  // namespace regionlm::server
