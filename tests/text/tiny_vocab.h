// A hand-built byte-level BPE vocabulary for tests and the fuzzer: the 256 byte tokens, a few
// merges whose outcome can be worked out by hand, and Qwen2's special tokens. Tests built on
// it do not need the real 151k-token vocabulary (the JavaScript oracle test covers that).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "text/byte_unicode.h"
#include "text/tokenizer.h"

namespace st::testing {

inline std::string mapped(std::string_view raw) {
  std::string out;
  byte_unicode::encode(raw, out);
  return out;
}

// Raw-byte merges in rank order; each result becomes a token (ids from 256 on, in this order).
inline const std::vector<std::pair<std::string, std::string>>& tiny_merges() {
  static const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"},             // 256 "he"
      {"t", "he"},            // 257 "the"
      {" ", "the"},           // 258 " the"
      {"l", "l"},             // 259 "ll"
      {"he", "ll"},           // 260 "hell"
      {"hell", "o"},          // 261 "hello"
      {"a", "a"},             // 262 "aa"
      {"aa", "aa"},           // 263 "aaaa"
      {"\xE4", "\xBD"},       // 264 first two bytes of 你 (E4 BD A0)
      {"\xE4\xBD", "\xA0"},   // 265 "你"
      {"'", "s"},             // 266 "'s"
      {"\n", "\n"},           // 267 "\n\n"
      {" ", " "},             // 268 "  "
      {" ", "hello"},         // 269 " hello"
      {"\xC3", "\xA9"},       // 270 "é" (NFC form)
  };
  return merges;
}

inline constexpr int32_t kTinyEndOfText = 271;
inline constexpr int32_t kTinyImStart = 272;
inline constexpr int32_t kTinyImEnd = 273;
inline constexpr int32_t kTinyThink = 274;   // user-defined, like Qwen3's <think>
inline constexpr int32_t kTinyImPrefix = 275;  // user-defined "<|im": overlaps <|im_start|>

inline TokenizerData tiny_vocab_data() {
  TokenizerData d;
  d.source = "tiny-vocab";
  for (int b = 0; b < 256; ++b) {
    d.tokens.push_back(std::string(byte_unicode::encode_byte(static_cast<uint8_t>(b))));
    d.types.push_back(TokenType::Normal);
  }
  for (const auto& [left, right] : tiny_merges()) {
    d.merges.push_back(mapped(left) + " " + mapped(right));
    d.tokens.push_back(mapped(left + right));
    d.types.push_back(TokenType::Normal);
  }
  const std::pair<const char*, TokenType> added[] = {
      {"<|endoftext|>", TokenType::Control}, {"<|im_start|>", TokenType::Control},
      {"<|im_end|>", TokenType::Control},    {"<think>", TokenType::UserDefined},
      {"<|im", TokenType::UserDefined}};
  for (const auto& [text, type] : added) {
    d.tokens.push_back(text);
    d.types.push_back(type);
  }
  d.bos_id = kTinyEndOfText;
  d.eos_id = kTinyImEnd;
  d.pad_id = kTinyEndOfText;
  d.chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
  return d;
}

inline Tokenizer tiny_tokenizer() { return Tokenizer::from_data(tiny_vocab_data()); }

}  // namespace st::testing
