#pragma once
// UTF-8 helpers shared by the tokenizer and the placeholder parser (internal).
#include <cstddef>
#include <string>
#include <string_view>

namespace regionlm::text::utf8 {

/// U+FFFD, what invalid bytes decode to (SentencePiece and Hugging Face agree).
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

/// Appends `bytes` decoded as UTF-8: valid characters are copied, every byte that does not
/// start a valid character becomes U+FFFD. With `hold_incomplete_tail`, a trailing sequence
/// that is a valid but unfinished character is left out; returns its length in bytes.
size_t append_sanitized(std::string& out, std::string_view bytes, bool hold_incomplete_tail);

/// Python's str.lstrip() / str.rstrip() without arguments: removes leading / trailing
/// characters for which str.isspace() is true (ASCII and Unicode white space).
std::string_view python_lstrip(std::string_view text);
std::string_view python_rstrip(std::string_view text);

}  // namespace regionlm::text::utf8
