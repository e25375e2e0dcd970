// regionlm.Region and the COCO RLE helpers.
#include "regionlm/region/region.hpp"

#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <opencv2/core.hpp>

#include "bindings.hpp"
#include "regionlm/error.hpp"
#include "regionlm/region/rle.hpp"

namespace regionlm::python {
namespace {

const char* kind_name(Region::Kind kind) {
  switch (kind) {
    case Region::Kind::Mask:
      return "mask";
    case Region::Kind::Box:
      return "box";
    case Region::Kind::Polygon:
      return "polygon";
    case Region::Kind::Rle:
      return "rle";
  }
  return "?";
}

/// A polygon given as an N x 2 array or a sequence of (x, y) pairs or a flat COCO list
/// [x0, y0, x1, y1, ...].
std::vector<cv::Point2d> polygon_points(nb::handle value, const std::string& what) {
  std::vector<cv::Point2d> points;
  AnyArray array;
  if (!nb::isinstance<nb::list>(value) && !nb::isinstance<nb::tuple>(value) && nb::try_cast(value, array)) {
    if (array.ndim() != 2 || array.shape(1) != 2 || array.device_type() != nb::device::cpu::value) {
      throw ArgumentError(what + ": expected an N x 2 array of (x, y) vertices");
    }
    // Any numeric dtype: read through numpy's float64 view of it.
    nb::object as_float = nb::module_::import_("numpy").attr("asarray")(value, "float64");
    const auto f = nb::cast<nb::ndarray<const double, nb::ndim<2>, nb::c_contig>>(
        nb::module_::import_("numpy").attr("ascontiguousarray")(as_float));
    for (size_t i = 0; i < f.shape(0); ++i) points.emplace_back(f(i, 0), f(i, 1));
    return points;
  }
  if (!nb::isinstance<nb::sequence>(value)) {
    throw ArgumentError(what +
                        ": expected vertices as an N x 2 array, (x, y) pairs or a flat [x0, y0, x1, y1, ...] list");
  }
  const nb::sequence seq = nb::borrow<nb::sequence>(value);
  const size_t n = nb::len(seq);
  const bool flat = n > 0 && !nb::isinstance<nb::sequence>(seq[0]);
  if (flat) {
    if (n % 2 != 0)
      throw ArgumentError(what + ": a flat vertex list needs an even number of coordinates, got " + std::to_string(n));
    for (size_t i = 0; i < n; i += 2) points.emplace_back(nb::cast<double>(seq[i]), nb::cast<double>(seq[i + 1]));
    return points;
  }
  for (size_t i = 0; i < n; ++i) {
    nb::handle p = seq[i];
    if (!nb::isinstance<nb::sequence>(p) || nb::len(p) != 2) {
      throw ArgumentError(what + "[" + std::to_string(i) + "]: expected an (x, y) pair");
    }
    points.emplace_back(nb::cast<double>(p[0]), nb::cast<double>(p[1]));
  }
  return points;
}

Region rle_region(nb::handle counts, int height, int width, const std::string& what) {
  if (nb::isinstance<nb::str>(counts)) return Region::from_rle(nb::cast<std::string>(counts), height, width);
  if (nb::isinstance<nb::bytes>(counts)) {  // pycocotools' mask.encode gives bytes
    return Region::from_rle(std::string(nb::borrow<nb::bytes>(counts).c_str()), height, width);
  }
  std::vector<uint32_t> runs;
  if (!nb::try_cast(counts, runs)) {
    throw ArgumentError(what + ": expected a COCO RLE string or a list of non-negative run lengths");
  }
  return Region::from_rle(runs, height, width);
}

}  // namespace

void register_region(nb::module_& m) {
  nb::class_<Region>(m, "Region",
                     "A region of an image: a binary mask, a box, polygons or COCO RLE. Validated against the\n"
                     "image when a call uses it (construction never fails for content).")
      .def_static(
          "from_mask", [](const AnyArray& mask) { return Region::from_mask(mask_view(mask, "mask")); }, nb::arg("mask"),
          "A binary mask at the image's size: an H x W array of bool, integers or floats, non-zero =\n"
          "inside. The pixels are copied once, into the Region.")
      .def_static("from_box", &Region::from_box, nb::arg("x0"), nb::arg("y0"), nb::arg("x1"), nb::arg("y1"),
                  "A rectangle in pixels, far corner exclusive (COCO's [x, y, w, h] is from_box(x, y, x + w, y + h)).")
      .def_static(
          "from_polygon", [](VerticesArg points) { return Region::from_polygon(polygon_points(points, "points")); },
          nb::arg("points"),
          "A filled polygon: an N x 2 array, (x, y) pairs or a flat COCO list [x0, y0, x1, y1, ...];\n"
          "rasterised as pycocotools does.")
      .def_static(
          "from_polygons",
          [](nb::typed<nb::sequence, VerticesArg> polygons) {
            std::vector<std::vector<cv::Point2d>> all;
            for (size_t i = 0; i < nb::len(polygons); ++i) {
              all.push_back(polygon_points(polygons[i], "polygons[" + std::to_string(i) + "]"));
            }
            return Region::from_polygons(all);
          },
          nb::arg("polygons"), "The union of several polygons (a COCO polygon segmentation with several parts).")
      .def_static(
          "from_rle",
          [](nb::typed<nb::handle, std::variant<std::string, nb::bytes, std::vector<uint32_t>>> counts, int height,
             int width) { return rle_region(counts, height, width, "counts"); },
          nb::arg("counts"), nb::arg("height"), nb::arg("width"),
          "COCO RLE of a height x width mask: the compressed string (str or bytes) or the list of run\n"
          "lengths (column-major, first run = zeros).")
      .def_static(
          "from_coco",
          [](nb::typed<nb::handle, std::variant<nb::dict, std::vector<VerticesArg>>> segmentation) {
            if (nb::isinstance<nb::dict>(segmentation)) {
              const nb::dict rle = nb::borrow<nb::dict>(segmentation);
              if (!rle.contains("size") || !rle.contains("counts")) {
                throw ArgumentError("segmentation: a COCO RLE needs 'size' [height, width] and 'counts'");
              }
              const auto size = nb::cast<std::vector<int>>(rle["size"]);
              if (size.size() != 2) throw ArgumentError("segmentation.size: expected [height, width]");
              return rle_region(rle["counts"], size[0], size[1], "segmentation.counts");
            }
            if (nb::isinstance<nb::list>(segmentation)) {
              const nb::list parts = nb::borrow<nb::list>(segmentation);
              std::vector<std::vector<cv::Point2d>> all;
              for (size_t i = 0; i < nb::len(parts); ++i) {
                all.push_back(polygon_points(parts[i], "segmentation[" + std::to_string(i) + "]"));
              }
              return Region::from_polygons(all);
            }
            throw ArgumentError("segmentation: expected a COCO RLE dict or a list of polygons");
          },
          nb::arg("segmentation"),
          "A COCO annotation's `segmentation`: a list of flat polygons, or an RLE dict\n"
          "{'size': [h, w], 'counts': str | list[int]}.")
      .def_prop_ro(
          "kind", [](const Region& r) { return kind_name(r.kind()); }, "'mask', 'box', 'polygon' or 'rle'.")
      .def_prop_ro(
          "box",
          [](const Region& r) -> nb::object {
            const auto box = r.box();
            if (!box) return nb::none();
            return nb::make_tuple((*box)[0], (*box)[1], (*box)[2], (*box)[3]);
          },
          "(x0, y0, x1, y1) of a box region exactly as given; None for other kinds.")
      .def(
          "rasterize",
          [](const Region& r, int height, int width, bool allow_resize) {
            return mat_to_numpy(r.rasterize(height, width, allow_resize));
          },
          nb::arg("height"), nb::arg("width"), nb::arg("allow_resize") = false,
          "The region as a height x width uint8 0/1 array. ArgumentError for a malformed region or a\n"
          "mask/RLE of another size (unless allow_resize).")
      .def("describe", &Region::describe, "Short text for messages, e.g. 'box (10, 20, 50, 60)'.")
      .def("__repr__", [](const Region& r) { return "<regionlm.Region " + r.describe() + ">"; });

  m.def(
      "rle_encode",
      [](const AnyArray& mask) {
        cv::Mat view = mask_view(mask, "mask");
        if (view.type() != CV_8UC1) view = view != 0;  // rle_encode reads CV_8UC1
        return rle_encode(view);
      },
      nb::arg("mask"), "COCO compressed RLE string of an H x W mask (non-zero = inside), as pycocotools writes it.");
  m.def(
      "rle_decode",
      [](const std::string& counts, int height, int width) { return mat_to_numpy(rle_decode(counts, height, width)); },
      nb::arg("counts"), nb::arg("height"), nb::arg("width"),
      "A COCO compressed RLE string -> height x width uint8 0/1 array.");
}

}  // namespace regionlm::python
