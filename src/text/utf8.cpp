#include "text/utf8.hpp"

namespace regionlm::text::utf8 {
namespace {

/// Length of the UTF-8 sequence a lead byte announces; 0 for a byte that cannot lead one.
size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

/// Valid range of the second byte after `lead` (excludes overlongs, surrogates, > U+10FFFF).
bool second_byte_ok(unsigned char lead, unsigned char b) {
  switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
  }
}

bool continuation(unsigned char b) { return b >= 0x80 && b <= 0xBF; }

/// Decodes one code point at `s` (assumed valid UTF-8, as produced by our own splitting);
/// returns its length through `len`.
char32_t decode_at(std::string_view s, size_t pos, size_t& len) {
  const auto lead = static_cast<unsigned char>(s[pos]);
  len = sequence_length(lead);
  if (len == 0 || pos + len > s.size()) {
    len = 1;
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? lead : lead & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
  return cp;
}

/// Python's str.isspace().
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace

size_t append_sanitized(std::string& out, std::string_view bytes, bool hold_incomplete_tail) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[pos]);
    const size_t want = sequence_length(lead);
    if (want == 0) {
      out += kReplacement;
      ++pos;
      continue;
    }
    size_t have = 1;
    while (have < want && pos + have < bytes.size()) {
      const auto b = static_cast<unsigned char>(bytes[pos + have]);
      if (!(have == 1 ? second_byte_ok(lead, b) : continuation(b))) break;
      ++have;
    }
    if (have == want) {
      out.append(bytes.substr(pos, want));
      pos += want;
    } else if (pos + have == bytes.size() && hold_incomplete_tail) {
      return have;  // a valid prefix of a character cut off by the end of the input
    } else {
      out += kReplacement;  // only the lead byte is consumed, as SentencePiece does
      ++pos;
    }
  }
  return 0;
}

std::string_view python_lstrip(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = 0;
    if (!is_python_space(decode_at(text, pos, len))) break;
    pos += len;
  }
  return text.substr(pos);
}

std::string_view python_rstrip(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;  // step back to the lead byte of the last character
    while (start > 0 && continuation(static_cast<unsigned char>(text[start]))) --start;
    size_t len = 0;
    if (!is_python_space(decode_at(text, start, len)) || start + len != end) break;
    end = start;
  }
  return text.substr(0, end);
}

}  // namespace regionlm::text::utf8
