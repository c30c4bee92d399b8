// Q6_K x Q8_K with AVX2. Codes 0..63 are multiplied unsigned (maddubs); each 16-lane half of
// the 16-bit sums belongs to one 16-element sub-block and takes its int8 scale in the
// widening madd. The zero point 32 is removed once per super-block through Q8_K's bsums:
// sum sc_j * (q - 32) * a = sum sc_j * q * a - 32 * sum sc_j * bsum_j. gemm: the tile, block 16.
#include "kernels/avx2/gemm_parts.h"
#include "kernels/avx2/kernels.h"

namespace st::avx2 {
namespace {

using namespace st::simd;

float dot_row(int64_t n, const void* w, const void* a) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i, wb += sizeof(BlockQ6_K), ab += sizeof(BlockQ8_K)) {
    float ad;
    std::memcpy(&ad, ab, 4);
    const auto* sc = reinterpret_cast<const int8_t*>(wb + 192);
    __m256i isum = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = loadu256(wb + 64 * h), ql1 = loadu256(wb + 64 * h + 32);
      const __m256i qh = loadu256(wb + 128 + 32 * h);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
          _mm256_or_si256(_mm256_and_si256(ql1, m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)),
      };
      for (int k = 0; k < 4; ++k) {
        const int j = 8 * h + 2 * k;  // sub-blocks j (lanes 0-7) and j+1 (lanes 8-15)
        const __m256i p = _mm256_maddubs_epi16(q[k], loadu256(ab + 4 + 128 * h + 32 * k));
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[j + 1]), _mm_set1_epi16(sc[j]));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
      }
    }
    const __m256i bsums = loadu256(ab + 4 + kQK_K);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    const int32_t zero_term = 32 * hsum_i32(_mm256_madd_epi16(bsums, sc16));
    sum += load_half(wb + 208) * ad * static_cast<float>(hsum_i32(isum) - zero_term);
  }
  return sum;
}

}  // namespace

float vec_dot_q6_k(int64_t n, const void* w_row, const void* act_row) { return dot_row(n, w_row, act_row); }

void gemv_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  gemv_rows(n_rows, w, w_row_bytes, y, [&](const uint8_t* row) { return dot_row(n, row, act); });
}

void gemm_q6_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  if (gemm_by_gemv(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy, gemv_q6_k)) return;
  GemmScratch g = alloc_gemm_scratch(act, act_row_bytes, n_tok, n, 16, false, true);
  prepare_act_q8_k(g, n_tok, 16, 32);
  tile_gemm<PackQ6_K, Avx2DotU<2>>(n, w, w_row_bytes, n_rows, g, n_tok, y, ldy);
}

}  // namespace st::avx2
