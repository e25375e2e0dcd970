// JSON nesting depth (limits::kMaxJsonDepth) in every reader of outside JSON: configs,
// safetensors headers, COCO region files. Without the limit a document nested 100 000 deep
// parses (nlohmann_json's parser is iterative) and then overflows the stack in the recursive
// dump() that quotes a wrong value in the error message.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "regionlm/config.hpp"
#include "regionlm/error.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/limits.hpp"
#include "regionlm/region/coco_json.hpp"
#include "test_util.hpp"

using regionlm::test::error_of;

namespace {

using regionlm::limits::kMaxJsonDepth;

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

const std::string kTooDeep = "nested deeper than 64 levels (limits::kMaxJsonDepth)";

TEST(JsonLimits, DeeplyNestedConfigValueIsAConfigErrorNotAStackOverflow) {
  const std::string text = "{\"hidden_size\": " + nested(100000) + "}";
  EXPECT_THROW(regionlm::parse_llama_config(text, "config.json"), regionlm::ConfigError);
  EXPECT_NE(error_of<regionlm::Error>([&] {
              regionlm::parse_osprey_config(text, "config.json");
            }).find("config.json: JSON " + kTooDeep),
            std::string::npos);
}

TEST(JsonLimits, DepthLimitIsExact) {
  // The object plus kMaxJsonDepth - 1 arrays: kMaxJsonDepth containers, accepted by the parser
  // (and then refused for its type); one more is refused for its depth.
  const std::string at_limit = "{\"hidden_size\": " + nested(kMaxJsonDepth - 1) + "}";
  const std::string over = "{\"hidden_size\": " + nested(kMaxJsonDepth) + "}";
  const std::string m1 = error_of<regionlm::Error>([&] { regionlm::parse_llama_config(at_limit, "c.json"); });
  EXPECT_NE(m1.find("'hidden_size' must be"), std::string::npos) << m1;
  EXPECT_NE(error_of<regionlm::Error>([&] { regionlm::parse_llama_config(over, "c.json"); }).find(kTooDeep),
            std::string::npos);
}

TEST(JsonLimits, SafetensorsHeaderAndCocoFilesHaveTheLimitToo) {
  const auto file = regionlm::test::scratch_dir("json-limits") / "deep.safetensors";
  {
    // Before the limit, the reader quoted the bad shape with the recursive dump(): a crash.
    const std::string header =
        "{\"a\": {\"dtype\": \"F32\", \"shape\": " + nested(100000) + ", \"data_offsets\": [0, 0]}}";
    const uint64_t n = header.size();
    std::ofstream out(file, std::ios::binary);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << header;
  }
  const std::string m = error_of<regionlm::Error>([&] { regionlm::load_weights(file); });
  EXPECT_NE(m.find(kTooDeep), std::string::npos) << m;
  EXPECT_THROW(regionlm::load_weights(file), regionlm::FormatError);

  EXPECT_THROW(regionlm::parse_coco_regions(nested(100000), "r.json"), regionlm::FormatError);
  EXPECT_NE(error_of<regionlm::Error>([&] { regionlm::parse_coco_regions(nested(100000), "r.json"); }).find(kTooDeep),
            std::string::npos);
}

}  // namespace
