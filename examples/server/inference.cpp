#include "server/inference.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cstdio>

#include "common/answer_json.hpp"
#include "regionlm/error.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/sam/scribble.hpp"
#include "regionlm/som/mark_references.hpp"
#include "server/api_error.hpp"
#include "server/image_decoding.hpp"

namespace regionlm::server {

using json = nlohmann::json;

namespace {

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

ApiError timeout_error() {
  return ApiError(500, "server_error", "", "timeout", "the request took longer than the server's timeout");
}

/// The image of a request, from the cache or decoded, with what this request spent on it.
struct ImageUse {
  std::shared_ptr<CachedImage> image;
  json timings = json::object();
};

ImageUse load_image(const Backend& backend, const ImageInput& input) {
  ImageUse use;
  const auto start = Clock::now();
  bool hit = false;
  use.image = backend.cache.get(input.bytes, [&] { return decode_rgb(input.bytes, input.param); }, hit);
  use.timings["image_cache"] = hit ? "hit" : "miss";
  use.timings["image_decode_ms"] = ms_since(start);
  use.timings["encode_ms"] = 0.0;
  use.timings["sam_encode_ms"] = 0.0;
  return use;
}

EncodedImage osprey_features(const Backend& backend, ImageUse& use) {
  EncodedImage encoded;
  bool made = false;
  {
    std::lock_guard<std::mutex> lock(use.image->mutex);
    if (use.image->encoded.empty()) {
      const auto start = Clock::now();
      use.image->encoded = backend.model.encode(use.image->rgb);
      use.timings["encode_ms"] = ms_since(start);
      made = true;
    }
    encoded = use.image->encoded;
  }
  if (made) backend.cache.update(use.image);
  return encoded;
}

const sam::Sam& segmenter(const Backend& backend, const std::string& param) {
  if (!backend.sam) {
    throw invalid_request(param, param + " needs Segment Anything: start the server with --sam PATH", "sam_not_loaded");
  }
  return *backend.sam;
}

sam::SamImage sam_features(const Backend& backend, ImageUse& use) {
  sam::SamImage encoded;
  bool made = false;
  {
    std::lock_guard<std::mutex> lock(use.image->mutex);
    if (use.image->sam.empty()) {
      const auto start = Clock::now();
      use.image->sam = backend.sam->encode(use.image->rgb);
      use.timings["sam_encode_ms"] = ms_since(start);
      made = true;
    }
    encoded = use.image->sam;
  }
  if (made) backend.cache.update(use.image);
  return encoded;
}

/// The mask a prompt selects (Sam::best_mask); 422 naming `param` when SAM refuses the prompt.
cv::Mat sam_mask(const Backend& backend, ImageUse& use, const sam::Prompt& prompt, const std::string& param) {
  const sam::SamImage image = sam_features(backend, use);
  try {
    return backend.sam->best_mask(image, prompt).mask(0);
  } catch (const ArgumentError& e) {
    throw unprocessable(param, param + ": " + e.what(), "invalid_region");
  }
}

/// A request's regions: what goes to the library (the region as given, or SAM's mask) and each
/// one's 0/1 mask at the image's size, checked to cover at least one pixel.
struct ResolvedRegions {
  std::vector<Region> regions;
  std::vector<cv::Mat> masks;
};

ResolvedRegions resolve_regions(const Backend& backend, ImageUse& use, const std::vector<RegionInput>& inputs) {
  ResolvedRegions out;
  const int height = use.image->rgb.rows, width = use.image->rgb.cols;
  for (const RegionInput& in : inputs) {
    if (in.needs_sam()) segmenter(backend, in.param);
  }
  for (const RegionInput& in : inputs) {
    std::optional<Region> region;
    cv::Mat mask;
    switch (in.kind) {
      case RegionInput::Kind::Rle: {
        if (in.rle_height != height || in.rle_width != width) {
          throw unprocessable(in.param + ".mask.size",
                              in.param + ".mask.size: [" + std::to_string(in.rle_height) + ", " +
                                  std::to_string(in.rle_width) + "] is not the image's [" + std::to_string(height) +
                                  ", " + std::to_string(width) + "]",
                              "invalid_region");
        }
        region = in.rle_string ? Region::from_rle(*in.rle_string, height, width)
                               : Region::from_rle(in.rle_counts, height, width);
        break;
      }
      case RegionInput::Kind::MaskPng:
        mask = decode_mask(in.mask_png, cv::Size(width, height), in.param + ".mask_png");
        region = Region::from_mask(mask);
        break;
      case RegionInput::Kind::Box:
        region = Region::from_box(in.box[0], in.box[1], in.box[2], in.box[3]);
        break;
      case RegionInput::Kind::Points: {
        sam::Prompt prompt;
        prompt.points = in.points;
        mask = sam_mask(backend, use, prompt, in.param + ".points");
        region = Region::from_mask(mask);
        break;
      }
      case RegionInput::Kind::Scribble: {
        sam::Prompt prompt;
        try {
          prompt.points = sam::scribble_points(in.scribble, 1);
        } catch (const ArgumentError& e) {
          throw unprocessable(in.param + ".scribble", in.param + ".scribble: " + e.what(), "invalid_region");
        }
        mask = sam_mask(backend, use, prompt, in.param + ".scribble");
        region = Region::from_mask(mask);
        break;
      }
    }
    if (mask.empty()) {
      Region::Raster raster = region->try_rasterize(height, width);
      if (!raster.problem.empty()) {
        throw unprocessable(in.param, in.param + " (" + region->describe() + "): " + raster.problem, "invalid_region");
      }
      mask = raster.mask;
    }
    if (cv::countNonZero(mask) == 0) {
      throw unprocessable(in.param, in.param + " (" + region->describe() + ") covers no pixel of the " +
                                        std::to_string(width) + "x" + std::to_string(height) + " image",
                          "invalid_region");
    }
    out.regions.push_back(std::move(*region));
    out.masks.push_back(std::move(mask));
  }
  return out;
}

const char* finish_reason(StopReason reason) {
  switch (reason) {
    case StopReason::Eos:
    case StopReason::StopString:
      return "stop";
    case StopReason::Length:
      return "length";
    case StopReason::Cancelled:
      return "cancelled";
  }
  return "stop";
}

/// Library argument errors (placeholders, prompt length) are the client's: 422 naming `param`.
template <typename F>
auto client_errors_at(const std::string& param, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const ArgumentError& e) {
    throw unprocessable(param, param + ": " + e.what());
  }
}

GenerationOptions with_job(GenerationOptions options, Job& job) {
  options.on_step = [&job](const Step& step) { return job.emit(step.piece); };
  return options;
}

void add_generation_timings(json& timings, const Answer& answer) {
  timings["regions_ms"] = answer.regions_ms;
  timings["prefill_ms"] = answer.timings.prefill_ms;
  timings["generation_ms"] = answer.timings.decode_ms;
  timings["tokens_per_second"] = answer.timings.decode_tokens_per_second;
}

}  // namespace

