// config.json through every parser that reads one (model family, Osprey/LLaMA, CLIP vision,
// GPT4RoI), and sam_config.json applied to a default SAM configuration.
#include <string>

#include "fuzz_util.hpp"
#include "regionlm/config.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/config.hpp"
#include "regionlm/sam/config.hpp"

namespace {
template <typename Parse>
void attempt(Parse parse) {
  try {
    parse();
  } catch (const regionlm::Error&) {
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  attempt([&] { (void)regionlm::parse_model_family(text, "config.json"); });
  attempt([&] { (void)regionlm::parse_osprey_config(text, "config.json"); });
  attempt([&] { (void)regionlm::parse_llama_config(text, "config.json"); });
  attempt([&] { (void)regionlm::gpt4roi::parse_clip_vision_config(text, "config.json"); });
  attempt([&] { (void)regionlm::gpt4roi::parse_gpt4roi_config(text, "config.json"); });
  attempt([&] {
    const auto file = regionlm::fuzz::write_scratch("sam_config.json", data, size);
    (void)regionlm::sam::apply_config_file(regionlm::sam::SamConfig{}, file).describe();
  });
  return 0;
}
