#include "segment/segment_app.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "common/arguments.hpp"
#include "common/options.hpp"
#include "regionlm/error.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
#include "regionlm/sam/scribble.hpp"
#include "regionlm/vision/image.hpp"
#include "segment/overlay.hpp"

namespace regionlm::examples {

namespace {

constexpr const char* kProgram = "regionlm-segment";
using json = nlohmann::json;

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::vector<double> split_numbers(const std::string& text, const std::string& what) {
  std::vector<double> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    out.push_back(parse_number(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start), what));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

sam::Point parse_point(const std::string& text) {
  const auto v = split_numbers(text, "--point " + text);
  if (v.size() != 2 && v.size() != 3) throw UsageError("--point expects X,Y or X,Y,LABEL, got '" + text + "'");
  sam::Point p{v[0], v[1], 1};
  if (v.size() == 3) {
    if (v[2] != 0 && v[2] != 1) throw UsageError("--point " + text + ": LABEL must be 1 (positive) or 0 (negative)");
    p.label = static_cast<int>(v[2]);
  }
  return p;
}

sam::Box parse_box(const std::string& text) {
  const auto v = split_numbers(text, "--box " + text);
  if (v.size() != 4) throw UsageError("--box expects X0,Y0,X1,Y1, got '" + text + "'");
  return {v[0], v[1], v[2], v[3]};
}

// One polyline from [[x, y], ...].
std::vector<cv::Point2d> polyline_from(const json& points, const std::string& file) {
  if (!points.is_array()) throw FormatError(file + ": a scribble's points must be a list of [x, y]");
  std::vector<cv::Point2d> out;
  for (const auto& p : points) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number()) {
      throw FormatError(file + ": scribble point " + p.dump() + " is not [x, y]");
    }
    out.emplace_back(p[0].get<double>(), p[1].get<double>());
  }
  return out;
}

// Scribble file: [[x, y], ...] (one positive stroke), {"points": [...], "label": 0 | 1},
// a list of such objects, or {"scribbles": [...]}.
std::vector<sam::Point> load_scribbles(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw IoError("cannot read scribble file " + file);
  json root;
  try {
    root = json::parse(in);
  } catch (const json::exception& e) {
    throw FormatError(file + ": invalid JSON: " + e.what());
  }
  if (root.is_object() && root.contains("scribbles")) root = root["scribbles"];
  std::vector<json> strokes;
  if (root.is_array() && !root.empty() && root[0].is_array()) {
    strokes.push_back(json{{"points", root}, {"label", 1}});
  } else if (root.is_array()) {
    for (const auto& s : root) strokes.push_back(s);
  } else {
    strokes.push_back(root);
  }
  std::vector<sam::Point> points;
  for (const auto& s : strokes) {
    if (!s.is_object() || !s.contains("points")) throw FormatError(file + ": a scribble needs \"points\"");
    const int label = s.value("label", 1);
    const auto sampled = sam::scribble_points(polyline_from(s["points"], file), label);
    points.insert(points.end(), sampled.begin(), sampled.end());
  }
  if (points.empty()) throw FormatError(file + ": no scribble");
  return points;
}

// COCO bbox [x, y, w, h] of a 0/1 mask (pycocotools toBbox); zeros when empty.
json coco_bbox(const cv::Mat& mask) {
  const cv::Rect r = cv::boundingRect(mask);
  return json::array({r.x, r.y, r.width, r.height});
}

json mask_json(const cv::Mat& mask, double score) {
  return json{{"rle", {{"size", {mask.rows, mask.cols}}, {"counts", rle_encode(mask)}}},
              {"score", score},
              {"bbox", coco_bbox(mask)},
              {"area", cv::countNonZero(mask)}};
}

}  // namespace

