#include "regionlm/vision/image_header.hpp"

#include <cstring>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"

namespace regionlm::vision {
namespace {

uint32_t big_endian(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

uint32_t little_endian(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

bool starts_with(const uint8_t* data, size_t size, size_t at, const char* text) {
  const size_t n = std::strlen(text);
  return size >= at + n && std::memcmp(data + at, text, n) == 0;
}

[[noreturn]] void truncated(const std::string& what, const char* format, const char* part) {
  throw FormatError(what + ": " + format + " header cut short (no complete " + part + ")");
}

ImageHeader png(const uint8_t* d, size_t size, const std::string& what) {
  // signature (8), chunk length (4), "IHDR", width (4), height (4): IHDR must come first.
  if (size < 24 || !starts_with(d, size, 12, "IHDR")) truncated(what, "PNG", "IHDR chunk");
  return {"PNG", big_endian(d + 16, 4), big_endian(d + 20, 4)};
}

bool is_frame_marker(uint8_t m) {  // SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC)
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

ImageHeader jpeg(const uint8_t* d, size_t size, const std::string& what) {
  size_t pos = 2;  // after SOI
  while (pos < size) {
    // Like libjpeg: stray bytes before a marker are skipped, then any number of fill bytes.
    while (pos < size && d[pos] != 0xFF) ++pos;
    while (pos < size && d[pos] == 0xFF) ++pos;
    if (pos >= size) break;
    const uint8_t marker = d[pos++];
    if (marker == 0x00) continue;  // FF 00 is stuffed data, not a marker
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no length field
    if (marker == 0xD9 || marker == 0xDA) break;  // end of image or a scan before any frame
    if (pos + 2 > size) break;
    const size_t length = big_endian(d + pos, 2);  // includes its own two bytes
    if (is_frame_marker(marker)) {
      // length (2), precision (1), height (2), width (2)
      if (length < 7 || pos + 7 > size) break;
      return {"JPEG", big_endian(d + pos + 5, 2), big_endian(d + pos + 3, 2)};
    }
    if (length < 2) break;
    pos += length;
  }
  truncated(what, "JPEG", "frame header (SOFn) before the first scan");
}

ImageHeader bmp(const uint8_t* d, size_t size, const std::string& what) {
  if (size < 18) truncated(what, "BMP", "DIB header");
  const uint32_t dib = little_endian(d + 14, 4);
  if (dib == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit unsigned sizes
    if (size < 22) truncated(what, "BMP", "DIB header");
    return {"BMP", little_endian(d + 18, 2), little_endian(d + 20, 2)};
  }
  if (size < 26) truncated(what, "BMP", "DIB header");
  // 32-bit signed sizes; a negative height means rows stored top-down.
  const auto width = static_cast<int32_t>(little_endian(d + 18, 4));
  const auto height = static_cast<int32_t>(little_endian(d + 22, 4));
  return {"BMP", width, height < 0 ? -static_cast<int64_t>(height) : height};
}

}  // namespace

ImageHeader read_image_header(const void* data, size_t size, const std::string& what) {
  const auto* d = static_cast<const uint8_t*>(data);
  if (d == nullptr) size = 0;
  if (starts_with(d, size, 0, "\x89PNG\r\n\x1a\n")) return png(d, size, what);
  if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return jpeg(d, size, what);
  if (starts_with(d, size, 0, "BM")) return bmp(d, size, what);
  throw FormatError(what + ": not a PNG, JPEG or BMP image (the formats whose size is checked before "
                           "decoding and which OpenCV dispatches on their signature alone)");
}

void check_image_size(const ImageHeader& header, const std::string& what) {
  const std::string size = std::to_string(header.width) + "x" + std::to_string(header.height);
  if (header.width <= 0 || header.height <= 0) {
    throw FormatError(what + ": " + header.format + " header declares an empty image (" + size + " px)");
  }
  if (header.width > limits::kMaxImageSide || header.height > limits::kMaxImageSide ||
      header.width * header.height > limits::kMaxImagePixels) {
    throw FormatError(what + ": " + header.format + " header declares " + size + " px; at most " +
                      std::to_string(limits::kMaxImageSide) + " px a side (limits::kMaxImageSide) and " +
                      std::to_string(limits::kMaxImagePixels) + " pixels (limits::kMaxImagePixels)");
  }
}

}  // namespace regionlm::vision
