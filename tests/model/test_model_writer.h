// What the model tests' small GGUF writers share (forward_layout_test.cpp, moe_test_model.h): the
// SmallThinker hyper-parameters of a tiny shape (softmax gating, NoPE + windowed RoPE layers) and
// rows quantized to a type or written as its float twin (the same quantized values, dequantized:
// exact weights for the float kernels).
#pragma once
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "kernels/kernel_table.h"

namespace st::test_model {

struct Shape {
  int64_t h, heads, heads_kv, head_dim, experts, used, ff;
  int layers;
};

inline void set_hparams(GgufWriter& w, const Shape& s) {
  const std::string a = "smallthinker";
  w.set("general.architecture", GgufValue::string(a));
  w.set(a + ".block_count", GgufValue::u32(static_cast<uint32_t>(s.layers)));
  w.set(a + ".embedding_length", GgufValue::u32(static_cast<uint32_t>(s.h)));
  w.set(a + ".attention.head_count", GgufValue::u32(static_cast<uint32_t>(s.heads)));
  w.set(a + ".attention.head_count_kv", GgufValue::u32(static_cast<uint32_t>(s.heads_kv)));
  w.set(a + ".attention.key_length", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  w.set(a + ".attention.value_length", GgufValue::u32(static_cast<uint32_t>(s.head_dim)));
  w.set(a + ".expert_count", GgufValue::u32(static_cast<uint32_t>(s.experts)));
  w.set(a + ".expert_used_count", GgufValue::u32(static_cast<uint32_t>(s.used)));
  w.set(a + ".expert_feed_forward_length", GgufValue::u32(static_cast<uint32_t>(s.ff)));
  w.set(a + ".expert_gating_func", GgufValue::u32(1));  // softmax
  w.set(a + ".attention.sliding_window", GgufValue::u32(8));  // NoPE + windowed RoPE layers
  w.set(a + ".rope.freq_base", GgufValue::f32(10000.0f));
  w.set(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(1e-6f));
}

// n_rows rows of n_cols values, each filled by fill(row index, values), quantized to `type`;
// with `as_f32` the dequantized quantized values instead (F32 rows are written as drawn).
inline std::vector<uint8_t> quantized_rows(TensorType type, int64_t n_rows, int64_t n_cols, bool as_f32,
                                           const std::function<void(int64_t, std::vector<float>&)>& fill) {
  std::vector<float> row(static_cast<size_t>(n_cols));
  const size_t rb = row_bytes(type, n_cols), out_rb = as_f32 ? static_cast<size_t>(n_cols) * 4 : rb;
  std::vector<uint8_t> q(rb), out(out_rb * static_cast<size_t>(n_rows));
  for (int64_t r = 0; r < n_rows; ++r) {
    fill(r, row);
    uint8_t* dst = out.data() + out_rb * static_cast<size_t>(r);
    if (type == TensorType::F32) {
      std::memcpy(dst, row.data(), rb);
      continue;
    }
    const KernelTable& kt = kernel_table(type, Isa::scalar);
    kt.quantize_row(row.data(), q.data(), n_cols);
    if (as_f32) kt.dequantize_row(q.data(), reinterpret_cast<float*>(dst), n_cols);
    else std::memcpy(dst, q.data(), rb);
  }
  return out;
}

}  // namespace st::test_model
