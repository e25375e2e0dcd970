#include "regionlm/sam/automatic_mask_generator.hpp"

#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "regionlm/error.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/sam/transforms.hpp"

namespace regionlm::sam {

namespace {

// Masks found so far, column by column (the reference's MaskData).
struct MaskSet {
  std::vector<std::vector<uint32_t>> rles;  // COCO run lengths at the original size
  torch::Tensor boxes;                      // [N, 4] int64 x0, y0, x1, y1 (inclusive), CPU
  torch::Tensor iou_preds;                  // [N] float32, CPU
  torch::Tensor points;                     // [N, 2] float64, CPU
  torch::Tensor stability;                  // [N] float32, CPU
  torch::Tensor crop_boxes;                 // [N, 4] int64, CPU

  int64_t size() const { return static_cast<int64_t>(rles.size()); }

  void append(const MaskSet& other) {
    if (other.size() == 0) return;
    if (size() == 0) {
      *this = other;
      return;
    }
    rles.insert(rles.end(), other.rles.begin(), other.rles.end());
    boxes = torch::cat({boxes, other.boxes});
    iou_preds = torch::cat({iou_preds, other.iou_preds});
    points = torch::cat({points, other.points});
    stability = torch::cat({stability, other.stability});
    crop_boxes = torch::cat({crop_boxes, other.crop_boxes});
  }

  // Keeps the rows `keep` (int64 indices, in that order).
  void select(const torch::Tensor& keep) {
    const auto k = keep.to(torch::kCPU, torch::kLong).contiguous();
    std::vector<std::vector<uint32_t>> kept;
    const int64_t* idx = k.data_ptr<int64_t>();
    for (int64_t i = 0; i < k.numel(); ++i) kept.push_back(std::move(rles[idx[i]]));
    rles = std::move(kept);
    boxes = boxes.index_select(0, k);
    iou_preds = iou_preds.index_select(0, k);
    points = points.index_select(0, k);
    stability = stability.index_select(0, k);
    crop_boxes = crop_boxes.index_select(0, k);
  }
};

// numpy.linspace(offset, 1 - offset, n) laid out as build_point_grid does: row-major (x fastest).
torch::Tensor point_grid(int n) {
  const double offset = 1.0 / (2 * n);
  std::vector<double> side(n);
  const double step = n > 1 ? ((1 - offset) - offset) / (n - 1) : 0.0;
  for (int i = 0; i < n; ++i) side[i] = i * step + offset;
  if (n > 1) side[n - 1] = 1 - offset;
  auto grid = torch::empty({static_cast<int64_t>(n) * n, 2}, torch::kFloat64);  // [n * n, 2]
  auto a = grid.accessor<double, 2>();
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      a[y * n + x][0] = side[x];
      a[y * n + x][1] = side[y];
    }
  }
  return grid;
}

struct Crops {
  std::vector<std::array<int64_t, 4>> boxes;  // x0, y0, x1, y1
  std::vector<int> layers;
};

Crops crop_boxes(int height, int width, int n_layers, double overlap_ratio) {
  Crops out;
  out.boxes.push_back({0, 0, width, height});
  out.layers.push_back(0);
  const int short_side = std::min(height, width);
  auto crop_len = [](int length, int n, int overlap) {
    return static_cast<int>(std::ceil((static_cast<double>(overlap) * (n - 1) + length) / n));
  };
  for (int layer = 0; layer < n_layers; ++layer) {
    const int n = 1 << (layer + 1);
    const int overlap = static_cast<int>(overlap_ratio * short_side * (2.0 / n));
    const int crop_w = crop_len(width, n, overlap);
    const int crop_h = crop_len(height, n, overlap);
    for (int i = 0; i < n; ++i) {      // x outer, y inner: itertools.product(x0s, y0s)
      for (int j = 0; j < n; ++j) {
        const int64_t x0 = static_cast<int64_t>((crop_w - overlap) * i);
        const int64_t y0 = static_cast<int64_t>((crop_h - overlap) * j);
        out.boxes.push_back({x0, y0, std::min<int64_t>(x0 + crop_w, width), std::min<int64_t>(y0 + crop_h, height)});
        out.layers.push_back(layer + 1);
      }
    }
  }
  return out;
}

