#include "regionlm/vision/resample.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "regionlm/error.hpp"

namespace regionlm::vision {
namespace {

// Pillow's fixed-point layout for 8-bit data: 8 bits of pixel value, 2 bits of headroom for
// kernel overshoot, the rest fraction.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kCubicSupport = 2.0;   // the bicubic kernel is zero beyond |x| >= 2
constexpr double kLinearSupport = 1.0;  // the triangle (bilinear) kernel is zero beyond |x| >= 1

// Keys' cubic convolution kernel with a = -0.5 (Pillow's BICUBIC).
double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// The triangle kernel (Pillow's BILINEAR).
double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// For each output index along one axis: the first contributing input index, how many
// inputs contribute, and their fixed-point weights (padded to `taps` per output).
struct AxisKernel {
  int taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;  // [out_size * taps]
};

AxisKernel make_axis_kernel(int in_size, int out_size, PillowFilter filter) {
  double (*kernel_fn)(double) = filter == PillowFilter::Bilinear ? triangle : bicubic;
  const double kernel_support = filter == PillowFilter::Bilinear ? kLinearSupport : kCubicSupport;
  const double scale = static_cast<double>(in_size) / out_size;
  // When shrinking, the kernel widens by the shrink factor (antialiasing).
  const double filter_scale = std::max(scale, 1.0);
  const double support = kernel_support * filter_scale;
  // Multiplying by the reciprocal (not dividing) keeps the weights identical to Pillow's.
  const double inverse_filter_scale = 1.0 / filter_scale;
  AxisKernel kernel;
  kernel.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  kernel.first.resize(out_size);
  kernel.count.resize(out_size);
  kernel.weights.assign(static_cast<size_t>(out_size) * kernel.taps, 0);

  std::vector<double> w(kernel.taps);
  for (int out = 0; out < out_size; ++out) {
    const double center = (out + 0.5) * scale;
    // Truncating casts (toward zero) round these half-up values as Pillow's C code does.
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = hi - lo;
    double total = 0.0;
    for (int i = 0; i < n; ++i) {
      w[i] = kernel_fn((i + lo - center + 0.5) * inverse_filter_scale);
      total += w[i];
    }
    int32_t* fixed = &kernel.weights[static_cast<size_t>(out) * kernel.taps];
    for (int i = 0; i < n; ++i) {
      const double normalised = total != 0.0 ? w[i] / total : w[i];
      const double scaled = normalised * (1 << kPrecisionBits);
      fixed[i] = static_cast<int32_t>(scaled < 0.0 ? scaled - 0.5 : scaled + 0.5);
    }
    kernel.first[out] = lo;
    kernel.count[out] = n;
  }
  return kernel;
}

// Rounds a fixed-point accumulator (which already holds the +0.5 bias) to a clipped uint8.
uint8_t clip_to_u8(int64_t accumulator) {
  if (accumulator <= 0) return 0;
  if (accumulator >= (int64_t{256} << kPrecisionBits)) return 255;
  return static_cast<uint8_t>(accumulator >> kPrecisionBits);
}

constexpr int64_t kRoundingBias = int64_t{1} << (kPrecisionBits - 1);

cv::Mat resample_horizontal(const cv::Mat& in, int out_width, PillowFilter filter) {
  const AxisKernel kernel = make_axis_kernel(in.cols, out_width, filter);
  const int channels = in.channels();
  cv::Mat out(in.rows, out_width, in.type());
  cv::parallel_for_(cv::Range(0, in.rows), [&](const cv::Range& rows) {
    for (int y = rows.start; y < rows.end; ++y) {
      const uint8_t* src = in.ptr<uint8_t>(y);
      uint8_t* dst = out.ptr<uint8_t>(y);
      for (int x = 0; x < out_width; ++x) {
        const int32_t* w = &kernel.weights[static_cast<size_t>(x) * kernel.taps];
        const uint8_t* px = src + static_cast<size_t>(kernel.first[x]) * channels;
        for (int c = 0; c < channels; ++c) {
          int64_t acc = kRoundingBias;
          for (int i = 0; i < kernel.count[x]; ++i) acc += int64_t{px[i * channels + c]} * w[i];
          dst[x * channels + c] = clip_to_u8(acc);
        }
      }
    }
  });
  return out;
}

cv::Mat resample_vertical(const cv::Mat& in, int out_height, PillowFilter filter) {
  const AxisKernel kernel = make_axis_kernel(in.rows, out_height, filter);
  const int values_per_row = in.cols * in.channels();
  cv::Mat out(out_height, in.cols, in.type());
  cv::parallel_for_(cv::Range(0, out_height), [&](const cv::Range& rows) {
    std::vector<int64_t> acc(values_per_row);
    for (int y = rows.start; y < rows.end; ++y) {
      const int32_t* w = &kernel.weights[static_cast<size_t>(y) * kernel.taps];
      std::fill(acc.begin(), acc.end(), kRoundingBias);
      for (int i = 0; i < kernel.count[y]; ++i) {
        const uint8_t* src = in.ptr<uint8_t>(kernel.first[y] + i);
        for (int v = 0; v < values_per_row; ++v) acc[v] += int64_t{src[v]} * w[i];
      }
      uint8_t* dst = out.ptr<uint8_t>(y);
      for (int v = 0; v < values_per_row; ++v) dst[v] = clip_to_u8(acc[v]);
    }
  });
  return out;
}

}  // namespace

cv::Mat resize_pillow(const cv::Mat& image, int64_t width, int64_t height, PillowFilter filter) {
  if (image.empty() || image.depth() != CV_8U || image.channels() > 4) {
    throw ArgumentError("resize_pillow: expected a non-empty 8-bit image with 1-4 "
                        "channels, got type " + cv::typeToString(image.type()) + " of " +
                        std::to_string(image.cols) + "x" + std::to_string(image.rows));
  }
  constexpr int64_t kMaxSide = 1 << 20;  // keeps every index and weight table in range
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide) {
    throw ArgumentError("resize_pillow: target size " + std::to_string(width) + "x" +
                        std::to_string(height) + " out of range (1.." +
                        std::to_string(kMaxSide) + " per side)");
  }
  // Pillow skips a pass whose size does not change. The order matters because each pass
  // rounds to uint8: horizontal first, except (Pillow 13, python-pillow/Pillow#9549) when the
  // height shrinks by more than twice as many pixels as the width does.
  const bool vertical_first = height < image.rows && (image.rows - height) > 2 * (image.cols - width);
  cv::Mat result = image;
  if (vertical_first) {
    result = resample_vertical(result, static_cast<int>(height), filter);
    if (width != image.cols) result = resample_horizontal(result, static_cast<int>(width), filter);
  } else {
    if (width != image.cols) result = resample_horizontal(result, static_cast<int>(width), filter);
    if (height != image.rows) result = resample_vertical(result, static_cast<int>(height), filter);
  }
  return result.data == image.data ? image.clone() : result;
}

cv::Mat resize_bicubic_pillow(const cv::Mat& image, int64_t width, int64_t height) {
  return resize_pillow(image, width, height, PillowFilter::Bicubic);
}

}  // namespace regionlm::vision