int segment_main(int argc, char** argv) {
  try {
    const auto start = std::chrono::steady_clock::now();
    std::string sam_path, image_path, scribble_file, overlay, device;
    std::vector<sam::Point> points;
    std::optional<sam::Box> box;
    bool multimask = false, best = false, everything = false, as_json = false;
    std::optional<int64_t> refinement_passes;
    sam::AutomaticMaskOptions automatic;  // --everything's generator
    ArgumentParser parser(kProgram,
                          "Segments an image with Segment Anything (SAM ViT-B/L/H or MobileSAM weights as\n"
                          "released). All --point, --box and --scribble flags form ONE prompt (one object);\n"
                          "--everything segments the whole image instead.");
    parser.option("sam", "PATH", "SAM weights file, or a directory holding one (and sam_config.json)", &sam_path, true);
    parser.option("image", "PATH", "the image", &image_path, true);
    parser.option("point", "X,Y[,LABEL]", "a click in pixels; LABEL 1 = positive (default), 0 = negative; repeatable",
                  [&](const std::string& v) { points.push_back(parse_point(v)); });
    parser.option("box", "X0,Y0,X1,Y1", "a box in pixels", [&](const std::string& v) { box = parse_box(v); });
    parser.option("scribble", "FILE.json", "strokes: [[x,y],...] or {\"points\": [...], \"label\": 0|1} (or a list)",
                  &scribble_file);
    parser.flag("multimask", "return SAM's three candidate masks, best first (default: the single-mask output)",
                &multimask);
    parser.flag("best",
                "return the one mask regionlm-describe makes of the prompt (Sam::best_mask: the best of three,\n"
                "refined as sam_config.json says)",
                &best);
    parser.option("refinement-passes", "N", "--best: feed the mask back N times, 0..8 (default: sam_config.json's)",
                  [&](const std::string& v) {
                    const int64_t n = parse_int(v, "--refinement-passes");
                    if (n < 0 || n > sam::kMaxRefinementPasses) {
                      throw UsageError("--refinement-passes: expected 0.." + std::to_string(sam::kMaxRefinementPasses) +
                                       ", got " + v);
                    }
                    refinement_passes = n;
                  });
    parser.flag("everything", "automatic mask generation over the whole image (SamAutomaticMaskGenerator; its settings below)",
                &everything);
    add_automatic_mask_options(parser, automatic);
    parser.flag("json", "print {\"masks\": [{\"rle\", \"score\", \"bbox\", \"area\"}], \"timings\"} (COCO RLE)", &as_json);
    parser.option("overlay", "OUT.png", "also write the image with the masks tinted", &overlay);
    parser.option("device", "NAME", "cpu (default) or cuda", &device);
    if (!parser.parse(argc, argv)) return 0;
    if (!scribble_file.empty()) {
      const auto sampled = load_scribbles(scribble_file);
      points.insert(points.end(), sampled.begin(), sampled.end());
    }
    if (everything && (!points.empty() || box)) throw UsageError("--everything takes no --point, --box or --scribble");
    if (refinement_passes && !best) throw UsageError("--refinement-passes needs --best");
    if (best && (multimask || everything)) {
      throw UsageError("--best gives one mask: not with --multimask or --everything");
    }
    if (!everything && points.empty() && !box) {
      throw UsageError("give a prompt (--point, --box, --scribble) or --everything");
    }

    sam::SamLoadOptions load;
    if (device == "cuda") load.device = torch::Device(torch::kCUDA);
    else if (!device.empty() && device != "cpu") throw UsageError("--device must be cpu or cuda");
    const sam::Sam model = sam::Sam::load(sam_path, load);
    const double load_ms = ms_since(start);
    const cv::Mat rgb = vision::load_image(image_path);

    std::vector<cv::Mat> masks;
    json entries = json::array();
    json timings = {{"load_ms", load_ms}};
    if (everything) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto generated = sam::generate_masks(model, rgb, automatic);
      timings["generate_ms"] = ms_since(t0);
      for (const auto& g : generated) {
        masks.push_back(g.segmentation);
        json e = mask_json(g.segmentation, g.predicted_iou);
        e["stability_score"] = g.stability_score;
        e["point_coords"] = {g.point_coords[0], g.point_coords[1]};
        e["crop_box"] = {g.crop_box[0], g.crop_box[1], g.crop_box[2], g.crop_box[3]};
        entries.push_back(e);
      }
    } else {
      const sam::SamImage image = model.encode(rgb);
      timings["encode_ms"] = image.encode_ms();
      sam::Prompt prompt;
      prompt.points = points;
      prompt.box = box;
      const auto t0 = std::chrono::steady_clock::now();
      const sam::Masks result = best ? model.best_mask(image, prompt, {.refinement_passes = refinement_passes})
                                     : model.predict(image, prompt, {.multimask_output = multimask});
      timings["decode_ms"] = ms_since(t0);
      const auto scores = result.iou_predictions.to(torch::kCPU);
      for (int64_t i : result.order()) {
        masks.push_back(result.mask(i));
        entries.push_back(mask_json(masks.back(), scores[i].item<double>()));
      }
    }
    if (!overlay.empty()) write_overlay(rgb, everything ? masks : std::vector<cv::Mat>{masks.front()}, points, box, overlay);
    timings["total_ms"] = ms_since(start);
    if (as_json) {
      json out = {{"masks", entries}, {"timings", timings}};
      if (!overlay.empty()) out["overlay"] = overlay;
      std::cout << out.dump() << std::endl;
    } else {
      std::cout << model.config().describe() << "\n";
      for (size_t i = 0; i < entries.size(); ++i) {
        std::cout << "mask " << i + 1 << ": score " << entries[i]["score"].get<double>() << ", area "
                  << entries[i]["area"] << " px, bbox " << entries[i]["bbox"].dump() << "\n";
      }
      if (!overlay.empty()) std::cout << "overlay: " << overlay << "\n";
      std::cout << "timings: " << timings.dump() << "\n";
    }
    return 0;
  } catch (const UsageError& e) {
    std::cerr << kProgram << ": error: " << e.what() << "\n(see " << kProgram << " --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << kProgram << ": error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace regionlm::examples