// torchvision.ops.nms on float32 boxes: kept indices by descending score (stable for ties).
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double threshold) {
  const int64_t n = boxes.size(0);
  if (n == 0) return torch::empty({0}, torch::kLong);
  const auto b = boxes.to(torch::kCPU, torch::kFloat32).contiguous();
  const auto order = std::get<1>(scores.to(torch::kCPU).sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const auto x1 = b.select(1, 0).contiguous(), y1 = b.select(1, 1).contiguous();
  const auto x2 = b.select(1, 2).contiguous(), y2 = b.select(1, 3).contiguous();
  const auto areas = ((x2 - x1) * (y2 - y1)).contiguous();
  const float *px1 = x1.data_ptr<float>(), *py1 = y1.data_ptr<float>(), *px2 = x2.data_ptr<float>(),
              *py2 = y2.data_ptr<float>(), *parea = areas.data_ptr<float>();
  const int64_t* ord = order.data_ptr<int64_t>();
  std::vector<uint8_t> suppressed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t a = 0; a < n; ++a) {
    const int64_t i = ord[a];
    if (suppressed[i]) continue;
    keep.push_back(i);
    for (int64_t c = a + 1; c < n; ++c) {
      const int64_t j = ord[c];
      if (suppressed[j]) continue;
      const float w = std::max(0.0f, std::min(px2[i], px2[j]) - std::max(px1[i], px1[j]));
      const float h = std::max(0.0f, std::min(py2[i], py2[j]) - std::max(py1[i], py1[j]));
      const float inter = w * h;
      const float overlap = inter / (parea[i] + parea[j] - inter);
      if (overlap > threshold) suppressed[j] = 1;
    }
  }
  return torch::tensor(keep, torch::kLong);
}

// torchvision.ops.batched_nms with a single category, including its switch to the per-class
// path (which re-sorts the kept indices with an unstable sort) above 4000 box values on the CPU.
torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, double threshold) {
  if (boxes.numel() <= 4000) return nms(boxes, scores, threshold);
  auto keep = std::get<0>(nms(boxes, scores, threshold).sort());  // torch.where(keep_mask): ascending
  const auto s = scores.to(torch::kCPU).index_select(0, keep);
  return keep.index_select(0, std::get<1>(s.sort(/*dim=*/0, /*descending=*/true)));
}

// batched_mask_to_box: [N, H, W] bool -> [N, 4] int64 inclusive extents; zeros for empty masks.
torch::Tensor mask_boxes(const torch::Tensor& masks) {
  const int64_t n = masks.size(0), h = masks.size(1), w = masks.size(2);
  if (masks.numel() == 0) return torch::zeros({n, 4}, torch::TensorOptions().dtype(torch::kLong).device(masks.device()));
  const auto lopts = torch::TensorOptions().dtype(torch::kLong).device(masks.device());
  const auto rows = std::get<0>(masks.max(-1));                       // [N, H] bool
  auto row_coords = rows * torch::arange(h, lopts).unsqueeze(0);      // [N, H]
  const auto bottom = std::get<0>(row_coords.max(-1));                // [N]
  row_coords = row_coords + h * rows.logical_not();
  const auto top = std::get<0>(row_coords.min(-1));                   // [N]
  const auto cols = std::get<0>(masks.max(-2));                       // [N, W] bool
  auto col_coords = cols * torch::arange(w, lopts).unsqueeze(0);      // [N, W]
  const auto right = std::get<0>(col_coords.max(-1));
  col_coords = col_coords + w * cols.logical_not();
  const auto left = std::get<0>(col_coords.min(-1));
  const auto empty = (right < left) | (bottom < top);                 // [N]
  return torch::stack({left, top, right, bottom}, -1) * empty.logical_not().unsqueeze(-1);  // [N, 4]
}

// Column-major run lengths of a [H, W] mask (CPU bool/uint8), first run = zeros.
std::vector<uint32_t> run_lengths(const torch::Tensor& mask) {
  const auto t = mask.transpose(0, 1).contiguous().to(torch::kUInt8);  // [W, H]: column-major order
  const uint8_t* p = t.data_ptr<uint8_t>();
  const int64_t n = t.numel();
  std::vector<uint32_t> counts;
  uint8_t current = 0;
  uint32_t run = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] != current) {
      counts.push_back(run);
      run = 0;
      current = p[i];
    }
    ++run;
  }
  counts.push_back(run);
  return counts;
}

cv::Mat rle_to_mat(const std::vector<uint32_t>& counts, int height, int width) {
  return rle_counts_to_mask(counts, height, width);
}

