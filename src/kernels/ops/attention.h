// Causal multi-head attention with grouped KV heads and an optional sliding window, computed
// with an online softmax over blocks of keys: memory stays independent of context length
// beyond the KV cache itself. Keys and values come in "segments" (the cache, possibly split
// where a ring buffer wraps, plus the current batch's fresh rows), so the caller never has
// to copy the cache into one contiguous buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "formats/tensor_type.h"

namespace st {
class ThreadPool;
}

namespace st::ops {

// n_pos consecutive positions starting at first_pos. Row i holds all KV heads of position
// first_pos + i: head g at element offset g * head_dim. K and V each in F32, F16, BF16, Q8_0
// or Q4_0 (the block types need head_dim to be a whole number of blocks).
struct KvSegment {
  int64_t first_pos = 0;
  int64_t n_pos = 0;
  TensorType k_type = TensorType::F32;
  TensorType v_type = TensorType::F32;
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  size_t k_row_bytes = 0;  // distance between consecutive positions
  size_t v_row_bytes = 0;
};

struct AttentionShape {
  int n_head = 0;
  int n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t window = 0;  // 0 = global causal; else a query at p sees keys p-window+1 .. p
};

// q: [n_tok, n_head * head_dim] for positions q_pos[0..n_tok); out: same shape.
// Segments must not overlap; together they hold every key position a query may see.
void attention(const AttentionShape& shape, const float* q, const int64_t* q_pos, int64_t n_tok,
               const std::vector<KvSegment>& segments, float* out, ThreadPool& pool);

}  // namespace st::ops
