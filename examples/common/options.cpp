#include "common/options.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <type_traits>

#include "regionlm/error.hpp"
#include "regionlm/region/coco_json.hpp"

namespace regionlm::examples {

void add_common_options(ArgumentParser& parser, CommonOptions& o) {
  parser.option("model", "DIR", "model directory (config.json, tokenizer.model, weights)", &o.model_dir, true);
  parser.option("image", "PATH", "image file (PNG, JPEG, ...)", &o.image, true);
  parser.option("mask", "PNG", "region as a binary mask at the image's size (repeatable)", [&o](const std::string& v) {
    o.regions.push_back({RegionArgument::Kind::Mask, v});
  });
  parser.option("box", "X0,Y0,X1,Y1", "region as a box in pixels, far corner exclusive (repeatable)",
                [&o](const std::string& v) { o.regions.push_back({RegionArgument::Kind::Box, v}); });
  parser.option("rle-json", "FILE", "regions as COCO RLE JSON (an object or a list; repeatable)",
                [&o](const std::string& v) { o.regions.push_back({RegionArgument::Kind::RleJson, v}); });
  parser.option("max-new-tokens", "N", "longest answer in tokens (default 512)", &o.generation.max_new_tokens);
  parser.option("temperature", "T", "sampling temperature; 0 = greedy (default 0)", &o.generation.temperature);
  parser.option("top-k", "K", "sample among the K most likely tokens; 0 = off (default 0)", &o.generation.top_k);
  parser.option("top-p", "P", "nucleus sampling threshold in (0, 1]; 1 = off (default 1)", &o.generation.top_p);
  parser.option("repetition-penalty", "R", "penalty for repeated tokens; 1 = off (default 1)",
                &o.generation.repetition_penalty);
  parser.option("seed", "S", "sampling seed (default 0)", &o.generation.seed);
  parser.option("device", "DEV", "cpu, cuda or cuda:N (default: cuda when available)", &o.device);
  parser.option("dtype", "TYPE", "float32, bfloat16 or float16 (default: bfloat16 on CUDA, float32 on CPU)",
                &o.dtype);
  parser.option("quantize", "TYPE", "weight-only quantization of the decoder and projector: int8 (default: none)",
                &o.quantize);
  parser.option("vision-tower", "PATH",
                "Osprey: open_clip vision weights, if the checkpoint has none; GPT4RoI: the CLIP ViT directory "
                "(default: config.json's mm_vision_tower)",
                &o.vision_tower);
  parser.flag("strict-regions",
              "refuse a question that leaves regions unmentioned (default: introduce them with Osprey's header)",
              &o.strict_regions);
  parser.flag("verbose", "print load progress and timings to stderr", &o.verbose);
}

LoadOptions load_options(const CommonOptions& o) {
  LoadOptions load;
  load.device = o.device;
  load.dtype = o.dtype;
  load.vision_tower = o.vision_tower;
  load.strict_regions = o.strict_regions;
  load.quantize = o.quantize;
  if (o.verbose) {
    load.on_progress = [](double fraction, const std::string& stage) {
      std::fprintf(stderr, "\rloading %3.0f%% %-20s", 100 * fraction, stage.c_str());
      if (fraction >= 1.0) std::fprintf(stderr, "\n");
    };
  }
  return load;
}

namespace {

Region mask_region(const std::string& path) {
  const cv::Mat image = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (image.empty()) throw IoError("cannot read mask image " + path);
  if (image.channels() == 1) return Region::from_mask(image);
  std::vector<cv::Mat> channels;
  cv::split(image, channels);
  cv::Mat any = channels[0].clone();
  for (size_t c = 1; c < channels.size(); ++c) any = cv::max(any, channels[c]);
  return Region::from_mask(any);
}

Region box_region(const std::string& text) {
  const auto b = parse_box(text, "--box");
  return Region::from_box(b[0], b[1], b[2], b[3]);
}

std::vector<Region> rle_regions(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open RLE file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_coco_regions(text.str(), path);
}

}  // namespace

std::array<double, 4> parse_box(const std::string& text, const std::string& flag) {
  std::vector<double> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(parse_number(item, flag + " " + text));
  if (values.size() != 4) throw UsageError(flag + " " + text + ": expected four numbers x0,y0,x1,y1");
  return {values[0], values[1], values[2], values[3]};
}

std::vector<Region> load_regions(const std::vector<RegionArgument>& arguments) {
  std::vector<Region> regions;
  for (const RegionArgument& a : arguments) {
    switch (a.kind) {
      case RegionArgument::Kind::Mask:
        regions.push_back(mask_region(a.value));
        break;
      case RegionArgument::Kind::Box:
        regions.push_back(box_region(a.value));
        break;
      case RegionArgument::Kind::RleJson:
        for (Region& r : rle_regions(a.value)) regions.push_back(std::move(r));
        break;
      case RegionArgument::Kind::Point:
        throw UsageError("--point " + a.value + " needs a segmenter: give --sam PATH");
    }
  }
  return regions;
}

void add_automatic_mask_options(ArgumentParser& parser, sam::AutomaticMaskOptions& options) {
  // A number in [lo, hi] for `flag`: an integer where the target is one.
  const auto in_range = [](auto* target, const std::string& flag, double lo, double hi) {
    return [target, flag, lo, hi](const std::string& v) {
      using T = std::remove_reference_t<decltype(*target)>;
      const double x = std::is_integral_v<T> ? static_cast<double>(parse_int(v, flag)) : parse_number(v, flag);
      if (!(x >= lo && x <= hi)) {
        throw UsageError(flag + " must be in [" + format_number(lo) + ", " + format_number(hi) + "], got " + v);
      }
      *target = static_cast<T>(x);
    };
  };
  parser.option("points-per-side", "N",
                "--everything: side of the point grid, 1..256 (default " + format_number(options.points_per_side) + ")",
                in_range(&options.points_per_side, "--points-per-side", 1, 256));
  parser.option(
      "pred-iou-thresh", "X",
      "--everything: keep masks whose predicted IoU exceeds X (default " + format_number(options.pred_iou_thresh) + ")",
      in_range(&options.pred_iou_thresh, "--pred-iou-thresh", 0, 1));
  parser.option("stability-score-thresh", "X",
                "--everything: keep masks whose stability score is at least X (default " +
                    format_number(options.stability_score_thresh) + ")",
                in_range(&options.stability_score_thresh, "--stability-score-thresh", 0, 1));
  parser.option("stability-score-offset", "X",
                "--everything: logit offset of the stability score (default " +
                    format_number(options.stability_score_offset) + ")",
                in_range(&options.stability_score_offset, "--stability-score-offset", 0, 100));
  parser.option("box-nms-thresh", "X",
                "--everything: box IoU above which the lower-rated of two masks is dropped (default " +
                    format_number(options.box_nms_thresh) + ")",
                in_range(&options.box_nms_thresh, "--box-nms-thresh", 0, 1));
  parser.option("min-mask-region-area", "PX",
                "--everything: remove holes and islands smaller than PX pixels (default " +
                    format_number(options.min_mask_region_area) + ", off)",
                in_range(&options.min_mask_region_area, "--min-mask-region-area", 0, 1 << 30));
}

}  // namespace regionlm::examples