// remove_small_regions: fills holes ("holes") or drops islands ("islands") below `area`.
std::pair<cv::Mat, bool> remove_small_regions(const cv::Mat& mask, double area, bool holes) {
  cv::Mat working = holes ? (mask == 0) : (mask != 0);  // 255 where the component search runs
  working = working / 255;
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(working, labels, stats, centroids, 8);
  std::vector<int> small;
  int largest = -1, largest_size = -1;
  for (int i = 1; i < n; ++i) {
    const int size = stats.at<int>(i, cv::CC_STAT_AREA);
    if (size < area) small.push_back(i);
    if (size > largest_size) {
      largest_size = size;
      largest = i;
    }
  }
  if (small.empty()) return {mask, false};
  std::vector<uint8_t> fill(n, 0);
  if (holes) {
    fill[0] = 1;
    for (int i : small) fill[i] = 1;
  } else {
    for (int i = 1; i < n; ++i) fill[i] = 1;
    for (int i : small) fill[i] = 0;
    if (std::none_of(fill.begin(), fill.end(), [](uint8_t v) { return v != 0; })) fill[largest] = 1;
  }
  cv::Mat out(mask.size(), CV_8UC1);
  for (int y = 0; y < mask.rows; ++y) {
    const int* l = labels.ptr<int>(y);
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < mask.cols; ++x) o[x] = fill[l[x]];
  }
  return {out, true};
}

void check_options(const AutomaticMaskOptions& o) {
  auto bad = [](const std::string& what) { throw ArgumentError("AutomaticMaskOptions::" + what); };
  if (o.points_per_side < 1) bad("points_per_side must be >= 1");
  if (o.points_per_batch < 1) bad("points_per_batch must be >= 1");
  if (o.crop_n_layers < 0 || o.crop_n_layers > 6) bad("crop_n_layers must be in 0..6");
  if (o.crop_n_points_downscale_factor < 1) bad("crop_n_points_downscale_factor must be >= 1");
  if (o.min_mask_region_area < 0) bad("min_mask_region_area must be >= 0");
  if (!(o.crop_overlap_ratio >= 0 && o.crop_overlap_ratio < 1)) bad("crop_overlap_ratio must be in [0, 1)");
  for (double t : {o.box_nms_thresh, o.crop_nms_thresh}) {
    if (!(t >= 0 && t <= 1)) bad("box_nms_thresh and crop_nms_thresh must be in [0, 1]");
  }
  if (!std::isfinite(o.pred_iou_thresh) || !std::isfinite(o.stability_score_thresh) ||
      !std::isfinite(o.stability_score_offset)) {
    bad("thresholds must be finite");
  }
}

