#include "regionlm/region/rle.hpp"

#include <opencv2/core.hpp>

#include <cstring>
#include <limits>

#include "regionlm/error.hpp"
#include "regionlm/limits.hpp"

namespace regionlm {
namespace {

// The compressed form stores each value in 5-bit groups, least significant first, as
// characters '0' + group; bit 0x20 of a group means "another group follows" and bit 0x10
// of the last group is the sign. Values from the fourth on are differences to the value
// two places earlier (runs of the same colour), which keeps them small.
constexpr int kCharOffset = 48;
constexpr int64_t kGroupBits = 5;
constexpr int64_t kGroupMask = 0x1f;
constexpr int64_t kContinueBit = 0x20;
constexpr int64_t kSignBit = 0x10;
constexpr int64_t kMaxShift = 50;  // 11 groups: far beyond any uint32 run, no overflow

void require_mask01(const cv::Mat& mask01, const char* what) {
  if (mask01.empty() || mask01.type() != CV_8UC1 || mask01.dims != 2) {
    throw ArgumentError(std::string(what) +
                        ": expected a non-empty single-channel 8-bit (CV_8UC1) mask");
  }
}

}  // namespace

std::vector<uint32_t> rle_counts(const cv::Mat& mask01) {
  require_mask01(mask01, "rle_counts");
  cv::Mat columns;  // row c = column c of the mask, so memory order is COCO's order
  cv::transpose(mask01, columns);
  std::vector<uint32_t> counts;
  uint8_t current = 0;
  uint32_t run = 0;
  for (int r = 0; r < columns.rows; ++r) {
    const uint8_t* row = columns.ptr<uint8_t>(r);
    for (int c = 0; c < columns.cols; ++c) {
      const uint8_t value = row[c] != 0 ? 1 : 0;
      if (value != current) {
        counts.push_back(run);
        run = 0;
        current = value;
      }
      ++run;
    }
  }
  counts.push_back(run);
  return counts;
}

std::string rle_counts_to_string(const std::vector<uint32_t>& counts) {
  std::string out;
  for (size_t i = 0; i < counts.size(); ++i) {
    int64_t x = counts[i];
    if (i > 2) x -= counts[i - 2];
    bool more = true;
    while (more) {
      int64_t group = x & kGroupMask;
      x >>= kGroupBits;  // arithmetic shift keeps the sign
      more = (group & kSignBit) ? x != -1 : x != 0;
      if (more) group |= kContinueBit;
      out.push_back(static_cast<char>(group + kCharOffset));
    }
  }
  return out;
}

std::vector<uint32_t> rle_string_to_counts(const std::string& text) {
  std::vector<uint32_t> counts;
  size_t pos = 0;
  while (pos < text.size()) {
    int64_t x = 0;
    int64_t shift = 0;
    bool more = true;
    while (more) {
      if (pos >= text.size()) {
        throw ArgumentError("malformed RLE: the string ends in the middle of run " +
                            std::to_string(counts.size()));
      }
      const int group = static_cast<unsigned char>(text[pos]) - kCharOffset;
      if (group < 0 || group > 63) {
        throw ArgumentError("malformed RLE: character '" + std::string(1, text[pos]) +
                            "' at position " + std::to_string(pos) +
                            " is outside '0'..'o'");
      }
      if (shift > kMaxShift) {
        throw ArgumentError("malformed RLE: run " + std::to_string(counts.size()) +
                            " is encoded with too many characters");
      }
      x |= (group & kGroupMask) << shift;
      more = (group & kContinueBit) != 0;
      shift += kGroupBits;
      ++pos;
      if (!more && (group & kSignBit)) x |= ~((int64_t{1} << shift) - 1);  // sign-extend
    }
    if (counts.size() > 2) x += counts[counts.size() - 2];
    if (x < 0 || x > std::numeric_limits<uint32_t>::max()) {
      throw ArgumentError("malformed RLE: run " + std::to_string(counts.size()) +
                          " decodes to " + std::to_string(x) +
                          ", outside 0..4294967295");
    }
    counts.push_back(static_cast<uint32_t>(x));
  }
  return counts;
}

cv::Mat rle_counts_to_mask(const std::vector<uint32_t>& counts, int height, int width) {
  if (height <= 0 || width <= 0) {
    throw ArgumentError("RLE size must be positive, got " + std::to_string(height) + "x" +
                        std::to_string(width) + " (height x width)");
  }
  const uint64_t pixels = static_cast<uint64_t>(height) * static_cast<uint64_t>(width);
  // A few bytes of compressed counts can describe a 4-gigapixel mask: bound it before allocating.
  if (height > limits::kMaxImageSide || width > limits::kMaxImageSide ||
      pixels > static_cast<uint64_t>(limits::kMaxImagePixels)) {
    throw ArgumentError("RLE size " + std::to_string(height) + "x" + std::to_string(width) +
                        " (height x width) exceeds the mask limits: at most " +
                        std::to_string(limits::kMaxImageSide) + " px a side (limits::kMaxImageSide) and " +
                        std::to_string(limits::kMaxImagePixels) + " pixels (limits::kMaxImagePixels)");
  }
  uint64_t total = 0;
  for (uint32_t run : counts) total += run;
  if (total != pixels) {
    throw ArgumentError("malformed RLE: the runs cover " + std::to_string(total) +
                        " pixels but a " + std::to_string(height) + "x" +
                        std::to_string(width) + " mask has " + std::to_string(pixels));
  }
  cv::Mat columns(width, height, CV_8UC1);  // column-major image = row-major transpose
  uint8_t* out = columns.ptr<uint8_t>(0);
  uint8_t value = 0;
  for (uint32_t run : counts) {
    std::memset(out, value, run);
    out += run;
    value ^= 1;
  }
  cv::Mat mask;
  cv::transpose(columns, mask);
  return mask;
}

std::string rle_encode(const cv::Mat& mask01) {
  require_mask01(mask01, "rle_encode");
  return rle_counts_to_string(rle_counts(mask01));
}

cv::Mat rle_decode(const std::string& counts, int height, int width) {
  return rle_counts_to_mask(rle_string_to_counts(counts), height, width);
}

}  // namespace regionlm
