#include "text/stream_decoder.h"

#include <gtest/gtest.h>

#include <random>

#include "text/tiny_vocab.h"
#include "text/utf8.h"

namespace st {
namespace {

const Tokenizer& tiny() {
  static const Tokenizer t = testing::tiny_tokenizer();
  return t;
}
int32_t byte_id(uint8_t b) { return *tiny().token_id(testing::mapped(std::string(1, static_cast<char>(b)))); }

TEST(StreamDecoder, HoldsBackASplitCharacterUntilComplete) {
  StreamDecoder d(tiny());
  // 👍 = F0 9F 91 8D arrives one byte token at a time.
  EXPECT_EQ(d.push(byte_id('a')), "a");
  EXPECT_EQ(d.push(byte_id(0xF0)), "");
  EXPECT_EQ(d.push(byte_id(0x9F)), "");
  EXPECT_EQ(d.push(byte_id(0x91)), "");
  EXPECT_EQ(d.push(byte_id(0x8D)), "\xF0\x9F\x91\x8D");
  // 你 = E4 BD A0 as two tokens: "E4 BD" then "A0".
  EXPECT_EQ(d.push(*tiny().token_id(testing::mapped("\xE4\xBD"))), "");
  EXPECT_EQ(d.push(byte_id(0xA0)), "\xE4\xBD\xA0");
  EXPECT_EQ(d.flush(), "");
}

TEST(StreamDecoder, ReplacesWhatCanNeverBeComplete) {
  StreamDecoder d(tiny());
  EXPECT_EQ(d.push(byte_id(0xE4)), "");
  // 'x' cannot continue E4: the held byte becomes U+FFFD at once, then 'x'.
  EXPECT_EQ(d.push(byte_id('x')), "\xEF\xBF\xBDx");
  EXPECT_EQ(d.push(byte_id(0xFF)), "\xEF\xBF\xBD");
  EXPECT_EQ(d.push(byte_id(0xF0)), "");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");  // an unfinished tail at the end
}

TEST(StreamDecoder, ControlTokensHiddenByDefault) {
  StreamDecoder hidden(tiny());
  EXPECT_EQ(hidden.push(testing::kTinyImEnd), "");
  StreamDecoder shown(tiny(), /*show_control=*/true);
  EXPECT_EQ(shown.push(testing::kTinyImEnd), "<|im_end|>");
}

// Streaming must print exactly what decoding everything at once and sanitizing would.
TEST(StreamDecoder, MatchesWholeDecodeOnRandomTokens) {
  std::mt19937 gen(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> ids(gen() % 40);
    for (auto& i : ids) i = static_cast<int32_t>(gen() % 271);  // byte and merged tokens
    StreamDecoder d(tiny());
    std::string streamed;
    for (int32_t i : ids) {
      const std::string part = d.push(i);
      EXPECT_TRUE(utf8::is_valid(part));
      streamed += part;
    }
    streamed += d.flush();
    ASSERT_EQ(streamed, utf8::sanitize(tiny().decode(ids))) << "trial " << trial;
  }
}

}  // namespace
}  // namespace st
