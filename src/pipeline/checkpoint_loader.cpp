#include "pipeline/checkpoint_loader.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "pipeline/device_options.hpp"
#include "pipeline/gpt4roi_family.hpp"
#include "regionlm/error.hpp"
#include "shape_text.hpp"
#include "regionlm/io/module_loader.hpp"
#include "regionlm/io/weights.hpp"
#include "regionlm/layers/linear.hpp"
#include "regionlm/llm/loaded_linear.hpp"

namespace regionlm::pipeline {

namespace fs = std::filesystem;

namespace {

/// One module and where its weights come from.
struct ModuleSource {
  torch::nn::Module* module;
  const Weights* weights;
  std::string prefix;
  std::string stage;      // progress label
  bool int8 = false;      // its Linear layers are quantized as they load (LoadOptions::quantize)
  bool pack = false;      // its Linear layers are packed for the CPU as they load (LoadOptions::pack_cpu_weights)
};

/// A piece of a module loaded in one load_module call; small enough that a 14 GB decoder
/// reports progress often.
struct LoadUnit {
  torch::nn::Module* module;
  std::string prefix;
  const ModuleSource* source;
  double bytes;
};

std::vector<std::pair<std::string, torch::Tensor>> tensors_of(torch::nn::Module& module, bool recurse) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : module.named_parameters(recurse)) out.emplace_back(p.key(), p.value());
  for (auto& b : module.named_buffers(recurse)) out.emplace_back(b.key(), b.value());
  return out;
}

/// Every expected key of every module present with its shape, checked from the headers
/// before any tensor data is read: one WeightError lists all problems.
void check_keys(const std::vector<ModuleSource>& sources, const fs::path& dir) {
  std::vector<std::string> missing, mismatched;
  for (const ModuleSource& source : sources) {
    for (const auto& [name, tensor] : tensors_of(*source.module, true)) {
      const std::string key = source.prefix + name;
      if (!source.weights->contains(key)) {
        missing.push_back(key + "  (" + source.stage + ", in " + source.weights->origin().string() + ")");
        continue;
      }
      const std::vector<int64_t> stored = source.weights->shape(key);
      if (c10::IntArrayRef(stored) != tensor.sizes()) {
        mismatched.push_back(key + ": expected " + shape_text(tensor.sizes()) + ", found " + shape_text(stored));
      }
    }
  }
  if (missing.empty() && mismatched.empty()) return;
  std::string message = "cannot load model " + dir.string() + ":";
  if (!missing.empty()) {
    message += "\n" + std::to_string(missing.size()) + " missing weight(s):";
    for (const auto& m : missing) message += "\n  " + m;
  }
  if (!mismatched.empty()) {
    message += "\n" + std::to_string(mismatched.size()) + " weight(s) with the wrong shape:";
    for (const auto& m : mismatched) message += "\n  " + m;
  }
  throw WeightError(message);
}

void collect_units(torch::nn::Module& module, const std::string& prefix, const ModuleSource& source,
                   std::vector<LoadUnit>& out) {
  const auto direct = tensors_of(module, false);
  const auto children = module.named_children();
  if (!direct.empty() || children.is_empty()) {
    double bytes = 0;
    for (const auto& [name, tensor] : tensors_of(module, true)) {
      bytes += static_cast<double>(tensor.numel()) * static_cast<double>(tensor.element_size());
    }
    out.push_back({&module, prefix, &source, bytes});
    return;
  }
  for (auto& child : children) collect_units(*child.value(), prefix + child.key() + ".", source, out);
}

bool is_rotary_buffer(const std::string& key) { return key.ends_with("rotary_emb.inv_freq"); }

