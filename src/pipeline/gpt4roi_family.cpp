#include "pipeline/gpt4roi_family.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "pipeline/device_options.hpp"
#include "pipeline/inference.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/box.hpp"
#include "regionlm/gpt4roi/prompt.hpp"

namespace regionlm::pipeline::gpt4roi_family {

namespace fs = std::filesystem;

namespace {

const gpt4roi::Model& parts(const ModelImpl& model) { return *model.gpt4roi; }

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

RegionTokens encode_regions(const ModelImpl& model, const EncodedImage::Data& image, const std::vector<Region>& regions,
                            std::vector<std::string>* notes_by_region) {
  const auto start = std::chrono::steady_clock::now();
  gpt4roi::RegionBoxes boxed = gpt4roi::boxes_of(regions, image.width, image.height);
  const gpt4roi::EncodedImage view{image.image_tokens, image.features, image.width, image.height};
  RegionTokens out;
  out.mask_tokens =
      parts(model).region_features(view, boxed.boxes);  // [Q, hidden]; checks every box; pos_tokens undefined
  for (const std::string& note : boxed.notes) {
    if (!note.empty()) out.notes.push_back(note);
  }
  if (notes_by_region) *notes_by_region = std::move(boxed.notes);
  wait_for_device(model.device());
  out.ms = elapsed_ms(start);
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

GenerationOptions generation_options(const GenerationOptions& options, int64_t rows) {
  GenerationOptions run = options;
  if (std::find(run.stop_strings.begin(), run.stop_strings.end(), gpt4roi::kStopString) == run.stop_strings.end()) {
    run.stop_strings.push_back(gpt4roi::kStopString);
  }
  if (options.on_step) {
    auto streams = std::make_shared<std::vector<gpt4roi::AnswerStream>>(static_cast<size_t>(rows));
    run.on_step = [streams, user = options.on_step](const Step& step) {
      Step cleaned = step;
      cleaned.piece = streams->at(static_cast<size_t>(step.row)).push(step.piece, step.finished);
      return user(cleaned);
    };
  }
  return run;
}

}  // namespace regionlm::pipeline::gpt4roi_family
