#include "tools/synth_vocab.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "text/byte_unicode.h"
#include "text/tokenizer.h"

namespace smallthinker {
namespace names = st::gguf_names;
namespace {

// GGUF token types (llama.cpp's enum).
constexpr int64_t kNormal = 1, kControl = 3, kUnused = 5;

// A few merges over common English pairs, so the byte-level BPE path is exercised.
const char* const kMerges[][2] = {
    {"t", "h"}, {"th", "e"}, {"Ġ", "t"}, {"Ġ", "the"}, {"i", "n"}, {"e", "r"}, {"a", "n"}, {"o", "n"},
    {"Ġ", "a"}, {"r", "e"}, {"e", "n"}, {"in", "g"}, {"Ġ", "s"}, {"o", "u"}, {"Ġ", "w"}, {"e", "s"},
};

}  // namespace

void add_synth_vocab(st::GgufWriter& w, int64_t n_vocab, const std::string& tokenizer_json) {
  if (!tokenizer_json.empty()) {
    const st::Tokenizer tok = st::Tokenizer::from_hf_json(tokenizer_json);
    if (tok.n_vocab() > n_vocab)
      throw std::invalid_argument(tokenizer_json + " has " + std::to_string(tok.n_vocab()) +
                                  " tokens, more than the model's vocabulary of " + std::to_string(n_vocab) +
                                  " (raise --vocab)");
    tok.to_gguf(w, static_cast<int32_t>(n_vocab));
    return;
  }
  std::vector<std::string> tokens;
  std::vector<int64_t> types;
  for (int b = 0; b < 256; ++b) {
    tokens.emplace_back(st::byte_unicode::encode_byte(static_cast<uint8_t>(b)));
    types.push_back(kNormal);
  }
  std::vector<std::string> merges;
  for (const auto& m : kMerges) {
    merges.push_back(std::string(m[0]) + " " + m[1]);
    tokens.push_back(std::string(m[0]) + m[1]);
    types.push_back(kNormal);
  }
  const int64_t eos = static_cast<int64_t>(tokens.size());
  for (const char* special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
    tokens.emplace_back(special);
    types.push_back(kControl);
  }
  if (static_cast<int64_t>(tokens.size()) > n_vocab)
    throw std::invalid_argument("vocabulary of " + std::to_string(n_vocab) + " is too small for the built-in " +
                                std::to_string(tokens.size()) + " tokens");
  while (static_cast<int64_t>(tokens.size()) < n_vocab) {
    tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
    types.push_back(kUnused);
  }
  w.set(std::string(names::kTokModel), st::GgufValue::string("gpt2"));
  w.set(std::string(names::kTokPre), st::GgufValue::string("qwen2"));
  w.set(std::string(names::kTokTokens), st::GgufValue::string_array(std::move(tokens)));
  w.set(std::string(names::kTokTokenType), st::GgufValue::int_array(st::GgufValueType::INT32, std::move(types)));
  w.set(std::string(names::kTokMerges), st::GgufValue::string_array(std::move(merges)));
  w.set(std::string(names::kTokBos), st::GgufValue::u32(static_cast<uint32_t>(eos)));
  w.set(std::string(names::kTokEos), st::GgufValue::u32(static_cast<uint32_t>(eos + 2)));  // <|im_end|>
  w.set(std::string(names::kTokPad), st::GgufValue::u32(static_cast<uint32_t>(eos)));
  w.set(std::string(names::kChatTemplate),
        st::GgufValue::string("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
                              "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"));
}

}  // namespace smallthinker
