// Weight-only int8 (LoadOptions::quantize = "int8", layers::Linear::quantize_int8): per-output-
// channel scales keep every channel accurate, the float weights are freed, and on the
// reference checkpoint the first-step logits and greedy answers stay close to float32's.
// Also the other load-time weight layout, oneDNN's blocked one for float32 on the CPU
// (LoadOptions::pack_cpu_weights, layers::Linear::pack_for_cpu): the same products as the
// plain layer to float32 rounding.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "pipeline_test_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/layers/linear.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/osprey.hpp"

namespace regionlm::test {
namespace {

/// A layer whose output channels differ in scale by up to 2^7: one scale for the whole
/// matrix would leave the small channels only a few int8 levels.
layers::Linear spread_layer(int64_t in, int64_t out, bool bias) {
  torch::manual_seed(3);
  layers::Linear layer(in, out, torch::TensorOptions().dtype(torch::kFloat32), bias);
  torch::NoGradGuard no_grad;
  const auto row_scale = torch::pow(2.0, torch::arange(out, torch::kFloat32).remainder(8)).unsqueeze(1);  // [out, 1]
  layer->weight.copy_(torch::randn({out, in}) * row_scale / std::sqrt(static_cast<double>(in)));
  if (bias) layer->bias.copy_(torch::randn({out}) * 0.1);
  return layer;
}

torch::Tensor first_logits(const Model& model, const EncodedImage& image, const std::vector<Region>& regions,
                           const std::string& prompt) {
  c10::InferenceMode guard;
  const auto layout = model.layout(prompt, static_cast<int64_t>(regions.size()));
  const torch::Tensor embeds = model.embed(layout, image, model.encode_regions(image, regions));  // [1, L, H]
  const Osprey osprey = model.osprey();
  llm::KVCache cache(model.config().text, 1, layout.length, osprey->options());
  return osprey->llama->forward(embeds, cache, /*last_only=*/true).reshape({-1});  // [vocab]
}

}  // namespace

TEST(Int8Linear, EveryOutputChannelStaysAccurate) {
  for (const bool bias : {false, true}) {
    layers::Linear layer = spread_layer(256, 64, bias);
    const auto x = torch::randn({2, 5, 256});  // [2, 5, in]: leading dimensions are kept
    const auto expected = layer->forward(x);   // [2, 5, 64]
    layer->quantize_int8();
    ASSERT_TRUE(layer->quantized());
    const auto y = layer->forward(x);
    ASSERT_EQ(y.sizes(), expected.sizes());
    // Per channel, the error is a small fraction of that channel's own magnitude (weights:
    // 1/254 of the row's range; activations: 1/255 of their range, quantized per call).
    const auto error = (y - expected).abs().amax({0, 1});       // [64]
    const auto magnitude = expected.abs().amax({0, 1});         // [64]
    EXPECT_LE((error / magnitude).max().item<double>(), 0.05) << "bias " << bias;
  }
}

TEST(Int8Linear, FloatWeightIsFreedAndNotAParameter) {
  layers::Linear layer = spread_layer(32, 16, true);
  const auto x = torch::randn({3, 32});
  layer->quantize_int8();
  EXPECT_FALSE(layer->weight.defined());
  EXPECT_EQ(layer->named_parameters().size(), 1u);  // the bias
  EXPECT_TRUE(layer->named_parameters().contains("bias"));
  const auto y = layer->forward(x);
  layer->quantize_int8();  // a second call changes nothing
  EXPECT_TRUE(torch::equal(layer->forward(x), y));
}

TEST(Int8Linear, AllZeroRowsGiveZeros) {
  layers::Linear layer(8, 4, torch::TensorOptions().dtype(torch::kFloat32), false);
  torch::NoGradGuard no_grad;
  layer->weight.zero_();
  layer->quantize_int8();
  EXPECT_TRUE(torch::equal(layer->forward(torch::randn({2, 8})), torch::zeros({2, 4})));
}

TEST(PackedLinear, EqualsThePlainLayerForAnyNumberOfRows) {
  for (const bool bias : {false, true}) {
    layers::Linear layer = spread_layer(256, 96, bias);
    const std::vector<torch::Tensor> inputs{torch::randn({1, 256}), torch::randn({16, 256}),
                                            torch::randn({2, 300, 256}), torch::randn({3, 1, 256})};
    std::vector<torch::Tensor> expected;
    for (const auto& x : inputs) expected.push_back(layer->forward(x));
    ASSERT_TRUE(layer->pack_for_cpu()) << "this LibTorch has oneDNN's linear kernels";
    EXPECT_TRUE(layer->packed_for_cpu());
    EXPECT_FALSE(layer->weight.defined());
    EXPECT_EQ(layer->named_parameters().contains("weight"), false);
    EXPECT_FALSE(layer->pack_for_cpu());  // a second call changes nothing
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto y = layer->forward(inputs[i]);
      ASSERT_EQ(y.sizes(), expected[i].sizes());
      const double scale = expected[i].abs().max().item<double>();
      EXPECT_LE((y - expected[i]).abs().max().item<double>(), 1e-5 * scale) << "input " << i << ", bias " << bias;
    }
    EXPECT_THROW(layer->quantize_int8(), ArgumentError);  // quantizing needs the plain weight
  }
}