/// The open_clip file named by mm_vision_tower: relative to the model directory; a directory
/// (e.g. the downloaded CLIP repository) is searched for open_clip's file names.
fs::path vision_tower_file(const fs::path& dir, const std::string& configured) {
  fs::path path(configured);
  if (path.is_relative()) path = dir / path;
  if (fs::is_directory(path)) {
    for (const char* name : {"open_clip_model.safetensors", "open_clip_pytorch_model.bin"}) {
      if (fs::exists(path / name)) return path / name;
    }
  }
  return path;
}

/// The conversation template and image prefix: LoadOptions, else config.json, else the
/// template's own. Checked here, once, whichever source they came from.
text::ConversationTemplate resolve_conversation(const OspreyConfig& config, const LoadOptions& options) {
  std::string name = !options.conversation_template.empty() ? options.conversation_template
                                                             : config.conversation_template;
  if (name.empty()) name = prompts::kConversationTemplate;
  text::ConversationTemplate conversation = text::conversation_template(name);
  const std::string& prefix = !options.image_prefix.empty() ? options.image_prefix : config.image_prefix;
  if (!prefix.empty()) conversation.image_prefix = prefix;
  const std::string& chosen = conversation.image_prefix;
  const size_t marker = chosen.find(text::kImageMarker);
  if (marker == std::string::npos || chosen.find(text::kImageMarker, marker + 1) != std::string::npos) {
    throw ConfigError("image prefix \"" + chosen + "\" must contain \"<image>\" exactly once");
  }
  return conversation;
}

}  // namespace

namespace {
std::shared_ptr<ModelImpl> load_family(const fs::path& dir, const LoadOptions& options);
}  // namespace

std::shared_ptr<ModelImpl> load_model(const fs::path& dir, const LoadOptions& options) {
  if (options.batch_rows < 0) {
    throw ArgumentError("LoadOptions::batch_rows must be >= 0, got " + std::to_string(options.batch_rows));
  }
  std::shared_ptr<ModelImpl> impl = load_family(dir, options);
  impl->reuse_image_prefix = options.reuse_image_prefix;
  if (options.batch_rows > 1) {
    llm::BatcherOptions batching;
    batching.max_rows = options.batch_rows;
    impl->batcher = std::make_shared<const llm::Batcher>(impl->decoder(), batching);
  }
  return impl;
}

