// Device placement without a GPU: the whole forward path (preprocessing, vision trunk,
// projector, masks, extractor, prompt embeddings, decoder prefill) runs with weights and
// inputs on PyTorch's `meta` device. Any tensor created elsewhere (e.g. on the CPU, where a
// forgotten `.device(...)` would put it) and mixed with meta tensors raises "Tensor on device
// cpu is not on the expected device meta", and `.item()`/host copies of meta tensors raise
// too, so passing proves the path keeps every tensor on the model's device and never syncs.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "pipeline/inference.hpp"
#include "pipeline_test_util.hpp"
#include "regionlm/llm/kv_cache.hpp"

namespace regionlm::test {
namespace {

std::shared_ptr<const pipeline::ModelImpl> meta_model(torch::ScalarType dtype) {
  auto impl = std::make_shared<pipeline::ModelImpl>(load_osprey_config(reference().model),
                                                    text::Tokenizer::load(reference().model));
  impl->device = torch::Device(torch::kMeta);
  impl->dtype = dtype;
  impl->conversation = text::conversation_template("osprey_v1");
  pipeline::build_modules(*impl);  // uninitialised parameters, all on meta
  return impl;
}

void expect_meta(const torch::Tensor& t, const std::string& what) {
  EXPECT_TRUE(t.device().is_meta()) << what << " is on " << t.device();
}

void run_prefill_on_meta(torch::ScalarType dtype) {
  const auto model = meta_model(dtype);
  for (const auto& p : model->vision->parameters()) expect_meta(p, "vision parameter");
  for (const auto& p : model->llama->parameters()) expect_meta(p, "decoder parameter");

  c10::InferenceMode guard;
  cv::Mat rgb;
  cv::cvtColor(cv::imread(reference().image.string(), cv::IMREAD_COLOR), rgb, cv::COLOR_BGR2RGB);
  const EncodedImage image = pipeline::encode_image(model, rgb);
  for (const auto& f : image.features()) expect_meta(f, "feature map");
  expect_meta(image.image_tokens(), "image tokens");

  const auto& data = pipeline::Access::data(image, *model);
  const auto regions = reference().regions(nlohmann::json{0, 1, 2});
  const auto tokens = pipeline::encode_regions(*model, data, regions);
  expect_meta(tokens.mask_tokens, "mask tokens");
  expect_meta(tokens.pos_tokens, "position tokens");
  EXPECT_EQ(tokens.mask_tokens.scalar_type(), dtype);

  const std::string prompt = reference().find_case("repeated")["prompt"];
  const auto layout = pipeline::question_layout(*model, prompt, 2, data.image_tokens.size(0));
  const torch::Tensor embeds = pipeline::embed_layout(*model, layout, data, tokens);  // [1, L, H]
  expect_meta(embeds, "prompt embeddings");
  EXPECT_EQ(embeds.size(1), layout.length);

  llm::KVCache cache(model->config.text, 1, layout.length + 1, model->options());
  const torch::Tensor logits = model->llama->forward(embeds, cache, /*last_only=*/true);  // [1, 1, V]
  expect_meta(logits, "logits");
  EXPECT_EQ(logits.size(2), model->config.text.vocab_size);
  EXPECT_EQ(cache.length(), layout.length);
}

TEST(DevicePlacement, ForwardPathStaysOnTheModelDeviceFloat32) { run_prefill_on_meta(torch::kFloat32); }

TEST(DevicePlacement, ForwardPathStaysOnTheModelDeviceBfloat16) { run_prefill_on_meta(torch::kBFloat16); }

}  // namespace
}  // namespace regionlm::test