TEST(PackedLinear, OnlyFloat32OnTheCpuIsPacked) {
  layers::Linear bf16(16, 8, torch::TensorOptions().dtype(torch::kBFloat16));
  EXPECT_FALSE(bf16->pack_for_cpu());
  EXPECT_TRUE(bf16->weight.defined());
  layers::Linear quantized = spread_layer(32, 16, true);
  quantized->quantize_int8();
  EXPECT_FALSE(quantized->pack_for_cpu());
  EXPECT_TRUE(quantized->quantized());
}

// Loading packs the decoder's and projector's layers by default and not with the option off;
// both give the same first-step logits on the reference checkpoint.
TEST(PackedLinear, ModelLoadsPackedUnlessTurnedOff) {
  LoadOptions plain_options = cpu();
  plain_options.pack_cpu_weights = false;
  const Model& packed = reference_model();  // loaded with the default options
  const Model plain = Model::load(reference().model, plain_options);
  int64_t packed_layers = 0;
  for (const auto& module : packed.osprey()->modules()) {
    if (const auto* linear = dynamic_cast<const layers::LinearImpl*>(module.get())) packed_layers += linear->packed_for_cpu();
  }
  for (const auto& module : plain.osprey()->modules()) {
    if (const auto* linear = dynamic_cast<const layers::LinearImpl*>(module.get())) EXPECT_FALSE(linear->packed_for_cpu());
  }
  EXPECT_EQ(packed_layers, 7 * packed.config().text.num_hidden_layers + 1 +
                               projector_linear_count(packed.config().mm_projector_type));
  const EncodedImage a = packed.encode(reference().image);
  const EncodedImage b = plain.encode(reference().image);
  for (const auto& c : reference().cases) {
    if (c.contains("chat")) continue;
    const auto regions = reference().regions(c["regions"]);
    const auto x = first_logits(packed, a, regions, c["prompt"]);
    const auto y = first_logits(plain, b, regions, c["prompt"]);
    EXPECT_LE(max_abs_diff(x, y), 1e-4 * y.abs().max().item<double>()) << c["name"];
    EXPECT_EQ(packed.describe(a, regions, c["prompt"], greedy(16)).tokens,
              plain.describe(b, regions, c["prompt"], greedy(16)).tokens) << c["name"];
  }
}

TEST(Int8Model, UnknownQuantizationIsAConfigError) {
  LoadOptions options = cpu();
  options.quantize = "int4";
  try {
    Model::load(reference().model, options);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("quantize"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("int4"), std::string::npos) << e.what();
  }
}

// The reference checkpoint with int8 weights: the decoder's and projector's linear layers are
// quantized (no float weight left there), the vision trunk and extractor are not; first-step
// logits stay within a few percent of their spread; greedy answers mostly agree (reported).
TEST(Int8Model, ReferenceCheckpointStaysCloseToFloat32) {
  LoadOptions options = cpu();
  options.quantize = "int8";
  const Model int8 = Model::load(reference().model, options);
  const Model& f32 = reference_model();
  int64_t quantized = 0, float_linears = 0;
  for (const auto& module : int8.osprey()->modules()) {
    if (const auto* linear = dynamic_cast<const layers::LinearImpl*>(module.get())) {
      linear->quantized() ? ++quantized : ++float_linears;
    }
  }
  const auto& text = int8.config().text;
  EXPECT_EQ(quantized, 7 * text.num_hidden_layers + 1 + projector_linear_count(int8.config().mm_projector_type));
  EXPECT_GT(float_linears, 0);  // the trunk's MLPs and the extractor stay in float

  const EncodedImage a = f32.encode(reference().image);
  const EncodedImage b = int8.encode(reference().image);
  int64_t agree = 0, total = 0;
  double worst = 0;
  for (const auto& c : reference().cases) {
    if (c.contains("chat")) continue;
    const auto regions = reference().regions(c["regions"]);
    const auto expected = first_logits(f32, a, regions, c["prompt"]);
    const auto logits = first_logits(int8, b, regions, c["prompt"]);
    const double deviation = max_abs_diff(logits, expected) / (expected.max() - expected.min()).item<double>();
    worst = std::max(worst, deviation);
    EXPECT_LE(deviation, 0.05) << c["name"];
    const auto x = f32.describe(a, regions, c["prompt"], greedy(16)).tokens;
    const auto y = int8.describe(b, regions, c["prompt"], greedy(16)).tokens;
    for (size_t i = 0; i < std::min(x.size(), y.size()) && x[i] == y[i]; ++i) ++agree;
    total += static_cast<int64_t>(x.size());
  }
  std::cout << "int8 vs float32 on the reference checkpoint: max logit deviation " << 100 * worst
            << " % of the logit range; greedy tokens agreeing before the first difference " << agree << " / "
            << total << "\n";
}

}  // namespace regionlm::test
