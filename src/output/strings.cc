#include "output/strings.h"

#include <cctype>
#include <cstring>

namespace tracekit {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_byte(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// Code point of the valid sequence of `len` bytes at p.
char32_t decode(const unsigned char* p, size_t len) {
  switch (len) {
    case 1:
      return p[0];
    case 2:
      return (char32_t(p[0] & 0x1f) << 6) | (p[1] & 0x3f);
    case 3:
      return (char32_t(p[0] & 0x0f) << 12) | (char32_t(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
    default:
      return (char32_t(p[0] & 0x07) << 18) | (char32_t(p[1] & 0x3f) << 12) | (char32_t(p[2] & 0x3f) << 6) |
             (p[3] & 0x3f);
  }
}

bool terminal_control(char32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  const size_t left = s.size() - i;
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  auto cont = [&](size_t k) { return k < left && (p[k] & 0xc0) == 0x80; };
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0;   // overlong
    if (c == 0xed && p[1] >= 0xa0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xf0 && p[1] < 0x90) return 0;   // overlong
    if (c == 0xf4 && p[1] >= 0x90) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;  // continuation byte, 0xc0/0xc1, 0xf5..0xff
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

namespace {

// Calls f(bytes, valid) for each UTF-8 sequence of s, and for each byte that is not part
// of a valid one (valid = false, one byte).
template <class F>
void for_each_sequence(std::string_view s, F&& f) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : utf8_sequence_length(s, i);
    f(s.substr(i, n ? n : 1), n != 0);
    i += n ? n : 1;
  }
}

}  // namespace

void append_escaped_form(std::string& out, std::string_view s) {
  for_each_sequence(s, [&](std::string_view seq, bool valid) {
    if (!valid)
      append_hex_byte(out, static_cast<unsigned char>(seq[0]));
    else if (seq == "\\")
      out += "\\\\";
    else
      out += seq;
  });
}

void append_text_safe(std::string& out, std::string_view s, bool escape_backslash) {
  for_each_sequence(s, [&](std::string_view seq, bool valid) {
    const auto c = static_cast<unsigned char>(seq[0]);
    if (!valid) return append_hex_byte(out, c);
    if (c == '\\' && escape_backslash) return void(out += "\\\\");
    if (c == '\n') return void(out += "\\n");
    if (c == '\t') return void(out += "\\t");
    const char32_t cp = decode(reinterpret_cast<const unsigned char*>(seq.data()), seq.size());
    if (!terminal_control(cp)) return void(out += seq);
    if (cp < 0x80) return append_hex_byte(out, c);
    out += "\\u{";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xf];
    out += '}';
  });
}

std::string text_safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_text_safe(out, s);
  return out;
}

bool is_plain_word(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (!(std::isalnum(c) || std::strchr("-_./=:,+@%^", c)) || c == 0) return false;
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(s, i);
    if (n == 0 || terminal_control(decode(reinterpret_cast<const unsigned char*>(s.data()) + i, n))) return false;
    i += n;
  }
  return true;
}

std::string shell_quote(std::string_view s) {
  if (is_plain_word(s)) return std::string(s);
  std::string safe;
  append_text_safe(safe, s, true);
  std::string out = "'";
  for (char c : safe) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace tracekit
