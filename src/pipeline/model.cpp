#include "regionlm/model.hpp"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <chrono>
#include <tuple>

#include "pipeline/chat_state.hpp"
#include "pipeline/checkpoint_loader.hpp"
#include "pipeline/gpt4roi_family.hpp"
#include "pipeline/inference.hpp"
#include "regionlm/error.hpp"
#include "regionlm/llm/generation.hpp"
#include "regionlm/vision/image.hpp"

namespace regionlm {

namespace {

namespace gpt4roi_family = pipeline::gpt4roi_family;

}  // namespace

Model::Model(std::shared_ptr<const pipeline::ModelImpl> impl) : impl_(std::move(impl)) {}

llm::BatcherStats Model::batch_stats() const { return impl_->batcher ? impl_->batcher->stats() : llm::BatcherStats{}; }

Model Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
  c10::InferenceMode inference;
  return Model(pipeline::load_model(dir, options));
}

EncodedImage Model::encode(const cv::Mat& image_rgb8) const {
  c10::InferenceMode inference;
  if (impl_->gpt4roi) return gpt4roi_family::encode(impl_, vision::to_rgb8(image_rgb8, vision::ChannelOrder::RGB));
  return pipeline::encode_image(impl_, vision::to_rgb8(image_rgb8, vision::ChannelOrder::RGB));
}

EncodedImage Model::encode(const std::filesystem::path& image) const {
  c10::InferenceMode inference;
  if (impl_->gpt4roi) return gpt4roi_family::encode(impl_, vision::load_image(image));
  return pipeline::encode_image(impl_, vision::load_image(image));
}

int64_t Model::image_token_count() const {
  if (impl_->gpt4roi) return impl_->gpt4roi->image_token_count();
  return impl_->osprey->image_token_count();
}

RegionTokens Model::encode_regions(const EncodedImage& image, const std::vector<Region>& regions) const {
  c10::InferenceMode inference;
  if (impl_->gpt4roi) return gpt4roi_family::encode_regions(*impl_, pipeline::Access::data(image, *impl_), regions);
  return pipeline::encode_regions(*impl_, pipeline::Access::data(image, *impl_), regions);
}

text::PromptLayout Model::layout(const std::string& prompt, int64_t num_regions,
                                 const std::vector<text::Turn>& history) const {
  if (impl_->gpt4roi) return gpt4roi_family::layout(*impl_, prompt, num_regions, history, /*require_all_regions=*/false);
  return text::build_prompt(impl_->tokenizer, impl_->conversation, history, prompt, num_regions,
                            image_token_count(), pipeline::max_prompt_length(*impl_), /*include_image=*/true,
                            impl_->unmentioned);
}

torch::Tensor Model::embed(const text::PromptLayout& layout, const EncodedImage& image,
                           const RegionTokens& regions) const {
  c10::InferenceMode inference;
  if (impl_->gpt4roi) return gpt4roi_family::embed(*impl_, layout, pipeline::Access::data(image, *impl_), regions);
  return impl_->osprey->embed(layout, pipeline::Access::data(image, *impl_).image_tokens, regions);  // [1, L, H]
}

std::vector<Answer> Model::generate(const text::PromptLayout& layout, const torch::Tensor& embeds,
                                    const GenerationOptions& options) const {
  c10::InferenceMode inference;
  const pipeline::ModelImpl& model = *impl_;
  if (embeds.dim() != 3 || embeds.size(1) != layout.length) {
    throw ShapeError("Model::generate: embeds must be [B, layout.length = " + std::to_string(layout.length) +
                     ", hidden], got " + c10::str(embeds.sizes()));
  }
  llm::KVCache cache(model.text_config(), embeds.size(0),
                     pipeline::cache_capacity(model, layout.length, options.max_new_tokens), model.options());
  if (model.gpt4roi) {
    return gpt4roi_family::generate(model, cache, layout, embeds, options, pipeline::regions_named(layout), false, false);
  }
  std::vector<Answer> answers;
  for (auto& result : pipeline::run_generation(model, cache, embeds, options,
                                               pipeline::decode_setup(model, layout, options, false))) {
    answers.push_back(pipeline::make_answer(std::move(result), 0.0, 0.0, pipeline::regions_named(layout)));
  }
  return answers;
}

