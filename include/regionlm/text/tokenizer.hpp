#pragma once
// LLaMA tokenizer: SentencePiece plus the checkpoint's added tokens (<mask>, <pos>), encoding
// exactly like the Hugging Face tokenizer Osprey was trained with.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace regionlm::text {

/// Which Hugging Face LLaMA tokenizer (transformers 4.31, tokenizers 0.13) `encode` reproduces.
/// Both split added/special tokens out first and encode every text segment separately with
/// SentencePiece, so each segment gets its own dummy-prefix "▁"; they differ only in the
/// whitespace next to plain added tokens such as <mask> and <pos>.
enum class HfTokenizerKind {
  /// `LlamaTokenizerFast`, which Osprey's training and inference code load (`use_fast=True`):
  /// every character of the text is kept ("of <mask>" ends the segment with "▁of", "▁").
  Fast,
  /// `LlamaTokenizer` (`use_fast=False`, `legacy=True`): whitespace on both sides of a plain
  /// added token (<mask>, <pos>) is stripped; around <s>, </s>, <unk> it is kept.
  SlowLegacy,
};

/// A LLaMA SentencePiece tokenizer with Hugging Face added tokens.
/// Copies share the loaded model; all const methods are thread-safe.
class Tokenizer {
 public:
  /// Loads `dir/tokenizer.model` plus, when present, `added_tokens.json` ({"<mask>": 32000, ...}),
  /// `special_tokens_map.json` and `tokenizer_config.json` (bos/eos/unk/pad token names,
  /// `added_tokens_decoder`). Throws IoError (missing file), FormatError (bad JSON, an added
  /// token id that collides with the SentencePiece vocabulary or leaves a gap).
  /// The tokenizer encodes like HfTokenizerKind::Fast (see with_kind()).
  static Tokenizer load(const std::filesystem::path& dir);
  /// Loads a `tokenizer.model` file and the given added tokens (piece, id); ids must continue
  /// the SentencePiece vocabulary without gaps (Osprey: {"<mask>", 32000}, {"<pos>", 32001}).
  static Tokenizer load(const std::filesystem::path& model_file,
                        const std::vector<std::pair<std::string, int64_t>>& added_tokens);
  /// The same tokenizer (sharing the loaded model) encoding like `kind`.
  Tokenizer with_kind(HfTokenizerKind kind) const;

  /// Token ids of `text`, like the Hugging Face tokenizer kind():
  /// special and added tokens (<s>, </s>, <unk>, <mask>, <pos>, ...) written in the text are
  /// split out first (leftmost, longest match), each remaining segment is encoded with
  /// SentencePiece (dummy prefix each), BOS is prepended when `add_bos`.
  std::vector<int64_t> encode(const std::string& text, bool add_bos = false) const;

  /// Text of `ids`. With `skip_special`, bos/eos/unk/pad and added tokens are dropped and the
  /// rest is decoded as one SentencePiece sequence (what HF's skip_special_tokens=True gives);
  /// otherwise special tokens appear as their piece text between separately decoded segments,
  /// so that decode(encode(s), false) == s for text SentencePiece can represent. Byte-fallback
  /// pieces (<0x0A>, ...) become bytes; invalid UTF-8 becomes U+FFFD. With `partial`, an
  /// incomplete UTF-8 sequence at the very end is left out (it may complete with the next
  /// token). Throws ArgumentError for an id outside [0, size()).
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = true,
                     bool partial = false) const;

  /// Id of a SentencePiece piece or added token; ArgumentError if unknown.
  int64_t token_id(const std::string& piece) const;
  /// Piece text of an id (SentencePiece piece or added token); ArgumentError if out of range.
  const std::string& piece(int64_t id) const;
  /// True for bos/eos/unk/pad, SentencePiece control pieces and added tokens.
  bool is_special(int64_t id) const;
  /// True for SentencePiece byte-fallback pieces (<0x00> ... <0xFF>).
  bool is_byte(int64_t id) const;

  int64_t vocab_size() const;  ///< SentencePiece pieces (32000 for LLaMA)
  int64_t size() const;        ///< including added tokens (32002 for Osprey)
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t unk_id() const;
  /// The pad token named in the tokenizer files, else unk (Osprey sets pad = unk).
  int64_t pad_id() const;
  /// Osprey's region tokens <mask> / <pos>; ConfigError when the tokenizer lacks them.
  int64_t mask_id() const;
  int64_t pos_id() const;
  /// Added tokens (piece, id) in id order.
  const std::vector<std::pair<std::string, int64_t>>& added_tokens() const;
  HfTokenizerKind kind() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

/// Turns generated ids into text as they arrive. The strings returned by push() (then finish())
/// concatenate to exactly `tokenizer.decode(all ids, skip_special)`, and none of them ends
/// inside a UTF-8 character: bytes of a character split over byte-fallback pieces are held
/// back until the character is complete. Cost per push is bounded (a short decoding window),
/// not proportional to the text so far.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(Tokenizer tokenizer, bool skip_special = true);
  /// Adds one id; returns the text it completes (possibly empty). ArgumentError for a bad id.
  std::string push(int64_t id);
  /// Returns what is still held back (an unfinished UTF-8 sequence, as U+FFFD like decode())
  /// and ends the stream: push() then throws until reset().
  std::string finish();
  /// Everything returned so far.
  const std::string& text() const { return text_; }
  /// Every id pushed so far.
  const std::vector<int64_t>& ids() const { return ids_; }
  /// Forgets all ids and text.
  void reset();

 private:
  Tokenizer tokenizer_;
  bool skip_special_;
  std::vector<int64_t> ids_;
  size_t window_begin_ = 0;    // first id of the window that is re-decoded on each push
  size_t window_emitted_ = 0;  // bytes of the window's decoded text already returned
  std::string text_;
  bool finished_ = false;
};

}  // namespace regionlm::text
