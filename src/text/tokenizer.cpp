#include "regionlm/text/tokenizer.hpp"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "json_depth.hpp"
#include "regionlm/error.hpp"
#include "text/utf8.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace regionlm::text {

/// A token written literally in text that encode() splits out before SentencePiece runs.
struct SplitToken {
  std::string text;
  int64_t id;
  bool plain_added;  // an added token that is not bos/eos/unk/pad: SlowLegacy strips white space around it
};

struct Tokenizer::Impl {
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp;
  HfTokenizerKind kind = HfTokenizerKind::Fast;
  std::string origin;  // file or directory it was loaded from, for messages
  int64_t vocab_size = 0;
  std::vector<std::pair<std::string, int64_t>> added;  // id order, ids vocab_size, vocab_size+1, ...
  std::unordered_map<std::string, int64_t> added_ids;
  int64_t bos = -1, eos = -1, unk = -1, pad = -1;
  std::vector<SplitToken> split_tokens;
  std::vector<bool> special;      // per id (SentencePiece ids then added ids)
  std::vector<int16_t> byte_of;   // per SentencePiece id: the byte of a <0xAB> piece, else -1

  int64_t size() const { return vocab_size + static_cast<int64_t>(added.size()); }

  void check_id(int64_t id) const {
    if (id < 0 || id >= size()) {
      throw ArgumentError("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                          std::to_string(size()) + ") of tokenizer " + origin);
    }
  }

  const std::string& piece(int64_t id) const {
    check_id(id);
    if (id < vocab_size) return sp->IdToPiece(static_cast<int>(id));
    return added[static_cast<size_t>(id - vocab_size)].first;
  }

  std::optional<int64_t> find(const std::string& piece) const {
    if (auto it = added_ids.find(piece); it != added_ids.end()) return it->second;
    const int id = sp->PieceToId(piece);
    // PieceToId answers unk for unknown pieces: only the unk piece itself maps there honestly.
    if (id == sp->unk_id() && piece != sp->IdToPiece(id)) return std::nullopt;
    return id;
  }
};

namespace {

json read_json_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError("cannot open " + file.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return parse_json_depth_limited<FormatError>(buffer.str(), file.string());
  } catch (const json::exception& e) {
    throw FormatError(file.string() + ": invalid JSON (" + e.what() + ")");
  }
}

/// A special token entry of special_tokens_map.json / tokenizer_config.json: a string, an
/// AddedToken object {"content": ...}, or null.
std::optional<std::string> token_name(const json& value, const fs::path& file, const std::string& key) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  throw FormatError(file.string() + ": \"" + key +
                    "\" must be a string, an object with \"content\", or null");
}

/// What the optional Hugging Face files of a tokenizer directory say.
struct HfFiles {
  std::vector<std::pair<std::string, int64_t>> added;
  std::map<std::string, std::string> special_names;  // bos_token/eos_token/unk_token/pad_token
};

void read_special_names(const json& doc, const fs::path& file, HfFiles& out) {
  if (!doc.is_object()) throw FormatError(file.string() + ": expected a JSON object");
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    if (!doc.contains(key)) continue;
    if (auto name = token_name(doc[key], file, key)) out.special_names[key] = *name;
  }
}

