// Turns generated token ids into printable text as they arrive. A token can end in the middle
// of a multi-byte character (Qwen2 splits many CJK characters and emoji over two or three
// byte-level tokens), so bytes are held back until the character is complete; the text
// returned by push() is therefore always well-formed UTF-8 and never shows a broken character.
// Bytes that can never become valid are replaced by U+FFFD as soon as that is certain
// (rule in text/utf8.h); flush() replaces an unfinished tail the same way.
#pragma once
#include <cstdint>
#include <string>

namespace st {

class Tokenizer;

class StreamDecoder {
 public:
  // show_control: print control tokens (<|im_end|> ...) as text; chat output hides them.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool show_control = false);

  // The text that became complete with this token (often empty, often the token's own text).
  std::string push(int32_t id);
  // Whatever is still held back, with an incomplete character replaced by U+FFFD; resets.
  std::string flush();
  // Drops held-back bytes without emitting them.
  void reset() { pending_.clear(); }

 private:
  const Tokenizer& tokenizer_;
  bool show_control_;
  std::string pending_;  // bytes of an unfinished character (at most 3)
};

}  // namespace st
