// Token-id parity with the Hugging Face LLaMA tokenizers Osprey uses (transformers 4.31), on a
// SentencePiece model trained with LLaMA's settings by tokenizer_reference.py.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "regionlm/error.hpp"
#include "regionlm/text/conversation.hpp"
#include "regionlm/text/placeholders.hpp"
#include "regionlm/text/sequence.hpp"
#include "regionlm/text/tokenizer.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace regionlm::text;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Output directory of tokenizer_reference.py. ctest runs every test in its own process, so the
/// script runs once per version of it (keyed by its content) and the result is shared through
/// the build tree; a directory is published by an atomic rename, so parallel tests are safe.
const fs::path& reference_dir() {
  static const fs::path dir = [] {
    const fs::path script = regionlm::test::source_dir() / "tests/text/tokenizer_reference.py";
    const fs::path work = regionlm::test::scratch_dir("text-reference");
    const fs::path shared = work.parent_path() /
                            ("text-reference-" + std::to_string(std::hash<std::string>{}(read_text(script))));
    if (fs::exists(shared / "reference.json")) {
      fs::remove(work);
      return shared;
    }
    regionlm::test::run_python(script.string(), {work.string()});
    std::error_code ec;
    fs::rename(work, shared, ec);  // fails harmlessly when another test published it first
    return fs::exists(shared / "reference.json") ? shared : work;
  }();
  return dir;
}

const json& reference() {
  static const json ref = json::parse(read_text(reference_dir() / "reference.json"));
  return ref;
}

Tokenizer load(HfTokenizerKind kind = HfTokenizerKind::Fast) {
  return Tokenizer::load(reference_dir() / "hf").with_kind(kind);
}

std::vector<int64_t> ids_of(const json& j) { return j.get<std::vector<int64_t>>(); }

bool has_added_token(const std::vector<int64_t>& ids, const Tokenizer& tok) {
  for (int64_t id : ids) {
    if (id >= tok.vocab_size()) return true;
  }
  return false;
}

/// Osprey-style ids with the image block and region pairs cut out: what the layout must hold.
struct ExpectedChunk {
  Chunk::Kind kind;
  int64_t length;
};
std::vector<ExpectedChunk> chunks_of(const std::vector<int64_t>& ids, const Tokenizer& tok, int64_t image_len) {
  std::vector<ExpectedChunk> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == kImageTokenIndex) {
      out.push_back({Chunk::Kind::Image, image_len});
    } else if (ids[i] == tok.mask_id()) {
      out.push_back({Chunk::Kind::Region, 2});
      ++i;
    } else if (!out.empty() && out.back().kind == Chunk::Kind::Text) {
      ++out.back().length;
    } else {
      out.push_back({Chunk::Kind::Text, 1});
    }
  }
  return out;
}

ConversationTemplate template_of(const json& conv) {
  ConversationTemplate tmpl = conversation_template(conv["template"].get<std::string>());
  if (conv["image_prefix"].is_string()) tmpl.image_prefix = conv["image_prefix"].get<std::string>();
  return tmpl;
}

std::vector<Turn> history_of(const json& conv) {
  std::vector<Turn> history;
  for (const auto& t : conv["history"]) history.push_back({t[0].get<std::string>(), t[1].get<std::string>()});
  return history;
}

}  // namespace

