// regionlm.Sam (Segment Anything: predictor and automatic masks) and scribble sampling.
#include "regionlm/sam/sam.hpp"

#include <nanobind/stl/array.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <optional>

#include "bindings.hpp"
#include "regionlm/error.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/scribble.hpp"
#include "regionlm/vision/image.hpp"

namespace regionlm::python {
namespace {

const sam::AutomaticMaskOptions kMaskDefaults;
const sam::ScribbleOptions kScribbleDefaults;

/// Pixels of an image argument (path or array), with the GIL held; the caller keeps the array alive.
cv::Mat image_pixels(nb::handle value) {
  ImageInput input = image_input(value, "image");
  if (auto* path = std::get_if<std::filesystem::path>(&input)) {
    nb::gil_scoped_release release;
    return vision::load_image(*path);
  }
  return std::get<cv::Mat>(input);
}

/// Clicks: (x, y) or (x, y, label), as the stub shows them.
using ClicksArg =
    nb::typed<nb::object, std::vector<std::variant<std::tuple<double, double>, std::tuple<double, double, int>>>>;

std::vector<sam::Point> points_of(const ClicksArg& points) {
  std::vector<sam::Point> out;
  if (points.is_none()) return out;
  if (!nb::isinstance<nb::sequence>(points)) throw ArgumentError("points: expected a sequence of (x, y[, label])");
  for (size_t i = 0; i < nb::len(points); ++i) {
    nb::handle p = points[i];
    const size_t n = nb::isinstance<nb::sequence>(p) ? nb::len(p) : 0;
    if (n != 2 && n != 3) throw ArgumentError("points[" + std::to_string(i) + "]: expected (x, y) or (x, y, label)");
    out.push_back({nb::cast<double>(p[0]), nb::cast<double>(p[1]), n == 3 ? nb::cast<int>(p[2]) : 1});
  }
  return out;
}

torch::Tensor mask_input_of(const std::optional<AnyArray>& array) {
  if (!array) return {};
  const AnyArray& a = *array;
  if (a.device_type() != nb::device::cpu::value || a.dtype() != nb::dtype<float>() ||
      (a.ndim() != 2 && a.ndim() != 3)) {
    throw ShapeError(
        "mask_input: expected float32 low-resolution logits [L, L] or [1, L, L] (Masks.low_res_logits[i])");
  }
  std::vector<int64_t> sizes, strides;
  for (size_t i = 0; i < a.ndim(); ++i) {
    if (a.stride(i) < 0) throw ShapeError("mask_input: reversed axes are not read; pass np.ascontiguousarray(...)");
    sizes.push_back(static_cast<int64_t>(a.shape(i)));
    strides.push_back(a.stride(i));
  }
  // Copied: the prompt outlives this call's view of the caller's array (and moves to the model's device).
  return torch::from_blob(const_cast<void*>(a.data()), sizes, strides, torch::kFloat32).clone();
}

// The keyword arguments predict and best_mask share, as one prompt.
sam::Prompt prompt_of(const ClicksArg& points, const std::optional<std::array<double, 4>>& box,
                      const std::optional<AnyArray>& mask_input) {
  sam::Prompt prompt;
  prompt.points = points_of(points);
  prompt.box = box;
  prompt.mask_input = mask_input_of(mask_input);
  return prompt;
}

sam::Masks predict(const sam::Sam& model, const sam::SamImage& image, const ClicksArg& points,
                   const std::optional<std::array<double, 4>>& box, const std::optional<AnyArray>& mask_input,
                   bool multimask) {
  const sam::Prompt prompt = prompt_of(points, box, mask_input);
  nb::gil_scoped_release release;
  return model.predict(image, prompt, {.multimask_output = multimask});
}

sam::Masks best_mask(const sam::Sam& model, const sam::SamImage& image, const ClicksArg& points,
                     const std::optional<std::array<double, 4>>& box, const std::optional<AnyArray>& mask_input,
                     bool multimask, std::optional<int64_t> refinement_passes) {
  const sam::Prompt prompt = prompt_of(points, box, mask_input);
  nb::gil_scoped_release release;
  return model.best_mask(image, prompt, {.multimask_output = multimask, .refinement_passes = refinement_passes});
}

std::vector<sam::GeneratedMask> generate(const sam::Sam& model, PixelsArg image, int points_per_side,
                                         int points_per_batch, double pred_iou_thresh, double stability_score_thresh,
                                         double stability_score_offset, double box_nms_thresh, int crop_n_layers,
                                         double crop_nms_thresh, double crop_overlap_ratio,
                                         int crop_n_points_downscale_factor, int min_mask_region_area) {
  const cv::Mat pixels = image_pixels(image);
  sam::AutomaticMaskOptions o;
  o.points_per_side = points_per_side;
  o.points_per_batch = points_per_batch;
  o.pred_iou_thresh = pred_iou_thresh;
  o.stability_score_thresh = stability_score_thresh;
  o.stability_score_offset = stability_score_offset;
  o.box_nms_thresh = box_nms_thresh;
  o.crop_n_layers = crop_n_layers;
  o.crop_nms_thresh = crop_nms_thresh;
  o.crop_overlap_ratio = crop_overlap_ratio;
  o.crop_n_points_downscale_factor = crop_n_points_downscale_factor;
  o.min_mask_region_area = min_mask_region_area;
  nb::gil_scoped_release release;
  return sam::generate_masks(model, pixels, o);
}

nb::typed<nb::list, std::tuple<double, double, int>> points_list(const std::vector<sam::Point>& points) {
  nb::typed<nb::list, std::tuple<double, double, int>> out;
  for (const sam::Point& p : points) out.append(nb::make_tuple(p.x, p.y, p.label));
  return out;
}

}  // namespace

void register_sam(nb::module_& m) {
  nb::class_<sam::SamImage>(m, "SamImage",
                            "An image after SAM's encoder (Sam.encode); reusable for any number of prompts.")
      .def_prop_ro("height", &sam::SamImage::height, "Original image height, px.")
      .def_prop_ro("width", &sam::SamImage::width, "Original image width, px.")
      .def_prop_ro("encode_ms", &sam::SamImage::encode_ms, "Preprocessing + encoder wall time, ms.")
      .def("__repr__", [](const sam::SamImage& i) {
        return "<regionlm.SamImage " + std::to_string(i.height()) + "x" + std::to_string(i.width()) + ">";
      });

  nb::class_<sam::Masks>(m, "Masks", "SAM's masks for one prompt, in the decoder's order (3 with multimask, else 1).")
      .def_prop_ro(
          "masks", [](const sam::Masks& x) { return tensor_to_numpy(x.masks); },
          "[C, H, W] bool array at the image's size (read-only view).")
      .def_prop_ro(
          "iou_predictions", [](const sam::Masks& x) { return tensor_to_numpy(x.iou_predictions); },
          "[C] float32, the decoder's quality estimate.")
      .def_prop_ro(
          "low_res_logits", [](const sam::Masks& x) { return tensor_to_numpy(x.low_res_logits); },
          "[C, L, L] float32; an entry is reusable as predict(mask_input=...).")
      .def("best", &sam::Masks::best, "Index of the highest predicted IoU.")
      .def("order", &sam::Masks::order, "Indices by predicted IoU, highest first.")
      .def(
          "mask", [](const sam::Masks& x, int64_t i) { return mat_to_numpy(x.mask(i)); }, nb::arg("i"),
          "Mask i as an H x W uint8 0/1 array.")
      .def("region", &sam::Masks::region, nb::arg("i"), "Mask i as a Region.")
      .def("__len__", &sam::Masks::count);

  nb::class_<sam::GeneratedMask>(m, "GeneratedMask", "One mask of generate_masks (SamAutomaticMaskGenerator's record).")
      .def_prop_ro(
          "segmentation", [](const sam::GeneratedMask& g) { return mat_to_numpy(g.segmentation, false); },
          "H x W uint8 0/1 array at the image's size (read-only view).")
      .def_ro("area", &sam::GeneratedMask::area, "Pixels inside.")
      .def_ro("bbox", &sam::GeneratedMask::bbox, "(x, y, w, h) as the reference writes it.")
      .def_ro("predicted_iou", &sam::GeneratedMask::predicted_iou, "The decoder's IoU estimate.")
      .def_ro("point_coords", &sam::GeneratedMask::point_coords, "The grid point that produced it, px.")
      .def_ro("stability_score", &sam::GeneratedMask::stability_score, "IoU of the masks thresholded at +/- offset.")
      .def_ro("crop_box", &sam::GeneratedMask::crop_box, "(x, y, w, h) of its crop.")
      .def("region", &sam::GeneratedMask::region, "The mask as a Region.");

  nb::class_<sam::Sam>(m, "Sam",
                       "Segment Anything (SAM ViT-B/L/H or MobileSAM). Immutable: any number of threads may\n"
                       "encode and predict at once.")
      .def_static(
          "load",
          [](const std::filesystem::path& location, const std::string& device, const std::string& dtype) {
            sam::SamLoadOptions options;
            options.device = torch::Device(device);
            options.dtype = parse_dtype(dtype, "dtype");
            nb::gil_scoped_release release;
            return sam::Sam::load(location, options);
          },
          nb::arg("location"), nb::kw_only(), nb::arg("device") = "cpu", nb::arg("dtype") = "float32",
          "Loads SAM weights (.pth / .safetensors, or a directory holding one; a sam_config.json beside\n"
          "them applies). Raises IoError, WeightError or ConfigError.")
      .def(
          "encode",
          [](const sam::Sam& model, PixelsArg image) {
            const cv::Mat pixels = image_pixels(image);
            nb::gil_scoped_release release;
            return model.encode(pixels);
          },
          nb::arg("image"), "Runs the image encoder: a path or an H x W x 3 uint8 RGB array.")
      .def("predict", &predict, nb::arg("image"), nb::kw_only(), nb::arg("points") = nb::none(),
           nb::arg("box") = nb::none(), nb::arg("mask_input") = nb::none(), nb::arg("multimask") = true,
           "Masks for one object: clicks (x, y[, label]) with label 1 foreground / 0 background, a box\n"
           "(x0, y0, x1, y1) and/or a previous mask's low_res_logits, in original-image pixels.\n"
           "ArgumentError names a bad field.")
      .def("best_mask", &best_mask, nb::arg("image"), nb::kw_only(), nb::arg("points") = nb::none(),
           nb::arg("box") = nb::none(), nb::arg("mask_input") = nb::none(), nb::arg("multimask") = true,
           nb::arg("refinement_passes") = nb::none(),
           "The one mask the prompt selects, as regionlm-describe and the server use it: the candidate with\n"
           "the highest predicted IoU, fed back refinement_passes times (None: the model's sam_config.json\n"
           "value). Masks with one mask. ArgumentError names a bad field.")
      .def_prop_ro(
          "device", [](const sam::Sam& s) { return s.device().str(); }, "e.g. 'cpu'.")
      .def_prop_ro(
          "dtype", [](const sam::Sam& s) { return dtype_name(s.dtype()); }, "Parameter dtype.")
      .def_prop_ro(
          "refinement_passes", [](const sam::Sam& s) { return s.config().refinement_passes; },
          "best_mask's default refinement passes (sam_config.json; 0 when absent).");

  m.def("generate_masks", &generate, nb::arg("sam"), nb::arg("image"), nb::kw_only(),
        nb::arg("points_per_side") = kMaskDefaults.points_per_side,
        nb::arg("points_per_batch") = kMaskDefaults.points_per_batch,
        nb::arg("pred_iou_thresh") = kMaskDefaults.pred_iou_thresh,
        nb::arg("stability_score_thresh") = kMaskDefaults.stability_score_thresh,
        nb::arg("stability_score_offset") = kMaskDefaults.stability_score_offset,
        nb::arg("box_nms_thresh") = kMaskDefaults.box_nms_thresh,
        nb::arg("crop_n_layers") = kMaskDefaults.crop_n_layers,
        nb::arg("crop_nms_thresh") = kMaskDefaults.crop_nms_thresh,
        nb::arg("crop_overlap_ratio") = kMaskDefaults.crop_overlap_ratio,
        nb::arg("crop_n_points_downscale_factor") = kMaskDefaults.crop_n_points_downscale_factor,
        nb::arg("min_mask_region_area") = kMaskDefaults.min_mask_region_area,
        "SAM's automatic masks ('segment everything'), segment-anything's SamAutomaticMaskGenerator\n"
        "with the same parameter names and defaults.");

  m.def(
      "scribble_points",
      [](nb::typed<nb::handle, std::variant<std::vector<std::pair<double, double>>, AnyArray>> scribble, int label,
         double spacing, int max_points) {
        sam::ScribbleOptions options;
        options.spacing = spacing;
        options.max_points = max_points;
        AnyArray array;
        if (!nb::isinstance<nb::list>(scribble) && !nb::isinstance<nb::tuple>(scribble) &&
            nb::try_cast(scribble, array) && array.ndim() == 2 &&
            !(array.shape(1) == 2 && array.dtype() == nb::dtype<double>())) {
          return points_list(sam::scribble_points(mask_view(array, "scribble"), label, options));
        }
        if (!nb::isinstance<nb::sequence>(scribble))
          throw ArgumentError("scribble: expected (x, y) vertices or a mask array");
        std::vector<cv::Point2d> polyline;
        for (size_t i = 0; i < nb::len(scribble); ++i) {
          nb::handle p = scribble[i];
          if (!nb::isinstance<nb::sequence>(p) || nb::len(p) != 2)
            throw ArgumentError("scribble: expected (x, y) vertices");
          polyline.emplace_back(nb::cast<double>(p[0]), nb::cast<double>(p[1]));
        }
        return points_list(sam::scribble_points(polyline, label, options));
      },
      nb::arg("scribble"), nb::arg("label") = 1, nb::arg("spacing") = kScribbleDefaults.spacing,
      nb::arg("max_points") = kScribbleDefaults.max_points,
      "SAM clicks (x, y, label) sampled along a scribble: a polyline of (x, y) vertices (a list, or an\n"
      "N x 2 float64 array) or a drawn mask (H x W array), as docs/segment.md describes.");
}

}  // namespace regionlm::python