json rle_json(const cv::Mat& mask01) {
  return json{{"size", {mask01.rows, mask01.cols}}, {"counts", rle_encode(mask01)}};
}

json bbox_json(const cv::Mat& mask01) {
  const cv::Rect r = cv::boundingRect(mask01);
  return json::array({r.x, r.y, r.width, r.height});
}

void run_chat(const Backend& backend, const ChatRequest& request, Job& job) {
  ImageUse use = load_image(backend, request.image);
  const EncodedImage image = osprey_features(backend, use);
  const ResolvedRegions resolved = resolve_regions(backend, use, request.regions);
  const text::PromptLayout layout = client_errors_at(request.question_param, [&] {
    return backend.model.layout(request.question, static_cast<int64_t>(resolved.regions.size()), request.history);
  });
  job.ready();

  const GenerationOptions options = with_job(request.generation, job);
  Answer answer;
  if (request.history.empty()) {
    answer = backend.model.describe(image, resolved.regions, request.question, options);
  } else {
    // Earlier turns: the conversation is prefilled afresh, as a ChatSession's first ask would be
    // after the same turns (its answer equals a fresh prefill of the whole conversation).
    const auto start = Clock::now();
    const RegionTokens tokens = backend.model.encode_regions(image, resolved.regions);
    const double regions_ms = ms_since(start);
    answer = backend.model.generate(layout, backend.model.embed(layout, image, tokens), options).front();
    answer.regions_ms = regions_ms;
  }
  if (job.expired()) throw timeout_error();
  if (answer.stop_reason == StopReason::Cancelled) {
    std::fprintf(stderr, "generation cancelled after %lld tokens: the client went away\n",
                 static_cast<long long>(answer.timings.generated_tokens));
  }

  int64_t image_tokens = 0, region_tokens = 0;
  for (const text::Chunk& chunk : layout.chunks) {
    if (chunk.kind == text::Chunk::Kind::Image) image_tokens += chunk.length;
    if (chunk.kind == text::Chunk::Kind::Region) region_tokens += chunk.length;  // a mask and a position token
  }
  const int64_t completion = answer.timings.generated_tokens;
  json timings = use.timings;
  add_generation_timings(timings, answer);
  job.finish({{"content", answer.text},
              {"mentions", examples::mentions_json(answer)},
              {"notes", answer.notes},
              {"finish_reason", finish_reason(answer.stop_reason)},
              {"usage",
               {{"prompt_tokens", answer.timings.prompt_tokens},
                {"completion_tokens", completion},
                {"total_tokens", answer.timings.prompt_tokens + completion},
                {"prompt_tokens_details", {{"image_tokens", image_tokens}, {"region_tokens", region_tokens}}}}},
              {"timings", timings}});
}

