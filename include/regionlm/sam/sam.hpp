#pragma once
// Segment Anything: load SAM (ViT-B/L/H) or MobileSAM (TinyViT) weights as released, encode
// an image once, then turn any number of prompts into masks with the light decoder.
//
//   auto sam = regionlm::sam::Sam::load("models/sam_vit_b_01ec64.pth");
//   auto image = sam.encode(regionlm::vision::load_image("photo.jpg"));
//   auto masks = sam.predict(image, {.points = {{120, 80, 1}}});
//   regionlm::Region region = masks.region(masks.best());
//
// A Sam and a SamImage are immutable once made: any number of threads may encode and predict
// with the same objects concurrently.
#include <opencv2/core/mat.hpp>
#include <torch/types.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "regionlm/sam/config.hpp"
#include "regionlm/sam/prompt.hpp"

namespace regionlm::sam {

/// Where the model runs.
struct SamLoadOptions {
  torch::Device device = torch::kCPU;        // default CPU
  torch::ScalarType dtype = torch::kFloat32;  // parameter dtype; default float32
};

/// One image after the encoder; cheap to copy (shared, immutable). Only the Sam that made
/// it may use it.
class SamImage {
 public:
  SamImage() = default;
  bool empty() const { return data_ == nullptr; }
  /// Original image size, px.
  int height() const;
  int width() const;
  /// Size of the resized image inside the padded encoder input (width, height), px.
  cv::Size input_size() const;
  /// The image embedding [1, P, e, e] in the model's dtype and device.
  const torch::Tensor& embedding() const;
  /// Wall time of preprocessing + encoder, ms.
  double encode_ms() const;

  struct Data;

 private:
  friend class Sam;
  std::shared_ptr<const Data> data_;
};

/// Raw decoder output for a batch of prompts of one structure (see Sam::decode).
struct DecodedBatch {
  torch::Tensor logits;           // [B, C, H, W] float32 mask logits at the original size
  torch::Tensor iou_predictions;  // [B, C] float32
  torch::Tensor low_res_logits;   // [B, C, L, L] float32
};

class Sam {
 public:
  /// Loads a SAM location: a weights file (`.pth`/`.pt` torch.save state dict or
  /// `.safetensors`) or a directory holding exactly one such file; a `sam_config.json` in
  /// the same directory is applied (config.hpp). The variant is detected from the keys.
  /// Throws IoError (missing / ambiguous location), WeightError (missing or misshapen keys,
  /// all listed), ConfigError (config contradicting the weights).
  static Sam load(const std::filesystem::path& location, const SamLoadOptions& options = {});

  const SamConfig& config() const;
  /// The weights file that was loaded.
  const std::filesystem::path& weights_file() const;
  torch::Device device() const;
  torch::ScalarType dtype() const;

  /// Runs the image encoder on a CV_8UC3 RGB image (vision::load_image gives one).
  /// Throws ArgumentError for another type or an empty image.
  SamImage encode(const cv::Mat& rgb8) const;

  /// Masks for one prompt. Throws ArgumentError naming the field for an empty prompt, a
  /// point outside the image or with a label other than 0/1, a box with x1 < x0 or y1 < y0
  /// or outside the image, a non-finite coordinate; ShapeError for a mask_input that is not
  /// [1, L, L] / [L, L]; ArgumentError for an empty SamImage.
  Masks predict(const SamImage& image, const Prompt& prompt, const PredictOptions& options = {}) const;

  /// Masks for many prompts (one object each), in order. Prompts with the same structure
  /// (number of points, box or not, mask input or not) share one decoder call; a different
  /// structure cannot share a batch without changing the result. Errors as for one prompt,
  /// the message naming `prompts[i]`.
  std::vector<Masks> predict(const SamImage& image, const std::vector<Prompt>& prompts,
                             const PredictOptions& options = {}) const;

  /// The one mask each prompt selects, as regionlm-describe and the server use a click or a
  /// box: the candidate with the highest predicted IoU, then `refinement_passes` more decoder
  /// passes, each given the same prompt plus the previous pass's low-resolution logits as mask
  /// input (single-mask output) - SAM's interactive loop without a new click, which sharpens an
  /// outline the first pass left uncertain. Each result holds one mask (C = 1). Errors as for
  /// predict; ArgumentError naming `refinement_passes` outside 0 .. kMaxRefinementPasses.
  std::vector<Masks> best_masks(const SamImage& image, const std::vector<Prompt>& prompts,
                                const BestMaskOptions& options = {}) const;
  /// best_masks for one prompt.
  Masks best_mask(const SamImage& image, const Prompt& prompt, const BestMaskOptions& options = {}) const;

  /// segment-anything's predict_torch: prompts already in the encoder's input frame
  /// (transform_coords), one structure for the whole batch, no validation. points [B, N, 2]
  /// with labels [B, N], boxes [B, 4], mask_input [B, 1, L, L]; each may be undefined.
  /// `upscale` = false leaves DecodedBatch::logits undefined (call upscale_logits on the
  /// masks you keep: the same values, computed for fewer masks).
  DecodedBatch decode(const SamImage& image, const torch::Tensor& points, const torch::Tensor& labels,
                      const torch::Tensor& boxes, const torch::Tensor& mask_input, bool multimask_output,
                      bool upscale = true) const;

  /// Low-resolution logits [B, C, L, L] of `image` -> logits at its original size
  /// [B, C, H, W] float32 (postprocess_masks with this model's sizes).
  torch::Tensor upscale_logits(const SamImage& image, const torch::Tensor& low_res) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace regionlm::sam
