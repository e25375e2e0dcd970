// regionlm-server's request bodies: JSON, then each endpoint's field checks (messages, regions
// with RLE / mask PNG / boxes / points, sampling options), then what the handlers do before
// inference: base64 images' headers and region masks. Every rejection must be an ApiError.
#include <opencv2/core.hpp>

#include "regionlm/error.hpp"
#include "regionlm/region/rle.hpp"
#include "server/api_error.hpp"
#include "server/image_decoding.hpp"
#include "server/requests.hpp"

namespace {

void regions(const std::vector<regionlm::server::RegionInput>& inputs) {
  for (const auto& r : inputs) {
    try {
      if (r.kind == regionlm::server::RegionInput::Kind::Rle) {
        (void)(r.rle_string ? regionlm::rle_decode(*r.rle_string, r.rle_height, r.rle_width)
                            : regionlm::rle_counts_to_mask(r.rle_counts, r.rle_height, r.rle_width));
      } else if (r.kind == regionlm::server::RegionInput::Kind::MaskPng) {
        (void)regionlm::server::decode_mask(r.mask_png, cv::Size(64, 48), r.param);
      }
    } catch (const regionlm::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  try {
    const auto json = regionlm::server::parse_body(body);
    try {
      const auto chat = regionlm::server::parse_chat_request(json);
      (void)regionlm::server::image_header_size(chat.image.bytes, chat.image.param);
      regions(chat.regions);
    } catch (const regionlm::server::ApiError&) {
    }
    try {
      const auto describe = regionlm::server::parse_describe_request(json);
      regions(describe.regions);
    } catch (const regionlm::server::ApiError&) {
    }
    try {
      const auto segment = regionlm::server::parse_segment_request(json);
      (void)regionlm::server::decode_rgb(segment.image.bytes, segment.image.param);
    } catch (const regionlm::server::ApiError&) {
    }
  } catch (const regionlm::server::ApiError&) {
  }
  return 0;
}
