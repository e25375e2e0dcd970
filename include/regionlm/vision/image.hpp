#pragma once
// Image input: every image entering the vision path becomes an 8-bit, 3-channel RGB cv::Mat
// (CV_8UC3, R first), the form Osprey's `Image.open(...).convert("RGB")` produces.
//
// Conversion rules (identical for files, buffers and caller-supplied matrices):
//  - gray is replicated to three channels; an alpha channel is dropped, not composited;
//  - 16-bit colour (3 or 4 channels) keeps the high byte (v >> 8), which is what Pillow
//    does for 16-bit RGB/RGBA files;
//  - 16-bit single-channel (gray) images are refused: Pillow's convert("RGB") clips them at
//    255 (almost every pixel turns white), and silently doing something else would not match
//    the reference either. Convert them to 8 bits yourself with the scaling you want;
//  - other depths (float, 32-bit) are refused.
//
// EXIF orientation is applied when decoding files and buffers (the image comes out the way a
// viewer shows it). Region masks must be given in that same, oriented frame: width and height
// of the returned cv::Mat, not of the stored pixel array. (Osprey's own demo does not apply
// the orientation tag; for untagged images both agree.)
#include <opencv2/core.hpp>

#include <cstddef>
#include <filesystem>
#include <string>

namespace regionlm::vision {

/// Channel order of a caller-supplied colour cv::Mat. OpenCV's own readers (cv::imread,
/// cv::imdecode, cv::VideoCapture) produce BGR / BGRA.
enum class ChannelOrder { RGB, BGR };

/// Reads and decodes an image file (PNG, JPEG or BMP: the formats whose header size is checked
/// before decoding, see image_header.hpp). Returns CV_8UC3 RGB with EXIF orientation
/// applied. Throws IoError when the file cannot be read, FormatError (naming the file) when its
/// bytes are not a decodable, complete image, declare more than limits::kMaxImageSide px a
/// side or limits::kMaxImagePixels pixels, or use an unsupported depth (see above).
cv::Mat load_image(const std::filesystem::path& path);

/// Decodes an encoded image held in memory; same result and errors as `load_image`.
/// `what` names the data in error messages (a file name, URL, "upload #3", ...).
cv::Mat decode_image(const void* data, size_t size, const std::string& what = "buffer");

/// Converts an already decoded image to CV_8UC3 RGB: CV_8U or CV_16U with 1, 3 or 4 channels
/// (rules above). `order` says how 3/4-channel input is laid out (RGB[A] or BGR[A]); it is
/// ignored for gray. The result never aliases `image`.
/// Throws ArgumentError for an empty image, another depth or channel count, or 16-bit gray.
cv::Mat to_rgb8(const cv::Mat& image, ChannelOrder order = ChannelOrder::RGB);

}  // namespace regionlm::vision
