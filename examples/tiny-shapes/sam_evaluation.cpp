#include "sam_evaluation.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <tuple>

#include "common/arguments.hpp"

namespace regionlm::tiny_shapes {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

sam::Prompt prompt_for(const Scene& scene, size_t index, PromptKind kind) {
  sam::Prompt prompt;
  if (kind == PromptKind::kPoint) {
    prompt.points = {interior_point(scene, index)};
  } else {
    const cv::Rect& b = scene.objects[index].box;
    prompt.box = sam::Box{static_cast<double>(b.x), static_cast<double>(b.y), static_cast<double>(b.x + b.width),
                          static_cast<double>(b.y + b.height)};
  }
  return prompt;
}

}  // namespace

double mask_iou(const cv::Mat& a, const cv::Mat& b) {
  const int inter = cv::countNonZero((a != 0) & (b != 0));
  const int uni = cv::countNonZero((a != 0) | (b != 0));
  return uni > 0 ? static_cast<double>(inter) / uni : 0.0;
}

sam::Point interior_point(const Scene& scene, size_t index) {
  std::vector<cv::Point> pixels;
  cv::findNonZero(scene.objects.at(index).mask, pixels);
  Random rng(scene.seed * 1000003 + index * 7919 + 11);
  const cv::Point p = pixels[static_cast<size_t>(rng.integer(0, static_cast<int>(pixels.size()) - 1))];
  return {static_cast<double>(p.x), static_cast<double>(p.y), 1};
}

sam::AutomaticMaskOptions tiny_automatic_options() {
  sam::AutomaticMaskOptions o;
  o.points_per_side = 16;
  o.pred_iou_thresh = 0.82;
  o.stability_score_thresh = 0.9;
  o.box_nms_thresh = 0.4;
  o.min_mask_region_area = 100;
  return o;
}

std::vector<std::string> automatic_mask_arguments(const sam::AutomaticMaskOptions& o) {
  using examples::format_number;
  return {"--points-per-side",        std::to_string(o.points_per_side),
          "--pred-iou-thresh",        format_number(o.pred_iou_thresh),
          "--stability-score-thresh", format_number(o.stability_score_thresh),
          "--stability-score-offset", format_number(o.stability_score_offset),
          "--box-nms-thresh",         format_number(o.box_nms_thresh),
          "--min-mask-region-area",   std::to_string(o.min_mask_region_area)};
}

IouReport evaluate_prompts(const sam::Sam& sam, const SamEvalOptions& options, PromptKind kind) {
  const auto start = std::chrono::steady_clock::now();
  IouReport report;
  double sum = 0, unrefined_sum = 0, oracle_sum = 0, single_sum = 0;
  for (int s = 0; s < options.num_scenes; ++s) {
    const Scene scene = generate_scene(options.first_seed + static_cast<uint64_t>(s), options.scene);
    const sam::SamImage image = sam.encode(scene.image);
    std::vector<sam::Prompt> prompts;
    for (size_t i = 0; i < scene.objects.size(); ++i) prompts.push_back(prompt_for(scene, i, kind));
    const std::vector<sam::Masks> chosen = sam.best_masks(image, prompts);
    const std::vector<sam::Masks> masks = sam.predict(image, prompts);  // one decoder call
    const std::vector<sam::Masks> single = sam.predict(image, prompts, {.multimask_output = false});
    for (size_t i = 0; i < scene.objects.size(); ++i) {
      const cv::Mat& truth = scene.objects[i].mask;
      const double iou = mask_iou(chosen[i].mask(0), truth);
      unrefined_sum += mask_iou(masks[i].mask(masks[i].best()), truth);
      double oracle = 0;
      for (int64_t k = 0; k < masks[i].count(); ++k) oracle = std::max(oracle, mask_iou(masks[i].mask(k), truth));
      oracle_sum += oracle;
      single_sum += mask_iou(single[i].mask(0), truth);
      sum += iou;
      report.below_half += iou < 0.5;
      ++report.objects;
    }
  }
  report.mean_iou = report.objects ? sum / report.objects : 0.0;
  report.unrefined_iou = report.objects ? unrefined_sum / report.objects : 0.0;
  report.oracle_iou = report.objects ? oracle_sum / report.objects : 0.0;
  report.single_iou = report.objects ? single_sum / report.objects : 0.0;
  report.seconds = seconds_since(start);
  return report;
}

