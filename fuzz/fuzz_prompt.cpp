// Prompt text: tokenizer encoding (byte fallback, added tokens), streaming decoding of what it
// produced, region placeholders, whole-conversation layouts for every template, and region
// mentions in answers. The tokenizer is a small SentencePiece model trained at start-up from a
// fixed corpus (nothing is downloaded or shipped).
//
// Input: byte 0 = number of regions (mod 9), byte 1 = template and flags, the rest is text;
// '\x1e' separates conversation turns (user, assistant, user, ..., question).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "fuzz_util.hpp"
#include "regionlm/error.hpp"
#include "regionlm/text/conversation.hpp"
#include "regionlm/text/placeholders.hpp"
#include "regionlm/text/region_mentions.hpp"
#include "regionlm/text/sequence.hpp"
#include "regionlm/text/tokenizer.hpp"

namespace {

using regionlm::text::Tokenizer;

class Corpus : public sentencepiece::SentenceIterator {
 public:
  explicit Corpus(std::vector<std::string> lines) : lines_(std::move(lines)) {}
  bool done() const override { return at_ >= lines_.size(); }
  void Next() override { ++at_; }
  const std::string& value() const override { return lines_[at_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> lines_;
  size_t at_ = 0;
};

const Tokenizer* tokenizer = nullptr;

Tokenizer train() {
  std::vector<std::string> lines;
  const char* words[] = {"A", "chat", "between", "a", "curious", "human", "and", "an", "artificial",
                         "intelligence", "assistant", "USER:", "ASSISTANT:", "What", "is", "region",
                         "the", "red", "circle", "blue", "square", "left", "of", "Ther", "are", "part",
                         "regions", "in", "picture", "<image>", "This", "provides", "overview", "ü", "日本"};
  for (int i = 0; i < 400; ++i) {
    std::string line;
    for (int k = 0; k < 8; ++k) line += std::string(words[(i * 7 + k * 13) % std::size(words)]) + " ";
    lines.push_back(line + std::to_string(i));
  }
  const std::unordered_map<std::string, std::string> spec{
      {"model_type", "bpe"},          {"vocab_size", "400"},          {"hard_vocab_limit", "false"},
      {"byte_fallback", "true"},      {"character_coverage", "1.0"},  {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"}, {"add_dummy_prefix", "true"}, {"unk_id", "0"},
      {"bos_id", "1"},                {"eos_id", "2"},                {"pad_id", "-1"},
      {"num_threads", "1"},           {"minloglevel", "2"}};
  Corpus corpus(lines);
  std::string proto;
  if (!sentencepiece::SentencePieceTrainer::Train(spec, &corpus, &proto).ok()) std::abort();
  sentencepiece::SentencePieceProcessor processor;
  if (!processor.LoadFromSerializedProto(proto).ok()) std::abort();
  const auto file = regionlm::fuzz::write_scratch("tokenizer.model", reinterpret_cast<const uint8_t*>(proto.data()),
                                                  proto.size());
  const int64_t pieces = processor.GetPieceSize();
  return Tokenizer::load(file, {{"<mask>", pieces}, {"<pos>", pieces + 1}});
}

template <typename F>
void attempt(F f) {
  try {
    f();
  } catch (const regionlm::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static const Tokenizer trained = train();
  tokenizer = &trained;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int64_t num_regions = data[0] % 9;
  const uint8_t flags = data[1];
  const std::string text(reinterpret_cast<const char*>(data) + 2, size - 2);
  const Tokenizer& tok = *tokenizer;

  attempt([&] {
    const std::vector<int64_t> ids = tok.encode(text, (flags & 1) != 0);
    // Streaming re-decodes a window of up to 32 ids per push: the first 64 ids cover the window
    // moving without making long inputs 32x slower than the rest of the target.
    regionlm::text::StreamingDecoder decoder(tok, (flags & 2) != 0);
    for (size_t i = 0; i < ids.size() && i < 64; ++i) (void)decoder.push(ids[i]);
    (void)decoder.finish();
    (void)tok.decode(ids, (flags & 2) != 0, false);
  });
  attempt([&] { (void)regionlm::text::expand_region_placeholders(text, num_regions, (flags & 4) != 0); });
  attempt([&] { (void)regionlm::text::find_region_mentions(text, num_regions, flags & 3); });

  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t end = text.find('\x1e', start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  const std::string question = parts.back();
  std::vector<regionlm::text::Turn> history;
  for (size_t i = 0; i + 2 < parts.size(); i += 2) history.push_back({parts[i], parts[i + 1]});
  const auto names = regionlm::text::conversation_template_names();
  const auto& tmpl = regionlm::text::conversation_template(names[(flags >> 3) % names.size()]);
  const bool include_image = (flags & 0x80) != 0;
  attempt([&] {
    const auto layout = regionlm::text::build_prompt(
        tok, tmpl, history, question, num_regions, include_image ? 16 : 0, 4096, include_image,
        (flags & 0x40) ? regionlm::text::UnmentionedRegions::Reject : regionlm::text::UnmentionedRegions::Introduce);
    (void)regionlm::text::layout_ids(layout, tok, 0);
  });
  attempt([&] { (void)regionlm::text::build_followup(tok, tmpl, question, num_regions, 512); });
  return 0;
}
