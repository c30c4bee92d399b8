// Q4_0 x Q8_0 with AVX2. gemv/vec_dot: unsigned codes through maddubs, 8 blocks reduced and
// scaled together (gemv_blocks.h), zero point 8 via the activation sums. gemm: the 8-row
// interleaved tile (tile_gemm.h).
#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/gemv_blocks.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {

using namespace st::simd;

void gemv_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  batched_gemv<PackQ4_0, DotU8S8>(n, w, w_row_bytes, n_rows, act, y, true,
                                  [](GemmScratch& g) { prepare_act_q8_0(g, 1, 8); });
}

void gemv_rows_q4_0(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
                 float* y) {
  batched_gemv<PackQ4_0, DotU8S8>(n, w, w_row_bytes, n_rows, act, y, true, [](GemmScratch& g) { prepare_act_q8_0(g, 1, 8); }, rows);
}

float vec_dot_q4_0(int64_t n, const void* w_row, const void* act_row) {
  float y;
  gemv_q4_0(n, w_row, 0, 1, act_row, &y);
  return y;
}

void gemm_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_q4_0)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, false, true);
  prepare_act_q8_0(g, n_tok, 8);
  tile_gemm<PackQ4_0, Avx2DotU<8>>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx2
