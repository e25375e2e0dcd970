#pragma once
// Typed model configuration parsed from a Hugging Face `config.json`. Absent keys take the
// defaults transformers 4.31 applies (LlamaConfig) and, for Osprey's vision/extractor parts
// that the published config does not spell out, Osprey's hard-coded values. A small model
// (models/tiny-shapes) overrides those through the optional `vision_config` and
// `mask_extractor_config` objects.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace regionlm {

/// RoPE frequency scaling (`rope_scaling` in config.json).
struct RopeScaling {
  std::string type;     // "linear" (positions divided by factor) or "dynamic" (NTK)
  double factor = 1.0;  // scaling factor, > 1
};

/// LLaMA decoder hyper-parameters (transformers LlamaConfig names and defaults).
struct LlamaConfig {
  int64_t vocab_size = 32000;               // rows of embed_tokens / lm_head
  int64_t hidden_size = 4096;               // model width
  int64_t intermediate_size = 11008;        // gated-MLP width
  int64_t num_hidden_layers = 32;           // decoder layers
  int64_t num_attention_heads = 32;         // query heads
  int64_t num_key_value_heads = 32;         // key/value heads (GQA when < heads); default = heads
  int64_t max_position_embeddings = 2048;   // longest sequence (positions)
  double rms_norm_eps = 1e-6;               // RMSNorm epsilon
  double rope_theta = 10000.0;              // RoPE base
  std::optional<RopeScaling> rope_scaling;  // absent = no scaling
  bool tie_word_embeddings = false;         // lm_head shares embed_tokens' weight
  std::string hidden_act = "silu";          // only "silu" is supported
  int64_t bos_token_id = 1;                 // beginning of sequence
  int64_t eos_token_id = 2;                 // end of sequence
  int64_t pad_token_id = 0;                 // padding (LLaMA has none; Osprey uses 0)

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

/// ConvNeXt trunk hyper-parameters (open_clip convnext_large_d_320 by default).
struct VisionConfig {
  std::vector<int64_t> depths{3, 3, 27, 3};      // blocks per stage
  std::vector<int64_t> dims{192, 384, 768, 1536};  // channels per stage
  double layer_norm_eps = 1e-6;                  // LayerNorm epsilon
  int64_t image_size = 512;                      // short side resize and square stretch, px
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};   // CLIP RGB mean
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};    // CLIP RGB std
  int64_t token_level = 2;  // which stage output feeds the projector (2 = res4)
};

/// Mask-aware extractor hyper-parameters (level channels = VisionConfig::dims).
struct ExtractorConfig {
  int64_t embed_dim = 1024;  // width after each per-level Linear
  int64_t mask_shape = 112;  // side of the soft mask fed to the position MLP
};

/// Everything `Model::load` needs besides weights and tokenizer.
struct OspreyConfig {
  LlamaConfig text;
  VisionConfig vision;
  ExtractorConfig extractor;
  std::string mm_projector_type = "mlp2x_gelu";  // "linear" or "mlp<N>x_gelu" (Osprey: mlp2x_gelu)
  int64_t mm_hidden_size = 768;                  // projector input width (= dims[token_level])
  std::string mm_vision_tower;  // path of the CLIP file (may be relative to the model dir)
  std::string model_type = "osprey";
  std::string torch_dtype;  // as stored ("bfloat16", ...), informational
  std::string conversation_template;  // regionlm's own key; "" = prompts::kConversationTemplate
  std::string image_prefix;  // regionlm's own key; "" = the template's (must hold "<image>" once)
};

/// The model families Model::load serves, told apart by config.json's `architectures`.
enum class ModelFamily {
  Osprey,   // "OspreyLlamaForCausalLM" (or no `architectures` key): masks, ConvNeXt-CLIP trunk
  Gpt4roi,  // "SPILlavaMPTForCausalLM" (a LLaMA despite the name): boxes, CLIP ViT + RoIAlign
};
/// "osprey" or "gpt4roi".
const char* to_string(ModelFamily family);
/// The `architectures` names of each family, as checkpoints spell them.
inline constexpr const char* kOspreyArchitecture = "OspreyLlamaForCausalLM";
inline constexpr const char* kGpt4roiArchitecture = "SPILlavaMPTForCausalLM";

/// The family config.json text names in `architectures` (a list of strings; absent or null =
/// Osprey, as older Osprey-layout configs omit it). ConfigError naming `source` and
/// 'architectures' for anything else: a list naming no supported architecture, or not a list of
/// strings.
ModelFamily parse_model_family(const std::string& json_text, const std::string& source);
/// Reads config.json (a file, or a directory containing one) and returns parse_model_family.
ModelFamily load_model_family(const std::filesystem::path& file_or_dir);
/// The text of config.json (a file, or a directory containing one); `file` receives the path
/// read. IoError when it cannot be read.
std::string read_config_json(const std::filesystem::path& file_or_dir, std::filesystem::path& file);

/// Linear layers of an `mm_projector_type`: 1 for "linear", N for "mlp<N>x_gelu". The one
/// rule the config parser and vision::Projector both apply; ConfigError for any other type.
int64_t projector_linear_count(const std::string& type);

/// Parses LLaMA fields from JSON text; `source` names the file in error messages.
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source);
/// Parses the whole Osprey config from JSON text and checks it: every field's type and range,
/// the projector type, and mm_hidden_size against the vision stage it reads (ConfigError
/// naming the file and key). The one place config.json is validated.
OspreyConfig parse_osprey_config(const std::string& json_text, const std::string& source);
/// config.json text for `config`: the LLaMA/Osprey fields a published checkpoint has, plus
/// the `vision_config` / `mask_extractor_config` objects and prompt keys regionlm reads (only
/// where they are set). parse_osprey_config(osprey_config_json(c)) == c. Written next to the
/// parser so that config.json's key names live in one file.
std::string osprey_config_json(const OspreyConfig& config);
/// Reads and parses `config.json` (a file, or a directory containing one).
OspreyConfig load_osprey_config(const std::filesystem::path& file_or_dir);
LlamaConfig load_llama_config(const std::filesystem::path& file_or_dir);

}  // namespace regionlm
