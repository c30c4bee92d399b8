// IQ4_XS x Q8_K gemm with AVX-512 VNNI: the interleaved tile on the grid values biased to u8
// (v + 128) so vpdpbusd applies, the bias removed through Q8_K bsums (zero point 128, blocks
// of 32). vec_dot and gemv stay on the AVX2 super-block kernel.
#include "kernels/avx2/kernels.h"
#include "kernels/avx512/kernels.h"
#include "kernels/avx512/vnni.h"

namespace st::avx512 {

using namespace st::simd;

void gemm_iq4_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                 size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, avx2::gemv_iq4_xs)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, false, true);
  prepare_act_q8_k(g, n_tok, 32, 128);
  tile_gemm<PackBiased<PackIQ4_XS>, TileDotVnni>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx512
