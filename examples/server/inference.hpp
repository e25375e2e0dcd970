#pragma once
// Request -> library calls -> result, one function per endpoint, run on a worker thread.
// This is the only file that calls regionlm::Model / regionlm::sam: switching to a batching
// engine changes these functions, not the HTTP layer.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "regionlm/model.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
#include "server/image_cache.hpp"
#include "server/requests.hpp"
#include "server/work_queue.hpp"

namespace regionlm::server {

/// What every request shares: the model (immutable, used by all workers at once), the
/// optional segmenter and the image cache.
struct Backend {
  Model model;
  std::optional<sam::Sam> sam;
  sam::AutomaticMaskOptions everything;  // the generator behind "everything" (--points-per-side, ...)
  std::string model_id;  // the name clients see (the model directory's name)
  ImageCache& cache;
};

/// Answers the last user message of a chat. Result: {"content", "finish_reason" ("stop" |
/// "length"), "usage": {prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details:
/// {image_tokens, region_tokens}}, "timings"}; pieces are emitted as generated.
void run_chat(const Backend& backend, const ChatRequest& request, Job& job);

/// Asks `prompt` of every region (one batched call). Result: {"regions": [{"id", "text",
/// "finish_reason", "rle", "bbox", "area"}], "usage", "timings"}.
void run_describe(const Backend& backend, const DescribeRequest& request, Job& job);

/// SAM's masks for one prompt, best first. Result: {"size": [h, w], "masks": [{"rle", "score",
/// "bbox", "area"}], "timings"}.
void run_segment(const Backend& backend, const SegmentRequest& request, Job& job);

/// COCO RLE object {"size": [h, w], "counts": "..."} and COCO bbox [x, y, w, h] of a 0/1 mask.
nlohmann::json rle_json(const cv::Mat& mask01);
nlohmann::json bbox_json(const cv::Mat& mask01);

}  // namespace regionlm::server
