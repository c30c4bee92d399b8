// gemv and gemm expressed as loops over a vec_dot: the reference definition of both, and the
// fallback for types without a batched SIMD kernel. gemm keeps one weight row hot in L1 while
// it visits every token, so even this plain form reads the weights only once.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_table.h"

namespace st::ref {

template <VecDotFn Dot>
void gemv_by_dot(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r = 0; r < n_rows; ++r) y[r] = Dot(n, wb + static_cast<size_t>(r) * w_row_bytes, act);
}

template <VecDotFn Dot>
void gemm_by_dot(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                 int64_t n_tok, float* y, int64_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = wb + static_cast<size_t>(r) * w_row_bytes;
    for (int64_t t = 0; t < n_tok; ++t) y[t * ldy + r] = Dot(n, row, ab + static_cast<size_t>(t) * act_row_bytes);
  }
}

}  // namespace st::ref