HfFiles read_hf_files(const fs::path& dir) {
  HfFiles out;
  std::map<std::string, int64_t> added;  // merged and de-duplicated
  auto add = [&](const std::string& piece, int64_t id, const fs::path& file) {
    auto [it, inserted] = added.emplace(piece, id);
    if (!inserted && it->second != id) {
      throw FormatError(file.string() + ": added token \"" + piece + "\" has id " +
                        std::to_string(id) + " but another file gives " + std::to_string(it->second));
    }
  };
  if (const fs::path file = dir / "added_tokens.json"; fs::exists(file)) {
    const json doc = read_json_file(file);
    if (!doc.is_object()) throw FormatError(file.string() + ": expected an object {token: id}");
    for (const auto& [piece, id] : doc.items()) {
      if (!id.is_number_integer()) {
        throw FormatError(file.string() + ": id of \"" + piece + "\" must be an integer");
      }
      add(piece, id.get<int64_t>(), file);
    }
  }
  if (const fs::path file = dir / "special_tokens_map.json"; fs::exists(file)) {
    read_special_names(read_json_file(file), file, out);
  }
  if (const fs::path file = dir / "tokenizer_config.json"; fs::exists(file)) {
    const json doc = read_json_file(file);
    HfFiles from_config;
    read_special_names(doc, file, from_config);
    // special_tokens_map.json wins where both name a token (transformers reads it last).
    for (auto& [key, name] : from_config.special_names) out.special_names.emplace(key, name);
    // Newer transformers list added tokens here as {"32000": {"content": "<mask>", ...}}.
    if (doc.contains("added_tokens_decoder")) {
      const json& decoder = doc["added_tokens_decoder"];
      if (!decoder.is_object()) throw FormatError(file.string() + ": added_tokens_decoder must be an object");
      for (const auto& [key, entry] : decoder.items()) {
        int64_t id = 0;
        try {
          size_t used = 0;
          id = std::stoll(key, &used);
          if (used != key.size()) throw std::invalid_argument(key);
        } catch (const std::exception&) {
          throw FormatError(file.string() + ": added_tokens_decoder key \"" + key + "\" is not an id");
        }
        if (auto name = token_name(entry, file, "added_tokens_decoder." + key)) add(*name, id, file);
      }
    }
  }
  out.added.assign(added.begin(), added.end());
  return out;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

namespace {

std::shared_ptr<Tokenizer::Impl> build(const fs::path& model_file,
                                       std::vector<std::pair<std::string, int64_t>> added,
                                       const std::map<std::string, std::string>& special_names,
                                       const std::string& origin) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  impl->origin = origin;
  if (!fs::is_regular_file(model_file)) throw IoError("tokenizer model not found: " + model_file.string());
  auto processor = std::make_shared<sentencepiece::SentencePieceProcessor>();
  if (const auto status = processor->Load(model_file.string()); !status.ok()) {
    throw FormatError(model_file.string() + ": not a SentencePiece model (" + status.ToString() + ")");
  }
  impl->sp = processor;
  const auto& sp = *processor;
  impl->vocab_size = sp.GetPieceSize();

  // Added tokens: ids continue the SentencePiece vocabulary without gaps (as transformers
  // requires when it reads added_tokens.json); an entry naming an existing piece at its own id
  // is a no-op.
  std::sort(added.begin(), added.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  for (const auto& [piece, id] : added) {
    if (id >= 0 && id < impl->vocab_size && sp.IdToPiece(static_cast<int>(id)) == piece) continue;
    if (impl->find(piece)) {
      throw FormatError(origin + ": added token \"" + piece + "\" (id " + std::to_string(id) +
                        ") already exists in the vocabulary with id " + std::to_string(*impl->find(piece)));
    }
    const int64_t expected = impl->size();
    if (id != expected) {
      throw FormatError(origin + ": added token \"" + piece + "\" has id " + std::to_string(id) +
                        ", expected " + std::to_string(expected) +
                        " (added ids must continue the vocabulary of " +
                        std::to_string(impl->vocab_size) + " pieces without gaps)");
    }
    impl->added.emplace_back(piece, id);
    impl->added_ids.emplace(piece, id);
  }

  auto resolve = [&](const char* key, int spm_default) -> int64_t {
    const auto it = special_names.find(key);
    if (it == special_names.end()) return spm_default;
    const auto id = impl->find(it->second);
    if (!id) throw FormatError(origin + ": " + key + " \"" + it->second + "\" is not in the vocabulary");
    return *id;
  };
  impl->bos = resolve("bos_token", sp.bos_id());
  impl->eos = resolve("eos_token", sp.eos_id());
  impl->unk = resolve("unk_token", sp.unk_id());
  impl->pad = resolve("pad_token", -1);
  if (impl->pad < 0) impl->pad = impl->unk;  // Osprey and LLaVA pad with unk

  impl->special.assign(static_cast<size_t>(impl->size()), false);
  impl->byte_of.assign(static_cast<size_t>(impl->vocab_size), -1);
  for (int id = 0; id < impl->vocab_size; ++id) {
    if (sp.IsControl(id) || sp.IsUnknown(id)) impl->special[static_cast<size_t>(id)] = true;
    if (sp.IsByte(id)) {
      // Byte-fallback pieces are spelled "<0xAB>".
      impl->byte_of[static_cast<size_t>(id)] =
          static_cast<int16_t>(std::stoi(sp.IdToPiece(id).substr(3, 2), nullptr, 16));
    }
  }
  std::vector<int64_t> named;  // bos/eos/unk/pad as resolved above
  for (int64_t id : {impl->bos, impl->eos, impl->unk, impl->pad}) {
    if (id >= 0) {
      impl->special[static_cast<size_t>(id)] = true;
      named.push_back(id);
    }
  }
  for (const auto& [piece, id] : impl->added) impl->special[static_cast<size_t>(id)] = true;

  // What transformers splits out of the text: its special tokens and the added tokens. The
  // slow tokenizer strips whitespace around an added token unless it is one of the named
  // special tokens (those are AddedToken objects with lstrip = rstrip = False).
  for (int64_t id : named) {
    const std::string& text = impl->piece(id);
    const bool seen = std::any_of(impl->split_tokens.begin(), impl->split_tokens.end(),
                                  [&](const SplitToken& t) { return t.text == text; });
    if (!seen) impl->split_tokens.push_back({text, id, false});
  }
  for (const auto& [piece, id] : impl->added) {
    if (std::find(named.begin(), named.end(), id) != named.end()) continue;
    impl->split_tokens.push_back({piece, id, true});
  }
  return impl;
}

}  // namespace

Tokenizer Tokenizer::load(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw IoError("tokenizer directory not found: " + dir.string());
  const HfFiles files = read_hf_files(dir);
  return Tokenizer(build(dir / "tokenizer.model", files.added, files.special_names, dir.string()));
}

Tokenizer Tokenizer::load(const fs::path& model_file,
                          const std::vector<std::pair<std::string, int64_t>>& added_tokens) {
  return Tokenizer(build(model_file, added_tokens, {}, model_file.string()));
}

Tokenizer Tokenizer::with_kind(HfTokenizerKind kind) const {
  auto impl = std::make_shared<Impl>(*impl_);  // the SentencePiece model stays shared
  impl->kind = kind;
  return Tokenizer(std::move(impl));
}

std::vector<int64_t> Tokenizer::encode(const std::string& text, bool add_bos) const {
  const Impl& impl = *impl_;
  // Split into text segments and literal special tokens (leftmost, then longest match).
  struct Segment {
    std::string_view text;
    const SplitToken* token;  // null for plain text
  };
  std::vector<Segment> segments;
  const std::string_view all(text);
  size_t start = 0;
  for (size_t pos = 0; pos < all.size();) {
    const SplitToken* match = nullptr;
    for (const SplitToken& t : impl.split_tokens) {
      if (all.compare(pos, t.text.size(), t.text) == 0 && (!match || t.text.size() > match->text.size())) {
        match = &t;
      }
    }
    if (!match) {
      ++pos;
      continue;
    }
    if (pos > start) segments.push_back({all.substr(start, pos - start), nullptr});
    segments.push_back({all.substr(pos, match->text.size()), match});
    pos += match->text.size();
    start = pos;
  }
  if (start < all.size()) segments.push_back({all.substr(start), nullptr});

  // transformers 4.31 slow tokenizer: a plain added token eats the white space on both sides.
  for (size_t i = 0; i < segments.size() && impl.kind == HfTokenizerKind::SlowLegacy; ++i) {
    if (!segments[i].token || !segments[i].token->plain_added) continue;
    if (i + 1 < segments.size() && !segments[i + 1].token) {
      segments[i + 1].text = utf8::python_lstrip(segments[i + 1].text);
    }
    if (i > 0 && !segments[i - 1].token) segments[i - 1].text = utf8::python_rstrip(segments[i - 1].text);
  }

  std::vector<int64_t> ids;
  if (add_bos) ids.push_back(bos_id());
  std::vector<int> piece_ids;
  for (const Segment& s : segments) {
    if (s.token) {
      ids.push_back(s.token->id);
      continue;
    }
    if (s.text.empty()) continue;
    if (const auto status = impl.sp->Encode(s.text, &piece_ids); !status.ok()) {
      throw ArgumentError("cannot tokenize text: " + status.ToString());
    }
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
  }
  return ids;
}

namespace {

/// Decodes a run of ordinary (non-special) SentencePiece ids: "▁" becomes a space, except the
/// dummy prefix of the first piece; consecutive byte pieces are joined and read as UTF-8.
/// With `partial`, an unfinished UTF-8 sequence at the end is left out.
void decode_run(const Tokenizer::Impl& impl, const int64_t* begin, const int64_t* end, bool partial,
                std::string& out) {
  static constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space
  std::string bytes;  // pending byte-fallback bytes
  bool at_start = true;
  for (const int64_t* it = begin; it != end; ++it) {
    const int16_t byte = impl.byte_of[static_cast<size_t>(*it)];
    if (byte >= 0) {
      bytes.push_back(static_cast<char>(byte));
      at_start = false;
      continue;
    }
    utf8::append_sanitized(out, bytes, false);
    bytes.clear();
    std::string_view piece = impl.sp->IdToPiece(static_cast<int>(*it));
    if (at_start && piece.substr(0, kSpace.size()) == kSpace) piece.remove_prefix(kSpace.size());
    at_start = false;
    for (size_t pos = 0; pos < piece.size();) {
      if (piece.compare(pos, kSpace.size(), kSpace) == 0) {
        out.push_back(' ');
        pos += kSpace.size();
      } else {
        out.push_back(piece[pos++]);
      }
    }
  }
  utf8::append_sanitized(out, bytes, partial);
}

}  // namespace

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special, bool partial) const {
  const Impl& impl = *impl_;
  for (int64_t id : ids) impl.check_id(id);
  std::string out;
  if (skip_special) {
    std::vector<int64_t> plain;
    plain.reserve(ids.size());
    for (int64_t id : ids) {
      if (!impl.special[static_cast<size_t>(id)]) plain.push_back(id);
    }
    decode_run(impl, plain.data(), plain.data() + plain.size(), partial, out);
    return out;
  }
  // Special tokens appear verbatim; the text between them is decoded segment by segment, each
  // with its own dummy prefix, mirroring how encode() produced it.
  size_t run_begin = 0;
  for (size_t i = 0; i <= ids.size(); ++i) {
    if (i < ids.size() && !impl.special[static_cast<size_t>(ids[i])]) continue;
    decode_run(impl, ids.data() + run_begin, ids.data() + i, partial && i == ids.size(), out);
    if (i < ids.size()) out += impl.piece(ids[i]);
    run_begin = i + 1;
  }
  return out;
}

