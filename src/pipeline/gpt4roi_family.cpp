#include "pipeline/gpt4roi_family.hpp"

#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "pipeline/device_options.hpp"
#include "pipeline/inference.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/box.hpp"
#include "regionlm/gpt4roi/prompt.hpp"
#include "regionlm/llm/generation.hpp"

namespace regionlm::pipeline::gpt4roi_family {

namespace fs = std::filesystem;

namespace {

const gpt4roi::Model& parts(const ModelImpl& model) { return *model.gpt4roi; }

/// The boxes of `regions` on `image` and their features; notes[r] says how region r became a
/// box ("" for a box region).
struct EncodedBoxes {
  torch::Tensor features;          // [Q, hidden], decoder dtype
  std::vector<std::string> notes;  // one per region
  double ms = 0;
};

EncodedBoxes encode_boxes(const ModelImpl& model, const EncodedImage::Data& image, const std::vector<Region>& regions) {
  const auto start = std::chrono::steady_clock::now();
  gpt4roi::RegionBoxes boxed = gpt4roi::boxes_of(regions, image.width, image.height);
  const gpt4roi::EncodedImage view{image.image_tokens, image.features, image.width, image.height};
  EncodedBoxes out;
  out.features = parts(model).region_features(view, boxed.boxes);  // [Q, hidden]; checks every box
  out.notes = std::move(boxed.notes);
  wait_for_device(model.device());
  out.ms = elapsed_ms(start);
  return out;
}

std::vector<std::string> nonempty(const std::vector<std::string>& notes) {
  std::vector<std::string> out;
  for (const std::string& note : notes) {
    if (!note.empty()) out.push_back(note);
  }
  return out;
}

/// GPT4RoI's layout as chunks; the ids of all chunks in order are its input_ids.
text::PromptLayout to_chunks(const gpt4roi::PromptLayout& g) {
  text::PromptLayout out;
  const auto text = [&](int64_t from, int64_t to) {
    if (to <= from) return;
    text::Chunk chunk;
    chunk.ids.assign(g.ids.begin() + from, g.ids.begin() + to);
    chunk.length = to - from;
    out.chunks.push_back(std::move(chunk));
  };
  text(0, g.image_begin);  // ... <im_start>
  text::Chunk image;
  image.kind = text::Chunk::Kind::Image;
  image.ids.assign(g.ids.begin() + g.image_begin, g.ids.begin() + g.image_begin + g.image_tokens);  // <im_patch> x N
  image.length = g.image_tokens;
  out.chunks.push_back(std::move(image));
  int64_t at = g.image_begin + g.image_tokens;  // <im_end> ...
  for (size_t k = 0; k < g.bbox_positions.size(); ++k) {
    const int64_t position = g.bbox_positions[k];
    text(at, position);
    text::Chunk region;
    region.kind = text::Chunk::Kind::Region;
    region.ids = {g.ids[static_cast<size_t>(position)]};  // <bbox>
    region.region_index = g.bbox_regions[k];
    region.length = 1;
    out.chunks.push_back(std::move(region));
    at = position + 1;
  }
  text(at, g.length());
  out.length = g.length();
  return out;
}

}  // namespace

std::shared_ptr<ModelImpl> load(const fs::path& dir, const std::string& config_text, const fs::path& config_file,
                                const LoadOptions& options) {
  if (!options.conversation_template.empty() && options.conversation_template != kTemplateName) {
    throw ConfigError("LoadOptions::conversation_template \"" + options.conversation_template + "\": " +
                      config_file.string() + " is a GPT4RoI model, whose template is \"" + kTemplateName + "\"");
  }
  if (!options.quantize.empty() && options.quantize != "int8") {
    throw ConfigError("LoadOptions::quantize: expected \"\" (none) or \"int8\", got \"" + options.quantize + "\"");
  }
  gpt4roi::LoadOptions load;
  load.quantize_int8 = options.quantize == "int8";
  load.pack_cpu_weights = options.pack_cpu_weights;
  load.device = resolve_device(options.device);
  load.dtype = resolve_dtype(options.dtype, load.device);
  load.vision_tower = options.vision_tower;
  if (!options.image_prefix.empty()) load.first_turn_prefix = options.image_prefix;
  load.on_progress = options.on_progress;
  gpt4roi::Model loaded = gpt4roi::Model::load(dir, gpt4roi::parse_gpt4roi_config(config_text, config_file.string()), load);
  if (!options.allow_unexpected_keys && !loaded.unused_keys().empty()) {
    std::string message = "model " + dir.string() + ": " + std::to_string(loaded.unused_keys().size()) +
                          " checkpoint key(s) used by no module (LoadOptions::allow_unexpected_keys is false):";
    for (const auto& key : loaded.unused_keys()) message += "\n  " + key;
    throw WeightError(message);
  }
  text::ConversationTemplate conversation;
  conversation.name = kTemplateName;
  conversation.system = gpt4roi::kSystem;
  conversation.user_role = "Human";
  conversation.assistant_role = "Assistant";
  conversation.separator = "\n";
  conversation.turn_end = "\n";
  conversation.image_prefix = load.first_turn_prefix;
  auto impl = std::make_shared<ModelImpl>(loaded, std::move(conversation));
  impl->unused_keys = loaded.unused_keys();
  impl->reuse_image_prefix = false;  // describe prefills the whole prompt (docs/gpt4roi.md)
  return impl;
}

EncodedImage encode(const std::shared_ptr<const ModelImpl>& model, const cv::Mat& rgb8) {
  const auto start = std::chrono::steady_clock::now();
  gpt4roi::EncodedImage encoded = parts(*model).encode(rgb8);
  auto data = std::make_shared<EncodedImage::Data>();
  data->owner = model;
  data->height = rgb8.rows;
  data->width = rgb8.cols;
  data->features = std::move(encoded.region_levels);  // fused pyramid, [1, C, side, side] float32 each
  data->image_tokens = std::move(encoded.image_tokens);  // [N, hidden]
  wait_for_device(model->device());
  data->encode_ms = elapsed_ms(start);
  return Access::make_image(std::move(data));
}

RegionTokens encode_regions(const ModelImpl& model, const EncodedImage::Data& image,
                            const std::vector<Region>& regions) {
  EncodedBoxes boxes = encode_boxes(model, image, regions);
  RegionTokens out;
  out.mask_tokens = std::move(boxes.features);  // [Q, hidden]; pos_tokens stays undefined
  out.ms = boxes.ms;
  out.notes = nonempty(boxes.notes);
  return out;
}

text::PromptLayout layout(const ModelImpl& model, const std::string& prompt, int64_t num_regions,
                          const std::vector<text::Turn>& history, bool require_all_regions) {
  return to_chunks(parts(model).layout(history, prompt, num_regions, require_all_regions));
}

torch::Tensor embed(const ModelImpl& model, const text::PromptLayout& layout, const EncodedImage::Data& image,
                    const RegionTokens& regions) {
  if (regions.size() > 0 && regions.tokens_per_region() != 1) {
    throw ShapeError("Model::embed: GPT4RoI takes one token per region (RegionTokens from this model's "
                     "encode_regions), got mask and position tokens");
  }
  const auto& table = parts(model).decoder()->model->embed_tokens;
  return text::assemble_embeddings(
      layout, [&](const torch::Tensor& ids) { return table->forward(ids); },  // [T] -> [T, hidden]
      image.image_tokens, regions.mask_tokens, regions.pos_tokens);          // [1, L, hidden]
}

std::vector<Answer> generate(const ModelImpl& model, llm::KVCache& cache, const text::PromptLayout& layout,
                             const torch::Tensor& embeds, const GenerationOptions& options, int64_t num_regions,
                             bool per_row_first_region, bool cache_final_token) {
  GenerationOptions run = options;
  if (std::find(run.stop_strings.begin(), run.stop_strings.end(), gpt4roi::kStopString) == run.stop_strings.end()) {
    run.stop_strings.push_back(gpt4roi::kStopString);
  }
  // The caller sees the answer as it will read it: cleaned while streaming, row by row.
  if (options.on_step) {
    auto streams = std::make_shared<std::vector<gpt4roi::AnswerStream>>(static_cast<size_t>(embeds.size(0)));
    run.on_step = [streams, user = options.on_step](const Step& step) {
      Step cleaned = step;
      cleaned.piece = streams->at(static_cast<size_t>(step.row)).push(step.piece, step.finished);
      return user(cleaned);
    };
  }
  llm::DecodeSetup setup;
  const text::Tokenizer tokenizer = model.tokenizer;  // shares the loaded model
  setup.make_decoder = [tokenizer]() -> llm::TokenDecoder {
    auto decoder = std::make_shared<text::StreamingDecoder>(tokenizer, /*skip_special=*/true);
    return [decoder](int64_t id) { return decoder->push(id); };
  };
  setup.eos_token_id = model.text_config().eos_token_id;
  if (options.repetition_penalty != 1.f) {
    // transformers counts GPT4RoI's input_ids: every chunk's ids, <im_patch> and <bbox> included.
    for (const text::Chunk& chunk : layout.chunks) {
      setup.penalty_context.insert(setup.penalty_context.end(), chunk.ids.begin(), chunk.ids.end());
    }
  }
  setup.cache_final_token = cache_final_token;
  std::vector<Answer> answers;
  int64_t row = 0;
  for (auto& result : run_generation(model, cache, embeds, run, setup)) {
    result.text = gpt4roi::clean_answer(result.text);
    answers.push_back(make_answer(std::move(result), 0.0, 0.0, num_regions, per_row_first_region ? row : 0));
    ++row;
  }
  return answers;
}

Answer describe(const ModelImpl& model, const EncodedImage& image, const std::vector<Region>& regions,
                const std::string& prompt, const GenerationOptions& options) {
  c10::InferenceMode inference;
  const auto count = static_cast<int64_t>(regions.size());
  // Cheap checks first: placeholders and context length, then the boxes.
  const text::PromptLayout prompt_layout = layout(model, prompt, count, {}, /*require_all_regions=*/true);
  const EncodedImage::Data& data = Access::data(image, model);
  const RegionTokens tokens = gpt4roi_family::encode_regions(model, data, regions);
  const torch::Tensor embeds = embed(model, prompt_layout, data, tokens);  // [1, L, hidden]
  llm::KVCache cache(model.text_config(), 1, cache_capacity(model, prompt_layout.length, options.max_new_tokens),
                     model.options());
  Answer answer = std::move(generate(model, cache, prompt_layout, embeds, options, count, false, false).front());
  answer.regions_ms = tokens.ms;
  answer.notes = tokens.notes;
  return answer;
}

std::vector<Answer> describe_each(const ModelImpl& model, const EncodedImage& image, const std::vector<Region>& regions,
                                  const std::string& prompt, const GenerationOptions& options) {
  c10::InferenceMode inference;
  if (regions.empty()) throw ArgumentError("describe_each: no regions given");
  const text::PromptLayout prompt_layout = layout(model, prompt, 1, {}, /*require_all_regions=*/true);
  const EncodedImage::Data& data = Access::data(image, model);
  const EncodedBoxes boxes = encode_boxes(model, data, regions);
  const int64_t batch = boxes.features.size(0);

  // As Osprey's describe_each: everything before the <bbox> (system text, image block, the
  // question's start) is the same for every box, prefilled once into a shared prefix; each row
  // holds only its own suffix.
  size_t before_region = 0;
  while (before_region < prompt_layout.chunks.size() &&
         prompt_layout.chunks[before_region].kind != text::Chunk::Kind::Region) {
    ++before_region;
  }
  const auto [prefix_layout, suffix_layout] = split_layout(prompt_layout, before_region);
  const auto prefix_start = std::chrono::steady_clock::now();
  auto prefix = std::make_shared<llm::KVCache>(model.text_config(), 1, prefix_layout.length, model.options());
  parts(model).decoder()->forward(embed(model, prefix_layout, data, {}), *prefix, /*last_only=*/true);
  wait_for_device(model.device());
  const double prefix_ms = elapsed_ms(prefix_start);

  std::vector<torch::Tensor> rows;
  for (int64_t r = 0; r < batch; ++r) {
    RegionTokens one;
    one.mask_tokens = boxes.features.narrow(0, r, 1);          // [1, hidden]
    rows.push_back(embed(model, suffix_layout, data, one));  // [1, S, hidden]
  }
  llm::KVCache cache(model.text_config(), batch, cache_capacity(model, prompt_layout.length, options.max_new_tokens),
                     model.options(), prefix);
  std::vector<Answer> answers =
      generate(model, cache, prompt_layout, torch::cat(rows, 0), options, 1, /*per_row_first_region=*/true, false);
  for (size_t r = 0; r < answers.size(); ++r) {
    answers[r].timings.prefill_ms += prefix_ms;
    answers[r].timings.prompt_tokens += prefix_layout.length;
    answers[r].regions_ms = boxes.ms;
    if (!boxes.notes[r].empty()) answers[r].notes = {boxes.notes[r]};
  }
  return answers;
}

ChatSession start_chat(const std::shared_ptr<const ModelImpl>& model, const EncodedImage& image,
                       const std::vector<Region>& regions) {
  c10::InferenceMode inference;
  auto state = std::make_unique<ChatState>(Access::make_model(model));
  state->image = image;
  state->regions = gpt4roi_family::encode_regions(*model, Access::data(image, *model), regions);
  return Access::make_chat(std::move(state));
}

Answer ask(ChatState& state, const std::string& question, const GenerationOptions& options) {
  c10::InferenceMode inference;
  const ModelImpl& model = *Access::impl(state.model);
  const EncodedImage::Data& data = Access::data(state.image, model);
  const int64_t count = state.regions.size();
  // GPT4RoI lays out the whole conversation again each turn (a box may be first named in any
  // turn); the cache keeps the longest prefix whose positions hold the same, so normally only
  // the new turn is prefilled.
  const text::PromptLayout prompt_layout = layout(model, question, count, state.history, /*require_all_regions=*/false);
  const std::vector<int64_t> signature = layout_signature(prompt_layout);
  const auto mismatch = std::mismatch(signature.begin(), signature.end(), state.cached.begin(), state.cached.end());
  // At least one position is fed: its logits choose the first answer token.
  const int64_t reused = std::min<int64_t>(mismatch.first - signature.begin(), prompt_layout.length - 1);

  ensure_capacity(state, cache_capacity(model, prompt_layout.length, options.max_new_tokens), reused);
  state.cache->truncate(reused);
  state.cached.resize(static_cast<size_t>(reused));

  const torch::Tensor embeds = embed(model, prompt_layout, data, state.regions)      // [1, L, hidden]
                                   .narrow(1, reused, prompt_layout.length - reused);  // [1, L - reused, hidden]
  // The next turn continues after the whole answer: the final token goes into the cache too.
  Answer answer = std::move(generate(model, *state.cache, prompt_layout, embeds, options, count, false,
                                     /*cache_final_token=*/true)
                                .front());
  state.cached.insert(state.cached.end(), signature.begin() + reused, signature.end());
  const int64_t fed = state.cache->length() - static_cast<int64_t>(state.cached.size());
  state.cached.insert(state.cached.end(), answer.tokens.begin(), answer.tokens.begin() + fed);
  state.history.push_back({question, answer.text});  // GPT4RoI's demo puts the cleaned answer back
  answer.notes = state.regions.notes;
  return answer;
}

}  // namespace regionlm::pipeline::gpt4roi_family