TEST(TextParity, LoadsHuggingFaceTokenizerDirectory) {
  const json& ref = reference();
  const Tokenizer tok = load();
  EXPECT_EQ(tok.vocab_size(), ref["vocab_size"].get<int64_t>());
  EXPECT_EQ(tok.size(), ref["size"].get<int64_t>());
  EXPECT_EQ(tok.mask_id(), ref["mask_id"].get<int64_t>());
  EXPECT_EQ(tok.pos_id(), ref["pos_id"].get<int64_t>());
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.unk_id(), 0);
  EXPECT_EQ(tok.pad_id(), 0);  // special_tokens_map.json: pad = <unk>, as Osprey saves it
  EXPECT_EQ(tok.token_id("<mask>"), tok.mask_id());
  EXPECT_EQ(tok.token_id("</s>"), 2);
  EXPECT_EQ(tok.piece(tok.pos_id()), "<pos>");
  EXPECT_TRUE(tok.is_special(tok.mask_id()));
  EXPECT_TRUE(tok.is_special(tok.bos_id()));
  EXPECT_FALSE(tok.is_special(tok.encode("the").at(0)));
  EXPECT_TRUE(tok.is_byte(tok.token_id("<0x0A>")));
  EXPECT_THROW(tok.token_id("<no such piece>"), regionlm::ArgumentError);
  EXPECT_THROW(tok.piece(tok.size()), regionlm::ArgumentError);

  // The model file with explicit added tokens gives the same tokenizer.
  const Tokenizer direct = Tokenizer::load(reference_dir() / "hf" / "tokenizer.model",
                                           {{"<mask>", tok.vocab_size()}, {"<pos>", tok.vocab_size() + 1}});
  const std::string text = "What is in <mask><pos>? 😀";
  EXPECT_EQ(direct.encode(text, true), tok.encode(text, true));

  // Without added tokens there are no region tokens.
  const Tokenizer plain = Tokenizer::load(reference_dir() / "hf" / "tokenizer.model", {});
  EXPECT_EQ(plain.size(), plain.vocab_size());
  EXPECT_THROW(plain.mask_id(), regionlm::ConfigError);
  EXPECT_THROW(plain.pos_id(), regionlm::ConfigError);
}

TEST(TextParity, LoadsAddedTokensFromEitherFileAndRejectsBadOnes) {
  const fs::path model = reference_dir() / "hf" / "tokenizer.model";
  const int64_t vocab = reference()["vocab_size"].get<int64_t>();
  auto dir_with = [&](const std::string& file, const std::string& content) {
    const fs::path dir = regionlm::test::scratch_dir("text-tokenizer-files");
    fs::copy_file(model, dir / "tokenizer.model");
    std::ofstream(dir / file) << content;
    return dir;
  };
  // Newer transformers keep added tokens in tokenizer_config.json's added_tokens_decoder.
  const std::string decoder = "{\"added_tokens_decoder\": {\"0\": {\"content\": \"<unk>\"}, \"" +
                              std::to_string(vocab) + "\": {\"content\": \"<mask>\", \"special\": true}, \"" +
                              std::to_string(vocab + 1) + "\": {\"content\": \"<pos>\"}}, \"pad_token\": null}";
  const Tokenizer tok = Tokenizer::load(dir_with("tokenizer_config.json", decoder));
  EXPECT_EQ(tok.mask_id(), vocab);
  EXPECT_EQ(tok.pos_id(), vocab + 1);
  EXPECT_EQ(tok.pad_id(), tok.unk_id());

  auto added = [&](int64_t mask, int64_t pos) {
    return "{\"<mask>\": " + std::to_string(mask) + ", \"<pos>\": " + std::to_string(pos) + "}";
  };
  EXPECT_NO_THROW(Tokenizer::load(dir_with("added_tokens.json", added(vocab + 1, vocab))).mask_id());
  EXPECT_THROW(Tokenizer::load(dir_with("added_tokens.json", added(vocab, vocab + 2))), regionlm::FormatError);
  EXPECT_THROW(Tokenizer::load(dir_with("added_tokens.json", added(5, vocab))), regionlm::FormatError);
  EXPECT_THROW(Tokenizer::load(dir_with("added_tokens.json", "{\"<mask>\": \"x\"}")), regionlm::FormatError);
  EXPECT_THROW(Tokenizer::load(dir_with("added_tokens.json", "[1, 2")), regionlm::FormatError);
  EXPECT_THROW(Tokenizer::load(dir_with("special_tokens_map.json", "{\"bos_token\": \"<nope>\"}")),
               regionlm::FormatError);
  EXPECT_THROW(Tokenizer::load(dir_with("special_tokens_map.json", "{\"eos_token\": 3}")), regionlm::FormatError);
  // An added token that is already a SentencePiece piece.
  EXPECT_THROW(Tokenizer::load(model, {{"\xE2\x96\x81the", vocab}}), regionlm::FormatError);
  EXPECT_THROW(Tokenizer::load(reference_dir() / "no-such-dir"), regionlm::IoError);
  EXPECT_THROW(Tokenizer::load(reference_dir() / "hf" / "missing.model", {}), regionlm::IoError);
  const fs::path garbage = regionlm::test::scratch_dir("text-tokenizer-garbage") / "tokenizer.model";
  std::ofstream(garbage) << "not a sentencepiece model";
  EXPECT_THROW(Tokenizer::load(garbage, {}), regionlm::FormatError);
}

