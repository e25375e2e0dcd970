#pragma once
// Shared by the binding files of the `regionlm` Python module (regionlm._core): numpy <-> OpenCV /
// LibTorch conversions and the registration function of each part.
//
// numpy arrays come in as views (a cv::Mat header over the array's memory, no copy) when their
// pixels are packed; results go out as arrays that own the C++ buffer they view (a cv::Mat, a
// tensor or a vector kept alive by the array's capsule), so nothing is copied on the way out
// except a GPU tensor to host memory.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/filesystem.h>  // every file: one caster per type across the module
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <opencv2/core/mat.hpp>
#include <string>
#include <variant>
#include <vector>

namespace regionlm::python {

namespace nb = nanobind;

/// Any numpy (or DLPack) array, read-only access.
using AnyArray = nb::ndarray<nb::ro>;

// Arguments read by hand (so that a wrong one is a regionlm.ArgumentError naming it), annotated
// for the type stub with what they accept.
/// A path or an H x W x 3 uint8 array.
using PixelsArg = nb::typed<nb::handle, std::variant<std::filesystem::path, AnyArray>>;
/// Polygon vertices: an N x 2 array, (x, y) pairs or a flat [x0, y0, x1, y1, ...] list.
using VerticesArg =
    nb::typed<nb::handle, std::variant<AnyArray, std::vector<std::pair<double, double>>, std::vector<double>>>;
/// A Python callable (None when the argument's default, nb::none(), is taken).
template <class Signature>
using CallbackArg = nb::typed<nb::object, nb::typed<nb::callable, Signature>>;

/// An image argument: a file path or an RGB pixel view (CV_8UC3 over the caller's array).
using ImageInput = std::variant<std::filesystem::path, cv::Mat>;

/// `value` as an image: str / os.PathLike -> path; an H x W x 3 uint8 array -> a view of it
/// (copied only when its pixels are not packed). Throws ArgumentError naming `what` and the
/// dtype/shape expected and received; the caller keeps `value` alive while the view is used.
ImageInput image_input(nb::handle value, const char* what);
/// An H x W x 3 uint8 array as a CV_8UC3 view (rows may be strided). ArgumentError otherwise.
cv::Mat image_view(const AnyArray& array, const char* what);
/// A 2-D array (bool, any integer or float dtype; non-zero = inside) as a one-channel cv::Mat:
/// a view for dtypes OpenCV has (bool is read as uint8), a 0/1 CV_8UC1 copy for 64-bit
/// integers. ArgumentError for other shapes and dtypes.
cv::Mat mask_view(const AnyArray& array, const char* what);

/// A CV_8UC1 / CV_32FC1 / ... matrix as a numpy array sharing its buffer (the array holds a
/// reference to the Mat's data). Continuous matrices only (everything the library returns is).
/// `writable` = false for a view of an object's own state (e.g. GeneratedMask.segmentation).
nb::object mat_to_numpy(const cv::Mat& mat, bool writable = true);
/// A tensor as a read-only numpy array sharing its storage (moved to host memory first when it
/// lives on a GPU; made contiguous when it is not): the tensors shown are an object's own state
/// (Masks, EncodedImage), which other calls and threads read. bool, uint8, int32, int64, float32,
/// float64.
nb::object tensor_to_numpy(torch::Tensor tensor);
/// `values` as a 1-D numpy array that owns them (moved, not copied).
nb::object vector_to_numpy(std::vector<int64_t> values);

/// "float32", "bfloat16", "float16" -> the torch dtype (ArgumentError naming `what` otherwise).
torch::ScalarType parse_dtype(const std::string& name, const char* what);
/// The torch dtype's name as parse_dtype reads it.
std::string dtype_name(torch::ScalarType dtype);

void register_errors(nb::module_& m);
void register_region(nb::module_& m);
void register_model(nb::module_& m);
void register_sam(nb::module_& m);

}  // namespace regionlm::python
