// KV cache of one sequence: full context for global layers, a ring buffer of the window size
// for sliding-window layers (their memory never grows past the window). F16 by default.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/page_buffer.h"
#include "model/config.h"
#include "model/kv_store.h"

namespace st {

class KvCache final : public KvStore {
 public:
  KvCache(const ModelConfig& config, int64_t n_ctx, TensorType type = TensorType::F16);

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
  static size_t bytes_needed(const ModelConfig& config, int64_t n_ctx, TensorType type);

 private:
  struct Layer {
    size_t offset;     // of K in buffer_; V follows
    int64_t n_slots;
    bool ring;
  };
  TensorType type_;
  int64_t n_ctx_;
  int64_t n_past_ = 0;
  size_t row_bytes_;
  std::vector<Layer> layers_;
  PageBuffer buffer_;
};

}  // namespace st