TEST(TextParity, EncodeMatchesFastTokenizer) {
  const Tokenizer tok = load();
  for (const auto& entry : reference()["texts"]) {
    const std::string text = entry["text"].get<std::string>();
    SCOPED_TRACE("text: \"" + text + "\"");
    EXPECT_EQ(tok.encode(text, false), ids_of(entry["fast"]));
    EXPECT_EQ(tok.encode(text, true), ids_of(entry["fast_bos"]));
  }
}

TEST(TextParity, EncodeMatchesOnTheTrainingCorpus) {
  const Tokenizer fast = load();
  const Tokenizer slow = load(HfTokenizerKind::SlowLegacy);
  const json& corpus = reference()["corpus"];
  ASSERT_GT(corpus.size(), 400u);
  for (const auto& entry : corpus) {
    const std::string text = entry["text"].get<std::string>();
    SCOPED_TRACE("line: \"" + text + "\"");
    const std::vector<int64_t> ids = fast.encode(text, true);
    EXPECT_EQ(ids, ids_of(entry["fast_bos"]));
    EXPECT_EQ(slow.encode(text, true), ids_of(entry["slow_bos"]));
    EXPECT_EQ(fast.decode(ids), entry["fast_decoded"].get<std::string>());
    EXPECT_EQ(fast.decode(ids, false), "<s>" + text);
  }
}

TEST(TextParity, EncodeMatchesSlowLegacyTokenizer) {
  const Tokenizer tok = load(HfTokenizerKind::SlowLegacy);
  int differs_from_fast = 0;
  for (const auto& entry : reference()["texts"]) {
    const std::string text = entry["text"].get<std::string>();
    SCOPED_TRACE("text: \"" + text + "\"");
    EXPECT_EQ(tok.encode(text, false), ids_of(entry["slow"]));
    EXPECT_EQ(tok.encode(text, true), ids_of(entry["slow_bos"]));
    differs_from_fast += entry["slow"] != entry["fast"];
  }
  // The two references really differ (white space next to <mask>/<pos>), so both are tested.
  EXPECT_GT(differs_from_fast, 5);
}

TEST(TextParity, DecodeMatchesHuggingFace) {
  const Tokenizer tok = load();
  for (const auto& entry : reference()["texts"]) {
    const std::string text = entry["text"].get<std::string>();
    SCOPED_TRACE("text: \"" + text + "\"");
    const std::vector<int64_t> ids = ids_of(entry["fast_bos"]);
    // Osprey decodes answers with the fast tokenizer's skip_special_tokens=True.
    EXPECT_EQ(tok.decode(ids, true), entry["fast_decoded"].get<std::string>());
    // The slow tokenizer agrees except that it keeps added tokens when "skipping" specials.
    if (!has_added_token(ids, tok)) {
      EXPECT_EQ(tok.decode(ids, true), entry["slow_decoded"].get<std::string>());
    }
  }
}

TEST(TextParity, DecodeRoundTripsEncode) {
  const Tokenizer tok = load();
  for (const auto& entry : reference()["texts"]) {
    const std::string text = entry["text"].get<std::string>();
    SCOPED_TRACE("text: \"" + text + "\"");
    // Keeping special tokens, decoding inverts encoding exactly (identity normalisation,
    // byte fallback for unseen characters, one dummy prefix per segment).
    EXPECT_EQ(tok.decode(tok.encode(text, false), false), text);
    EXPECT_EQ(tok.decode(tok.encode(text, true), false), "<s>" + text);
  }
}

