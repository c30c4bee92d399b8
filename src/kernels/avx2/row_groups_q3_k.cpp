// Q3_K products on the row-group layout (kernels/row_groups.h) with AVX2, on 8-row halves like
// row_groups_q6_k.cpp. A super-block of a group is 16 fp16 d, then 27 chunks (4 bytes of each
// row): hmask (0-7), qs (8-23), the 12 scale bytes (24-26). Element 128n + 32k + l of a row
// has its 2 low bits at bits 2k of qs byte 32n + l (chunk 8 + 8n + l/4) and its third bit at
// bit 4n + k of hmask byte l (chunk l/4), so one chunk of each gives 4 consecutive codes
// 0..7, which vpmaddubsw takes against the signed activations. A 16-element sub-block is 4
// chunks: their pairs add up in int16 (4 x 2 x 7 x 128 = 7168), then one vpmaddwd applies the
// row's 6-bit scale sc - 32 (in both int16 halves of the row's lane). The zero point 4 is
// -4 x scale x the 16-element activation sum (Q8_K bsums). Integers are exact; d x da scales
// the super-block in f32.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/k_quant_groups.h"
#include "kernels/avx2/kernels.h"
#include "kernels/blocks.h"

namespace st::avx2 {
namespace {

// Chunk k of the half starting at `half` (8 rows' 4 bytes each).
inline __m256i chunk(const uint8_t* half, int k) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(half + 32 + 64 * k));
}

// sc - 32 of sub-block j of each of the 8 rows, in both int16 halves of the row's lane: the
// low nibble from scale byte j % 8 (nibble j / 8), the top 2 bits from byte 8 + j % 4.
inline __m256i scale16_of(const uint8_t* half, int j) {
  const int b = j % 8;
  const __m256i lo = _mm256_and_si256(_mm256_srli_epi32(chunk(half, 24 + b / 4), 8 * (b % 4) + 4 * (j / 8)),
                                      _mm256_set1_epi32(0xF));
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(chunk(half, 26), 8 * (j % 4) + 2 * (j / 4)), _mm256_set1_epi32(3));
  const __m256i sc = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
  return _mm256_or_si256(_mm256_and_si256(sc, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(sc, 16));
}

// Elements 128n + 32k + [0, 32) (sub-blocks 8n + 2k and 8n + 2k + 1) for T tokens.
template <int n, int k, int T>
__attribute__((always_inline)) inline void quarter(const uint8_t* half, const BlockQ8_K* const a[T], __m256i isum[T]) {
  const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
  for (int part = 0; part < 2; ++part) {
    const int s = 8 * n + 2 * k + part;
    __m256i p[T];
    for (int i = 0; i < 4; ++i) {
      const int c4 = 4 * part + i;
      const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(chunk(half, 8 + 8 * n + c4), 2 * k), m3);
      const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(chunk(half, c4), 4 * n + k), m1);
      const __m256i v = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
      for (int t = 0; t < T; ++t) {
        const __m256i m = _mm256_maddubs_epi16(v, bcast4(a[t]->qs + 128 * n + 32 * k + 4 * c4));
        p[t] = i == 0 ? m : _mm256_add_epi16(p[t], m);
      }
    }
    const __m256i sc = scale16_of(half, s);
    for (int t = 0; t < T; ++t) {  // 4 x scale x bsum: vpmaddwd with bsum (|bsum| <= 2048) in the low half
      const __m256i zero = _mm256_madd_epi16(sc, _mm256_set1_epi32(a[t]->bsums[s] & 0xFFFF));
      isum[t] = _mm256_add_epi32(isum[t], _mm256_sub_epi32(_mm256_madd_epi16(p[t], sc), _mm256_slli_epi32(zero, 2)));
    }
  }
}

template <int T, int nk = 0>
__attribute__((always_inline)) inline void all_quarters(const uint8_t* half, const BlockQ8_K* const a[T], __m256i isum[T]) {
  quarter<nk / 4, nk % 4, T>(half, a, isum);
  if constexpr (nk < 7) all_quarters<T, nk + 1>(half, a, isum);
}

// Rows 8h .. 8h + 7 of one super-block for T tokens (the k_quant_groups.h contract).
struct Q3K {
  static constexpr size_t kSuperBytes = 16 * sizeof(BlockQ3_K);
  template <int T>
  __attribute__((always_inline)) static void add_half(const uint8_t* blk, int h, const BlockQ8_K* const a[T],
                                                      __m256 acc[T]) {
    const uint8_t* half = blk + 32 * h;  // chunks of rows 8h .. 8h + 7 (the d vector: blk + 16h)
    __m256i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    all_quarters<T>(half, a, isum);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(a[t]->d)), acc[t]);
  }
};

}  // namespace

void gemm_groups_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups<Q3K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx2
