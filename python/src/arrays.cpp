// numpy <-> cv::Mat / torch::Tensor / std::vector without copies where the layouts allow.
#include <nanobind/stl/filesystem.h>

#include <memory>
#include <opencv2/core.hpp>
#include <sstream>

#include "bindings.hpp"
#include "regionlm/error.hpp"

namespace regionlm::python {
namespace {

std::string dtype_text(const nb::dlpack::dtype& t) {
  const char* kind = "?";
  switch (static_cast<nb::dlpack::dtype_code>(t.code)) {
    case nb::dlpack::dtype_code::Int:
      kind = "int";
      break;
    case nb::dlpack::dtype_code::UInt:
      kind = "uint";
      break;
    case nb::dlpack::dtype_code::Float:
      kind = "float";
      break;
    case nb::dlpack::dtype_code::Bfloat:
      kind = "bfloat";
      break;
    case nb::dlpack::dtype_code::Complex:
      kind = "complex";
      break;
    case nb::dlpack::dtype_code::Bool:
      return "bool";
    default:
      break;
  }
  return kind + std::to_string(t.bits);
}

std::string shape_text(const AnyArray& a) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < a.ndim(); ++i) out << (i ? ", " : "") << a.shape(i);
  out << (a.ndim() == 1 ? ",)" : ")");
  return out.str();
}

std::string described(const AnyArray& a) { return "a " + dtype_text(a.dtype()) + " array of shape " + shape_text(a); }

void require_host(const AnyArray& a, const char* what) {
  if (a.device_type() != nb::device::cpu::value) {
    throw ArgumentError(std::string(what) + ": expected an array in host memory (numpy), got one on another device");
  }
}

/// OpenCV depth of a one-channel element type, or -1 when OpenCV has none.
int cv_depth(const nb::dlpack::dtype& t) {
  if (t == nb::dtype<bool>() || t == nb::dtype<uint8_t>()) return CV_8U;
  if (t == nb::dtype<int8_t>()) return CV_8S;
  if (t == nb::dtype<uint16_t>()) return CV_16U;
  if (t == nb::dtype<int16_t>()) return CV_16S;
  if (t == nb::dtype<int32_t>()) return CV_32S;
  if (t == nb::dtype<float>()) return CV_32F;
  if (t == nb::dtype<double>()) return CV_64F;
  return -1;
}

}  // namespace

ImageInput image_input(nb::handle value, const char* what) {
  if (nb::isinstance<nb::str>(value) || nb::hasattr(value, "__fspath__")) {
    return nb::cast<std::filesystem::path>(value);
  }
  AnyArray array;
  if (nb::try_cast(value, array)) return image_view(array, what);
  throw ArgumentError(std::string(what) + ": expected a path or an H x W x 3 uint8 RGB array, got " +
                      nb::str(nb::handle(reinterpret_cast<PyObject*>(Py_TYPE(value.ptr())))).c_str());
}

cv::Mat image_view(const AnyArray& a, const char* what) {
  require_host(a, what);
  if (a.dtype() != nb::dtype<uint8_t>() || a.ndim() != 3 || a.shape(2) != 3) {
    throw ArgumentError(std::string(what) + ": expected an H x W x 3 uint8 RGB array, got " + described(a));
  }
  if (a.shape(0) == 0 || a.shape(1) == 0) {
    throw ArgumentError(std::string(what) + ": the image is empty, " + described(a));
  }
  const int rows = static_cast<int>(a.shape(0));
  const int cols = static_cast<int>(a.shape(1));
  auto* data = static_cast<uint8_t*>(const_cast<void*>(a.data()));
  // Packed pixels (channel stride 1, pixel stride 3, rows anywhere after each other): a view.
  if (a.stride(2) == 1 && a.stride(1) == 3 && a.stride(0) >= 3 * static_cast<int64_t>(a.shape(1))) {
    return cv::Mat(rows, cols, CV_8UC3, data, static_cast<size_t>(a.stride(0)));
  }
  // Anything else (a transposed or channel-reversed view, negative strides): one copy.
  cv::Mat packed(rows, cols, CV_8UC3);
  for (int y = 0; y < rows; ++y) {
    uint8_t* out = packed.ptr<uint8_t>(y);
    for (int x = 0; x < cols; ++x) {
      for (int c = 0; c < 3; ++c) {
        out[3 * x + c] = data[y * a.stride(0) + x * a.stride(1) + c * a.stride(2)];
      }
    }
  }
  return packed;
}

