#include "vision/jpeg_integrity.hpp"

namespace regionlm::vision::detail {
namespace {

constexpr uint8_t kMarkerPrefix = 0xFF;
constexpr uint8_t kStartOfImage = 0xD8;
constexpr uint8_t kEndOfImage = 0xD9;
constexpr uint8_t kStartOfScan = 0xDA;
constexpr uint8_t kTemporary = 0x01;  // TEM: standalone, no length

bool is_restart(uint8_t marker) { return marker >= 0xD0 && marker <= 0xD7; }

// Markers that stand alone (no length field follows).
bool is_standalone(uint8_t marker) {
  return marker == kTemporary || marker == kStartOfImage || is_restart(marker);
}

// Skips entropy-coded data after a scan header: it ends at the first 0xFF that is neither a
// stuffed zero (FF 00) nor a restart marker (FF D0..D7). Returns the position of that 0xFF,
// or `size` when the data runs out first.
size_t skip_entropy_coded(const uint8_t* data, size_t size, size_t pos) {
  while (pos < size) {
    if (data[pos] != kMarkerPrefix) {
      ++pos;
      continue;
    }
    if (pos + 1 >= size) return size;
    const uint8_t next = data[pos + 1];
    if (next == 0x00 || is_restart(next)) {
      pos += 2;
      continue;
    }
    return pos;
  }
  return size;
}

}  // namespace

bool looks_like_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == kMarkerPrefix && data[1] == kStartOfImage &&
         data[2] == kMarkerPrefix;
}

bool jpeg_reaches_end_of_image(const uint8_t* data, size_t size) {
  if (!looks_like_jpeg(data, size)) return false;
  size_t pos = 2;
  while (pos < size) {
    // Like libjpeg, tolerate stray bytes before a marker, then any number of fill bytes.
    while (pos < size && data[pos] != kMarkerPrefix) ++pos;
    while (pos < size && data[pos] == kMarkerPrefix) ++pos;
    if (pos >= size) return false;
    const uint8_t marker = data[pos++];
    if (marker == kEndOfImage) return true;
    if (is_standalone(marker)) continue;
    if (pos + 2 > size) return false;
    const size_t length = (size_t{data[pos]} << 8) | data[pos + 1];  // includes itself
    if (length < 2 || pos + length > size) return false;
    pos += length;
    if (marker == kStartOfScan) pos = skip_entropy_coded(data, size, pos);
  }
  return false;
}

}  // namespace regionlm::vision::detail