AutomaticReport evaluate_automatic(const sam::Sam& sam, const SamEvalOptions& options,
                                   const sam::AutomaticMaskOptions& generator, double match_iou) {
  const auto start = std::chrono::steady_clock::now();
  AutomaticReport report;
  report.match_iou = match_iou;
  for (int s = 0; s < options.num_scenes; ++s) {
    const Scene scene = generate_scene(options.first_seed + static_cast<uint64_t>(s), options.scene);
    const std::vector<sam::GeneratedMask> masks = sam::generate_masks(sam, scene.image, generator);
    std::vector<std::tuple<double, size_t, size_t>> pairs;  // (IoU, object, mask)
    for (size_t o = 0; o < scene.objects.size(); ++o) {
      for (size_t m = 0; m < masks.size(); ++m) {
        const double iou = mask_iou(scene.objects[o].mask, masks[m].segmentation);
        if (iou >= match_iou) pairs.emplace_back(iou, o, m);
      }
    }
    std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
    std::vector<bool> object_used(scene.objects.size(), false), mask_used(masks.size(), false);
    int found = 0;
    for (const auto& [iou, o, m] : pairs) {
      if (object_used[o] || mask_used[m]) continue;
      object_used[o] = mask_used[m] = true;
      ++found;
    }
    report.objects += static_cast<int>(scene.objects.size());
    report.found += found;
    report.masks += static_cast<int>(masks.size());
    report.spurious += static_cast<int>(masks.size()) - found;
  }
  report.seconds = seconds_since(start);
  return report;
}

AnswerReport evaluate_point_answers(const Model& model, const sam::Sam& sam, const SamEvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  AnswerReport report;
  GenerationOptions generation;
  generation.max_new_tokens = 8;
  const std::string prompt = question_prompt(QuestionKind::kWhat);
  for (int s = 0; s < options.num_scenes; ++s) {
    const Scene scene = generate_scene(options.first_seed + static_cast<uint64_t>(s), options.scene);
    const sam::SamImage segmented = sam.encode(scene.image);
    std::vector<sam::Prompt> prompts;
    for (size_t i = 0; i < scene.objects.size(); ++i) prompts.push_back(prompt_for(scene, i, PromptKind::kPoint));
    const std::vector<sam::Masks> masks = sam.best_masks(segmented, prompts);
    // A click whose chosen mask is empty selected nothing: there is no region to ask about,
    // and it counts as a wrong answer.
    std::vector<Region> regions;
    std::vector<std::optional<size_t>> asked(masks.size());  // object -> index in regions
    for (size_t i = 0; i < masks.size(); ++i) {
      if (!masks[i].masks.any().item<bool>()) continue;
      asked[i] = regions.size();
      regions.push_back(masks[i].region(0));
    }
    const EncodedImage image = model.encode(cv::Mat(scene.image));
    const std::vector<Answer> answers =
        regions.empty() ? std::vector<Answer>{} : model.describe_each(image, regions, prompt, generation);
    for (size_t i = 0; i < scene.objects.size(); ++i) {
      const std::string expected = describe_object(scene.objects[i].color, scene.objects[i].shape);
      const std::string text = asked[i] ? answers[*asked[i]].text : "(an empty mask)";
      ++report.total;
      if (text == expected) {
        ++report.correct;
      } else if (report.failures.size() < 20) {
        const sam::Point p = interior_point(scene, i);
        report.failures.push_back("scene " + std::to_string(scene.seed) + ", object " + std::to_string(i) +
                                  ", click (" + std::to_string(static_cast<int>(p.x)) + ", " +
                                  std::to_string(static_cast<int>(p.y)) + "): \"" + text + "\" (expected \"" +
                                  expected + "\")");
      }
    }
  }
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace regionlm::tiny_shapes
