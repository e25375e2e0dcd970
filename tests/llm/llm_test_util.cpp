#include "llm_test_util.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "test_util.hpp"

namespace fs = std::filesystem;

namespace regionlm::test {

LlamaConfig small_llama_config() {
  LlamaConfig config;
  config.vocab_size = 64;
  config.hidden_size = 32;
  config.intermediate_size = 48;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.max_position_embeddings = 64;
  config.rms_norm_eps = 1e-5;
  return config;
}

llm::Llama random_llama(const LlamaConfig& config, uint64_t seed, torch::ScalarType dtype,
                        double std) {
  llm::Llama model(config, torch::TensorOptions().dtype(dtype));
  torch::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& item : model->named_parameters()) {
    auto values = at::normal(0.0, std, item.value().sizes(), generator);  // float32
    if (item.key().find("norm") != std::string::npos) values = 1.0 + values;
    item.value().copy_(values);
  }
  return model;
}

llm::Llama successor_llama(int64_t vocab) {
  LlamaConfig config;
  config.vocab_size = vocab;
  config.hidden_size = vocab;
  config.intermediate_size = 4;
  config.num_hidden_layers = 1;
  config.num_attention_heads = 1;
  config.num_key_value_heads = 1;
  config.max_position_embeddings = 128;
  llm::Llama model(config, torch::TensorOptions().dtype(torch::kFloat));
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) item.value().zero_();
  model->model->embed_tokens->weight.copy_(torch::eye(vocab));
  model->model->norm->weight.fill_(1.0);
  // Row j of lm_head picks hidden unit j - 1: token i scores highest on i + 1.
  model->lm_head->weight.copy_(torch::roll(torch::eye(vocab), 1, 0) * 10.0);
  return model;
}

namespace {

/// Whole text of `ids` over `pieces`, without `eos`, cut before an incomplete UTF-8 tail.
std::string decode_pieces(const std::vector<std::string>& pieces, int64_t eos, const std::vector<int64_t>& ids) {
  std::string text;
  for (const int64_t id : ids) {
    if (id != eos) text += pieces.at(static_cast<size_t>(id));
  }
  // Drop an incomplete trailing UTF-8 sequence: find the last lead byte and check that all
  // its continuation bytes are present.
  size_t lead = text.size();
  while (lead > 0 && (static_cast<unsigned char>(text[lead - 1]) & 0xC0) == 0x80) --lead;
  if (lead == 0) return text;
  const auto byte = static_cast<unsigned char>(text[lead - 1]);
  const size_t expected = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
  if (text.size() - (lead - 1) < expected) text.resize(lead - 1);
  return text;
}

}  // namespace

llm::DecodeSetup piece_setup(std::vector<std::string> pieces, int64_t eos) {
  llm::DecodeSetup setup;
  setup.make_decoder = [pieces = std::move(pieces), eos]() -> llm::TokenDecoder {
    // Per row: every id so far and how much of their text was returned.
    auto ids = std::make_shared<std::vector<int64_t>>();
    auto returned = std::make_shared<size_t>(0);
    return [pieces, eos, ids, returned](int64_t id) {
      ids->push_back(id);
      const std::string text = decode_pieces(pieces, eos, *ids);
      std::string fresh = text.size() > *returned ? text.substr(*returned) : std::string();
      *returned = std::max(*returned, text.size());
      return fresh;
    };
  };
  setup.eos_token_id = eos;
  setup.cache_final_token = true;
  return setup;
}

llm::DecodeSetup silent_setup(int64_t eos) {
  llm::DecodeSetup setup;
  setup.make_decoder = [] { return llm::TokenDecoder([](int64_t) { return std::string(); }); };
  setup.eos_token_id = eos;
  setup.cache_final_token = true;
  return setup;
}

llm::GenerationResult generate_one(const llm::Llama& model, llm::KVCache& cache, const torch::Tensor& prompt_embeds,
                                   const GenerationOptions& options, const llm::DecodeSetup& setup) {
  if (cache.batch() != 1) throw std::logic_error("generate_one needs a batch-1 cache");
  return llm::generate(model, cache, prompt_embeds, options, setup).front();
}

fs::path llama_reference_dir() {
  const fs::path script = source_dir() / "tests/llm/llama_reference.py";
  std::ifstream in(script, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  const size_t version = std::hash<std::string>{}(content.str() + python());
  const fs::path probe = scratch_dir("llama-reference-probe");
  const fs::path root = probe.parent_path();
  fs::remove_all(probe);
  const fs::path final_dir = root / ("llama-reference-" + std::to_string(version));
  if (fs::exists(final_dir / "done")) return final_dir;
  // Generate into a private directory and rename it into place: concurrent test processes
  // never see a half-written directory, and the loser of a race keeps the winner's.
  const fs::path work = scratch_dir("llama-reference-work");
  run_python(script.string(), {work.string()});
  std::ofstream(work / "done") << "ok\n";
  std::error_code error;
  fs::rename(work, final_dir, error);
  if (error) {
    fs::remove_all(work);
    if (!fs::exists(final_dir / "done")) {
      throw std::runtime_error("cannot place references at " + final_dir.string() + ": " +
                               error.message());
    }
  }
  return final_dir;
}

}  // namespace regionlm::test
