#include "describe/describe_app.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <sstream>

#include "common/answer_json.hpp"
#include "common/options.hpp"
#include "describe/annotate.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/prompt.hpp"
#include "regionlm/model.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
#include "regionlm/som/mark_references.hpp"
#include "regionlm/som/set_of_marks.hpp"
#include "regionlm/vision/image.hpp"

namespace regionlm::examples {

namespace {

constexpr const char* kProgram = "regionlm-describe";

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

/// A prompt with exactly one plain `<region>` (and no other placeholder) is asked of each
/// region in turn.
bool asks_each_region(const std::string& prompt, size_t num_regions) {
  return num_regions > 1 && count(prompt, "<region>") == 1 && count(prompt, "<region") == 1 &&
         count(prompt, "<mask>") == 0;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

struct Output {
  std::vector<Answer> answers;
  std::vector<int> regions;  // 1-based region of each answer; 0 = the answer is about all regions
};

nlohmann::json to_json(const Output& out, size_t num_regions, double load_ms, double encode_ms, double total_ms) {
  nlohmann::json answers = nlohmann::json::array();
  nlohmann::json timings = {{"load_ms", load_ms}, {"encode_ms", encode_ms}, {"regions_ms", 0.0},
                            {"prefill_ms", 0.0}, {"decode_ms", 0.0},       {"prompt_tokens", 0},
                            {"generated_tokens", 0}};
  double decode_rate = 0;
  for (size_t i = 0; i < out.answers.size(); ++i) {
    const Answer& a = out.answers[i];
    nlohmann::json entry;
    if (out.regions[i] > 0) {
      entry["region"] = out.regions[i];
      entry["regions"] = {out.regions[i]};
    } else {
      entry["region"] = nullptr;
      entry["regions"] = nlohmann::json::array();
      for (size_t r = 1; r <= num_regions; ++r) entry["regions"].push_back(r);
    }
    entry["text"] = a.text;
    entry["tokens"] = a.tokens;
    entry["stop_reason"] = to_string(a.stop_reason);
    entry["mentions"] = mentions_json(a);
    entry["notes"] = a.notes;
    answers.push_back(entry);
    // Batched answers share one prefill/decode: report the longest, sum the tokens.
    timings["regions_ms"] = std::max(timings["regions_ms"].get<double>(), a.regions_ms);
    timings["prefill_ms"] = std::max(timings["prefill_ms"].get<double>(), a.timings.prefill_ms);
    timings["decode_ms"] = std::max(timings["decode_ms"].get<double>(), a.timings.decode_ms);
    timings["prompt_tokens"] = timings["prompt_tokens"].get<int64_t>() + a.timings.prompt_tokens;
    timings["generated_tokens"] = timings["generated_tokens"].get<int64_t>() + a.timings.generated_tokens;
    decode_rate = std::max(decode_rate, a.timings.decode_tokens_per_second);
  }
  timings["decode_tokens_per_second"] = decode_rate;
  timings["total_ms"] = total_ms;
  return {{"answers", answers}, {"timings", timings}};
}

/// "x,y[,label]" -> a SAM click (label 1 = positive, the default; 0 = negative).
sam::Point parse_point(const std::string& text) {
  std::vector<double> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(parse_number(item, "--point " + text));
  if (values.size() != 2 && values.size() != 3) throw UsageError("--point " + text + ": expected x,y or x,y,label");
  const double label = values.size() == 3 ? values[2] : 1.0;
  if (label != 0.0 && label != 1.0) throw UsageError("--point " + text + ": the label must be 1 (positive) or 0 (negative)");
  return {values[0], values[1], static_cast<int>(label)};
}

/// The regions in command-line order. With a segmenter, a run of consecutive --point flags is
/// one SAM prompt and --box becomes a SAM box prompt; each gives the mask Sam::best_mask selects.
std::vector<Region> resolve_regions(const std::vector<RegionArgument>& arguments, const sam::Sam* segmenter,
                                    const cv::Mat& rgb, sam::SamImage& encoded, std::vector<sam::Point>& clicks) {
  std::vector<Region> regions;
  const auto segment = [&](const sam::Prompt& prompt) {
    if (encoded.empty()) encoded = segmenter->encode(rgb);
    return segmenter->best_mask(encoded, prompt).region(0);
  };
  for (size_t i = 0; i < arguments.size(); ++i) {
    const RegionArgument& a = arguments[i];
    if (!segmenter || (a.kind != RegionArgument::Kind::Point && a.kind != RegionArgument::Kind::Box)) {
      for (Region& r : load_regions({a})) regions.push_back(std::move(r));
      continue;
    }
    sam::Prompt prompt;
    if (a.kind == RegionArgument::Kind::Box) {
      prompt.box = parse_box(a.value, "--box");
    } else {
      for (; i < arguments.size() && arguments[i].kind == RegionArgument::Kind::Point; ++i) {
        prompt.points.push_back(parse_point(arguments[i].value));
        clicks.push_back(prompt.points.back());
      }
      --i;  // the loop's ++i moves past the run
    }
    regions.push_back(segment(prompt));
  }
  return regions;
}


/// SAM's automatic masks, numbered as Set-of-Mark numbers them: the largest mask is region 1.
std::vector<sam::GeneratedMask> everything_by_area(const sam::Sam& segmenter, const cv::Mat& rgb,
                                                   const sam::AutomaticMaskOptions& options) {
  std::vector<sam::GeneratedMask> masks = sam::generate_masks(segmenter, rgb, options);
  std::stable_sort(masks.begin(), masks.end(),
                   [](const sam::GeneratedMask& a, const sam::GeneratedMask& b) { return a.area > b.area; });
  return masks;
}

/// The answer fields of one JSON entry: text, the regions it names, tokens, stop reason.
void put_answer(nlohmann::json& entry, const Answer& answer, size_t num_regions) {
  entry["text"] = answer.text;
  entry["refers_to"] = som::referenced_marks(answer.text, static_cast<int>(num_regions));
  entry["tokens"] = answer.tokens;
  entry["stop_reason"] = to_string(answer.stop_reason);
}

/// --everything --json: {"regions": [{"id", "rle", "bbox", "area", "predicted_iou",
/// "stability_score", "text", "refers_to", "tokens", "stop_reason"}], ...}; with a prompt that is
/// not asked of each region, the one answer is "answer" beside the regions.
nlohmann::json everything_json(const std::vector<sam::GeneratedMask>& masks, const Output& out, bool per_region) {
  nlohmann::json regions = nlohmann::json::array();
  for (size_t i = 0; i < masks.size(); ++i) {
    const sam::GeneratedMask& m = masks[i];
    nlohmann::json entry;
    entry["id"] = i + 1;
    entry["rle"] = {{"size", {m.segmentation.rows, m.segmentation.cols}}, {"counts", rle_encode(m.segmentation)}};
    entry["bbox"] = {m.bbox[0], m.bbox[1], m.bbox[2], m.bbox[3]};
    entry["area"] = m.area;
    entry["predicted_iou"] = m.predicted_iou;
    entry["stability_score"] = m.stability_score;
    if (per_region) put_answer(entry, out.answers[i], masks.size());
    regions.push_back(entry);
  }
  nlohmann::json result = {{"regions", regions}};
  if (!per_region) put_answer(result["answer"], out.answers.front(), masks.size());
  return result;
}
}  // namespace

int describe_main(int argc, char** argv) {
  try {
    const auto start = std::chrono::steady_clock::now();
    CommonOptions common;
    std::string prompt;
    std::string annotate;
    std::string sam_location;
    std::string marks;
    bool everything = false;
    sam::AutomaticMaskOptions automatic;  // --everything's generator
    bool stream = false;
    bool json = false;
    ArgumentParser parser(kProgram,
                          "Describes regions of an image with an Osprey or GPT4RoI model (told apart by its\n"
                          "config.json). Without --prompt, each region gets the model's own description question\n"
                          "(Osprey's short description, GPT4RoI's detailed one). A prompt names regions with\n"
                          "<region> (the next one) or <region1>..<regionN>; a prompt with exactly one plain <region>\n"
                          "and several regions is asked of each region in turn (one batched call). GPT4RoI reads\n"
                          "boxes: a mask region is used as its bounding box (noted on stderr and in --json).");
    add_common_options(parser, common);
    parser.option("point", "X,Y[,LABEL]",
                  "a click on the object (label 1 positive, default; 0 negative); a run of --point flags is one "
                  "region, segmented by --sam",
                  [&common](const std::string& v) { common.regions.push_back({RegionArgument::Kind::Point, v}); });
    parser.option("sam", "PATH", "Segment Anything weights (file or directory): --point and --box become SAM prompts",
                  &sam_location);
    parser.flag("everything",
                "describe every region SAM's automatic mask generator finds (needs --sam); regions are numbered "
                "as Set-of-Mark numbers them, the largest first",
                &everything);
    add_automatic_mask_options(parser, automatic);
    parser.option("prompt", "TEXT", "the question (default: the model's description of each region)", &prompt);
    parser.flag("stream", "print the answer while it is generated", &stream);
    parser.flag("json", "print one JSON object with answers, token ids and timings", &json);
    parser.option("annotate", "OUT.png",
                  "also write the image with each region outlined and labelled with its answer (with --everything: "
                  "Set-of-Mark marks labelled with the answers)",
                  &annotate);
    parser.option("marks", "OUT.png",
                  "also write the Set-of-Mark image: each region filled, outlined and numbered as region k (the "
                  "picture a vision-language model reads)",
                  &marks);
    if (!parser.parse(argc, argv)) return 0;
    if (json && stream) throw UsageError("--stream and --json cannot be combined");

    if (everything && sam_location.empty()) throw UsageError("--everything needs --sam PATH");
    if (everything && !common.regions.empty()) throw UsageError("--everything finds the regions itself: drop the region flags");
    const cv::Mat rgb = vision::load_image(common.image);
    std::optional<sam::Sam> segmenter;
    if (!sam_location.empty()) segmenter = sam::Sam::load(sam_location);
    sam::SamImage sam_image;
    std::vector<sam::Point> clicks;
    std::vector<Region> regions =
        resolve_regions(common.regions, segmenter ? &*segmenter : nullptr, rgb, sam_image, clicks);
    std::vector<sam::GeneratedMask> generated;
    if (everything) {
      generated = everything_by_area(*segmenter, rgb, automatic);
      for (const sam::GeneratedMask& mask : generated) regions.push_back(mask.region());
      if (regions.empty()) throw ArgumentError("SAM's automatic mask generator found no region in " + common.image);
    }
    if (prompt.empty() && regions.empty()) {
      throw UsageError("give at least one region (--mask, --box, --rle-json, --point) or a --prompt");
    }
    const Model model = Model::load(common.model_dir, load_options(common));
    if (prompt.empty()) {
      prompt = model.family() == ModelFamily::Gpt4roi ? gpt4roi::kDetailedDescription : prompts::kShortDescription;
    }
    const double load_ms = ms_since(start);
    for (const auto& key : model.unused_keys()) {
      if (common.verbose) std::cerr << "unused checkpoint key: " << key << "\n";
    }

    const EncodedImage image = model.encode(rgb);

    GenerationOptions generation = common.generation;
    Output out;
    const bool each = asks_each_region(prompt, regions.size());
    const bool per_region = each || regions.size() == 1;  // one answer per region
    if (each && stream) {
      // Streams stay readable one region at a time.
      for (size_t r = 0; r < regions.size(); ++r) {
        std::cout << "region " << r + 1 << ": " << std::flush;
        generation.on_step = [](const Step& step) {
          std::cout << step.piece << std::flush;
          return true;
        };
        out.answers.push_back(model.describe(image, {regions[r]}, prompt, generation));
        out.regions.push_back(static_cast<int>(r + 1));
        std::cout << "\n";
      }
    } else if (each) {
      out.answers = model.describe_each(image, regions, prompt, generation);
      for (size_t r = 0; r < regions.size(); ++r) out.regions.push_back(static_cast<int>(r + 1));
    } else {
      if (stream) {
        generation.on_step = [](const Step& step) {
          std::cout << step.piece << std::flush;
          return true;
        };
      }
      out.answers.push_back(model.describe(image, regions, prompt, generation));
      out.regions.push_back(regions.size() == 1 ? 1 : 0);
      if (stream) std::cout << "\n";
    }

    std::string annotated;
    std::vector<cv::Mat> masks;
    if (!annotate.empty() || !marks.empty()) {
      for (const Region& region : regions) masks.push_back(region.rasterize(rgb.rows, rgb.cols));
    }
    som::MarkOptions mark_options;
    mark_options.numbering = som::Numbering::InOrder;  // mark k is region k
    if (!marks.empty()) write_rgb_image(som::draw_marks(rgb, masks, mark_options).image, marks);
    if (!annotate.empty()) {
      if (everything) {
        std::vector<std::string> captions;
        for (size_t r = 0; r < regions.size() && per_region; ++r) captions.push_back(out.answers[r].text);
        write_rgb_image(som::draw_marks(rgb, masks, mark_options, captions).image, annotate);
      } else {
        std::vector<std::string> labels;
        for (size_t r = 0; r < regions.size(); ++r) {
          labels.push_back(std::to_string(r + 1) + (each ? ": " + out.answers[r].text : ""));
        }
        write_annotated_image(rgb, masks, labels, each ? "" : out.answers.front().text, annotate, clicks);
      }
      annotated = annotate;
    }

    // How the regions were adapted (GPT4RoI: masks as boxes), once per region.
    std::vector<std::string> notes;
    for (const Answer& a : out.answers) {
      for (const std::string& note : a.notes) {
        if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
      }
    }
    if (!json) {
      for (const std::string& note : notes) std::cerr << "note: " << note << "\n";
    }

    if (json && everything) {
      nlohmann::json result = everything_json(generated, out, per_region);
      result["prompt"] = prompt;
      result["timings"] = to_json(out, regions.size(), load_ms, image.encode_ms(), ms_since(start))["timings"];
      if (!annotated.empty()) result["annotated_image"] = annotated;
      if (!marks.empty()) result["marks_image"] = marks;
      std::cout << result.dump() << std::endl;
    } else if (json) {
      nlohmann::json result = to_json(out, regions.size(), load_ms, image.encode_ms(), ms_since(start));
      if (!marks.empty()) result["marks_image"] = marks;
      result["prompt"] = prompt;
      if (!annotated.empty()) result["annotated_image"] = annotated;
      std::cout << result.dump() << std::endl;
    } else {
      if (!stream) {
        for (size_t i = 0; i < out.answers.size(); ++i) {
          if (out.regions[i] > 0 && regions.size() > 1) std::cout << "region " << out.regions[i] << ": ";
          std::cout << out.answers[i].text << "\n";
        }
      }
      if (!annotated.empty()) std::cout << "annotated image: " << annotated << "\n";
      if (!marks.empty()) std::cout << "marked image: " << marks << "\n";
      if (common.verbose) {
        const nlohmann::json t = to_json(out, regions.size(), load_ms, image.encode_ms(), ms_since(start))["timings"];
        std::cerr << "timings: " << t.dump() << "\n";
      }
    }
    return 0;
  } catch (const std::exception& e) {
    return report_error(kProgram, e);
  }
}

}  // namespace regionlm::examples