// One batch of grid points on one crop (the reference's _process_batch).
MaskSet process_batch(const Sam& sam, const SamImage& image, const torch::Tensor& points /*[B, 2] f64*/,
                      const std::array<int64_t, 4>& crop, int orig_h, int orig_w, const AutomaticMaskOptions& o) {
  const auto device = sam.device();
  const cv::Size crop_size(image.width(), image.height());
  const auto in_points = transform_coords(points, crop_size, sam.config().image_size).to(device).unsqueeze(1);  // [B, 1, 2] f64
  const auto labels = torch::ones({points.size(0), 1}, torch::TensorOptions().dtype(torch::kInt32).device(device));
  // The IoU filter needs no mask, so only the survivors are upscaled to full resolution
  // (upscaling is per mask: the values are those of upscaling the whole batch).
  const auto out = sam.decode(image, in_points, labels, {}, {}, /*multimask_output=*/true, /*upscale=*/false);
  const int64_t per_point = out.low_res_logits.size(1);
  auto low_res = out.low_res_logits.flatten(0, 1);       // [B * 3, L, L]
  auto iou = out.iou_predictions.flatten(0, 1);          // [B * 3]
  auto pts = points.repeat_interleave(per_point, 0);     // [B * 3, 2] f64, CPU
  if (o.pred_iou_thresh > 0.0) {
    const auto idx = (iou > o.pred_iou_thresh).nonzero().squeeze(1);  // [K] int64
    low_res = low_res.index_select(0, idx);
    iou = iou.index_select(0, idx);
    pts = pts.index_select(0, idx.to(torch::kCPU));
  }
  auto logits = sam.upscale_logits(image, low_res.unsqueeze(1)).squeeze(1);  // [K, h, w]

  auto keep_rows = [&](const torch::Tensor& mask) {      // mask: [K] bool on the device
    const auto idx = mask.nonzero().squeeze(1);          // [K'] int64
    logits = logits.index_select(0, idx);
    iou = iou.index_select(0, idx);
    pts = pts.index_select(0, idx.to(torch::kCPU));
  };
  const auto inter = (logits > (0.0 + o.stability_score_offset)).sum({-2, -1}, false, torch::kInt32);
  const auto uni = (logits > (0.0 - o.stability_score_offset)).sum({-2, -1}, false, torch::kInt32);
  auto stability = inter / uni;  // [K] float32
  if (o.stability_score_thresh > 0.0) {
    const auto keep = stability >= o.stability_score_thresh;
    keep_rows(keep);
    stability = stability.index_select(0, keep.nonzero().squeeze(1));
  }
  auto masks = logits > 0.0;      // [K, h, w] bool
  auto boxes = mask_boxes(masks);  // [K, 4] int64
  // Drop masks touching a crop edge that is not an image edge (within 20 px).
  const auto crop_t = torch::tensor({crop[0], crop[1], crop[2], crop[3]}, torch::kFloat32).to(device);
  const auto image_t = torch::tensor({0.0f, 0.0f, float(orig_w), float(orig_h)}, torch::kFloat32).to(device);
  const auto offset = torch::tensor({crop[0], crop[1], crop[0], crop[1]}, torch::kLong).to(device);
  const auto uncropped = (boxes + offset).to(torch::kFloat32);                           // [K, 4]
  const auto near_crop = (uncropped - crop_t).abs() <= 20.0;
  const auto near_image = (uncropped - image_t).abs() <= 20.0;
  const auto near = (near_crop & near_image.logical_not()).any(1);                     // [K]
  if (near.any().item<bool>()) {
    const auto idx = near.logical_not().nonzero().squeeze(1);
    masks = masks.index_select(0, idx);
    boxes = boxes.index_select(0, idx);
    iou = iou.index_select(0, idx);
    pts = pts.index_select(0, idx.to(torch::kCPU));
    stability = stability.index_select(0, idx);
  }
  // Uncrop to the original size (zero padding), then run-length encode on the CPU.
  const bool full = crop[0] == 0 && crop[1] == 0 && crop[2] == orig_w && crop[3] == orig_h;
  if (!full) {
    const int64_t pad_x = orig_w - (crop[2] - crop[0]), pad_y = orig_h - (crop[3] - crop[1]);
    masks = torch::constant_pad_nd(masks, {crop[0], pad_x - crop[0], crop[1], pad_y - crop[1]}, 0);  // [K, H, W]
  }
  const auto cpu_masks = masks.to(torch::kCPU);  // the result leaves the device here
  MaskSet set;
  for (int64_t i = 0; i < cpu_masks.size(0); ++i) set.rles.push_back(run_lengths(cpu_masks[i]));
  set.boxes = boxes.to(torch::kCPU);
  set.iou_preds = iou.to(torch::kCPU);
  set.points = pts;
  set.stability = stability.to(torch::kCPU);
  set.crop_boxes = torch::empty({set.size(), 4}, torch::kLong);
  return set;
}

}  // namespace

