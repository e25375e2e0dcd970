// Device placement without a GPU: the whole forward path (preprocessing, vision trunk,
// projector, masks, extractor, prompt embeddings, decoder prefill) runs with weights and
// inputs on PyTorch's `meta` device. Any tensor created elsewhere (e.g. on the CPU, where a
// forgotten `.device(...)` would put it) and mixed with meta tensors raises "Tensor on device
// cpu is not on the expected device meta", and `.item()`/host copies of meta tensors raise
// too, so passing proves the path keeps every tensor on the model's device and never syncs.
//
// LibTorch's C++ library lacks meta kernels for a few
// operators (convolution, batch norm, relu, index_select, where, masked_fill) (Python registers
// them from torch/_meta_registrations.py), so this test registers their shape rules itself;
// they refuse arguments that are not all on meta.
#include <ATen/core/op_registration/op_registration.h>
#include <gtest/gtest.h>
#include <torch/library.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "pipeline_test_util.hpp"
#include "regionlm/llm/kv_cache.hpp"
#include "regionlm/osprey.hpp"
#include "regionlm/region/masks.hpp"
#include "regionlm/vision/preprocess.hpp"

namespace {

at::Tensor meta_convolution(const at::Tensor& input, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                            c10::SymIntArrayRef stride, c10::SymIntArrayRef padding, c10::SymIntArrayRef dilation,
                            bool transposed, c10::SymIntArrayRef output_padding, c10::SymInt groups) {
  TORCH_CHECK(input.is_meta() && weight.is_meta() && (!bias || !bias->defined() || bias->is_meta()),
              "meta convolution: expected every argument on meta, got input on ", input.device(), ", weight on ",
              weight.device(), bias && bias->defined() ? ", bias on " + bias->device().str() : std::string());
  TORCH_CHECK(!transposed && input.dim() == 4 && weight.dim() == 4, "meta convolution: only 2-D, not transposed");
  TORCH_CHECK(input.size(1) == weight.size(1) * groups.expect_int(), "meta convolution: channel mismatch");
  std::vector<int64_t> shape{input.size(0), weight.size(0)};
  for (int64_t d = 0; d < 2; ++d) {
    const int64_t extent = input.size(2 + d) + 2 * padding[d].expect_int() -
                           dilation[d].expect_int() * (weight.size(2 + d) - 1) - 1;
    shape.push_back(extent / stride[d].expect_int() + 1);
  }
  return at::empty(shape, input.options());
}

/// LayerNorm off CPU/CUDA lowers to batch norm over a [1, rows, features] view.
std::tuple<at::Tensor, at::Tensor, at::Tensor> meta_batch_norm(const at::Tensor& input,
                                                              const std::optional<at::Tensor>& weight,
                                                              const std::optional<at::Tensor>& bias,
                                                              const std::optional<at::Tensor>& running_mean,
                                                              const std::optional<at::Tensor>& running_var,
                                                              bool training, double momentum, double eps) {
  for (const auto* t : {&weight, &bias, &running_mean, &running_var}) {
    TORCH_CHECK(!*t || !(*t)->defined() || (*t)->is_meta(), "meta batch norm: expected every argument on meta");
  }
  TORCH_CHECK(input.is_meta() && input.dim() >= 2, "meta batch norm: expected a meta input with channels");
  const auto stats = input.options().dtype(input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
  return std::make_tuple(at::empty_like(input), at::empty({input.size(1)}, stats), at::empty({input.size(1)}, stats));
}

at::Tensor meta_relu(const at::Tensor& self) {
  TORCH_CHECK(self.is_meta(), "meta relu: expected a meta tensor");
  return at::empty_like(self);
}

/// The embedding lookup.
at::Tensor meta_index_select(const at::Tensor& self, int64_t dim, const at::Tensor& index) {
  TORCH_CHECK(self.is_meta() && index.is_meta(), "meta index_select: expected every argument on meta, got index on ",
              index.device());
  std::vector<int64_t> shape = self.sizes().vec();
  shape[static_cast<size_t>(c10::maybe_wrap_dim(dim, self.dim()))] = index.numel();
  return at::empty(shape, self.options());
}

/// Attention masks. A 0-dim CPU tensor is a wrapped scalar, which PyTorch allows with any device.
bool on_meta_or_scalar(const at::Tensor& t) { return t.is_meta() || (t.dim() == 0 && t.is_cpu()); }

at::Tensor meta_where(const at::Tensor& condition, const at::Tensor& self, const at::Tensor& other) {
  TORCH_CHECK(condition.is_meta() && on_meta_or_scalar(self) && on_meta_or_scalar(other),
              "meta where: expected every argument on meta, got condition on ", condition.device(), ", self on ",
              self.device(), ", other on ", other.device());
  const auto shape = at::infer_size(at::infer_size(condition.sizes(), self.sizes()), other.sizes());
  return at::empty(shape, condition.options().dtype(at::result_type(self, other)));
}

at::Tensor& meta_where_out(const at::Tensor& condition, const at::Tensor& self, const at::Tensor& other,
                           at::Tensor& out) {
  const at::Tensor result = meta_where(condition, self, other);
  TORCH_CHECK(out.is_meta(), "meta where: expected the output on meta, got ", out.device());
  out.resize_(result.sizes());
  return out;
}

at::Tensor meta_masked_fill(const at::Tensor& self, const at::Tensor& mask, const at::Scalar& value) {
  TORCH_CHECK(self.is_meta() && mask.is_meta(), "meta masked_fill: expected every argument on meta, got mask on ",
              mask.device());
  return at::empty_like(self);
}

TORCH_LIBRARY_IMPL(aten, Meta, m) {
  m.impl("where.self", TORCH_FN(meta_where));
  m.impl("where.self_out", TORCH_FN(meta_where_out));
  m.impl("masked_fill.Scalar", TORCH_FN(meta_masked_fill));
  m.impl("relu", TORCH_FN(meta_relu));
  m.impl("index_select", TORCH_FN(meta_index_select));
  m.impl("convolution_overrideable", TORCH_FN(meta_convolution));
  m.impl("native_batch_norm", TORCH_FN(meta_batch_norm));
}

}  // namespace

namespace regionlm::test {
namespace {

/// The Osprey composition with uninitialised parameters, all on meta.
Osprey meta_osprey(torch::ScalarType dtype) {
  return Osprey(load_osprey_config(reference().model), torch::TensorOptions().device(torch::kMeta).dtype(dtype));
}

void expect_meta(const torch::Tensor& t, const std::string& what) {
  EXPECT_TRUE(t.device().is_meta()) << what << " is on " << t.device();
}

// The composition's steps, as Model runs them: preprocess -> features -> image tokens;
// masks -> region tokens; layout -> embeddings -> decoder prefill.
void run_prefill_on_meta(torch::ScalarType dtype) {
  Osprey osprey = meta_osprey(dtype);
  for (const auto& p : osprey->trunk->parameters()) expect_meta(p, "vision parameter");
  for (const auto& p : osprey->llama->parameters()) expect_meta(p, "decoder parameter");
  const OspreyConfig& config = osprey->config();

  c10::InferenceMode guard;
  cv::Mat rgb;
  cv::cvtColor(cv::imread(reference().image.string(), cv::IMREAD_COLOR), rgb, cv::COLOR_BGR2RGB);
  const auto features = osprey->vision_features(vision::preprocess(rgb, config.vision, osprey->options()));
  for (const auto& f : features) expect_meta(f, "feature map");
  const torch::Tensor image_tokens = osprey->image_tokens(features).squeeze(0);  // [N, H]
  expect_meta(image_tokens, "image tokens");
  EXPECT_EQ(image_tokens.size(0), osprey->image_token_count());

  const auto regions = reference().regions(nlohmann::json{0, 1, 2});
  const auto tokens = osprey->region_tokens(features, regions_to_masks(regions, rgb.rows, rgb.cols, torch::kMeta));
  expect_meta(tokens.mask_tokens, "mask tokens");
  expect_meta(tokens.pos_tokens, "position tokens");
  EXPECT_EQ(tokens.mask_tokens.scalar_type(), dtype);

  const std::string prompt = reference().find_case("repeated")["prompt"];
  const auto layout = text::build_prompt(text::Tokenizer::load(reference().model), text::conversation_template("osprey_v1"),
                                         {}, prompt, 2, osprey->image_token_count(),
                                         config.text.max_position_embeddings - 1);
  const torch::Tensor embeds = osprey->embed(layout, image_tokens, tokens);  // [1, L, H]
  expect_meta(embeds, "prompt embeddings");
  EXPECT_EQ(embeds.size(1), layout.length);

  llm::KVCache cache(config.text, 1, layout.length + 1, osprey->options());
  const torch::Tensor logits = osprey->llama->forward(embeds, cache, /*last_only=*/true);  // [1, 1, V]
  expect_meta(logits, "logits");
  EXPECT_EQ(logits.size(2), config.text.vocab_size);
  EXPECT_EQ(cache.length(), layout.length);
}

TEST(DevicePlacement, MixingDevicesRaises) {
  // The control: what the test relies on really fails, for built-in and registered kernels.
  const auto meta = torch::TensorOptions().device(torch::kMeta);
  EXPECT_THROW(torch::empty({2, 3}, meta) + torch::ones({2, 3}), c10::Error);
  EXPECT_THROW(torch::empty({2, 3}, meta).sum().item<float>(), c10::Error);
  EXPECT_THROW(torch::conv2d(torch::empty({1, 3, 8, 8}, meta), torch::ones({4, 3, 2, 2})), c10::Error);
  EXPECT_THROW(torch::index_select(torch::empty({10, 4}, meta), 0, torch::tensor({1, 2})), c10::Error);
  EXPECT_THROW(torch::where(torch::empty({2, 2}, meta.dtype(torch::kBool)), torch::ones({2, 2}), torch::ones({2, 2})),
               c10::Error);
}

TEST(DevicePlacement, ForwardPathStaysOnTheModelDeviceFloat32) { run_prefill_on_meta(torch::kFloat32); }

TEST(DevicePlacement, ForwardPathStaysOnTheModelDeviceBfloat16) { run_prefill_on_meta(torch::kBFloat16); }

}  // namespace
}  // namespace regionlm::test
