#pragma once
// The JSON bodies the server accepts, checked field by field and turned into typed requests.
// Every problem is an ApiError naming the field (`param`, e.g. "regions[2].box"); nothing here
// decodes an image or touches a model, so a malformed request costs no inference time.
#include <nlohmann/json.hpp>
#include <opencv2/core/types.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "regionlm/generation_options.hpp"
#include "regionlm/limits.hpp"
#include "regionlm/sam/config.hpp"
#include "regionlm/sam/prompt.hpp"
#include "regionlm/text/conversation.hpp"

namespace regionlm::server {

/// Upper bounds on numbers a request may carry (larger ones are a 400); "regions" is bounded by
/// limits::kMaxRegions, images and masks by limits::kMaxImageSide / kMaxImagePixels.
inline constexpr int64_t kMaxTokensLimit = 1 << 20;  // max_tokens; the model's context clamps further
inline constexpr size_t kMaxStopStrings = 16;        // entries of "stop"
inline constexpr size_t kMaxPromptPoints = 1024;     // points of one prompt or scribble

/// An image from a data URL (`data:image/png;base64,...` or image/jpeg), base64-decoded but not
/// yet decoded as an image.
struct ImageInput {
  std::string bytes;  // the PNG or JPEG file
  std::string param;  // where it was in the request
};

/// One entry of a request's "regions".
struct RegionInput {
  enum class Kind { Rle, MaskPng, Box, Points, Scribble };
  Kind kind = Kind::Box;
  std::string param;                  // "regions[i]"
  int rle_height = 0, rle_width = 0;  // Rle: "size": [h, w]
  std::optional<std::string> rle_string;   // Rle: compressed counts
  std::vector<uint32_t> rle_counts;        // Rle: uncompressed counts (when no string)
  std::string mask_png;                    // MaskPng: the PNG file (non-zero in any channel = inside)
  std::array<double, 4> box{};             // Box: x0, y0, x1, y1 px, far corner exclusive
  std::vector<sam::Point> points;          // Points: SAM clicks (x, y, label)
  std::vector<cv::Point2d> scribble;       // Scribble: a positive stroke for SAM
  bool needs_sam() const { return kind == Kind::Points || kind == Kind::Scribble; }
};

/// POST /v1/chat/completions.
struct ChatRequest {
  ImageInput image;                 // the one image of the conversation (first user message)
  std::vector<text::Turn> history;  // earlier user/assistant exchanges
  std::string question;             // the last user message's text
  std::string question_param;       // "messages[k]" of the last user message
  std::vector<RegionInput> regions;
  GenerationOptions generation;
  bool stream = false;         // server-sent events
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage
};

/// POST /v1/regions/describe.
struct DescribeRequest {
  ImageInput image;
  std::vector<RegionInput> regions;  // or, with `everything`, SAM's automatic masks
  bool everything = false;
  std::string prompt;                // one placeholder, asked of every region
  GenerationOptions generation;
};

/// POST /v1/segment: one SAM prompt (points, a box and/or a scribble describe one object).
struct SegmentRequest {
  ImageInput image;
  std::vector<sam::Point> points;
  std::optional<sam::Box> box;
  std::vector<cv::Point2d> scribble;
  bool multimask = true;  // three candidates (default) or SAM's single-mask output
  std::optional<int64_t> refinement_passes;  // unset: the model's (SamConfig); > 0: one mask, Sam::best_mask's
};

/// Parses a request body; 400 (code "invalid_json") for anything but one JSON object.
nlohmann::json parse_body(const std::string& body);

ChatRequest parse_chat_request(const nlohmann::json& body);
DescribeRequest parse_describe_request(const nlohmann::json& body);
SegmentRequest parse_segment_request(const nlohmann::json& body);

/// Decodes a data URL of a PNG or JPEG image (400 for another scheme, media type or bad base64).
ImageInput parse_image_url(const nlohmann::json& value, const std::string& param);

/// Strict base64 (standard alphabet, optional padding, no white space). nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

}  // namespace regionlm::server
