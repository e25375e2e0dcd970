#pragma once
// The tiny model's tokenizer: a LLaMA-style SentencePiece BPE model trained on the task's own
// prompt and answer text, plus Osprey's added region tokens.
#include <filesystem>
#include <string>
#include <vector>

namespace regionlm::tiny_shapes {

/// SentencePiece settings (the rest are LLaMA's: BPE, byte fallback, digits split, identity
/// normalisation, dummy prefix, unk/bos/eos = 0/1/2, no pad).
struct TokenizerTrainingOptions {
  int vocab_size = 512;  // upper bound on pieces (bytes and specials included); default 512
};

/// The text a tokenizer for `template_name` must cover: every question kind rendered by that
/// conversation template (system text, image prefix, follow-up turns) cut at the image and
/// region tokens exactly where text::build_prompt cuts it, and every answer.
std::vector<std::string> tokenizer_corpus(const std::string& template_name);

/// Trains on `sentences` and writes `dir/tokenizer.model` and `dir/added_tokens.json`
/// (`<mask>` = pieces, `<pos>` = pieces + 1, Osprey's layout). Returns the number of
/// SentencePiece pieces (the decoder's vocab_size). Throws ArgumentError for an unusable
/// vocabulary size, Error when SentencePiece fails, IoError when a file cannot be written.
int train_tokenizer(const std::vector<std::string>& sentences, const std::filesystem::path& dir,
                    const TokenizerTrainingOptions& options = {});

}  // namespace regionlm::tiny_shapes
