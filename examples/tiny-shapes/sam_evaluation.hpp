#pragma once
// Accuracy of a SAM on fresh tiny-shapes scenes, measured through the public API as a user
// would segment: Sam::encode once per image, one Sam::best_masks call per scene with every
// object's prompt (prompts of one structure share each decoder call), so the mask SAM rates
// best (highest predicted IoU) refined as the model's config says, IoU against the object's
// visible pixels.
#include <cstdint>
#include <string>
#include <vector>

#include "regionlm/model.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
#include "scene.hpp"

namespace regionlm::tiny_shapes {

/// Which scenes.
struct SamEvalOptions {
  uint64_t first_seed = 0;  // scenes first_seed .. first_seed + num_scenes - 1
  int num_scenes = 300;     // scenes to generate
  SceneOptions scene;       // their layout (normal by default)
};

/// How an object is pointed at.
enum class PromptKind {
  kPoint,  // one positive click at a pixel drawn uniformly from the object's visible mask
  kBox,    // the tight box of the visible pixels (x0, y0, x1, y1, far corner exclusive)
};

/// The click evaluate_prompts uses for object `index` of `scene`: a pixel drawn uniformly
/// from its visible mask with a generator seeded from the scene seed and the index.
sam::Point interior_point(const Scene& scene, size_t index);

/// Mean IoU over every object.
struct IouReport {
  double mean_iou = 0;       // the mask Sam::best_masks selects (the model's refinement passes)
  double unrefined_iou = 0;  // the candidate with the highest predicted IoU, not refined (diagnostic)
  double oracle_iou = 0;     // the best of the three multimask outputs, by true IoU (diagnostic)
  double single_iou = 0;   // the single-mask output (PredictOptions::multimask_output = false)
  int objects = 0;
  int below_half = 0;  // objects whose mask has IoU < 0.5 (the wrong object, or nothing)
  double seconds = 0;  // wall time (encode + predict + IoU)
};

/// Every object of every scene prompted by `kind`; the mask Sam::best_masks selects (the
/// candidate with the highest predicted IoU, refined as the model's config says).
IouReport evaluate_prompts(const sam::Sam& sam, const SamEvalOptions& options, PromptKind kind);

/// Automatic mask generation against the scenes' objects: masks and objects are matched one
/// to one, greedily by IoU (highest first), pairs below `match_iou` never; an object matched
/// is found, a mask left unmatched (a duplicate, a piece, background) is spurious.
struct AutomaticReport {
  int objects = 0;
  int found = 0;
  int masks = 0;
  int spurious = 0;
  double match_iou = 0.8;
  double seconds = 0;
  double found_share() const { return objects ? static_cast<double>(found) / objects : 0.0; }
  double spurious_share() const { return masks ? static_cast<double>(spurious) / masks : 0.0; }
};

AutomaticReport evaluate_automatic(const sam::Sam& sam, const SamEvalOptions& options,
                                   const sam::AutomaticMaskOptions& generator, double match_iou = 0.8);

/// Click -> SAM mask -> "What is <region>?": one interior click per object (interior_point),
/// Sam::best_masks' mask as the region, Model::describe_each per scene, exact match.
struct AnswerReport {
  int correct = 0;
  int total = 0;
  std::vector<std::string> failures;  // the first few: scene, object, answer, expected
  double seconds = 0;
  double accuracy() const { return total ? static_cast<double>(correct) / total : 0.0; }
};

AnswerReport evaluate_point_answers(const Model& model, const sam::Sam& sam, const SamEvalOptions& options);

/// The automatic-generation settings the tests, the docs and `make demo` use on tiny-shapes
/// (docs/tiny-shapes.md, "Automatic generation", has the measurements behind each):
///  - a 16 x 16 grid: objects are at least 19 px wide on a 128 px scene, so each holds points;
///  - stability >= 0.9 (SAM: 0.95): a mask whose logits are calibrated to the share of each
///    low-resolution cell it covers moves about one scene pixel of its outline between the
///    +-1 logit thresholds, 0.85-0.9 stability on these objects, where 1024 px photos keep 0.95;
///  - predicted IoU > 0.82 (SAM: 0.88);
///  - min_mask_region_area 100 px and box NMS at 0.4: a mask with a stray island has a box far
///    larger than its object's, which NMS at 0.7 leaves as a duplicate; removing islands
///    recomputes the boxes and runs NMS again (SAM's postprocessing).
sam::AutomaticMaskOptions tiny_automatic_options();

/// `options` as the command-line flags of regionlm-segment, regionlm-describe and
/// regionlm-server spell them: {"--points-per-side", "16", "--pred-iou-thresh", "0.8", ...}.
std::vector<std::string> automatic_mask_arguments(const sam::AutomaticMaskOptions& options);

/// IoU of two CV_8UC1 masks (non-zero = inside); 0 when both are empty.
double mask_iou(const cv::Mat& a, const cv::Mat& b);

}  // namespace regionlm::tiny_shapes
