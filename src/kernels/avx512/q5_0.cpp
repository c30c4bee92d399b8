// Q5_0 x Q8_0 with AVX-512 VNNI: 5-bit unsigned codes (the 5th bit set through a mask register),
// zero point 16; vpdpbusd for the products. gemv: 8 blocks scaled together
// (avx2/gemv_blocks.h); gemm: the 8-row x 8-token interleaved tile (avx2/tile_gemm.h).
#include "kernels/avx512/kernels.h"
#include "kernels/avx512/vnni.h"

namespace st::avx512 {

using namespace st::simd;

void gemv_q5_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  batched_gemv<PackQ5_0Vnni, DotVnni>(n, w, w_row_bytes, n_rows, act, y, true,
                                      [](GemmScratch& g) { prepare_act_q8_0(g, 1, 16); });
}

float vec_dot_q5_0(int64_t n, const void* w_row, const void* act_row) {
  float y;
  gemv_q5_0(n, w_row, 0, 1, act_row, &y);
  return y;
}

void gemm_q5_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_q5_0)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, false, true);
  prepare_act_q8_0(g, n_tok, 16);
  tile_gemm<PackQ5_0Vnni, TileDotVnni>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx512
