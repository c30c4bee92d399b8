// KV cache of one sequence: full context for global layers, a ring buffer of the window size
// for sliding-window layers (their memory never grows past the window). F16 by default; K and
// V may each be F32, F16, BF16, Q8_0 or Q4_0 (llama.cpp's -ctk/-ctv).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/page_buffer.h"
#include "model/config.h"
#include "model/kv_store.h"

namespace st {

// The K or V element type named as llama.cpp names it (f32, f16, bf16, q8_0, q4_0); throws
// std::invalid_argument naming `what` (e.g. "cache type of K") and listing the valid names.
TensorType parse_kv_cache_type(std::string_view name, std::string_view what);
// "f32, f16, bf16, q8_0, q4_0"
std::string kv_cache_type_names();
// Throws std::invalid_argument when the model's head size is not a whole number of the
// type's blocks (Q8_0/Q4_0 need a multiple of 32).
void check_kv_cache_type(const ModelConfig& config, TensorType type);

class KvCache final : public KvStore {
 public:
  KvCache(const ModelConfig& config, int64_t n_ctx, TensorType type = TensorType::F16);
  KvCache(const ModelConfig& config, int64_t n_ctx, TensorType k_type, TensorType v_type);

  KvLayerStore layer(int il) override;
  int64_t n_past() const override { return n_past_; }
  void set_n_past(int64_t n) override { n_past_ = n; }
  int64_t n_ctx() const override { return n_ctx_; }
  void clear() { n_past_ = 0; }
  // Forget positions >= n (keeps a shared prefix). Not possible for ring layers once they
  // have wrapped past n: then returns false and the caller must re-process.
  bool truncate(int64_t n);

  size_t bytes() const { return buffer_.size(); }
  // Bytes a cache of this shape needs, without allocating it (for memory planning).
  static size_t bytes_needed(const ModelConfig& config, int64_t n_ctx, TensorType k_type, TensorType v_type);
  TensorType k_type() const { return k_type_; }
  TensorType v_type() const { return v_type_; }
  int64_t kv_width() const { return kv_width_; }  // elements of one position's K (and V) row
  int n_layer() const { return static_cast<int>(layers_.size()); }
  // The sliding window of layer il (0: global), as the model declares it.
  int64_t window(int il) const { return layers_.at(static_cast<size_t>(il)).window; }

 private:
  struct Layer {
    size_t offset;     // of K in buffer_; V follows
    int64_t n_slots;
    bool ring;
    int64_t window;
  };
  TensorType k_type_, v_type_;
  int64_t n_ctx_;
  int64_t n_past_ = 0;
  int64_t kv_width_;
  size_t k_row_bytes_, v_row_bytes_;
  std::vector<Layer> layers_;
  PageBuffer buffer_;
};

}  // namespace st