void run_describe(const Backend& backend, const DescribeRequest& request, Job& job) {
  ImageUse use = load_image(backend, request.image);
  ResolvedRegions resolved;
  if (request.everything) {
    const sam::Sam& sam = segmenter(backend, "everything");
    bool made = false;
    {
      std::lock_guard<std::mutex> lock(use.image->mutex);
      if (!use.image->everything) {
        const auto start = Clock::now();
        use.image->everything = sam::generate_masks(sam, use.image->rgb, backend.everything);
        use.timings["everything_ms"] = ms_since(start);
        made = true;
      }
      for (const sam::GeneratedMask& m : *use.image->everything) {
        resolved.regions.push_back(m.region());
        resolved.masks.push_back(m.segmentation);
      }
    }
    if (made) backend.cache.update(use.image);
    if (resolved.regions.empty()) {
      throw unprocessable("everything", "SAM's automatic mask generator found no region in the image", "no_region");
    }
  } else {
    resolved = resolve_regions(backend, use, request.regions);
  }
  const EncodedImage image = osprey_features(backend, use);
  client_errors_at("prompt", [&] { return backend.model.layout(request.prompt, 1); });
  job.ready();

  const std::vector<Answer> answers = client_errors_at("prompt", [&] {
    return backend.model.describe_each(image, resolved.regions, request.prompt, with_job(request.generation, job));
  });
  if (job.expired()) throw timeout_error();

  json regions = json::array();
  int64_t prompt_tokens = 0, completion_tokens = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    regions.push_back({{"id", i + 1},
                       {"text", answers[i].text},
                       // The regions the answer names (region2, <region2>, [2]): ids of this list.
                       {"refers_to", som::referenced_marks(answers[i].text, static_cast<int>(answers.size()))},
                       {"notes", answers[i].notes},
                       {"finish_reason", finish_reason(answers[i].stop_reason)},
                       {"rle", rle_json(resolved.masks[i])},
                       {"bbox", bbox_json(resolved.masks[i])},
                       {"area", cv::countNonZero(resolved.masks[i])}});
    prompt_tokens += answers[i].timings.prompt_tokens;
    completion_tokens += answers[i].timings.generated_tokens;
  }
  json timings = use.timings;
  if (!answers.empty()) add_generation_timings(timings, answers.front());
  job.finish({{"object", "regions.description"},
              {"model", backend.model_id},
              {"prompt", request.prompt},
              {"regions", regions},
              {"usage",
               {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}}},
              {"timings", timings}});
}

void run_segment(const Backend& backend, const SegmentRequest& request, Job& job) {
  const sam::Sam& sam = segmenter(backend, "points");
  ImageUse use = load_image(backend, request.image);
  sam::Prompt prompt;
  prompt.points = request.points;
  if (!request.scribble.empty()) {
    try {
      for (const sam::Point& p : sam::scribble_points(request.scribble, 1)) prompt.points.push_back(p);
    } catch (const ArgumentError& e) {
      throw unprocessable("scribble", std::string("scribble: ") + e.what(), "invalid_region");
    }
  }
  prompt.box = request.box;
  const sam::SamImage image = sam_features(backend, use);
  job.ready();
  const auto start = Clock::now();
  // With refinement (the model's default or the request's), the one mask a region would get;
  // otherwise SAM's candidates, best first.
  const int64_t passes = request.refinement_passes.value_or(sam.config().refinement_passes);
  sam::Masks masks;
  try {
    masks = passes > 0
                ? sam.best_mask(image, prompt, {.multimask_output = request.multimask, .refinement_passes = passes})
                : sam.predict(image, prompt, {.multimask_output = request.multimask});
  } catch (const ArgumentError& e) {
    throw unprocessable(request.points.empty() ? (request.box ? "box" : "scribble") : "points", e.what(),
                        "invalid_prompt");
  }
  json out = json::array();
  for (const int64_t i : masks.order()) {
    const cv::Mat mask = masks.mask(i);
    out.push_back({{"rle", rle_json(mask)},
                   {"score", masks.iou_predictions[i].item<double>()},
                   {"bbox", bbox_json(mask)},
                   {"area", cv::countNonZero(mask)}});
  }
  json timings = use.timings;
  timings["decoder_ms"] = ms_since(start);
  job.finish({{"object", "segmentation"},
              {"size", {use.image->rgb.rows, use.image->rgb.cols}},
              {"masks", out},
              {"timings", timings}});
}

}  // namespace regionlm::server
