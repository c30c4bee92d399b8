// IQ4_XS x Q8_K with AVX2: each sub-block's 4-bit codes become grid values with one pshufb,
// are multiplied signed (|v| x a with v's sign: maddubs needs one unsigned operand; pairs stay
// within int16 since |v|, |a| <= 127), and take the sub-block's scale ls - 32 in the widening
// madd; one float fma per super-block. gemm: the interleaved tile on the signed values.
#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {
namespace {

using namespace st::simd;

float dot_row(int64_t n, const void* w, const void* a) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  const __m256i grid = iq4nl_grid();
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK_K; ++i, wb += sizeof(BlockIQ4_XS), ab += sizeof(BlockQ8_K)) {
    float ad;
    std::memcpy(&ad, ab, 4);
    int8_t ls[8];
    unpack_scales_iq4_xs(wb, ls);
    __m256i isum = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i v = _mm256_shuffle_epi8(grid, unpack_nibbles16(wb + 8 + 16 * j));
      const __m256i act = loadu256(ab + 4 + 32 * j);
      const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(act, v));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16(ls[j])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_half(wb) * ad), _mm256_cvtepi32_ps(isum), acc);
  }
  return hsum(acc);
}

}  // namespace

float vec_dot_iq4_xs(int64_t n, const void* w_row, const void* act_row) { return dot_row(n, w_row, act_row); }

void gemv_iq4_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  gemv_rows(n_rows, w, w_row_bytes, y, [&](const uint8_t* row) { return dot_row(n, row, act); });
}

void gemm_iq4_xs(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                 int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_iq4_xs)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, false, false);
  prepare_act_q8_k(g, n_tok, 32, 0);
  tile_gemm<PackIQ4_XS, Avx2DotS>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx2
