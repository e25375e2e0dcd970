#include "regionlm/model.hpp"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <chrono>
#include <tuple>

#include "pipeline/chat_state.hpp"
#include "pipeline/checkpoint_loader.hpp"
#include "pipeline/inference.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/vision/image.hpp"

namespace regionlm {

Model::Model(std::shared_ptr<const pipeline::ModelImpl> impl) : impl_(std::move(impl)) {}

llm::BatcherStats Model::batch_stats() const { return impl_->batcher ? impl_->batcher->stats() : llm::BatcherStats{}; }

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

int64_t Model::image_token_count() const {
  if (impl_->gpt4roi) return impl_->gpt4roi->image_token_count();
  return impl_->osprey->image_token_count();
}

RegionTokens Model::encode_regions(const EncodedImage& image, const std::vector<Region>& regions) const {
  c10::InferenceMode inference;
  return pipeline::encode_regions(*impl_, pipeline::Access::data(image, *impl_), regions);
}

text::PromptLayout Model::layout(const std::string& prompt, int64_t num_regions,
                                 const std::vector<text::Turn>& history) const {
  return pipeline::layout(*impl_, prompt, num_regions, history, /*every_region_named=*/false);
}

torch::Tensor Model::embed(const text::PromptLayout& layout, const EncodedImage& image,
                           const RegionTokens& regions) const {
  c10::InferenceMode inference;
  return pipeline::embed(*impl_, layout, pipeline::Access::data(image, *impl_), regions);  // [1, L, H]
}

std::vector<Answer> Model::generate(const text::PromptLayout& layout, const torch::Tensor& embeds,
                                    const GenerationOptions& options) const {
  c10::InferenceMode inference;
  const pipeline::ModelImpl& model = *impl_;
  if (embeds.dim() != 3 || embeds.size(1) != layout.length) {
    throw ShapeError("Model::generate: embeds must be [B, layout.length = " + std::to_string(layout.length) +
                     ", hidden], got " + c10::str(embeds.sizes()));
  }
  llm::KVCache cache = pipeline::new_cache(
      model, embeds.size(0), pipeline::cache_capacity(model, layout.length, options.max_new_tokens), nullptr);
  return pipeline::generate_answers(model, cache, layout, embeds, options, pipeline::regions_named(layout),
                                    /*per_row_first_region=*/false, /*cache_final_token=*/false);
}

Answer Model::describe(const EncodedImage& image, const std::vector<Region>& regions, const std::string& prompt,
                       const GenerationOptions& options) const {
  c10::InferenceMode inference;
  const pipeline::ModelImpl& model = *impl_;
  const auto count = static_cast<int64_t>(regions.size());
  // Cheap checks first: placeholders and context length, then regions.
  const text::PromptLayout prompt_layout = pipeline::layout(model, prompt, count, {}, /*every_region_named=*/true);
  const EncodedImage::Data& data = pipeline::Access::data(image, model);
  const RegionTokens tokens = pipeline::encode_regions(model, data, regions);
  // The system text and image tokens are the same for every question about this image: their
  // decoder state is computed once per EncodedImage and this question prefills only the rest.
  const auto [head, rest] = pipeline::split_layout(prompt_layout, pipeline::chunks_through_image(prompt_layout));
  double prefix_ms = 0;
  const auto prefix = pipeline::image_prefix(model, data, head, prefix_ms);
  const int64_t capacity = pipeline::cache_capacity(model, prompt_layout.length, options.max_new_tokens);
  llm::KVCache cache = pipeline::new_cache(model, 1, capacity, prefix);
  const text::PromptLayout& fed = prefix ? rest : prompt_layout;
  Answer answer = std::move(pipeline::generate_answers(model, cache, prompt_layout,
                                                       pipeline::embed(model, fed, data, tokens), options, count,
                                                       /*per_row_first_region=*/false, /*cache_final_token=*/false)
                                .front());
  if (prefix) {
    answer.timings.prefill_ms += prefix_ms;
    answer.timings.prompt_tokens += head.length;
  }
  answer.regions_ms = tokens.ms;
  answer.notes = tokens.notes;
  return answer;
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
  if (regions.empty()) throw ArgumentError("describe_each: no regions given");
  const text::PromptLayout prompt_layout = pipeline::layout(model, prompt, 1, {}, /*every_region_named=*/true);
  const EncodedImage::Data& data = pipeline::Access::data(image, model);
  std::vector<std::string> notes;  // one per region
  const RegionTokens tokens = pipeline::encode_regions(model, data, regions, &notes);
  const int64_t batch = tokens.size();

  // Everything before the region is the same for every region: it is prefilled once, stored
  // once and read once per step for all rows (a KVCache continuing a shared prefix); each row
  // stores only its own suffix. With LoadOptions::reuse_image_prefix the image's own prefix
  // (system text + image tokens), shared with every other question about the image, comes
  // first, and only the question text up to the region continues it for this call.
  size_t before_region = 0;
  while (before_region < prompt_layout.chunks.size() &&
         prompt_layout.chunks[before_region].kind != text::Chunk::Kind::Region) {
    ++before_region;
  }
  const size_t through_image = pipeline::chunks_through_image(prompt_layout);
  double prefix_ms = 0;
  std::shared_ptr<const llm::KVCache> prefix;
  if (through_image <= before_region) {
    prefix = pipeline::image_prefix(model, data, pipeline::split_layout(prompt_layout, through_image).first, prefix_ms);
  }
  const size_t made_here = prefix ? through_image : 0;  // chunks of the prompt not in `prefix` yet
  const auto [shared, suffix_layout] =
      pipeline::split_layout(pipeline::split_layout(prompt_layout, made_here).second, before_region - made_here);
  if (shared.length > 0) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t before = prefix ? prefix->length() : 0;
    auto made = std::make_shared<llm::KVCache>(pipeline::new_cache(model, 1, before + shared.length, prefix));
    model.decoder()->forward(pipeline::embed(model, shared, data, RegionTokens{}), *made, /*last_only=*/true);
    prefix = std::move(made);
    pipeline::wait_for_device(model.device());
    prefix_ms += pipeline::elapsed_ms(start);
  }
  const int64_t prefix_length = prefix ? prefix->length() : 0;

