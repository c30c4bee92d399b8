// Q5_K x Q8_K gemm with AVX-512 VNNI: the interleaved 8-row x 8-token tile (avx2/tile_gemm.h)
// over sub-blocks of 32 with scale d*sc and min coefficient -dmin*m. vec_dot and gemv stay on the AVX2 super-block
// kernels, whose maddubs + madd already folds the sub-block scales into the widening step.
#include "kernels/avx2/kernels.h"
#include "kernels/avx512/kernels.h"
#include "kernels/avx512/vnni.h"

namespace st::avx512 {

using namespace st::simd;

void gemm_q5_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, avx2::gemv_q5_k)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, true, false);
  prepare_act_q8_k(g, n_tok, 32, 0);
  tile_gemm<PackQ5_K, TileDotVnni>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx512
