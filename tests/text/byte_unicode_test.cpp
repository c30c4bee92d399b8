#include "text/byte_unicode.h"

#include <gtest/gtest.h>

#include <set>

#include "text/utf8.h"

namespace st {
namespace {

TEST(ByteUnicode, KnownMappings) {
  EXPECT_EQ(byte_unicode::encode_byte(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(byte_unicode::encode_byte('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(byte_unicode::encode_byte('\t'), "\xC4\x89");  // U+0109 'ĉ'
  EXPECT_EQ(byte_unicode::encode_byte('a'), "a");
  EXPECT_EQ(byte_unicode::encode_byte('!'), "!");
  EXPECT_EQ(byte_unicode::encode_byte(0xE9), "\xC3\xA9");  // printable Latin-1 maps to itself
  EXPECT_EQ(byte_unicode::encode_byte(0xAD), "\xC5\x83");  // soft hyphen -> U+0143 (the last extra)
  EXPECT_EQ(byte_unicode::encode_byte(0x00), "\xC4\x80");  // U+0100
}

TEST(ByteUnicode, IsABijectionOnAllBytes) {
  std::set<std::string> seen;
  std::string all;
  for (int b = 0; b < 256; ++b) {
    const auto m = byte_unicode::encode_byte(static_cast<uint8_t>(b));
    EXPECT_TRUE(utf8::is_valid(m));
    seen.insert(std::string(m));
    all.push_back(static_cast<char>(b));
  }
  EXPECT_EQ(seen.size(), 256u);
  std::string mapped, back;
  byte_unicode::encode(all, mapped);
  ASSERT_TRUE(byte_unicode::decode(mapped, back));
  EXPECT_EQ(back, all);
}

TEST(ByteUnicode, DecodeRejectsUnmappedCharacters) {
  std::string out;
  EXPECT_FALSE(byte_unicode::decode("\xE4\xBD\xA0", out));  // 你 is not a byte character
  EXPECT_FALSE(byte_unicode::decode(" ", out));             // a raw space is not either (Ġ is)
  EXPECT_FALSE(byte_unicode::decode("\xC3", out));          // ill-formed
}

}  // namespace
}  // namespace st
