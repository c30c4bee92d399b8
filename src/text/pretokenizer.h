// Qwen2's pre-tokenizer: a regular expression splits normalized text into pieces, and BPE
// then runs on each piece independently. The pattern (tokenizer.json, Split/Isolated):
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// It is compiled with PCRE2 (UTF, UCP, JIT when available) after two rewrites that pin its
// meaning to what the Rust tokenizers library (Oniguruma) does, independent of the PCRE2 version:
//  - \s and \S become an explicit class of the Unicode White_Space property (U+0009..U+000D,
//    U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000).
//    PCRE2's UCP \s and JavaScript's \s both differ from it (JS adds U+FEFF and drops U+0085).
//  - (?i:...) folds ASCII case only ('S, 'LL, 'Re). Unicode case folding would also accept
//    U+017F LONG S for 's'; both JavaScript reference implementations fold ASCII only, and for
//    this pattern the two readings split text identically except for "'" + U+017F + letters.
// \p{L} and \p{N} come from PCRE2's Unicode tables (Unicode 14 for PCRE2 10.42); characters
// assigned in later Unicode versions can classify differently than in newer references.
#pragma once
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace st {

class Pretokenizer {
 public:
  // The pattern exactly as Qwen2's tokenizer.json writes it (used to validate a loaded file).
  static constexpr std::string_view kQwen2Pattern =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

  Pretokenizer();  // Qwen2
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  // Iterates over the pieces of one text. Pieces are contiguous, in order, and cover the whole
  // text. The text must be well-formed UTF-8 (the tokenizer sanitizes first). One Cursor per
  // thread; the Pretokenizer itself is shared read-only.
  class Cursor {
   public:
    Cursor(const Pretokenizer& pre, std::string_view text);
    ~Cursor();
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;
    bool next(std::string_view& piece);

   private:
    const Pretokenizer& pre_;
    std::string_view text_;
    size_t pos_ = 0;
    size_t pending_start_ = 0, pending_end_ = 0;  // a match found after an unmatched gap
    void* match_data_ = nullptr;                  // pcre2_match_data_8*
  };

  std::vector<std::string_view> split(std::string_view text) const;
  bool jit_enabled() const { return jit_; }

 private:
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace st
