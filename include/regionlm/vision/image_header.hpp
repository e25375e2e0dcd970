#pragma once
// The size an encoded image declares, read from its header without decoding, so that a small
// file claiming 65535 x 65535 pixels is refused before the decoder allocates anything.
// Only formats whose header is read here are decoded at all (PNG, JPEG, BMP): OpenCV's other
// codecs (TIFF, JPEG 2000, OpenEXR, DICOM, ...) would allocate what their headers say. WebP is
// out too: OpenCV picks it only when libwebp accepts the bitstream, and otherwise offers the
// bytes to the next codec whose signature matches — fuzz_image found a "WebP" with "DICM" at
// byte 128 handed to GDCM, which aborts the process on an assertion.
#include <cstddef>
#include <cstdint>
#include <string>

namespace regionlm::vision {

struct ImageHeader {
  const char* format = "";  // "PNG", "JPEG" or "BMP"
  int64_t width = 0;        // px, as stored (before any EXIF rotation)
  int64_t height = 0;       // px
};

/// Reads the header of a PNG (IHDR), JPEG (first SOFn frame header, found by walking the marker
/// segments as libjpeg does) or BMP (DIB header) image.
/// Throws FormatError naming `what` for another format or a header cut short.
ImageHeader read_image_header(const void* data, size_t size, const std::string& what);

/// Throws FormatError naming `what` when the declared size is 0 or beyond
/// limits::kMaxImageSide (either side) or limits::kMaxImagePixels (width x height).
void check_image_size(const ImageHeader& header, const std::string& what);

}  // namespace regionlm::vision
