// GPT-2's reversible byte <-> Unicode mapping used by byte-level BPE vocabularies (Qwen2's
// included): every byte becomes one printable code point, so a vocabulary of strings can
// hold arbitrary bytes. Printable Latin-1 bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF)
// map to themselves; the other 68 bytes (controls, space, DEL, NBSP, soft hyphen...) map in
// byte order to U+0100, U+0101, ... (so ' ' -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace st::byte_unicode {

// UTF-8 encoding of the code point that byte `b` maps to (1 or 2 bytes).
std::string_view encode_byte(uint8_t b);

// Appends the mapped form of every byte of `bytes`.
void encode(std::string_view bytes, std::string& out);

// The byte a code point stands for, or nullopt if the code point is not in the map.
std::optional<uint8_t> decode_char(char32_t cp);

// Maps a vocabulary string back to raw bytes. Returns false (and leaves out partially filled)
// if some character is not part of the mapping; such strings are not byte-level tokens.
bool decode(std::string_view mapped, std::string& out);

}  // namespace st::byte_unicode