  std::vector<torch::Tensor> rows;
  for (int64_t r = 0; r < batch; ++r) {
    RegionTokens one;
    one.mask_tokens = tokens.mask_tokens.narrow(0, r, 1);                                 // [1, hidden]
    if (tokens.pos_tokens.defined()) one.pos_tokens = tokens.pos_tokens.narrow(0, r, 1);  // Osprey's second token
    rows.push_back(pipeline::embed(model, suffix_layout, data, one));                     // [1, S, hidden]
  }
  const int64_t capacity = pipeline::cache_capacity(model, prompt_layout.length, options.max_new_tokens);
  llm::KVCache cache = pipeline::new_cache(model, batch, capacity, prefix);
  std::vector<Answer> answers = pipeline::generate_answers(model, cache, prompt_layout, torch::cat(rows, 0), options, 1,
                                                           /*per_row_first_region=*/true, /*cache_final_token=*/false);
  for (size_t r = 0; r < answers.size(); ++r) {
    answers[r].timings.prefill_ms += prefix_ms;
    answers[r].timings.prompt_tokens += prefix_length;
    answers[r].regions_ms = tokens.ms;
    if (!notes[r].empty()) answers[r].notes = {notes[r]};
  }
  return answers;
}

ChatSession Model::chat(const EncodedImage& image, const std::vector<Region>& regions) const {
  return pipeline::start_chat(impl_, image, regions);
}

ModelFamily Model::family() const { return impl_->family; }

Osprey Model::osprey() const {
  if (impl_->gpt4roi) throw ArgumentError("Model::osprey(): this is a GPT4RoI model; its parts are Model::gpt4roi()");
  return impl_->osprey;
}
const gpt4roi::Model& Model::gpt4roi() const {
  if (!impl_->gpt4roi) throw ArgumentError("Model::gpt4roi(): this is an Osprey model; its parts are Model::osprey()");
  return *impl_->gpt4roi;
}
const OspreyConfig& Model::config() const {
  if (impl_->gpt4roi) {
    throw ArgumentError("Model::config(): this is a GPT4RoI model; see decoder_config() and gpt4roi().config()");
  }
  return impl_->config();
}
const LlamaConfig& Model::decoder_config() const { return impl_->text_config(); }
const text::Tokenizer& Model::tokenizer() const { return impl_->tokenizer; }
torch::Device Model::device() const { return impl_->device(); }
torch::ScalarType Model::dtype() const { return impl_->dtype(); }
const std::string& Model::image_prefix() const { return impl_->conversation.image_prefix; }
const std::string& Model::conversation_template() const { return impl_->conversation.name; }
const std::vector<std::string>& Model::unused_keys() const { return impl_->unused_keys; }

}  // namespace regionlm
