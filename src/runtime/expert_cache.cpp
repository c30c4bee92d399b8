// Expert cache bookkeeping: key <-> slot maps, the eviction policies, and routing traces.
//
// Cost model that shaped this file: the 4B model does 32 layers x 4 lookups per token and a
// useful cache holds ~300-1000 experts. Every lookup touches the policy structure, a miss also
// picks a victim, so both must stay far below the ~1 us that even a page-cache copy of one
// expert costs. LRU is an intrusive list: ~16 ns per lookup including pin and unpin. The LFU
// policies keep their candidates in a binary heap: O(log n_slots), ~100-125 ns per lookup
// with pin and unpin (each moves the slot out of / into the heap), i.e. ~15-40 us per token
// for the 4B / 21B shapes. Scanning all slots for the victim instead costs ~1 us per miss at
// 1000 slots (bench/expert_cache_bench.cpp: lookup/*, scan_victim/*).
#include "runtime/expert_cache.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>

#include "formats/output_file.h"

namespace st {

std::optional<CachePolicy> cache_policy_from_name(const std::string& name) {
  if (name == "lru") return CachePolicy::lru;
  if (name == "lfu" || name == "lfu_aging") return CachePolicy::lfu_aging;
  if (name == "lfu_cyclic") return CachePolicy::lfu_cyclic;
  return std::nullopt;
}

const char* cache_policy_name(CachePolicy p) {
  switch (p) {
    case CachePolicy::lru: return "lru";
    case CachePolicy::lfu_aging: return "lfu";
    case CachePolicy::lfu_cyclic: return "lfu_cyclic";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Construction and lookups

// Four halvings' worth of history per key visit pattern: the period is 4 accesses per key, i.e.
// 4 * n_expert / k tokens (32 tokens for the 4B model, 43 for the 21B). Replays of synthetic
// skewed traces (bench/expert_cache_bench.cpp) show why it scales with the number of keys and
// not the number of slots: a period of 4 * n_slots at a 10% budget spans ~3 tokens, counts stay
// at 0-2, ties everywhere and LFU degrades towards LRU (skewed 10%: 0.07 hit rate vs 0.17).
// Longer periods gain little (8 * keys: +0.005) and adapt slower when the hot set moves.
int64_t ExpertCache::default_aging_period(int n_layer, int n_expert) {
  return 4 * static_cast<int64_t>(n_layer) * static_cast<int64_t>(n_expert);
}

ExpertCache::ExpertCache(int n_layer, int n_expert, int n_slots, CachePolicy policy, int64_t aging_period)
    : n_layer_(n_layer), n_expert_(n_expert), n_slots_(n_slots), policy_(policy) {
  if (n_layer <= 0 || n_expert <= 0) throw std::invalid_argument("expert cache: n_layer and n_expert must be positive");
  if (n_slots <= 0) throw std::invalid_argument("expert cache: n_slots must be positive");
  if (static_cast<int64_t>(n_layer) * n_expert > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("expert cache: too many (layer, expert) keys");
  if (aging_period < 0) throw std::invalid_argument("expert cache: aging period must be >= 0");
  aging_period_ = aging_period > 0 ? aging_period : default_aging_period(n_layer, n_expert);
  until_aging_ = aging_period_;

  const size_t n_keys = static_cast<size_t>(n_layer) * static_cast<size_t>(n_expert);
  const size_t slots = static_cast<size_t>(n_slots);
  slot_of_key_.assign(n_keys, -1);
  key_of_slot_.assign(slots, -1);
  pins_.assign(slots, 0);
  last_use_.assign(slots, 0);
  if (policy_ == CachePolicy::lru) {
    prev_.assign(slots, -1);
    next_.assign(slots, -1);
    for (int s = 0; s < n_slots; ++s) lru_push_back(s);
  } else {
    freq_.assign(n_keys, 0);
    heap_.assign(slots, -1);
    heap_pos_.assign(slots, -1);
    // All slots start free and compare equal, so any order is a valid heap.
    for (int s = 0; s < n_slots; ++s) heap_place(s, s);
    heap_size_ = n_slots;
  }
}

int ExpertCache::n_slots() const { return n_slots_; }
int ExpertCache::n_resident() const { return n_resident_; }
CachePolicy ExpertCache::policy() const { return policy_; }
const CacheStats& ExpertCache::stats() const { return stats_; }
void ExpertCache::reset_stats() { stats_ = CacheStats{}; }

int ExpertCache::key_of(int layer, int expert) const {
  if (layer < 0 || layer >= n_layer_ || expert < 0 || expert >= n_expert_)
    throw std::out_of_range("expert cache: (layer " + std::to_string(layer) + ", expert " + std::to_string(expert) +
                            ") out of range");
  return layer * n_expert_ + expert;
}

void ExpertCache::check_slot(int slot) const {
  if (slot < 0 || slot >= n_slots_) throw std::out_of_range("expert cache: slot " + std::to_string(slot) + " out of range");
}

int ExpertCache::find(int layer, int expert) const { return slot_of_key_[static_cast<size_t>(key_of(layer, expert))]; }

ExpertCache::Admit ExpertCache::access(int layer, int expert) { return access_impl(layer, expert, false); }

ExpertCache::Admit ExpertCache::admit_quietly(int layer, int expert) { return access_impl(layer, expert, true); }

ExpertCache::Admit ExpertCache::access_impl(int layer, int expert, bool quiet) {
  const int key = key_of(layer, expert);
  ++clock_;
  const bool lfu = policy_ != CachePolicy::lru;
  // Popularity is a property of the expert, not of its residency: count the use even when
  // it misses or cannot be cached, so a returning hot expert is recognised at once. A quiet
  // admission (a speculative read) is not a use.
  if (!quiet && lfu && freq_[static_cast<size_t>(key)] < std::numeric_limits<uint32_t>::max()) ++freq_[static_cast<size_t>(key)];

  Admit r;
  int slot = slot_of_key_[static_cast<size_t>(key)];
  if (slot >= 0) {
    if (!quiet) ++stats_.hits;
    r.hit = true;
  } else {
    // A lookup that finds every slot pinned is still a miss: the caller must read the expert
    // without caching it (or wait for a pin to drop), which costs the same I/O.
    if (!quiet) ++stats_.misses;
    slot = n_pinned_ == n_slots_ ? -1 : lfu ? (heap_size_ > 0 ? heap_[0] : -1) : lru_victim();
    if (slot >= 0) {
      const int old = key_of_slot_[static_cast<size_t>(slot)];
      if (old >= 0) {
        ++stats_.evictions;
        slot_of_key_[static_cast<size_t>(old)] = -1;
        r.evicted_layer = old / n_expert_;
        r.evicted_expert = old % n_expert_;
      } else {
        ++n_resident_;
      }
      key_of_slot_[static_cast<size_t>(slot)] = key;
      slot_of_key_[static_cast<size_t>(key)] = slot;
    }
  }
  r.slot = slot;
  if (slot >= 0) {
    // Record the use: the slot moves to the most-recent end / to its new heap position (the
    // count grew, so it sinks; only a saturated count under lfu_cyclic can make it rise).
    last_use_[static_cast<size_t>(slot)] = clock_;
    if (!lfu) {
      lru_unlink(slot);
      lru_push_front(slot);
    } else if (const int pos = heap_pos_[static_cast<size_t>(slot)]; pos >= 0) {
      heap_sift_up(pos);
      heap_sift_down(heap_pos_[static_cast<size_t>(slot)]);
    }
  }
  if (lfu && --until_aging_ <= 0) {
    lfu_age();
    until_aging_ = aging_period_;
  }
  return r;
}

// Pinned slots leave the LFU heap entirely, so the victim is always the heap root. The LRU
// list keeps them and the victim walk skips them: only the handful in use right now are
// pinned, and they sit at the recent end, so the walk rarely meets one.
void ExpertCache::pin(int slot) {
  check_slot(slot);
  if (pins_[static_cast<size_t>(slot)]++ > 0) return;
  ++n_pinned_;
  if (policy_ != CachePolicy::lru) heap_remove(slot);
}

void ExpertCache::unpin(int slot) {
  check_slot(slot);
  if (pins_[static_cast<size_t>(slot)] == 0) throw std::logic_error("expert cache: unpin of unpinned slot " + std::to_string(slot));
  if (--pins_[static_cast<size_t>(slot)] > 0) return;
  --n_pinned_;
  if (policy_ != CachePolicy::lru) heap_insert(slot);
}

bool ExpertCache::pinned(int slot) const {
  check_slot(slot);
  return pins_[static_cast<size_t>(slot)] > 0;
}

// The slot's pins belong to whoever holds views of it and are left alone; once they drop,
// the free slot is the first victim candidate (the LRU tail / the heap root).
void ExpertCache::invalidate(int slot) {
  check_slot(slot);
  const int key = key_of_slot_[static_cast<size_t>(slot)];
  if (key < 0) return;
  slot_of_key_[static_cast<size_t>(key)] = -1;
  key_of_slot_[static_cast<size_t>(slot)] = -1;
  --n_resident_;
  if (policy_ == CachePolicy::lru) {
    lru_unlink(slot);
    lru_push_back(slot);
  } else if (heap_pos_[static_cast<size_t>(slot)] >= 0) {
    heap_sift_up(heap_pos_[static_cast<size_t>(slot)]);
  }
}

// ---------------------------------------------------------------------------------------------
// LRU list: head_ is the most recently used slot, tail_ the next victim.

void ExpertCache::lru_unlink(int slot) {
  const size_t s = static_cast<size_t>(slot);
  if (prev_[s] >= 0) next_[static_cast<size_t>(prev_[s])] = next_[s]; else head_ = next_[s];
  if (next_[s] >= 0) prev_[static_cast<size_t>(next_[s])] = prev_[s]; else tail_ = prev_[s];
  prev_[s] = next_[s] = -1;
}

void ExpertCache::lru_push_front(int slot) {
  const size_t s = static_cast<size_t>(slot);
  prev_[s] = -1;
  next_[s] = head_;
  if (head_ >= 0) prev_[static_cast<size_t>(head_)] = slot; else tail_ = slot;
  head_ = slot;
}

void ExpertCache::lru_push_back(int slot) {
  const size_t s = static_cast<size_t>(slot);
  next_[s] = -1;
  prev_[s] = tail_;
  if (tail_ >= 0) next_[static_cast<size_t>(tail_)] = slot; else head_ = slot;
  tail_ = slot;
}

int ExpertCache::lru_victim() const {
  for (int s = tail_; s >= 0; s = prev_[static_cast<size_t>(s)])
    if (pins_[static_cast<size_t>(s)] == 0) return s;
  return -1;
}

// ---------------------------------------------------------------------------------------------
// LFU heap. Order: free slots first, then lower aged count, then the recency tie-break.
//
// lfu_aging breaks ties by least recent use, the textbook choice. lfu_cyclic breaks them by
// MOST recent use because decoding is a loop: every token visits layers 0..n_layer-1 in
// order, so the expert just used in layer l cannot be needed again before layer l of the next
// token, the furthest point in the future any resident expert can be (Belady's victim). The
// least recently used one, by contrast, belongs to the layer coming up next. Least-recent
// victims turn a loop longer than the cache into a miss on every lookup: on uniform routing at
// a 10% budget (4B shape: 128 lookups per token, 102 slots) LRU hits 0.000, lfu 0.083 and
// lfu_cyclic 0.093 (the budget share is 0.100). Among equally counted experts, lfu_cyclic
// thus keeps the older residents and cycles the newcomer through one slot.

bool ExpertCache::lfu_less(int a, int b) const {
  const int ka = key_of_slot_[static_cast<size_t>(a)], kb = key_of_slot_[static_cast<size_t>(b)];
  if ((ka < 0) != (kb < 0)) return ka < 0;
  if (ka >= 0) {
    const uint32_t fa = freq_[static_cast<size_t>(ka)], fb = freq_[static_cast<size_t>(kb)];
    if (fa != fb) return fa < fb;
  }
  if (policy_ == CachePolicy::lfu_cyclic) return last_use_[static_cast<size_t>(a)] > last_use_[static_cast<size_t>(b)];
  return last_use_[static_cast<size_t>(a)] < last_use_[static_cast<size_t>(b)];
}

void ExpertCache::heap_place(int pos, int slot) {
  heap_[static_cast<size_t>(pos)] = slot;
  heap_pos_[static_cast<size_t>(slot)] = pos;
}

void ExpertCache::heap_sift_up(int pos) {
  const int slot = heap_[static_cast<size_t>(pos)];
  while (pos > 0) {
    const int parent = (pos - 1) / 2;
    if (!lfu_less(slot, heap_[static_cast<size_t>(parent)])) break;
    heap_place(pos, heap_[static_cast<size_t>(parent)]);
    pos = parent;
  }
  heap_place(pos, slot);
}

void ExpertCache::heap_sift_down(int pos) {
  const int slot = heap_[static_cast<size_t>(pos)];
  for (;;) {
    int child = 2 * pos + 1;
    if (child >= heap_size_) break;
    if (child + 1 < heap_size_ && lfu_less(heap_[static_cast<size_t>(child) + 1], heap_[static_cast<size_t>(child)])) ++child;
    if (!lfu_less(heap_[static_cast<size_t>(child)], slot)) break;
    heap_place(pos, heap_[static_cast<size_t>(child)]);
    pos = child;
  }
  heap_place(pos, slot);
}

void ExpertCache::heap_insert(int slot) {
  heap_place(heap_size_++, slot);
  heap_sift_up(heap_size_ - 1);
}

void ExpertCache::heap_remove(int slot) {
  const int pos = heap_pos_[static_cast<size_t>(slot)];
  heap_pos_[static_cast<size_t>(slot)] = -1;
  const int last = heap_[static_cast<size_t>(--heap_size_)];
  if (pos == heap_size_) return;
  heap_place(pos, last);
  heap_sift_up(pos);
  heap_sift_down(heap_pos_[static_cast<size_t>(last)]);
}

// Halving keeps the ranking of clearly different counts but lets a burst of past popularity
// fade: an expert that stops being chosen loses half its weight every period and is evicted
// once a currently used expert overtakes it. Ties created by the halving can reorder slots,
// so the heap is rebuilt (O(n_slots), amortised over the whole period).
void ExpertCache::lfu_age() {
  for (uint32_t& f : freq_) f >>= 1;
  for (int pos = heap_size_ / 2 - 1; pos >= 0; --pos) heap_sift_down(pos);
}

// ---------------------------------------------------------------------------------------------
// Routing traces.
//
// File format, all integers little-endian:
//   offset  size  field
//   0       4     magic "STRT"
//   4       4     u32 version (1)
//   8       4     u32 n_layer     1 .. 65536
//   12      4     u32 n_expert    1 .. 65536
//   16      4     u32 k           1 .. n_expert
//   20      8     u64 n_tokens
//   28      4*n   i32 experts[n_tokens][n_layer][k], token-major; each in [0, n_expert) and
//                 distinct within one (token, layer) like a real top-K
// The file size must be exactly 28 + 4 * n_tokens * n_layer * k: it is checked against the
// header before anything is allocated, so a corrupt count cannot cause a huge allocation.

namespace {

constexpr char kTraceMagic[4] = {'S', 'T', 'R', 'T'};
constexpr uint32_t kTraceVersion = 1;
constexpr size_t kTraceHeaderBytes = 28;
constexpr uint32_t kTraceMaxDim = 1u << 16;
constexpr size_t kTraceChunk = 4096;  // ids per read/write call

void put_le(uint8_t* p, uint64_t v, int n_bytes) {
  for (int i = 0; i < n_bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t get_le(const uint8_t* p, int n_bytes) {
  uint64_t v = 0;
  for (int i = 0; i < n_bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

[[noreturn]] void trace_error(const std::string& path, const std::string& problem) {
  throw std::runtime_error("routing trace " + path + ": " + problem);
}

// The shape rules shared by save, load and replay; returns the problem or "".
std::string trace_shape_problem(int64_t n_layer, int64_t n_expert, int64_t k) {
  if (n_layer < 1 || n_layer > kTraceMaxDim) return "n_layer " + std::to_string(n_layer) + " out of range";
  if (n_expert < 1 || n_expert > kTraceMaxDim) return "n_expert " + std::to_string(n_expert) + " out of range";
  if (k < 1 || k > n_expert) return "k " + std::to_string(k) + " out of range 1.." + std::to_string(n_expert);
  return "";
}

// Checks every id; `seen` stamps each expert with its (token, layer) group so duplicates cost
// O(k) per group, not O(k^2).
std::string trace_ids_problem(const RoutingTrace& t) {
  const size_t k = static_cast<size_t>(t.k);
  std::vector<uint64_t> seen(static_cast<size_t>(t.n_expert), 0);
  for (size_t i = 0; i < t.experts.size(); ++i) {
    const int32_t e = t.experts[i];
    if (e < 0 || e >= t.n_expert) return "expert id " + std::to_string(e) + " at index " + std::to_string(i) + " out of range";
    const uint64_t group = i / k + 1;
    if (seen[static_cast<size_t>(e)] == group)
      return "expert " + std::to_string(e) + " selected twice in one layer at index " + std::to_string(i);
    seen[static_cast<size_t>(e)] = group;
  }
  return "";
}

std::string trace_problem(const RoutingTrace& t) {
  if (std::string p = trace_shape_problem(t.n_layer, t.n_expert, t.k); !p.empty()) return p;
  if (t.experts.size() % (static_cast<size_t>(t.n_layer) * static_cast<size_t>(t.k)) != 0)
    return std::to_string(t.experts.size()) + " expert ids is not a whole number of tokens";
  return trace_ids_problem(t);
}

}  // namespace

void RoutingTrace::save(const std::string& path) const {
  if (const std::string p = trace_problem(*this); !p.empty()) trace_error(path, "cannot save: " + p);
  OutputFile f(path);  // temporary file renamed at the end: an old trace survives a failure
  uint8_t header[kTraceHeaderBytes];
  std::memcpy(header, kTraceMagic, 4);
  put_le(header + 4, kTraceVersion, 4);
  put_le(header + 8, static_cast<uint64_t>(n_layer), 4);
  put_le(header + 12, static_cast<uint64_t>(n_expert), 4);
  put_le(header + 16, static_cast<uint64_t>(k), 4);
  put_le(header + 20, n_tokens(), 8);
  f.write(header, sizeof header);
  uint8_t buf[kTraceChunk * 4];
  for (size_t i = 0; i < experts.size(); i += kTraceChunk) {
    const size_t n = std::min(kTraceChunk, experts.size() - i);
    for (size_t j = 0; j < n; ++j) put_le(buf + 4 * j, static_cast<uint32_t>(experts[i + j]), 4);
    f.write(buf, 4 * n);
  }
  f.commit();
}

RoutingTrace RoutingTrace::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) trace_error(path, "cannot open");
  f.seekg(0, std::ios::end);
  const std::streamoff end = f.tellg();
  f.seekg(0, std::ios::beg);
  if (end < 0 || !f) trace_error(path, "cannot determine file size");
  const uint64_t size = static_cast<uint64_t>(end);
  if (size < kTraceHeaderBytes)
    trace_error(path, "truncated: " + std::to_string(size) + " bytes, the header alone needs " + std::to_string(kTraceHeaderBytes));
  uint8_t header[kTraceHeaderBytes];
  if (!f.read(reinterpret_cast<char*>(header), sizeof header)) trace_error(path, "read error in header");
  if (std::memcmp(header, kTraceMagic, 4) != 0) trace_error(path, "bad magic (not a routing trace; expected \"STRT\")");
  const uint64_t version = get_le(header + 4, 4);
  if (version != kTraceVersion)
    trace_error(path, "unsupported version " + std::to_string(version) + " (this build reads " + std::to_string(kTraceVersion) + ")");
  const auto nl = static_cast<int64_t>(get_le(header + 8, 4)), ne = static_cast<int64_t>(get_le(header + 12, 4)),
             nk = static_cast<int64_t>(get_le(header + 16, 4));
  const uint64_t n_tok = get_le(header + 20, 8);
  if (const std::string p = trace_shape_problem(nl, ne, nk); !p.empty()) trace_error(path, p);
  // token_bytes <= 2^34, and the payload is divided (never n_tok multiplied) before comparing.
  const uint64_t token_bytes = static_cast<uint64_t>(nl * nk * 4), payload = size - kTraceHeaderBytes;
  if (n_tok > payload / token_bytes || n_tok * token_bytes != payload)
    trace_error(path, "header says " + std::to_string(n_tok) + " tokens (" + std::to_string(nl) + " layers x k=" + std::to_string(nk) +
                          ") but the file holds " + std::to_string(payload) + " data bytes" +
                          (n_tok > payload / token_bytes ? " (truncated?)" : " (trailing bytes?)"));

  RoutingTrace t{static_cast<int>(nl), static_cast<int>(ne), static_cast<int>(nk), {}};
  t.experts.resize(static_cast<size_t>(payload / 4));
  uint8_t buf[kTraceChunk * 4];
  for (size_t i = 0; i < t.experts.size(); i += kTraceChunk) {
    const size_t n = std::min(kTraceChunk, t.experts.size() - i);
    if (!f.read(reinterpret_cast<char*>(buf), static_cast<std::streamsize>(4 * n)))
      trace_error(path, "read error at byte " + std::to_string(kTraceHeaderBytes + 4 * i));
    for (size_t j = 0; j < n; ++j) t.experts[i + j] = static_cast<int32_t>(static_cast<uint32_t>(get_le(buf + 4 * j, 4)));
  }
  if (const std::string p = trace_ids_problem(t); !p.empty()) trace_error(path, p);
  return t;
}

RoutingTrace RoutingTrace::synthetic(int n_layer, int n_expert, int k, size_t n_tokens, double hot_fraction, double p_hot,
                                     uint64_t seed) {
  if (const std::string p = trace_shape_problem(n_layer, n_expert, k);
      !p.empty() || !(hot_fraction >= 0 && hot_fraction <= 1 && p_hot >= 0 && p_hot <= 1))
    throw std::invalid_argument("synthetic routing trace: " + (p.empty() ? "hot_fraction and p_hot must be in [0, 1]" : p));
  std::mt19937_64 rng(seed);
  auto below = [&rng](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int n_hot = static_cast<int>(hot_fraction * n_expert + 0.5);
  std::vector<int32_t> order(static_cast<size_t>(n_layer) * static_cast<size_t>(n_expert));  // per layer: hot first
  for (int l = 0; l < n_layer; ++l) {
    int32_t* o = order.data() + static_cast<size_t>(l) * static_cast<size_t>(n_expert);
    for (int e = 0; e < n_expert; ++e) o[e] = e;
    for (int e = n_expert - 1; e > 0; --e) std::swap(o[e], o[below(e + 1)]);  // Fisher-Yates
  }
  RoutingTrace t{n_layer, n_expert, k, {}};
  t.experts.reserve(n_tokens * static_cast<size_t>(n_layer) * static_cast<size_t>(k));
  for (size_t tok = 0; tok < n_tokens; ++tok) {
    for (int l = 0; l < n_layer; ++l) {
      const int32_t* o = order.data() + static_cast<size_t>(l) * static_cast<size_t>(n_expert);
      const size_t first = t.experts.size();
      int hot_taken = 0;
      while (static_cast<int>(t.experts.size() - first) < k) {
        // Fall back to the other group once one is used up, so any k <= n_expert terminates.
        const int cold_taken = static_cast<int>(t.experts.size() - first) - hot_taken;
        const bool hot = hot_taken < n_hot && (cold_taken == n_expert - n_hot || static_cast<double>(rng() >> 11) * 0x1p-53 < p_hot);
        const int32_t e = hot ? o[below(n_hot)] : o[n_hot + below(n_expert - n_hot)];
        if (std::find(t.experts.begin() + static_cast<std::ptrdiff_t>(first), t.experts.end(), e) != t.experts.end()) continue;
        t.experts.push_back(e);
        hot_taken += hot;
      }
    }
  }
  return t;
}

CacheStats replay_trace(const RoutingTrace& trace, int n_slots, CachePolicy policy, int64_t aging_period) {
  if (const std::string p = trace_problem(trace); !p.empty()) throw std::invalid_argument("replay_trace: " + p);
  ExpertCache cache(trace.n_layer, trace.n_expert, n_slots, policy, aging_period);
  std::vector<int> held(static_cast<size_t>(trace.k));
  const int32_t* e = trace.experts.data();
  for (size_t t = 0; t < trace.n_tokens(); ++t) {
    for (int l = 0; l < trace.n_layer; ++l) {
      // Like the store: each selected expert is pinned from its lookup until the layer's FFN
      // is done, so the K experts of one layer never evict each other.
      int n_held = 0;
      for (int j = 0; j < trace.k; ++j) {
        const ExpertCache::Admit a = cache.access(l, *e++);
        if (a.slot >= 0) {
          cache.pin(a.slot);
          held[static_cast<size_t>(n_held++)] = a.slot;
        }
      }
      for (int j = 0; j < n_held; ++j) cache.unpin(held[static_cast<size_t>(j)]);
    }
  }
  return cache.stats();
}

}  // namespace st
