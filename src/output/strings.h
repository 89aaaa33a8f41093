// Exact strings: what the kernel hands us is bytes, usually UTF-8, sometimes not.
//
// JSON (docs/json.md): valid UTF-8 passes through unchanged (é, 日本語, emoji); only
// what JSON itself requires is escaped (", \, control characters). A string that is
// NOT valid UTF-8 is written in the escaped form: every byte that is not part of a
// valid UTF-8 sequence becomes the four characters \xHH (lower-case hex), and every
// backslash of the original becomes two, so the original bytes can be recovered
// exactly. The record's "invalid_utf8" array names each field written that way.
//
// Text: valid, printable UTF-8 is printed as is. Control characters (C0, DEL, C1),
// the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) and invalid
// bytes are escaped (\n, \t, \xHH, \u{202e}), so no argument or file name can move the
// operator's cursor, recolour the terminal or forge an output line.
#pragma once

#include <string>
#include <string_view>

namespace tracekit {

// Length of the valid UTF-8 sequence at s[i] (1-4), or 0 when the byte there does not
// start one (stray continuation byte, overlong form, surrogate, beyond U+10FFFF, cut).
size_t utf8_sequence_length(std::string_view s, size_t i);
bool is_valid_utf8(std::string_view s);

// Appends s in the escaped form above (backslashes doubled, invalid bytes as \xHH).
void append_escaped_form(std::string& out, std::string_view s);

// Appends s made safe for a terminal (see above). Backslashes are doubled when
// `escape_backslash` is set, so that an escape in the output is never ambiguous.
void append_text_safe(std::string& out, std::string_view s, bool escape_backslash = true);
std::string text_safe(std::string_view s);

// True when s can be printed bare in a shell-like line: not empty, and every character
// is an ASCII letter, digit or one of -_./=:,+@%^, or printable non-ASCII UTF-8 (é, 日).
bool is_plain_word(std::string_view s);

// s as is when it is a plain word, else in single quotes with ' written as '\'' and
// the rest made terminal-safe: 'a b', 'it'\''s', 'tab\there', '\x01', ''.
std::string shell_quote(std::string_view s);

}  // namespace tracekit