Answer Model::describe(const EncodedImage& image, const std::vector<Region>& regions, const std::string& prompt,
                       const GenerationOptions& options) const {
  if (impl_->gpt4roi) return gpt4roi_family::describe(*impl_, image, regions, prompt, options);
  // Cheap checks first: placeholders and context length, then regions.
  const text::PromptLayout prompt_layout = layout(prompt, static_cast<int64_t>(regions.size()));
  const RegionTokens tokens = encode_regions(image, regions);
  c10::InferenceMode inference;
  const pipeline::ModelImpl& model = *impl_;
  // The system text and image tokens are the same for every question about this image: their
  // decoder state is computed once per EncodedImage and this question prefills only the rest.
  const auto [head, rest] = pipeline::split_layout(prompt_layout, pipeline::chunks_through_image(prompt_layout));
  double prefix_ms = 0;
  const auto prefix = pipeline::image_prefix(model, pipeline::Access::data(image, model), head, prefix_ms);
  if (!prefix) {
    Answer answer = generate(prompt_layout, embed(prompt_layout, image, tokens), options).front();
    answer.regions_ms = tokens.ms;
    return answer;
  }
  llm::KVCache cache(model.config().text, 1,
                     pipeline::cache_capacity(model, prompt_layout.length, options.max_new_tokens), model.options(),
                     prefix);
  llm::GenerationResult result =
      std::move(pipeline::run_generation(model, cache, embed(rest, image, tokens), options,
                                         pipeline::decode_setup(model, prompt_layout, options, false))
                    .front());
  result.timings.prefill_ms += prefix_ms;
  result.timings.prompt_tokens += head.length;
  return pipeline::make_answer(std::move(result), 0.0, tokens.ms, tokens.size());
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
  if (impl_->gpt4roi) return gpt4roi_family::describe_each(*impl_, image, regions, prompt, options);
  c10::InferenceMode inference;
  const pipeline::ModelImpl& model = *impl_;
  if (regions.empty()) throw ArgumentError("describe_each: no regions given");
  const text::PromptLayout prompt_layout = layout(prompt, 1);
  const RegionTokens tokens = encode_regions(image, regions);
  const int64_t batch = tokens.size();

  // Everything before the region pair is the same for every region: it is prefilled once,
  // stored once and read once per step for all rows (a KVCache continuing a shared prefix);
  // each row stores only its own suffix. With LoadOptions::reuse_image_prefix the image's own
  // prefix (system text + image tokens), shared with every other question about the image,
  // comes first, and only the question text up to the region continues it for this call.
  size_t before_region = 0;
  while (before_region < prompt_layout.chunks.size() &&
         prompt_layout.chunks[before_region].kind != text::Chunk::Kind::Region) {
    ++before_region;
  }
  const size_t through_image = pipeline::chunks_through_image(prompt_layout);
  double prefix_ms = 0;
  std::shared_ptr<const llm::KVCache> prefix;
  if (through_image <= before_region) {
    prefix = pipeline::image_prefix(model, pipeline::Access::data(image, model),
                                    pipeline::split_layout(prompt_layout, through_image).first, prefix_ms);
  }
  const size_t made_here = prefix ? through_image : 0;  // chunks of the prompt not in `prefix` yet
  const auto [shared, suffix_layout] =
      pipeline::split_layout(pipeline::split_layout(prompt_layout, made_here).second, before_region - made_here);
  if (shared.length > 0) {
    const auto start = std::chrono::steady_clock::now();
    const int64_t before = prefix ? prefix->length() : 0;
    auto made = prefix ? std::make_shared<llm::KVCache>(model.config().text, 1, before + shared.length, model.options(), prefix)
                       : std::make_shared<llm::KVCache>(model.config().text, 1, shared.length, model.options());
    model.osprey->llama->forward(embed(shared, image, tokens), *made, /*last_only=*/true);
    prefix = std::move(made);
    pipeline::wait_for_device(model.device());
    prefix_ms += pipeline::elapsed_ms(start);
  }
  const int64_t prefix_length = prefix ? prefix->length() : 0;

  std::vector<torch::Tensor> rows;
  for (int64_t r = 0; r < batch; ++r) {
    const RegionTokens one{tokens.mask_tokens.narrow(0, r, 1), tokens.pos_tokens.narrow(0, r, 1)};
    rows.push_back(embed(suffix_layout, image, one));  // [1, S, hidden]
  }
  const int64_t capacity = pipeline::cache_capacity(model, prompt_layout.length, options.max_new_tokens);
  llm::KVCache cache = prefix ? llm::KVCache(model.config().text, batch, capacity, model.options(), prefix)
                              : llm::KVCache(model.config().text, batch, capacity, model.options());
  std::vector<Answer> answers;
  for (auto& result : llm::generate(model.osprey->llama, cache, torch::cat(rows, 0), options,
                                    pipeline::decode_setup(model, prompt_layout, options, /*cache_final_token=*/false))) {
    result.timings.prefill_ms += prefix_ms;
    result.timings.prompt_tokens += prefix_length;
    const auto row = static_cast<int64_t>(answers.size());  // its region1 is input region `row`
    answers.push_back(pipeline::make_answer(std::move(result), 0.0, tokens.ms, 1, row));
  }
  return answers;
}

ChatSession Model::chat(const EncodedImage& image, const std::vector<Region>& regions) const {
  if (impl_->gpt4roi) return gpt4roi_family::start_chat(impl_, image, regions);
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
