// A plain f32 KV cache for the model tests' small models (all layers global: their windows are
// far below its size), shared by forward_layout_test and the MoE layer tests.
#pragma once
#include <cstdint>
#include <vector>

#include "model/kv_store.h"

namespace st::test {

class SimpleKv : public KvStore {
 public:
  SimpleKv(int layers, int64_t width, int64_t ctx) : k_(layers), v_(layers), width_(width), ctx_(ctx) {
    for (auto& x : k_) x.assign(static_cast<size_t>(ctx * width), 0.0f);
    for (auto& x : v_) x.assign(static_cast<size_t>(ctx * width), 0.0f);
  }
  KvLayerStore layer(int il) override {
    KvLayerStore s;
    s.k_type = s.v_type = TensorType::F32;
    s.k = reinterpret_cast<uint8_t*>(k_[static_cast<size_t>(il)].data());
    s.v = reinterpret_cast<uint8_t*>(v_[static_cast<size_t>(il)].data());
    s.k_row_bytes = s.v_row_bytes = static_cast<size_t>(width_) * sizeof(float);
    s.n_slots = ctx_;
    return s;
  }
  int64_t n_past() const override { return n_past_; }
  void set_n_past(int64_t n) override { n_past_ = n; }
  int64_t n_ctx() const override { return ctx_; }

 private:
  std::vector<std::vector<float>> k_, v_;
  int64_t width_, ctx_, n_past_ = 0;
};

}  // namespace st::test
