// Byte-level BPE over token ids: a piece's bytes start as the 256 single-byte tokens and the
// adjacent pair with the lowest merge rank is merged until no ranked pair is left (ties go
// to the leftmost pair, as in the Rust and JavaScript tokenizers libraries).
//
// Words of up to kLinearMaxSymbols bytes use a plain scan (fastest for typical words); longer
// ones a priority queue over a linked list, O(n log n), so a megabyte-long run of one
// character cannot stall encoding. Both give identical results (a unit test and the fuzzer
// compare them). A bounded cache maps recently seen pieces to their ids.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace st {

struct BpeMerge {
  int32_t left = 0, right = 0, result = 0;  // token ids; rank = position in the merge list
};

class BpeModel {
 public:
  static constexpr size_t kLinearMaxSymbols = 48;
  static constexpr size_t kMaxCachedPieceBytes = 64;
  static constexpr size_t kMaxCacheEntries = size_t{1} << 16;

  // byte_tokens[b]: the id of the token that is byte b alone. merges: in rank order; a pair
  // listed twice keeps its first (lowest) rank.
  BpeModel(const std::array<int32_t, 256>& byte_tokens, std::span<const BpeMerge> merges);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-tokenized piece (raw bytes, not the byte-mapped form).
  void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;

  // The two merge strategies without the cache, for tests.
  void merge_linear(std::vector<int32_t>& symbols) const;
  void merge_heap(std::vector<int32_t>& symbols) const;

  size_t n_merges() const { return n_merges_; }

 private:
  struct Slot {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t result = 0;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
  }
  // Open addressing, power-of-two size, linear probing: the pair lookup is the hot loop of BPE.
  const Slot* find(int32_t left, int32_t right) const;
  // Fibonacci hashing: the high bits of the product are well mixed even for structured keys.
  uint64_t slot_index(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }

  std::array<int32_t, 256> byte_tokens_{};
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
  int shift_ = 64;
  size_t n_merges_ = 0;

  struct CacheEntry {
    uint32_t offset, length;  // into cache_ids_
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // The cache is shared by concurrent encode() calls: a thread that finds it locked simply
  // encodes without it rather than waiting.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, CacheEntry, StringHash, std::equal_to<>> cache_;
  mutable std::vector<int32_t> cache_ids_;
};

}  // namespace st
