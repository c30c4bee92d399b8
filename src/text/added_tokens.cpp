#include "text/added_tokens.h"

#include <algorithm>

namespace st {

void AddedTokenMatcher::add(std::string content, int32_t id, bool control) {
  if (content.empty()) return;  // an empty token would match everywhere
  const auto first = static_cast<uint8_t>(content[0]);
  tokens_.push_back(Entry{std::move(content), id, control});
  auto& bucket = by_first_byte_[first];
  bucket.push_back(static_cast<uint32_t>(tokens_.size() - 1));
  std::stable_sort(bucket.begin(), bucket.end(), [this](uint32_t a, uint32_t b) {
    return tokens_[a].content.size() > tokens_[b].content.size();
  });
}

std::optional<AddedTokenMatcher::Match> AddedTokenMatcher::find(std::string_view text, size_t from,
                                                                bool parse_control) const {
  if (tokens_.empty()) return std::nullopt;
  for (size_t pos = from; pos < text.size(); ++pos) {
    const auto& bucket = by_first_byte_[static_cast<uint8_t>(text[pos])];
    for (uint32_t index : bucket) {
      const Entry& e = tokens_[index];
      if (e.control && !parse_control) continue;
      if (text.compare(pos, e.content.size(), e.content) == 0) return Match{pos, e.content.size(), e.id};
    }
  }
  return std::nullopt;
}

}  // namespace st
