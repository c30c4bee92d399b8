// Added tokens (control tokens such as <|im_start|> and user-defined ones such as <think>) are
// found in the raw text before normalization and BPE, the way the tokenizers library does:
// the leftmost occurrence wins, and among tokens starting at the same byte the longest.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace st {

class AddedTokenMatcher {
 public:
  struct Match {
    size_t pos = 0, length = 0;
    int32_t id = -1;
  };

  // `control` tokens are only matched when encode() is asked to parse special tokens.
  void add(std::string content, int32_t id, bool control);

  // The leftmost-longest match at or after `from`, if any.
  std::optional<Match> find(std::string_view text, size_t from, bool parse_control) const;

  bool empty() const { return tokens_.empty(); }

 private:
  struct Entry {
    std::string content;
    int32_t id;
    bool control;
  };
  std::vector<Entry> tokens_;
  // Per first byte, indices into tokens_ ordered by decreasing length (longest match first).
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

}  // namespace st
