// Q2_K products on the row-group layout (kernels/row_groups.h) with AVX2, on 8-row halves like
// row_groups_q3_k.cpp. A super-block of a group is 16 fp16 d, 16 fp16 dmin, then 20 chunks
// (4 bytes of each row): the 16 scale/min bytes (0-3) and qs (4-19). Element 128n + 32k + l
// has its 2-bit code at bits 2k of qs byte 32n + l (chunk 4 + 8n + l/4). A 16-element
// sub-block is 4 chunks: their vpmaddubsw pairs add up in int16 (4 x 2 x 3 x 128 = 3072), one
// vpmaddwd applies the row's 4-bit scale; the mins' term is the 4-bit min times the Q8_K
// 16-element sum. Integers are exact; d x da and dmin x da scale the super-block in f32.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/k_quant_groups.h"
#include "kernels/avx2/kernels.h"
#include "kernels/blocks.h"

namespace st::avx2 {
namespace {

// Chunk k of the half starting at `half` (8 rows' 4 bytes each).
inline __m256i chunk(const uint8_t* half, int k) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(half + 64 + 64 * k));
}

// Nibble `hi` (0: scale, 1: min) of sub-block s's byte of each of the 8 rows, in both int16
// halves of the row's lane (for vpmaddwd).
inline __m256i nibble16_of(const uint8_t* half, int s, int hi) {
  const __m256i v = _mm256_and_si256(_mm256_srli_epi32(chunk(half, s / 4), 8 * (s % 4) + 4 * hi), _mm256_set1_epi32(0xF));
  return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}

// Elements 128n + 32k + [0, 32) (sub-blocks 8n + 2k and 8n + 2k + 1) for T tokens.
template <int n, int k, int T>
__attribute__((always_inline)) inline void quarter(const uint8_t* half, const BlockQ8_K* const a[T], __m256i isum[T],
                                                   __m256i msum[T]) {
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int part = 0; part < 2; ++part) {
    const int s = 8 * n + 2 * k + part;
    __m256i p[T];
    for (int i = 0; i < 4; ++i) {
      const int c4 = 4 * part + i;
      const __m256i v = _mm256_and_si256(_mm256_srli_epi16(chunk(half, 4 + 8 * n + c4), 2 * k), m3);
      for (int t = 0; t < T; ++t) {
        const __m256i m = _mm256_maddubs_epi16(v, bcast4(a[t]->qs + 128 * n + 32 * k + 4 * c4));
        p[t] = i == 0 ? m : _mm256_add_epi16(p[t], m);
      }
    }
    const __m256i sc = nibble16_of(half, s, 0), mn = nibble16_of(half, s, 1);
    for (int t = 0; t < T; ++t) {  // min x bsum: vpmaddwd with bsum (|bsum| <= 2048) in the low half
      isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p[t], sc));
      msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(mn, _mm256_set1_epi32(a[t]->bsums[s] & 0xFFFF)));
    }
  }
}

template <int T, int nk = 0>
__attribute__((always_inline)) inline void all_quarters(const uint8_t* half, const BlockQ8_K* const a[T], __m256i isum[T],
                                                        __m256i msum[T]) {
  quarter<nk / 4, nk % 4, T>(half, a, isum, msum);
  if constexpr (nk < 7) all_quarters<T, nk + 1>(half, a, isum, msum);
}

// Rows 8h .. 8h + 7 of one super-block for T tokens (the k_quant_groups.h contract).
struct Q2K {
  static constexpr size_t kSuperBytes = 16 * sizeof(BlockQ2_K);
  template <int T>
  __attribute__((always_inline)) static void add_half(const uint8_t* blk, int h, const BlockQ8_K* const a[T],
                                                      __m256 acc[T]) {
    const uint8_t* half = blk + 32 * h;  // chunks of rows 8h .. 8h + 7 (d at blk + 16h, dmin at blk + 32 + 16h)
    __m256i isum[T], msum[T];
    for (int t = 0; t < T; ++t) isum[t] = msum[t] = _mm256_setzero_si256();
    all_quarters<T>(half, a, isum, msum);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * h)));
    for (int t = 0; t < T; ++t) {
      const __m256 ad = _mm256_set1_ps(a[t]->d);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, ad), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[t]), _mm256_mul_ps(dmin, ad), acc[t]);
    }
  }
};

}  // namespace

void gemm_groups_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups<Q2K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx2
