// What the forward pass needs from a KV cache: per-layer storage it reads past keys/values
// from and appends new ones to. Declared here, implemented in runtime/kv_cache (which owns
// the memory and decides sizes: full context for global layers, a ring of the window size
// for sliding-window layers).
#pragma once
#include <cstddef>
#include <cstdint>

#include "formats/tensor_type.h"

namespace st {

struct KvLayerStore {
  TensorType k_type = TensorType::F16;  // F32, F16, BF16, Q8_0 or Q4_0, K and V each
  TensorType v_type = TensorType::F16;
  uint8_t* k = nullptr;                 // [n_slots, kv_width]
  uint8_t* v = nullptr;                 // [n_slots, kv_width]
  size_t k_row_bytes = 0;               // one position (all kv heads)
  size_t v_row_bytes = 0;
  int64_t n_slots = 0;
  bool ring = false;                  // position p lives in slot p % n_slots (sliding window)
};

class KvStore {
 public:
  virtual ~KvStore() = default;
  virtual KvLayerStore layer(int il) = 0;
  // Positions [0, n_past) are stored (ring layers keep only their last n_slots of them).
  virtual int64_t n_past() const = 0;
  virtual void set_n_past(int64_t n) = 0;
  // Largest position + 1 the cache can hold (global layers are sized to it).
  virtual int64_t n_ctx() const = 0;
};

}  // namespace st
