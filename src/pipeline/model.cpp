#include "regionlm/model.hpp"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <chrono>

#include "pipeline/chat_state.hpp"
#include "pipeline/checkpoint_loader.hpp"
#include "pipeline/inference.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/vision/image.hpp"

namespace regionlm {

namespace {

Answer to_answer(llm::GenerationResult result, double encode_ms, double regions_ms) {
  Answer answer;
  answer.text = std::move(result.text);
  answer.tokens = std::move(result.tokens);
  answer.stop_reason = result.stop_reason;
  answer.timings = result.timings;
  answer.encode_ms = encode_ms;
  answer.regions_ms = regions_ms;
  return answer;
}

/// Positions before the first region pair: the part of describe_each's prompt that is the
/// same for every region.
int64_t shared_prefix_length(const text::PromptLayout& layout) {
  int64_t length = 0;
  for (const text::Chunk& chunk : layout.chunks) {
    if (chunk.kind == text::Chunk::Kind::Region) break;
    length += chunk.length;
  }
  return length;
}

}  // namespace

Model::Model(std::shared_ptr<const pipeline::ModelImpl> impl) : impl_(std::move(impl)) {}

Model Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
  c10::InferenceMode inference;
  return Model(pipeline::load_model(dir, options));
}

EncodedImage Model::encode(const cv::Mat& image_rgb8) const {
  c10::InferenceMode inference;
  return pipeline::encode_image(impl_, vision::to_rgb8(image_rgb8, vision::ChannelOrder::RGB));
}

EncodedImage Model::encode(const std::filesystem::path& image) const {
  c10::InferenceMode inference;
  return pipeline::encode_image(impl_, vision::load_image(image));
}

Answer Model::describe(const EncodedImage& image, const std::vector<Region>& regions, const std::string& prompt,
                       const GenerationOptions& options) const {
  c10::InferenceMode inference;
  const pipeline::ModelImpl& model = *impl_;
  const auto& data = pipeline::Access::data(image, model);
  // Cheap checks first: placeholders and context length, then regions.
  const text::PromptLayout layout = pipeline::question_layout(model, prompt, static_cast<int64_t>(regions.size()),
                                                              data.image_tokens.size(0));
  const pipeline::RegionTokens tokens = pipeline::encode_regions(model, data, regions);
  const torch::Tensor embeds = pipeline::embed_layout(model, layout, data, tokens);  // [1, L, hidden]

  llm::KVCache cache(model.config.text, 1, pipeline::cache_capacity(model, layout.length, options.max_new_tokens),
                     model.options());
  llm::GenerationOptions generation = pipeline::generation_options(options, layout);
  generation.cache_final_token = false;  // the cache is dropped afterwards
  return to_answer(llm::generate(model.llama, cache, embeds, generation, pipeline::decode_fn(model),
                                 model.tokenizer.eos_id()),
                   0.0, tokens.ms);
}

Answer Model::describe(const std::filesystem::path& image, const std::vector<Region>& regions,
                       const std::string& prompt, const GenerationOptions& options) const {
  const EncodedImage encoded = encode(image);
  Answer answer = describe(encoded, regions, prompt, options);
  answer.encode_ms = encoded.encode_ms();
  return answer;
}

Answer Model::describe(const cv::Mat& image_rgb8, const std::vector<Region>& regions, const std::string& prompt,
                       const GenerationOptions& options) const {
  const EncodedImage encoded = encode(image_rgb8);
  Answer answer = describe(encoded, regions, prompt, options);
  answer.encode_ms = encoded.encode_ms();
  return answer;
}

std::vector<Answer> Model::describe_each(const EncodedImage& image, const std::vector<Region>& regions,
                                         const std::string& prompt, const GenerationOptions& options) const {
  c10::InferenceMode inference;
  const pipeline::ModelImpl& model = *impl_;
  const auto& data = pipeline::Access::data(image, model);
  if (regions.empty()) throw ArgumentError("describe_each: no regions given");
  if (options.on_token) {
    throw ArgumentError("describe_each: GenerationOptions::on_token is not supported for a batch; use on_row_token");
  }
  const text::PromptLayout layout = pipeline::question_layout(model, prompt, 1, data.image_tokens.size(0));
  const pipeline::RegionTokens tokens = pipeline::encode_regions(model, data, regions);
  const int64_t batch = static_cast<int64_t>(regions.size());

  // One prompt per region: the same layout with that region's tokens.
  std::vector<torch::Tensor> rows;
  for (int64_t r = 0; r < batch; ++r) {
    pipeline::RegionTokens one{tokens.mask_tokens.narrow(0, r, 1), tokens.pos_tokens.narrow(0, r, 1)};
    rows.push_back(pipeline::embed_layout(model, layout, data, one));  // [1, L, hidden]
  }
  const torch::Tensor embeds = torch::cat(rows, 0);  // [B, L, hidden]

  // The text and image before the region are identical in every row: prefill them once and
  // copy their keys/values into every row of the batch cache.
  const auto prefix_start = std::chrono::steady_clock::now();
  const int64_t prefix = shared_prefix_length(layout);
  llm::KVCache cache(model.config.text, batch, pipeline::cache_capacity(model, layout.length, options.max_new_tokens),
                     model.options());
  if (prefix > 0) {
    llm::KVCache shared(model.config.text, 1, prefix, model.options());
    model.llama->forward(embeds.narrow(0, 0, 1).narrow(1, 0, prefix), shared, /*last_only=*/true);
    cache.broadcast_prefix_from(shared, 0, prefix);
  }
  pipeline::wait_for_device(model.device);
  const double prefix_ms = pipeline::elapsed_ms(prefix_start);

  llm::GenerationOptions generation = pipeline::generation_options(options, layout);
  generation.cache_final_token = false;
  std::vector<llm::GenerationResult> results =
      llm::generate_batch(model.llama, cache, embeds.narrow(1, prefix, layout.length - prefix), generation,
                          pipeline::decode_fn(model), model.tokenizer.eos_id());
  std::vector<Answer> answers;
  for (auto& result : results) {
    result.timings.prefill_ms += prefix_ms;
    result.timings.prompt_tokens += prefix;
    answers.push_back(to_answer(std::move(result), 0.0, tokens.ms));
  }
  return answers;
}

ChatSession Model::chat(const EncodedImage& image, const std::vector<Region>& regions) const {
  return pipeline::start_chat(impl_, image, regions);
}

const OspreyConfig& Model::config() const { return impl_->config; }
const text::Tokenizer& Model::tokenizer() const { return impl_->tokenizer; }
torch::Device Model::device() const { return impl_->device; }
torch::ScalarType Model::dtype() const { return impl_->dtype; }
const std::string& Model::image_prefix() const { return impl_->conversation.image_prefix; }
const std::string& Model::conversation_template() const { return impl_->conversation.name; }
const std::vector<std::string>& Model::unused_keys() const { return impl_->unused_keys; }

}  // namespace regionlm