namespace {

std::shared_ptr<ModelImpl> load_family(const fs::path& dir, const LoadOptions& options) {
  const auto progress = [&](double fraction, const std::string& stage) {
    if (options.on_progress) options.on_progress(fraction, stage);
  };
  if (!fs::is_directory(dir)) {
    throw IoError("model directory " + dir.string() + (fs::exists(dir) ? " is not a directory" : " does not exist"));
  }
  progress(0.0, "config");
  fs::path config_file;
  const std::string config_text = read_config_json(dir, config_file);  // read once, for either family
  if (parse_model_family(config_text, config_file.string()) == ModelFamily::Gpt4roi) {
    return gpt4roi_family::load(dir, config_text, config_file, options);
  }
  const OspreyConfig config = parse_osprey_config(config_text, config_file.string());
  text::Tokenizer tokenizer = text::Tokenizer::load(dir);
  tokenizer.mask_id();  // ConfigError now rather than at the first question
  tokenizer.pos_id();
  if (tokenizer.vocab_size() > config.text.vocab_size) {
    throw ConfigError((dir / "tokenizer.model").string() + " has " + std::to_string(tokenizer.vocab_size()) +
                      " pieces but config.json vocab_size is " + std::to_string(config.text.vocab_size));
  }
  text::ConversationTemplate conversation = resolve_conversation(config, options);
  if (!options.quantize.empty() && options.quantize != "int8") {
    throw ConfigError("LoadOptions::quantize: expected \"\" (none) or \"int8\", got \"" + options.quantize + "\"");
  }
  const torch::Device device = resolve_device(options.device);
  const torch::TensorOptions tensor_options =
      torch::TensorOptions().device(device).dtype(resolve_dtype(options.dtype, device));
  auto impl = std::make_shared<ModelImpl>(Osprey(config, tensor_options), std::move(tokenizer), std::move(conversation));
  impl->unmentioned = options.strict_regions ? text::UnmentionedRegions::Reject : text::UnmentionedRegions::Introduce;

  progress(0.01, "opening weights");
  const Weights weights = load_weights(dir);
  Weights clip_weights;
  std::vector<ModuleSource> sources;
  for (const OspreyImpl::Part& part : impl->osprey->parts()) {
    // Weight-only int8 where the bytes are: the decoder's projections and lm_head, and the
    // projector. The vision trunk and the mask extractor stay in floating point.
    const bool decoder_side = part.module == impl->osprey->llama.ptr().get() ||
                              part.module == impl->osprey->projector.ptr().get();
    sources.push_back({part.module, &weights, part.prefix, part.name, decoder_side && options.quantize == "int8",
                       decoder_side && options.pack_cpu_weights});
  }
  // The trunk comes from Osprey's own shards when they carry it, else from the open_clip
  // file that config.json's mm_vision_tower (or LoadOptions::vision_tower) names.
  ModuleSource& trunk = *std::find_if(sources.begin(), sources.end(),
                                      [&](const ModuleSource& s) { return s.module == impl->osprey->trunk.ptr().get(); });
  if (weights.names_with_prefix(osprey_keys::kTrunk).empty()) {
    const std::string configured = !options.vision_tower.empty() ? options.vision_tower.string() : config.mm_vision_tower;
    if (configured.empty()) {
      throw WeightError("cannot load model " + dir.string() + ": the checkpoint has no vision weights ('" +
                        osprey_keys::kTrunk + "*') and config.json names no mm_vision_tower file");
    }
    const fs::path file = vision_tower_file(dir, configured);
    if (!fs::exists(file)) {
      throw IoError("cannot load model " + dir.string() + ": the checkpoint has no vision weights ('" +
                    std::string(osprey_keys::kTrunk) + "*') and the vision tower file " + file.string() +
                    " (mm_vision_tower) does not exist");
    }
    clip_weights = load_weights(file);
    trunk.weights = &clip_weights;
    trunk.prefix = osprey_keys::kClipTrunk;
  }
  check_keys(sources, dir);

  std::vector<LoadUnit> units;
  for (const ModuleSource& source : sources) collect_units(*source.module, source.prefix, source, units);
  double total = 0;
  for (const LoadUnit& unit : units) total += unit.bytes;
  double done = 0;
  std::vector<std::string> consumed;
  for (const LoadUnit& unit : units) {
    const LoadReport report = load_module(*unit.module, *unit.source->weights, unit.prefix);
    // Quantized or packed as soon as it is loaded, so that loading never holds the whole float model.
    if (auto* linear = dynamic_cast<layers::LinearImpl*>(unit.module)) {
      llm::finish_loaded_linear(*linear, *unit.source->weights, unit.prefix + "weight", unit.source->int8,
                                unit.source->pack);
    }
    if (unit.source->weights == &weights) consumed.insert(consumed.end(), report.loaded.begin(), report.loaded.end());
    done += unit.bytes;
    progress(0.02 + 0.98 * (total > 0 ? done / total : 1.0), unit.source->stage);
  }

  for (std::string& key : unexpected_keys(weights, consumed)) {
    if (!is_rotary_buffer(key)) impl->unused_keys.push_back(std::move(key));
  }
  if (!options.allow_unexpected_keys && !impl->unused_keys.empty()) {
    std::string message = "model " + dir.string() + ": " + std::to_string(impl->unused_keys.size()) +
                          " checkpoint key(s) used by no module (LoadOptions::allow_unexpected_keys is false):";
    for (const auto& key : impl->unused_keys) message += "\n  " + key;
    throw WeightError(message);
  }
  progress(1.0, "ready");
  return impl;
}

}  // namespace

}  // namespace regionlm::pipeline
