// Q4_0 x Q8_0 with AVX-512 VNNI: unsigned nibbles, zero point 8 through the activation sums; vpdpbusd for the
// products. gemv: 8 blocks scaled together (avx2/gemv_blocks.h); gemm: the 8-row x 8-token
// interleaved tile (avx2/tile_gemm.h).
#include "kernels/avx512/kernels.h"
#include "kernels/avx512/vnni.h"

namespace st::avx512 {

using namespace st::simd;

void gemv_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  batched_gemv<PackQ4_0, DotVnni>(n, w, w_row_bytes, n_rows, act, y, true,
                                  [](GemmScratch& g) { prepare_act_q8_0(g, 1, 8); });
}

void gemv_rows_q4_0(int64_t n, const void* w, size_t w_row_bytes, const int32_t* rows, int64_t n_rows, const void* act,
                 float* y) {
  batched_gemv<PackQ4_0, DotVnni>(n, w, w_row_bytes, n_rows, act, y, true, [](GemmScratch& g) { prepare_act_q8_0(g, 1, 8); }, rows);
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
  tile_gemm<PackQ4_0, TileDotVnni>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx512
