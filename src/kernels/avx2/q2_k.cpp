// Q2_K x Q8_K with AVX2: 2-bit codes multiplied unsigned (maddubs), each 16-lane half of the
// 16-bit sums one 16-element sub-block weighted by its 4-bit scale in the widening madd; the
// mins cost one 16-lane madd of the 4-bit mins with Q8_K's bsums per super-block. gemm: the
// interleaved tile over blocks of 16 with a min.
#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {
namespace {

using namespace st::simd;

float dot_row(int64_t n, const void* w, const void* a) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i, wb += sizeof(BlockQ2_K), ab += sizeof(BlockQ8_K)) {
    float ad;
    std::memcpy(&ad, ab, 4);
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb));
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
    const QuarterScales scales(_mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0F))));
    const int32_t summ = hsum_i32(_mm256_madd_epi16(loadu256(ab + 4 + kQK_K), m16));
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i qs = loadu256(wb + 16 + 32 * h);
      for (int k = 0; k < 4; ++k) {
        const int k8 = 4 * h + k;  // sub-blocks 2k8 (lanes 0-15) and 2k8+1 (16-31)
        const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3);
        const __m256i p = _mm256_maddubs_epi16(q, loadu256(ab + 4 + 32 * k8));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scales.of(k8)));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_half(wb + 80) * ad), _mm256_cvtepi32_ps(isum), acc);
    mins += load_half(wb + 82) * ad * static_cast<float>(summ);
  }
  return hsum(acc) - mins;
}

}  // namespace

float vec_dot_q2_k(int64_t n, const void* w_row, const void* act_row) { return dot_row(n, w_row, act_row); }

void gemv_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  gemv_rows(n_rows, w, w_row_bytes, y, [&](const uint8_t* row) { return dot_row(n, row, act); });
}

void gemm_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_q2_k)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 16, true, false);
  prepare_act_q8_k(g, n_tok, 16, 0);
  tile_gemm<PackQ2_K, Avx2DotU<4>>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx2