TEST(TextParity, StreamingDecodeEqualsFullDecode) {
  const Tokenizer tok = load();
  // Every test text alone, then all of them and the whole training corpus as one long stream
  // each (exercises the moving window).
  std::vector<std::vector<int64_t>> streams;
  for (const char* set : {"texts", "corpus"}) {
    std::vector<int64_t> all;
    for (const auto& entry : reference()[set]) {
      const std::vector<int64_t> ids = ids_of(entry["fast_bos"]);
      if (std::string(set) == "texts") streams.push_back(ids);
      all.insert(all.end(), ids.begin(), ids.end());
    }
    streams.push_back(all);
  }
  int held_back = 0;
  for (bool skip : {true, false}) {
    for (const auto& ids : streams) {
      const std::string full = tok.decode(ids, skip);
      SCOPED_TRACE("skip_special=" + std::to_string(skip) + " full: \"" + full + "\"");
      StreamingDecoder stream(tok, skip);
      std::string joined;
      for (int64_t id : ids) {
        const std::string piece = stream.push(id);
        // Nothing emitted mid-character: a text without U+FFFD never shows one while streaming.
        if (full.find("\xEF\xBF\xBD") == std::string::npos) {
          EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "piece \"" << piece << "\"";
        }
        held_back += piece.empty() && tok.is_byte(id);
        joined += piece;
        EXPECT_EQ(joined, full.substr(0, joined.size()));
      }
      joined += stream.finish();
      EXPECT_EQ(joined, full);
      EXPECT_EQ(stream.text(), full);
      EXPECT_THROW(stream.push(ids.front()), regionlm::ArgumentError);
    }
  }
  EXPECT_GT(held_back, 0);  // multi-byte characters did arrive split over byte pieces
}

