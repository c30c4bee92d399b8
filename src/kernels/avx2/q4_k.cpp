// Q4_K x Q8_K with AVX2. Per super-block: unsigned nibbles times activations (maddubs), each
// sub-block's 16-bit partial sums weighted by its 6-bit scale in the widening madd, one float
// fma per super-block; the mins use Q8_K's precomputed bsums. gemm: the interleaved tile.
#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {
namespace {

using namespace st::simd;

float dot_row(int64_t n, const void* w, const void* a) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i, wb += sizeof(BlockQ4_K), ab += sizeof(BlockQ8_K)) {
    float ad;
    std::memcpy(&ad, ab, 4);
    uint8_t sc[8], m[8];
    unpack_scales_mins_k4(wb + 4, sc, m);
    // Min term: sum_j m_j * (bsums[2j] + bsums[2j+1]), pair sums of the 16-element bsums.
    const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ab + 4 + kQK_K)),
                                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(ab + 4 + kQK_K + 16)));
    __m128i mm = _mm_madd_epi16(pairs, _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m))));
    mm = _mm_add_epi32(mm, _mm_unpackhi_epi64(mm, mm));
    const int summ = _mm_cvtsi128_si32(_mm_add_epi32(mm, _mm_shuffle_epi32(mm, 1)));
    __m256i isum = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i q = loadu256(wb + 16 + 32 * c);
      const __m256i lo = _mm256_and_si256(q, _mm256_set1_epi8(0x0F));
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0F));
      const __m256i p_lo = _mm256_maddubs_epi16(lo, loadu256(ab + 4 + 64 * c));
      const __m256i p_hi = _mm256_maddubs_epi16(hi, loadu256(ab + 4 + 64 * c + 32));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_lo, _mm256_set1_epi16(sc[2 * c])));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p_hi, _mm256_set1_epi16(sc[2 * c + 1])));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_half(wb) * ad), _mm256_cvtepi32_ps(isum), acc);
    mins += load_half(wb + 2) * ad * static_cast<float>(summ);
  }
  return hsum(acc) - mins;
}

}  // namespace

float vec_dot_q4_k(int64_t n, const void* w_row, const void* act_row) { return dot_row(n, w_row, act_row); }

void gemv_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  gemv_rows(n_rows, w, w_row_bytes, y, [&](const uint8_t* row) { return dot_row(n, row, act); });
}

void gemm_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_q4_k)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 32, true, false);
  prepare_act_q8_k(g, n_tok, 32, 0);
  tile_gemm<PackQ4_K, Avx2DotU<8>>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx2
