// The table is computed once from the rule in the header rather than written out, so the
// rule is the single source of truth.
#include "text/byte_unicode.h"

#include <array>

#include "text/utf8.h"

namespace st::byte_unicode {
namespace {

bool maps_to_itself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<std::string, 256> byte_to_utf8;
  std::array<int16_t, 512> cp_to_byte;  // every mapped code point is < U+0144; -1 = unmapped

  Tables() {
    cp_to_byte.fill(-1);
    char32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = maps_to_itself(b) ? static_cast<char32_t>(b) : next_extra++;
      utf8::append(byte_to_utf8[b], cp);
      cp_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string_view encode_byte(uint8_t b) { return tables().byte_to_utf8[b]; }

void encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (char c : bytes) out += t.byte_to_utf8[static_cast<uint8_t>(c)];
}

std::optional<uint8_t> decode_char(char32_t cp) {
  if (cp >= tables().cp_to_byte.size()) return std::nullopt;
  const int16_t b = tables().cp_to_byte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

bool decode(std::string_view mapped, std::string& out) {
  size_t i = 0;
  while (i < mapped.size()) {
    char32_t cp = 0;
    const size_t n = utf8::valid_sequence_length(mapped, i, &cp);
    if (n == 0) return false;
    const auto b = decode_char(cp);
    if (!b) return false;
    out.push_back(static_cast<char>(*b));
    i += n;
  }
  return true;
}

}  // namespace st::byte_unicode
