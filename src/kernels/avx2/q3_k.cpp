// Q3_K x Q8_K with AVX2, shaped like Q6_K (q6_k.cpp): the 3-bit codes 0..7 (2 bits from qs,
// the third from hmask) are multiplied unsigned (maddubs); each 16-lane half of the 16-bit
// sums is one 16-element sub-block and takes its scale sc - 32 in the widening madd. The zero
// point 4 is removed once per super-block through Q8_K's bsums:
// sum sc_j * (q - 4) * a = sum sc_j * q * a - 4 * sum sc_j * bsum_j. gemm: the tile, block 16.
#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {
namespace {

using namespace st::simd;

float dot_row(int64_t n, const void* w, const void* a) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i, wb += sizeof(BlockQ3_K), ab += sizeof(BlockQ8_K)) {
    float ad;
    std::memcpy(&ad, ab, 4);
    const __m256i hmask = loadu256(wb);
    const __m256i sc16 = _mm256_cvtepi8_epi16(q3_k_scales_i8(wb + 96));
    const QuarterScales scales(sc16);
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i qs = loadu256(wb + 32 + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int k8 = 4 * h + k;  // quarter of the super-block: sub-blocks 2k8 (lanes 0-15) and 2k8+1
        const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hmask, k8), m1);
        const __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
        const __m256i p = _mm256_maddubs_epi16(q, loadu256(ab + 4 + 32 * k8));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scales.of(k8)));
      }
    }
    const __m256i bsums = loadu256(ab + 4 + kQK_K);
    const int32_t zero_term = 4 * hsum_i32(_mm256_madd_epi16(bsums, sc16));
    sum += load_half(wb + 108) * ad * static_cast<float>(hsum_i32(isum) - zero_term);
  }
  return sum;
}

}  // namespace

float vec_dot_q3_k(int64_t n, const void* w_row, const void* act_row) { return dot_row(n, w_row, act_row); }

void gemv_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  gemv_rows(n_rows, w, w_row_bytes, y, [&](const uint8_t* row) { return dot_row(n, row, act); });
}

void gemm_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_q3_k)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 16, false, true);
  prepare_act_q8_k(g, n_tok, 16, 4);
  tile_gemm<PackQ3_K, Avx2DotU<4>>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx2
