#pragma once
// Options the example programs share: model, image, regions, device/dtype and generation.
#include <array>
#include <exception>
#include <string>
#include <vector>

#include "common/arguments.hpp"
#include "regionlm/answer.hpp"
#include "regionlm/model.hpp"
#include "regionlm/region/region.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"

namespace regionlm::examples {

/// One region given on the command line, kept in command-line order.
struct RegionArgument {
  enum class Kind { Mask, Box, RleJson, Point };
  Kind kind;
  std::string value;  // PNG path, "x0,y0,x1,y1", JSON path, or "x,y[,label]" (a SAM click)
};

struct CommonOptions {
  std::string model_dir;                // --model
  std::string image;                    // --image
  std::vector<RegionArgument> regions;  // --mask / --box / --rle-json, in order
  std::string device;                   // --device ("" = CUDA if available)
  std::string dtype;                    // --dtype ("" = library default)
  std::string vision_tower;             // --vision-tower: Osprey's open_clip file / GPT4RoI's CLIP
                                        // directory ("" = config.json's mm_vision_tower)
  bool strict_regions = false;          // --strict-regions: every region must be named (LoadOptions)
  std::string quantize;                 // --quantize: "" or "int8" (LoadOptions::quantize)
  GenerationOptions generation;         // --max-new-tokens, --temperature, ... (greedy by default)
  bool verbose = false;                 // --verbose: load progress and timings on stderr
};

/// Registers the shared options on `parser`, writing into `options`.
void add_common_options(ArgumentParser& parser, CommonOptions& options);

/// LoadOptions from --device, --dtype, --vision-tower (and progress on stderr with --verbose).
LoadOptions load_options(const CommonOptions& options);

/// The regions, in command-line order: masks read from image files (non-zero in any channel
/// = inside), boxes parsed, COCO RLE JSON files expanded (one region per entry; a file may
/// hold one RLE object `{"size": [h, w], "counts": ...}`, a COCO annotation with a
/// "segmentation" RLE, or a list of either). Throws regionlm::IoError / FormatError naming the
/// file, or UsageError for a malformed box or a --point (points need a segmenter: see
/// regionlm-describe --sam).
std::vector<Region> load_regions(const std::vector<RegionArgument>& arguments);

/// --everything's generator settings, SamAutomaticMaskGenerator's names with dashes
/// (--points-per-side, --pred-iou-thresh, --stability-score-thresh, --stability-score-offset,
/// --box-nms-thresh, --min-mask-region-area), written into `options`; its values are the
/// defaults the help prints. Values out of range are UsageErrors naming the option.
void add_automatic_mask_options(ArgumentParser& parser, sam::AutomaticMaskOptions& options);

/// The numbers of "x0,y0,x1,y1" (`flag` names the option in errors); UsageError otherwise.
std::array<double, 4> parse_box(const std::string& text, const std::string& flag);

}  // namespace regionlm::examples
