// Scanning streamed model text for literal tags (<tool_call>, <think>, ...): shared by the
// tool-call parser and the reasoning splitter, which both hold back a tail that may still
// become a tag when the next token arrives.
#pragma once
#include <algorithm>
#include <cstddef>
#include <string_view>

namespace st::server {

inline bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// The length of the longest tail of `text` that is a proper prefix of `tag` (it may be
// completed by the next piece, so it is held back).
inline size_t partial_tag_tail(std::string_view text, std::string_view tag) {
  for (size_t n = std::min(tag.size() - 1, text.size()); n > 0; --n)
    if (text.substr(text.size() - n) == tag.substr(0, n)) return n;
  return 0;
}

}  // namespace st::server
