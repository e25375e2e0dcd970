#include "tokenizer_training.hpp"

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <set>
#include <unordered_map>

#include "regionlm/error.hpp"
#include "regionlm/text/conversation.hpp"
#include "scene.hpp"

namespace fs = std::filesystem;

namespace regionlm::tiny_shapes {
namespace {

// 256 byte pieces + unk/bos/eos must fit, with room for the corpus' words.
constexpr int kMinVocab = 300;

// Feeds the corpus to SentencePiece without a temporary file.
class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

// Cuts rendered prompt text where build_prompt tokenizes separately: at the image marker and
// around the added/special tokens, which SentencePiece never sees.
void add_segments(const std::string& text, std::vector<std::string>& out) {
  static const std::vector<std::string> kCuts{text::kImageMarker, "<mask>", "<pos>", "</s>"};
  size_t start = 0;
  while (start < text.size()) {
    size_t cut = std::string::npos, cut_len = 0;
    for (const std::string& c : kCuts) {
      const size_t at = text.find(c, start);
      if (at < cut) {
        cut = at;
        cut_len = c.size();
      }
    }
    const size_t end = cut == std::string::npos ? text.size() : cut;
    if (end > start) out.push_back(text.substr(start, end - start));
    if (cut == std::string::npos) break;
    start = cut + cut_len;
  }
}

// A question with Osprey's own region spelling, as build_prompt sees it after expansion.
std::string with_region_tokens(std::string prompt) {
  for (const std::string p : {"<region1>", "<region2>", "<region>"}) {
    for (size_t at = prompt.find(p); at != std::string::npos; at = prompt.find(p)) {
      prompt.replace(at, p.size(), "<mask><pos>");
    }
  }
  return prompt;
}

}  // namespace

std::vector<std::string> tokenizer_corpus(const std::string& template_name) {
  const text::ConversationTemplate& tmpl = text::conversation_template(template_name);
  std::vector<std::string> out;
  for (int k = 0; k < kNumQuestionKinds; ++k) {
    const std::string q = with_region_tokens(question_prompt(static_cast<QuestionKind>(k)));
    add_segments(text::render_conversation(tmpl, {}, q, true), out);
    add_segments(text::render_followup(tmpl, q), out);
  }
  std::set<std::string> answers{"yes", "no"};
  for (int c = 0; c < kNumColors; ++c) {
    answers.insert(color_name(static_cast<Color>(c)));
    for (int s = 0; s < kNumShapes; ++s) {
      answers.insert(shape_name(static_cast<Shape>(s)));
      answers.insert(describe_object(static_cast<Color>(c), static_cast<Shape>(s)));
    }
  }
  out.insert(out.end(), answers.begin(), answers.end());
  return out;
}

int train_tokenizer(const std::vector<std::string>& sentences, const fs::path& dir,
                    const TokenizerTrainingOptions& options) {
  if (options.vocab_size < kMinVocab) {
    throw ArgumentError("tokenizer vocab_size must be >= " + std::to_string(kMinVocab) +
                        " (256 byte pieces + specials + words), got " +
                        std::to_string(options.vocab_size));
  }
  if (sentences.empty()) throw ArgumentError("train_tokenizer: the corpus is empty");
  const std::unordered_map<std::string, std::string> spec{
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"hard_vocab_limit", "false"},  // a small corpus may support fewer pieces
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "true"},
      {"allow_whitespace_only_pieces", "true"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"num_threads", "1"},
      {"shuffle_input_sentence", "false"},
      {"minloglevel", "2"},
  };
  VectorIterator iterator(sentences);
  std::string proto;
  const auto status = sentencepiece::SentencePieceTrainer::Train(spec, &iterator, &proto);
  if (!status.ok()) throw Error("SentencePiece training failed: " + status.ToString());

  sentencepiece::SentencePieceProcessor processor;
  if (!processor.LoadFromSerializedProto(proto).ok()) {
    throw Error("SentencePiece produced a model it cannot load");
  }
  const int pieces = processor.GetPieceSize();

  fs::create_directories(dir);
  const fs::path model_file = dir / "tokenizer.model";
  std::ofstream model(model_file, std::ios::binary);
  model.write(proto.data(), static_cast<std::streamsize>(proto.size()));
  if (!model) throw IoError("cannot write " + model_file.string());
  const fs::path added_file = dir / "added_tokens.json";
  std::ofstream added(added_file);
  added << nlohmann::ordered_json{{"<mask>", pieces}, {"<pos>", pieces + 1}}.dump(2) << "\n";
  if (!added) throw IoError("cannot write " + added_file.string());
  return pieces;
}

}  // namespace regionlm::tiny_shapes