cv::Mat mask_view(const AnyArray& a, const char* what) {
  require_host(a, what);
  const nb::dlpack::dtype t = a.dtype();
  const bool int64 = t == nb::dtype<int64_t>() || t == nb::dtype<uint64_t>() || t == nb::dtype<uint32_t>();
  const int depth = cv_depth(t);
  if (a.ndim() != 2 || (depth < 0 && !int64)) {
    throw ArgumentError(std::string(what) + ": expected a 2-D (H x W) mask array of bool, integers or floats, got " +
                        described(a));
  }
  if (a.shape(0) == 0 || a.shape(1) == 0) {
    throw ArgumentError(std::string(what) + ": the mask is empty, " + described(a));
  }
  const int rows = static_cast<int>(a.shape(0));
  const int cols = static_cast<int>(a.shape(1));
  const size_t item = t.bits / 8;
  auto* data = static_cast<uint8_t*>(const_cast<void*>(a.data()));
  if (depth >= 0 && a.stride(1) == 1 && a.stride(0) >= static_cast<int64_t>(a.shape(1))) {
    return cv::Mat(rows, cols, CV_MAKETYPE(depth, 1), data, static_cast<size_t>(a.stride(0)) * item);
  }
  // 64-bit integers (OpenCV has no such depth) or strided columns: one 0/1 copy.
  cv::Mat packed(rows, cols, CV_8UC1);
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      const uint8_t* element = data + (y * a.stride(0) + x * a.stride(1)) * static_cast<int64_t>(item);
      bool inside = false;
      for (size_t b = 0; b < item; ++b) inside = inside || element[b] != 0;
      // -0.0 has a non-zero byte but is zero: floats are compared as numbers.
      if (depth == CV_32F) inside = *reinterpret_cast<const float*>(element) != 0.f;
      if (depth == CV_64F) inside = *reinterpret_cast<const double*>(element) != 0.0;
      packed.at<uint8_t>(y, x) = inside ? 1 : 0;
    }
  }
  return packed;
}

nb::object mat_to_numpy(const cv::Mat& mat, bool writable) {
  if (!mat.isContinuous() || mat.channels() != 1) {
    throw ShapeError("mat_to_numpy: expected a continuous one-channel matrix");
  }
  auto owner = std::make_unique<cv::Mat>(mat);
  const size_t shape[2] = {static_cast<size_t>(mat.rows), static_cast<size_t>(mat.cols)};
  nb::dlpack::dtype dtype;
  switch (mat.depth()) {
    case CV_8U:
      dtype = nb::dtype<uint8_t>();
      break;
    case CV_32S:
      dtype = nb::dtype<int32_t>();
      break;
    case CV_32F:
      dtype = nb::dtype<float>();
      break;
    case CV_64F:
      dtype = nb::dtype<double>();
      break;
    default:
      throw ShapeError("mat_to_numpy: unsupported depth " + std::to_string(mat.depth()));
  }
  void* data = owner->data;
  nb::capsule capsule(owner.get(), [](void* p) noexcept { delete static_cast<cv::Mat*>(p); });
  owner.release();
  if (!writable) return nb::cast(nb::ndarray<nb::numpy, nb::ro>(data, 2, shape, capsule, nullptr, dtype));
  return nb::cast(nb::ndarray<nb::numpy>(data, 2, shape, capsule, nullptr, dtype));
}

nb::object tensor_to_numpy(torch::Tensor tensor) {
  tensor = tensor.to(torch::kCPU).contiguous();  // no-ops for a contiguous host tensor
  nb::dlpack::dtype dtype;
  switch (tensor.scalar_type()) {
    case torch::kBool:
      dtype = nb::dtype<bool>();
      break;
    case torch::kUInt8:
      dtype = nb::dtype<uint8_t>();
      break;
    case torch::kInt32:
      dtype = nb::dtype<int32_t>();
      break;
    case torch::kInt64:
      dtype = nb::dtype<int64_t>();
      break;
    case torch::kFloat32:
      dtype = nb::dtype<float>();
      break;
    case torch::kFloat64:
      dtype = nb::dtype<double>();
      break;
    default:
      throw ShapeError(std::string("tensor_to_numpy: unsupported dtype ") + c10::toString(tensor.scalar_type()));
  }
  std::vector<size_t> shape(tensor.sizes().begin(), tensor.sizes().end());
  auto owner = std::make_unique<torch::Tensor>(tensor);
  void* data = owner->data_ptr();
  nb::capsule capsule(owner.get(), [](void* p) noexcept { delete static_cast<torch::Tensor*>(p); });
  owner.release();
  return nb::cast(nb::ndarray<nb::numpy, nb::ro>(data, shape.size(), shape.data(), capsule, nullptr, dtype));
}

nb::object vector_to_numpy(std::vector<int64_t> values) {
  auto owner = std::make_unique<std::vector<int64_t>>(std::move(values));
  const size_t shape[1] = {owner->size()};
  void* data = owner->data();
  nb::capsule capsule(owner.get(), [](void* p) noexcept { delete static_cast<std::vector<int64_t>*>(p); });
  owner.release();
  return nb::cast(nb::ndarray<nb::numpy, int64_t>(data, 1, shape, capsule));
}

torch::ScalarType parse_dtype(const std::string& name, const char* what) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  throw ArgumentError(std::string(what) + ": expected 'float32', 'bfloat16' or 'float16', got '" + name + "'");
}

std::string dtype_name(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat32:
      return "float32";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kFloat16:
      return "float16";
    default:
      return c10::toString(dtype);
  }
}

}  // namespace regionlm::python
