#include "text/utf8.h"

#include <gtest/gtest.h>

namespace st {
namespace {

const std::string R(utf8::kReplacementUtf8);

TEST(Utf8, ValidTextIsUnchanged) {
  for (std::string s : {"", "abc", "h\xC3\xA9llo", "\xE4\xBD\xA0\xE5\xA5\xBD", "\xF0\x9F\x91\x8D", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(utf8::is_valid(s)) << s;
    EXPECT_EQ(utf8::sanitize(s), s);
  }
}

// Each maximal subpart of an ill-formed sequence becomes one U+FFFD (Unicode ch. 3, the
// practice WHATWG TextDecoder follows); these are the standard's own examples and edge cases.
TEST(Utf8, InvalidSequencesBecomeOneReplacementPerMaximalSubpart) {
  EXPECT_EQ(utf8::sanitize("\xC3"), R);                          // truncated 2-byte
  EXPECT_EQ(utf8::sanitize("a\xE2\x82z"), "a" + R + "z");       // truncated 3-byte: one subpart
  EXPECT_EQ(utf8::sanitize("\xF0\x9F\x91"), R);                  // truncated 4-byte
  EXPECT_EQ(utf8::sanitize("\xC0\xAF"), R + R);                  // overlong lead C0 never valid
  EXPECT_EQ(utf8::sanitize("\xE0\x80\xAF"), R + R + R);          // overlong 3-byte
  EXPECT_EQ(utf8::sanitize("\xED\xA0\x80"), R + R + R);          // surrogate D800
  EXPECT_EQ(utf8::sanitize("\xF4\x90\x80\x80"), R + R + R + R);  // above U+10FFFF
  EXPECT_EQ(utf8::sanitize("\xF5\xFF\xFE"), R + R + R);
  EXPECT_EQ(utf8::sanitize("\x80\xBF"), R + R);                  // lone continuation bytes
  EXPECT_EQ(utf8::sanitize("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + R + R + R + "b" + R + "c" + R + R + "d");      // Unicode Table 3-8
  EXPECT_FALSE(utf8::is_valid("\xC3"));
  EXPECT_TRUE(utf8::is_valid(utf8::sanitize("\xFF\xC3\xE2\x82")));
}

TEST(Utf8, CompletePrefixHoldsBackOnlyAnUnfinishedCharacter) {
  EXPECT_EQ(utf8::complete_prefix_length(""), 0u);
  EXPECT_EQ(utf8::complete_prefix_length("ab"), 2u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xC3"), 1u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xC3\xA9"), 3u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xE4\xBD"), 1u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xF0\x9F\x91"), 1u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xF0\x9F\x91\x8D"), 5u);
  // Already impossible, so not worth waiting for: the caller replaces them.
  EXPECT_EQ(utf8::complete_prefix_length("a\xE0\x80"), 3u);
  EXPECT_EQ(utf8::complete_prefix_length("a\xFF"), 2u);
  EXPECT_EQ(utf8::complete_prefix_length("\x80\x80\x80"), 3u);
}

TEST(Utf8, NfcComposesAndReorders) {
  EXPECT_EQ(utf8::nfc("e\xCC\x81"), "\xC3\xA9");                      // e + U+0301 -> é
  EXPECT_EQ(utf8::nfc("\xE2\x84\xAB"), "\xC3\x85");                   // U+212B ANGSTROM -> Å
  EXPECT_EQ(utf8::nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");   // jamo -> 가
  EXPECT_EQ(utf8::nfc("o\xCC\xA3\xCC\x82"), "\xE1\xBB\x99");          // ộ from either mark order
  EXPECT_EQ(utf8::nfc("o\xCC\x82\xCC\xA3"), "\xE1\xBB\x99");
  EXPECT_EQ(utf8::nfc("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");   // U+0958 is a composition exclusion
  EXPECT_EQ(utf8::nfc("\xEF\xAC\x81"), "\xEF\xAC\x81");               // ﬁ: NFC keeps compatibility chars
  EXPECT_EQ(utf8::nfc("plain"), "plain");
}

TEST(Utf8, AppendEncodesAndReplacesNonScalars) {
  std::string s;
  utf8::append(s, U'A');
  utf8::append(s, 0xE9);
  utf8::append(s, 0x4F60);
  utf8::append(s, 0x1F44D);
  utf8::append(s, 0xD800);
  EXPECT_EQ(s, "A\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x91\x8D" + R);
  char32_t cp = 0;
  EXPECT_EQ(utf8::valid_sequence_length("\xF0\x9F\x91\x8D", 0, &cp), 4u);
  EXPECT_EQ(cp, 0x1F44Du);
}

}  // namespace
}  // namespace st