std::vector<GeneratedMask> generate_masks(const Sam& sam, const cv::Mat& rgb8, const AutomaticMaskOptions& o) {
  check_options(o);
  if (rgb8.empty() || rgb8.type() != CV_8UC3) {
    throw ArgumentError("image: expected a non-empty CV_8UC3 RGB image, got type " + cv::typeToString(rgb8.type()));
  }
  torch::NoGradGuard no_grad;
  const int H = rgb8.rows, W = rgb8.cols;
  const Crops crops = crop_boxes(H, W, o.crop_n_layers, o.crop_overlap_ratio);
  std::vector<torch::Tensor> grids;
  for (int layer = 0; layer <= o.crop_n_layers; ++layer) {
    const int n = static_cast<int>(o.points_per_side / std::pow(o.crop_n_points_downscale_factor, layer));
    grids.push_back(point_grid(std::max(n, 1)));
  }

  MaskSet all;
  for (size_t c = 0; c < crops.boxes.size(); ++c) {
    const auto& box = crops.boxes[c];
    const cv::Mat cropped = rgb8(cv::Range(static_cast<int>(box[1]), static_cast<int>(box[3])),
                                 cv::Range(static_cast<int>(box[0]), static_cast<int>(box[2])));
    const SamImage image = sam.encode(cropped);
    const auto scale = torch::tensor({double(cropped.cols), double(cropped.rows)}, torch::kFloat64);
    const auto points = grids[crops.layers[c]] * scale;  // [P, 2] f64, crop px
    MaskSet crop_set;
    for (int64_t start = 0; start < points.size(0); start += o.points_per_batch) {
      const auto batch = points.slice(0, start, std::min<int64_t>(start + o.points_per_batch, points.size(0)));
      crop_set.append(process_batch(sam, image, batch, box, H, W, o));
    }
    if (crop_set.size() == 0) continue;
    crop_set.select(batched_nms(crop_set.boxes.to(torch::kFloat32), crop_set.iou_preds, o.box_nms_thresh));
    crop_set.boxes = crop_set.boxes + torch::tensor({box[0], box[1], box[0], box[1]}, torch::kLong);
    crop_set.points = crop_set.points + torch::tensor({double(box[0]), double(box[1])}, torch::kFloat64);
    crop_set.crop_boxes = torch::tensor({box[0], box[1], box[2], box[3]}, torch::kLong).repeat({crop_set.size(), 1});
    all.append(crop_set);
  }
  if (crops.boxes.size() > 1 && all.size() > 0) {
    const auto cb = all.crop_boxes.to(torch::kFloat32);
    const auto area = (cb.select(1, 2) - cb.select(1, 0)) * (cb.select(1, 3) - cb.select(1, 1));
    all.select(batched_nms(all.boxes.to(torch::kFloat32), 1.0 / area, o.crop_nms_thresh));
  }

  if (all.size() == 0) return {};  // nothing passed the filters (its tensors were never filled)

  std::vector<cv::Mat> masks;
  for (const auto& rle : all.rles) masks.push_back(rle_to_mat(rle, H, W));
  if (o.min_mask_region_area > 0 && all.size() > 0) {
    std::vector<cv::Mat> cleaned;
    std::vector<float> scores;
    for (const auto& m : masks) {
      auto [no_holes, changed_holes] = remove_small_regions(m, o.min_mask_region_area, true);
      auto [no_islands, changed_islands] = remove_small_regions(no_holes, o.min_mask_region_area, false);
      cleaned.push_back(no_islands);
      scores.push_back(changed_holes || changed_islands ? 0.0f : 1.0f);
    }
    auto stack = torch::empty({all.size(), H, W}, torch::kBool);
    for (int64_t i = 0; i < all.size(); ++i) {
      stack[i].copy_(torch::from_blob(cleaned[i].data, {H, W}, torch::kUInt8).to(torch::kBool));
    }
    const auto new_boxes = mask_boxes(stack);
    const auto keep = batched_nms(new_boxes.to(torch::kFloat32), torch::tensor(scores),
                                  std::max(o.box_nms_thresh, o.crop_nms_thresh));
    const auto k = keep.contiguous();
    for (int64_t j = 0; j < k.numel(); ++j) {
      const int64_t i = k.data_ptr<int64_t>()[j];
      if (scores[i] == 0.0f) {
        masks[i] = cleaned[i];
        all.rles[i] = run_lengths(stack[i]);
        all.boxes[i].copy_(new_boxes[i]);
      }
    }
    std::vector<cv::Mat> kept;
    for (int64_t j = 0; j < k.numel(); ++j) kept.push_back(masks[k.data_ptr<int64_t>()[j]]);
    masks = std::move(kept);
    all.select(keep);
  }

  std::vector<GeneratedMask> out;
  const auto boxes = all.boxes.to(torch::kFloat64);
  for (int64_t i = 0; i < all.size(); ++i) {
    GeneratedMask g;
    g.segmentation = masks[i];
    for (size_t r = 1; r < all.rles[i].size(); r += 2) g.area += all.rles[i][r];
    const auto b = boxes[i];
    g.bbox = {b[0].item<double>(), b[1].item<double>(), b[2].item<double>() - b[0].item<double>(),
              b[3].item<double>() - b[1].item<double>()};
    g.predicted_iou = all.iou_preds[i].item<double>();
    g.point_coords = {all.points[i][0].item<double>(), all.points[i][1].item<double>()};
    g.stability_score = all.stability[i].item<double>();
    const auto cb = all.crop_boxes[i];
    g.crop_box = {double(cb[0].item<int64_t>()), double(cb[1].item<int64_t>()),
                  double(cb[2].item<int64_t>() - cb[0].item<int64_t>()),
                  double(cb[3].item<int64_t>() - cb[1].item<int64_t>())};
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace regionlm::sam
