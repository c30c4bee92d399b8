#include "text/bpe.h"

#include <bit>
#include <climits>
#include <queue>
#include <stdexcept>

namespace st {

BpeModel::BpeModel(const std::array<int32_t, 256>& byte_tokens, std::span<const BpeMerge> merges)
    : byte_tokens_(byte_tokens), n_merges_(merges.size()) {
  // Load factor <= 1/2 keeps probe sequences short.
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, merges.size() * 2));
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const BpeMerge& m = merges[rank];
    const uint64_t key = pair_key(m.left, m.right);
    uint64_t i = slot_index(key);
    while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask_;
    if (slots_[i].key == key) continue;  // duplicate pair: the first rank wins
    slots_[i] = Slot{key, static_cast<int32_t>(rank), m.result};
  }
}

const BpeModel::Slot* BpeModel::find(int32_t left, int32_t right) const {
  const uint64_t key = pair_key(left, right);
  uint64_t i = slot_index(key);
  while (true) {
    const Slot& s = slots_[i];
    if (s.key == key) return &s;
    if (s.key == kEmpty) return nullptr;
    i = (i + 1) & mask_;
  }
}

void BpeModel::merge_linear(std::vector<int32_t>& symbols) const {
  while (symbols.size() > 1) {
    int32_t best_rank = INT32_MAX;
    size_t best = 0;
    int32_t best_result = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const Slot* s = find(symbols[i], symbols[i + 1]);
      if (s && s->rank < best_rank) {  // strict: the leftmost of equal ranks wins
        best_rank = s->rank;
        best = i;
        best_result = s->result;
      }
    }
    if (best_rank == INT32_MAX) return;
    symbols[best] = best_result;
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
}

void BpeModel::merge_heap(std::vector<int32_t>& symbols) const {
  const int n = static_cast<int>(symbols.size());
  if (n < 2) return;
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int pos;  // original index of the left symbol: orders equal ranks left to right
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const Slot* s = find(symbols[pos], symbols[next[pos]])) queue.push({s->rank, pos});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    // Entries go stale when a neighbour merged after they were queued; the pair now at `pos`
    // is current only if it still has the queued rank (ranks are unique per pair).
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    const int right = next[c.pos];
    const Slot* s = find(symbols[c.pos], symbols[right]);
    if (!s || s->rank != c.rank) continue;
    symbols[c.pos] = s->result;
    alive[right] = false;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    consider(prev[c.pos]);
    consider(c.pos);
  }
  size_t out = 0;
  for (int i = 0; i >= 0; i = next[i]) symbols[out++] = symbols[i];
  symbols.resize(out);
}

void BpeModel::encode_piece(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.empty()) return;
  const bool cacheable = bytes.size() <= kMaxCachedPieceBytes;
  std::unique_lock<std::mutex> lock(cache_mutex_, std::defer_lock);
  if (cacheable && lock.try_lock()) {
    if (auto it = cache_.find(bytes); it != cache_.end()) {
      const CacheEntry e = it->second;
      out.insert(out.end(), cache_ids_.begin() + e.offset, cache_ids_.begin() + e.offset + e.length);
      return;
    }
  }
  const size_t first = out.size();
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  for (char c : bytes) symbols.push_back(byte_tokens_[static_cast<uint8_t>(c)]);
  if (symbols.size() <= kLinearMaxSymbols) {
    merge_linear(symbols);
  } else {
    merge_heap(symbols);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
  if (lock.owns_lock()) {
    if (cache_.size() >= kMaxCacheEntries) {  // a crude bound: start over rather than track age
      cache_.clear();
      cache_ids_.clear();
    }
    const auto offset = static_cast<uint32_t>(cache_ids_.size());
    cache_ids_.insert(cache_ids_.end(), out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
    cache_.emplace(std::string(bytes), CacheEntry{offset, static_cast<uint32_t>(out.size() - first)});
  }
}

}  // namespace st
