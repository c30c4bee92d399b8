// Q4_1 x Q8_1 with AVX2. gemv/vec_dot: unsigned codes through maddubs, 8 blocks scaled
// together plus m * s (Q8_1's s carries the activation sum) (gemv_blocks.h). gemm: the
// interleaved 8-row tile with a min term.
#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/gemv_blocks.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {

using namespace st::simd;

void gemv_q4_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  batched_gemv<PackQ4_1, DotU8S8>(n, w, w_row_bytes, n_rows, act, y, false,
                                  [](GemmScratch& g) { prepare_act_q8_1(g, 1); });
}

float vec_dot_q4_1(int64_t n, const void* w_row, const void* act_row) {
  float y;
  gemv_q4_1(n, w_row, 0, 1, act_row, &y);
  return y;
}

void gemm_q4_1(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_q4_1)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, true, false);
  prepare_act_q8_1(g, n_tok);
  tile_gemm<PackQ4_1, Avx2DotU<8>>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx2
