#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <unistd.h>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "text/tiny_vocab.h"
#include "text/utf8.h"

namespace st {
namespace {

using testing::tiny_tokenizer;
using testing::tiny_vocab_data;
using Ids = std::vector<int32_t>;

const Tokenizer& tiny() {
  static const Tokenizer t = tiny_tokenizer();
  return t;
}
int32_t id(std::string_view raw) { return *tiny().token_id(testing::mapped(raw)); }

TEST(Tokenizer, EncodesWordsThroughPretokenizerAndMerges) {
  const Tokenizer& t = tiny();
  EXPECT_EQ(t.n_vocab(), 276);
  EXPECT_EQ(t.encode("hello the"), (Ids{id("hello"), id(" the")}));
  EXPECT_EQ(t.encode("hello hello"), (Ids{id("hello"), id(" hello")}));
  EXPECT_EQ(t.encode("aaaaa"), (Ids{id("aaaa"), id("a")}));
  EXPECT_EQ(t.encode("it's"), (Ids{id("i"), id("t"), id("'s")}));
  EXPECT_EQ(t.encode("\n\n\n"), (Ids{id("\n\n"), id("\n")}));
  EXPECT_EQ(t.encode("\xE4\xBD\xA0"), (Ids{id("\xE4\xBD\xA0")}));
  EXPECT_EQ(t.encode(""), Ids{});
}

TEST(Tokenizer, NormalizesToNfcBeforeBpe) {
  // e + U+0301 becomes é, which has a merged token; NFC input encodes the same.
  EXPECT_EQ(tiny().encode("e\xCC\x81"), (Ids{id("\xC3\xA9")}));
  EXPECT_EQ(tiny().encode("\xC3\xA9"), (Ids{id("\xC3\xA9")}));
}

TEST(Tokenizer, SpecialTokensAreMatchedBeforeBpe) {
  const Tokenizer& t = tiny();
  using testing::kTinyImEnd, testing::kTinyImStart, testing::kTinyThink, testing::kTinyImPrefix;
  EXPECT_EQ(t.encode("<|im_start|>hello<|im_end|>"), (Ids{kTinyImStart, id("hello"), kTinyImEnd}));
  EXPECT_EQ(t.encode("the<think>"), (Ids{id("the"), kTinyThink}));
  // Longest match first: "<|im_start|>" wins over the user-defined prefix "<|im".
  EXPECT_EQ(t.encode("<|im_start|>"), (Ids{kTinyImStart}));
  EXPECT_EQ(t.encode("<|im_x"), (Ids{kTinyImPrefix, id("_"), id("x")}));
  // Without parse_special, control tokens are text; user-defined tokens still match.
  const Ids plain = t.encode("<|im_start|>", false);
  EXPECT_EQ(plain.front(), kTinyImPrefix);
  EXPECT_EQ(t.decode(plain), "<|im_start|>");
  EXPECT_EQ(t.encode("<think>", false), (Ids{kTinyThink}));
  // A special token splits pre-tokenization: "the" before it stays one word.
  EXPECT_EQ(t.encode(" the<|im_end|> the"), (Ids{id(" the"), kTinyImEnd, id(" the")}));
}

TEST(Tokenizer, DecodeInvertsEncodeAndCanHideControlTokens) {
  const Tokenizer& t = tiny();
  const std::string text = "<|im_start|>user\nhello, the \xE4\xBD\xA0 \xF0\x9F\x91\x8D<|im_end|>\n";
  const Ids ids = t.encode(text);
  EXPECT_EQ(t.decode(ids), text);
  EXPECT_EQ(t.decode(ids, /*show_control=*/false), "user\nhello, the \xE4\xBD\xA0 \xF0\x9F\x91\x8D\n");
  EXPECT_EQ(t.token_bytes(id(" the")), " the");
  EXPECT_EQ(t.token_text(id(" the")), "\xC4\xA0the");  // stored byte-mapped: "Ġthe"
  EXPECT_EQ(t.decode(Ids{-1, 100000, id("a")}), "a");    // unknown ids decode to nothing
  EXPECT_THROW(t.token_bytes(100000), std::out_of_range);
}

TEST(Tokenizer, InvalidUtf8BecomesReplacementCharacters) {
  const Tokenizer& t = tiny();
  const std::string bad = "he\xC3llo\xFF\xE4\xBD";
  const Ids ids = t.encode(bad);
  EXPECT_EQ(t.decode(ids), utf8::sanitize(bad));
  EXPECT_EQ(t.decode(ids), "he\xEF\xBF\xBDllo\xEF\xBF\xBD\xEF\xBF\xBD");
  std::mt19937 gen(7);  // and random bytes never throw or crash
  for (int i = 0; i < 300; ++i) {
    std::string s(gen() % 64, '\0');
    for (char& c : s) c = static_cast<char>(gen());
    EXPECT_EQ(t.decode(t.encode(s)), utf8::nfc(utf8::sanitize(s)));
  }
}

TEST(Tokenizer, EndOfGenerationTokens) {
  const Tokenizer& t = tiny();
  EXPECT_TRUE(t.is_eog(testing::kTinyImEnd));
  EXPECT_TRUE(t.is_eog(testing::kTinyEndOfText));
  EXPECT_FALSE(t.is_eog(testing::kTinyImStart));
  EXPECT_EQ(t.bos_id(), testing::kTinyEndOfText);
  EXPECT_EQ(t.token_type(testing::kTinyImStart), TokenType::Control);
  EXPECT_EQ(t.token_type(testing::kTinyThink), TokenType::UserDefined);
}

TEST(Tokenizer, RejectsBrokenData) {
  auto data = tiny_vocab_data();
  data.merges.push_back("nope missing");
  EXPECT_THROW(Tokenizer::from_data(data), TokenizerError);
  data = tiny_vocab_data();
  data.tokens[' '] = "x y";  // the byte token for ' ' disappears
  try {
    Tokenizer::from_data(data);
    FAIL();
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("tiny-vocab"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0x20"), std::string::npos) << e.what();
  }
  data = tiny_vocab_data();
  data.pre = "llama3";
  EXPECT_THROW(Tokenizer::from_data(data), TokenizerError);
}

class TokenizerGguf : public ::testing::Test {
 protected:
  std::string path_ = (std::filesystem::temp_directory_path() /
                       ("st_tokenizer_test_" + std::to_string(::getpid()) + ".gguf")).string();
  void TearDown() override { std::filesystem::remove(path_); }
};

TEST_F(TokenizerGguf, RoundTripsThroughGgufMetadata) {
  const Tokenizer& t = tiny();
  GgufWriter w;
  w.set(std::string(gguf_names::kArchitecture), GgufValue::string("smallthinker"));
  t.to_gguf(w, /*pad_to_n_vocab=*/300);
  w.write(path_);
  const auto file = GgufFile::open(path_);
  EXPECT_EQ(file->get_string(gguf_names::kTokPre), "qwen2");
  const Tokenizer back = Tokenizer::from_gguf(*file);
  EXPECT_EQ(back.n_vocab(), 300);
  EXPECT_EQ(back.token_type(299), TokenType::Unused);
  EXPECT_EQ(back.token_text(299), "[PAD299]");
  EXPECT_EQ(back.eos_id(), t.eos_id());
  EXPECT_EQ(back.chat_template(), t.chat_template());
  const std::string text = "<|im_start|>hello the \xE4\xBD\xA0<think>aaaaa";
  EXPECT_EQ(back.encode(text), t.encode(text));
}

TEST_F(TokenizerGguf, MissingTokensKeyNamesFileAndKey) {
  GgufWriter w;
  w.set(std::string(gguf_names::kArchitecture), GgufValue::string("smallthinker"));
  w.write(path_);
  const auto file = GgufFile::open(path_);
  try {
    Tokenizer::from_gguf(*file);
    FAIL();
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.tokens"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace st