int64_t Tokenizer::token_id(const std::string& piece) const {
  if (auto id = impl_->find(piece)) return *id;
  throw ArgumentError("token \"" + piece + "\" is not in the vocabulary of tokenizer " + impl_->origin);
}

const std::string& Tokenizer::piece(int64_t id) const { return impl_->piece(id); }

bool Tokenizer::is_special(int64_t id) const {
  impl_->check_id(id);
  return impl_->special[static_cast<size_t>(id)];
}

bool Tokenizer::is_byte(int64_t id) const {
  impl_->check_id(id);
  return id < impl_->vocab_size && impl_->byte_of[static_cast<size_t>(id)] >= 0;
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
int64_t Tokenizer::size() const { return impl_->size(); }

namespace {
int64_t require(int64_t id, const char* what, const std::string& origin) {
  if (id < 0) throw ConfigError(std::string("tokenizer ") + origin + " defines no " + what + " token");
  return id;
}
}  // namespace

int64_t Tokenizer::bos_id() const { return require(impl_->bos, "bos", impl_->origin); }
int64_t Tokenizer::eos_id() const { return require(impl_->eos, "eos", impl_->origin); }
int64_t Tokenizer::unk_id() const { return require(impl_->unk, "unk", impl_->origin); }
int64_t Tokenizer::pad_id() const { return require(impl_->pad, "pad", impl_->origin); }

int64_t Tokenizer::mask_id() const {
  if (auto it = impl_->added_ids.find("<mask>"); it != impl_->added_ids.end()) return it->second;
  throw ConfigError("tokenizer " + impl_->origin +
                    " has no <mask> added token (Osprey lists it in added_tokens.json)");
}

int64_t Tokenizer::pos_id() const {
  if (auto it = impl_->added_ids.find("<pos>"); it != impl_->added_ids.end()) return it->second;
  throw ConfigError("tokenizer " + impl_->origin +
                    " has no <pos> added token (Osprey lists it in added_tokens.json)");
}

const std::vector<std::pair<std::string, int64_t>>& Tokenizer::added_tokens() const { return impl_->added; }

HfTokenizerKind Tokenizer::kind() const { return impl_->kind; }

}  // namespace regionlm::text
