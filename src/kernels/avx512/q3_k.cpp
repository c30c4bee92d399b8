// Q3_K x Q8_K gemm with AVX-512 VNNI: the interleaved 8-row x 8-token tile (avx2/tile_gemm.h)
// over sub-blocks of 16 with scale d*(sc-32), zero point 4 through Q8_K bsums. vec_dot and gemv
// stay on the AVX2 super-block kernel, whose maddubs + madd already folds the sub-block scales
// into the widening step (as for Q6_K).
#include "kernels/avx2/kernels.h"
#include "kernels/avx512/kernels.h"
#include "kernels/avx512/vnni.h"

namespace st::avx512 {

using namespace st::simd;

void gemm_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  // Below one full 8-token VNNI tile the AVX2 tile (4 tokens) is faster: kernels_bench
  // gemm/q3_k/1536x1536x4tok ran at ~0.85-0.95x of AVX2 through the VNNI tile's tail.
  if (n_tok < TileDotVnni::kTokens) return avx2::gemm_q3_k(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 16, false, true);
  prepare_act_q8_k(g, n_tok, 16, 4);
  tile_gemm<PackQ3_K, TileDotVnni>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx512