TEST(TextParity, PartialDecodeHoldsBackIncompleteCharacter) {
  const Tokenizer tok = load();
  // "🦜" is not in the training corpus: four byte-fallback pieces.
  std::vector<int64_t> ids = tok.encode("🦜", false);
  ASSERT_EQ(ids.size(), 5u);  // dummy-prefix "▁" + 4 bytes
  ids.pop_back();
  EXPECT_EQ(tok.decode(ids, true, true), "");
  EXPECT_EQ(tok.decode(ids, true, false), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_THROW(tok.decode({tok.size()}), regionlm::ArgumentError);
  EXPECT_THROW(tok.decode({-200}), regionlm::ArgumentError);
}

TEST(TextParity, ConversationPromptsMatchTokenizerImageToken) {
  constexpr int64_t kImageTokens = 1024;
  for (HfTokenizerKind kind : {HfTokenizerKind::Fast, HfTokenizerKind::SlowLegacy}) {
    const Tokenizer tok = load(kind);
    const char* key = kind == HfTokenizerKind::Fast ? "fast" : "slow";
    for (const auto& conv : reference()["conversations"]) {
      // Conversations whose header the library adds are IntroducedRegionHeaderMatchesPython's.
      if (conv.contains("library_question") || conv.contains("library_history")) continue;
      SCOPED_TRACE(std::string(key) + " conversation " + conv["name"].get<std::string>());
      const ConversationTemplate tmpl = template_of(conv);
      const std::vector<Turn> history = history_of(conv);
      const std::string question = conv["question"].get<std::string>();
      const bool include_image = conv["include_image"].get<bool>();
      const int64_t regions = conv["regions"].get<int64_t>();

      // The prompt text after placeholder rewriting is Osprey's get_prompt() text.
      std::vector<Turn> osprey_history;
      for (const Turn& t : history) osprey_history.push_back({expand_region_placeholders(t.user, regions, false).text, t.assistant});
      EXPECT_EQ(render_conversation(tmpl, osprey_history, expand_region_placeholders(question, regions, false).text,
                                    include_image),
                conv["prompt"].get<std::string>());

      const PromptLayout layout = build_prompt(tok, tmpl, history, question, regions, kImageTokens, 4096, include_image);
      const std::vector<int64_t> expected = ids_of(conv[key]);
      EXPECT_EQ(layout_ids(layout, tok), expected);
      const int64_t expected_length =
          static_cast<int64_t>(expected.size()) + (include_image ? kImageTokens - 1 : 0);
      EXPECT_EQ(layout.length, expected_length);
    }
  }
}

// Regions the first question leaves unmentioned are introduced with Osprey's header: the ids
// equal Python's for the same conversation with the header written out.
TEST(TextParity, IntroducedRegionHeaderMatchesPython) {
  constexpr int64_t kImageTokens = 1024;
  // Which region each <mask><pos> pair holds: the header's, then the question's own.
  const std::map<std::string, std::vector<int64_t>> order_of{
      {"introduced_1of3", {0, 1, 2, 1}},
      {"introduced_sequential", {0, 1, 0}},
      {"introduced_none_named", {0}},
      {"introduced_then_any_turn", {0, 1, 0, 1}},
  };
  int checked = 0;
  for (HfTokenizerKind kind : {HfTokenizerKind::Fast, HfTokenizerKind::SlowLegacy}) {
    const Tokenizer tok = load(kind);
    const char* key = kind == HfTokenizerKind::Fast ? "fast" : "slow";
    for (const auto& conv : reference()["conversations"]) {
      if (!conv.contains("library_question") && !conv.contains("library_history")) continue;
      SCOPED_TRACE(std::string(key) + " conversation " + conv["name"].get<std::string>());
      std::vector<Turn> history;
      for (const auto& t : conv.value("library_history", json::array())) history.push_back({t[0], t[1]});
      const std::string question = conv.value("library_question", conv["question"].get<std::string>());
      const int64_t regions = conv["regions"].get<int64_t>();
      const PromptLayout layout =
          build_prompt(tok, template_of(conv), history, question, regions, kImageTokens, 4096);
      EXPECT_EQ(layout_ids(layout, tok), ids_of(conv[key]));
      std::vector<int64_t> order;
      for (const Chunk& c : layout.chunks) {
        if (c.kind == Chunk::Kind::Region) order.push_back(c.region_index);
      }
      EXPECT_EQ(order, order_of.at(conv["name"].get<std::string>()));
      // Strict mode refuses a single question that leaves regions unmentioned, naming them.
      if (history.empty()) {
        try {
          build_prompt(tok, template_of(conv), history, question, regions, kImageTokens, 4096, true,
                       UnmentionedRegions::Reject);
          ADD_FAILURE() << "strict mode accepted a question that leaves regions unmentioned";
        } catch (const regionlm::ArgumentError& e) {
          EXPECT_NE(std::string(e.what()).find("never referenced"), std::string::npos) << e.what();
        }
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 8);
}

TEST(TextParity, OneAndFiveRegionPromptLayouts) {
  const Tokenizer tok = load();
  constexpr int64_t kImageTokens = 1024;
  const std::map<std::string, std::vector<int64_t>> regions_of{
      {"short_1region", {0}},
      {"numbered_5regions", {0, 1, 2, 3, 4}},
      {"repeated_2regions", {0, 1, 0}},
      {"multi_turn", {0, 0}},
  };
  int checked = 0;
  for (const auto& conv : reference()["conversations"]) {
    const auto it = regions_of.find(conv["name"].get<std::string>());
    if (it == regions_of.end()) continue;
    SCOPED_TRACE(it->first);
    const PromptLayout layout = build_prompt(tok, template_of(conv), history_of(conv), conv["question"].get<std::string>(),
                                             conv["regions"].get<int64_t>(), kImageTokens, 4096);
    const std::vector<ExpectedChunk> expected = chunks_of(ids_of(conv["fast"]), tok, kImageTokens);
    ASSERT_EQ(layout.chunks.size(), expected.size());
    std::vector<int64_t> region_indices;
    int64_t total = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      const Chunk& c = layout.chunks[i];
      EXPECT_EQ(c.kind, expected[i].kind) << "chunk " << i;
      EXPECT_EQ(c.length, expected[i].length) << "chunk " << i;
      if (c.kind == Chunk::Kind::Text) {
        EXPECT_EQ(static_cast<int64_t>(c.ids.size()), c.length);
      }
      if (c.kind == Chunk::Kind::Region) region_indices.push_back(c.region_index);
      total += c.length;
    }
    EXPECT_EQ(region_indices, it->second);
    EXPECT_EQ(layout.length, total);
    // Image right after "USER: ", the text before it starts with BOS.
    ASSERT_GE(layout.chunks.size(), 3u);
    EXPECT_EQ(layout.chunks[0].ids.front(), tok.bos_id());
    EXPECT_EQ(layout.chunks[1].kind, Chunk::Kind::Image);
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

TEST(TextParity, FollowupContinuesTheFullPrompt) {
  const Tokenizer tok = load();
  const ConversationTemplate& tmpl = conversation_template("osprey_v1");
  const std::string q1 = "What is <region2>?";
  const std::string a1 = "A red car 🚗.";
  const std::string q2 = "And <region1> next to <region2>?";
  const PromptLayout full = build_prompt(tok, tmpl, {{q1, a1}}, q2, 2, 16, 4096);
  const PromptLayout followup = build_followup(tok, tmpl, q2, 2, 4096);
  const std::vector<int64_t> full_ids = layout_ids(full, tok);
  const std::vector<int64_t> followup_ids = layout_ids(followup, tok);
  ASSERT_LT(followup_ids.size(), full_ids.size());
  EXPECT_TRUE(std::equal(followup_ids.begin(), followup_ids.end(), full_ids.end() - followup_ids.size()));
  EXPECT_EQ(followup_ids.front(), tok.eos_id());
  std::vector<int64_t> regions;
  for (const Chunk& c : followup.chunks) {
    if (c.kind == Chunk::Kind::Region) regions.push_back(c.region_index);
  }
  EXPECT_EQ(regions, (std::vector<int64_t>{0, 1}));
  // A follow-up may reference only some regions; in strict mode the full prompt must
  // reference all of them.
  EXPECT_NO_THROW(build_followup(tok, tmpl, "What about <region2>?", 2, 4096));
  EXPECT_THROW(build_prompt(tok, tmpl, {}, "What about <region2>?", 2, 16, 4096, true, UnmentionedRegions::Reject),
               regionlm::ArgumentError);
  EXPECT_THROW(build_followup(tok, tmpl, q2, 2, followup.length - 1), regionlm::ArgumentError);
  ConversationTemplate plain_end = tmpl;
  plain_end.turn_end = "\n";
  EXPECT_THROW(build_followup(tok, plain_end, q2, 2, 4096), regionlm::ArgumentError);
}

TEST(TextParity, PromptErrorsAreReportedUpFront) {
  const Tokenizer tok = load();
  const ConversationTemplate& tmpl = conversation_template("osprey_v1");
  const PromptLayout ok = build_prompt(tok, tmpl, {}, "What is <region>?", 1, 1024, 4096);
  EXPECT_NO_THROW(build_prompt(tok, tmpl, {}, "What is <region>?", 1, 1024, ok.length));
  EXPECT_THROW(build_prompt(tok, tmpl, {}, "What is <region>?", 1, 1024, ok.length - 1), regionlm::ArgumentError);
  EXPECT_THROW(build_prompt(tok, tmpl, {}, "What is <region>?", 1, 0, 4096), regionlm::ArgumentError);
  EXPECT_THROW(build_prompt(tok, tmpl, {}, "<image> What is <region>?", 1, 1024, 4096), regionlm::ArgumentError);
  EXPECT_THROW(build_prompt(tok, tmpl, {{"What is <region>?", "a <mask><pos>"}}, "and?", 1, 1024, 4096),
               regionlm::ArgumentError);
  EXPECT_THROW(build_prompt(tok, tmpl, {}, "What is <region3>?", 2, 1024, 4096), regionlm::ArgumentError);
  // Regions referenced only in the history count for the whole conversation.
  EXPECT_NO_THROW(build_prompt(tok, tmpl, {{"What is <region>?", "a dog."}}, "Is it happy?", 1, 1024, 4096));
  // A template without the image marker cannot place the image.
  ConversationTemplate no_marker = tmpl;
  no_marker.image_prefix = "Look: ";
  EXPECT_THROW(build_prompt(tok, no_marker, {}, "What is <region>?", 1, 1024, 4096), regionlm::ArgumentError);
  // Text-only prompts work without <mask>/<pos> in the tokenizer.
  const Tokenizer plain = Tokenizer::load(reference_dir() / "hf" / "tokenizer.model", {});
  EXPECT_EQ(layout_ids(build_prompt(plain, tmpl, {}, "Hello", 0, 0, 4096, false), plain),
            tok.encode(tmpl.system + " USER: Hello ASSISTANT:", true));
  EXPECT_THROW(build_prompt(plain, tmpl, {}, "What is <region>?", 1, 1024, 4096), regionlm::ConfigError);
}
