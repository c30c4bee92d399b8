// The expert cache's bookkeeping: which (layer, expert) lives in which fixed-size slot, and
// which slot to give up when a new expert must come in. Pure policy and accounting, no I/O
// and no memory of its own (the expert store owns the slot buffers), so the same object can
// replay recorded routing traces to compare policies at many budgets in milliseconds.
// Everything is preallocated: no allocation in steady state.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace st {

enum class CachePolicy {
  lru,        // least recently used, one list over all layers (the authors' engine)
  lfu_aging,  // least frequently used, counts halved periodically so old popularity fades
  lfu_cyclic, // as lfu_aging, but among equal counts evicts the MOST recently used: the layer
              // loop makes it the expert needed furthest in the future (see the .cpp)
};
std::optional<CachePolicy> cache_policy_from_name(const std::string& name);  // "lru", "lfu", "lfu_cyclic"
const char* cache_policy_name(CachePolicy p);

struct CacheStats {
  uint64_t hits = 0;          // lookup found the expert resident (or already being read)
  uint64_t misses = 0;        // lookup had to bring the expert in
  uint64_t evictions = 0;
  double hit_rate() const { return hits + misses ? static_cast<double>(hits) / static_cast<double>(hits + misses) : 0.0; }
};

class ExpertCache {
 public:
  // n_slots >= 1 slots for n_layer * n_expert possible keys (std::invalid_argument otherwise).
  // The lfu policies halve every key's count each `aging_period` accesses; 0 picks the
  // default (4 accesses per key; see the .cpp for the measurements behind it).
  // Not thread-safe: the owner serialises calls. Costs per lookup: see expert_cache.cpp.
  ExpertCache(int n_layer, int n_expert, int n_slots, CachePolicy policy, int64_t aging_period = 0);
  static int64_t default_aging_period(int n_layer, int n_expert);

  int n_slots() const;
  int n_resident() const;  // slots holding an expert
  CachePolicy policy() const;

  // The slot holding (layer, expert), or -1. Does not count as a use.
  int find(int layer, int expert) const;

  struct Admit {
    int slot = -1;              // -1: every slot is pinned, nothing can be evicted
    bool hit = false;           // already resident: nothing to read
    int evicted_layer = -1;     // the expert that lost its slot (for the store to forget), or -1
    int evicted_expert = -1;
  };
  // Looks (layer, expert) up, counting a hit or a miss and recording a use; on a miss picks
  // a victim slot among unpinned ones and assigns it at once (the store then reads into it).
  // Pinned slots are never evicted: with every slot pinned a miss returns slot -1, still
  // counted as a miss (the caller must read the expert without caching it).
  Admit access(int layer, int expert);
  // The same assignment without counting a hit, a miss or a use: for speculative reads
  // (look-ahead guesses), which the real access() later counts if the guess was right.
  Admit admit_quietly(int layer, int expert);

  void pin(int slot);    // counted: pins nest
  void unpin(int slot);  // throws std::logic_error if the slot is not pinned
  bool pinned(int slot) const;

  // Forget the slot's expert (e.g. after an I/O error left the slot invalid): the key becomes
  // absent and the slot the first victim candidate. Its pins are kept (their holders unpin).
  void invalidate(int slot);

  const CacheStats& stats() const;
  void reset_stats();

 private:
  Admit access_impl(int layer, int expert, bool quiet);
  int key_of(int layer, int expert) const;
  void check_slot(int slot) const;
  // LRU: one doubly-linked recency list over all slots, indices instead of pointers.
  void lru_unlink(int slot);
  void lru_push_front(int slot);  // most recently used end
  void lru_push_back(int slot);   // first victim end
  int lru_victim() const;
  // lfu_*: a binary min-heap of the unpinned slots ordered by (resident, count, last use).
  bool lfu_less(int a, int b) const;
  void heap_place(int pos, int slot);
  void heap_sift_up(int pos);
  void heap_sift_down(int pos);
  void heap_insert(int slot);
  void heap_remove(int slot);
  void lfu_age();

  int n_layer_ = 0;
  int n_expert_ = 0;
  int n_slots_ = 0;
  CachePolicy policy_ = CachePolicy::lru;
  int64_t aging_period_ = 0;
  int n_resident_ = 0;
  int n_pinned_ = 0;                  // slots with pin count > 0
  std::vector<int32_t> slot_of_key_;  // [n_layer * n_expert]: slot or -1
  std::vector<int32_t> key_of_slot_;  // [n_slots]: layer * n_expert + expert, or -1 when free
  std::vector<int32_t> pins_;         // [n_slots]
  std::vector<int32_t> prev_, next_;  // [n_slots] LRU links, -1 at the ends
  int head_ = -1, tail_ = -1;         // most / least recently used slot
  std::vector<uint32_t> freq_;        // [n_layer * n_expert] aged use counts, kept across eviction
  std::vector<uint64_t> last_use_;    // [n_slots] access clock of the last use
  std::vector<int32_t> heap_;         // [n_slots]: the first heap_size_ are the unpinned slots
  std::vector<int32_t> heap_pos_;     // [n_slots] index in heap_, or -1 while pinned
  int heap_size_ = 0;
  uint64_t clock_ = 0;                // accesses so far (never reset: recency order)
  int64_t until_aging_ = 0;           // accesses left before the next halving
  CacheStats stats_;
};

// A recorded (or synthetic) routing: per token and layer, the selected experts.
struct RoutingTrace {
  int n_layer = 0;
  int n_expert = 0;
  int k = 0;
  std::vector<int32_t> experts;  // [n_tokens][n_layer][k], token-major
  size_t n_tokens() const { return n_layer && k ? experts.size() / static_cast<size_t>(n_layer * k) : 0; }
  void save(const std::string& path) const;   // small binary format, documented in the .cpp
  static RoutingTrace load(const std::string& path);
  // Paper-like synthetic routing: each layer has a fixed random hot set of
  // round(hot_fraction * n_expert) experts; each of the k distinct picks comes from it with
  // probability p_hot, else uniformly from the rest (hot_fraction 0: uniform routing).
  // Deterministic for a seed on every platform (no std:: distributions).
  static RoutingTrace synthetic(int n_layer, int n_expert, int k, size_t n_tokens, double hot_fraction, double p_hot,
                                uint64_t seed);
};
// Replays a trace through a cache of `n_slots` the way decoding uses it (per layer, the K
// selected experts stay pinned until the layer is done) and returns its statistics: how a
// policy would do at a given budget. aging_period as in ExpertCache (0 = default). Throws
// std::invalid_argument on a malformed trace.
CacheStats replay_trace(const RoutingTrace& trace, int n_slots, CachePolicy policy, int64_t aging_period = 0);

}  // namespace st
