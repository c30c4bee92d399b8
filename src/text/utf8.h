// UTF-8 helpers shared by the tokenizer, the streaming detokenizer and the chat code.
//
// Invalid input rule (used everywhere text enters the tokenizer): every *maximal subpart* of
// an ill-formed sequence becomes one U+FFFD. This is the replacement practice the Unicode
// standard recommends (chapter 3, "U+FFFD substitution of maximal subparts") and the one
// WHATWG TextDecoder, Python's errors="replace" and ICU use, so our output matches what a
// JavaScript or Python client would see for the same bytes. Examples:
//   "\xC3"          -> U+FFFD          (truncated 2-byte sequence)
//   "\xE2\x82"      -> U+FFFD          (truncated 3-byte sequence: one subpart)
//   "\xC0\xAF"      -> U+FFFD U+FFFD   (overlong lead byte C0 is never valid)
//   "\xED\xA0\x80"  -> 3 x U+FFFD      (a UTF-16 surrogate is not a scalar value)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace st::utf8 {

inline constexpr char32_t kReplacement = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Appends the UTF-8 encoding of a scalar value (values above U+10FFFF or surrogates append U+FFFD).
void append(std::string& out, char32_t cp);

// Length of the well-formed sequence starting at s[pos], or 0 if the bytes there do not start a
// complete well-formed sequence (invalid or truncated). Decodes into *cp when non-null.
size_t valid_sequence_length(std::string_view s, size_t pos, char32_t* cp = nullptr);

// Length of the maximal subpart starting at s[pos] when no valid sequence starts there:
// the longest prefix of a well-formed sequence (at least 1 byte). Only meaningful when
// valid_sequence_length(s, pos) == 0.
size_t maximal_subpart_length(std::string_view s, size_t pos);

bool is_valid(std::string_view s);

// Replaces ill-formed subsequences by U+FFFD (the rule above); valid input is returned unchanged.
std::string sanitize(std::string_view s);

// Length of the longest prefix of `s` that does not end inside a sequence that could still
// become valid with more bytes. Used by streaming decoding: bytes past the returned length are
// an incomplete (but so far well-formed) sequence that must wait for the next token.
size_t complete_prefix_length(std::string_view s);

// Unicode NFC of well-formed UTF-8 (utf8proc). Pure-ASCII input is returned as is without a call.
// Throws std::invalid_argument if utf8proc rejects the input (only possible for ill-formed UTF-8).
std::string nfc(std::string_view s);

// True when every byte is < 0x80.
bool is_ascii(std::string_view s);

}  // namespace st::utf8
