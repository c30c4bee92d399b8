// Q2_K products on the row-group layout (kernels/row_groups.h) with AVX-512 VNNI: the layout
// of avx2/row_groups_q2_k.cpp on all 16 rows of a group at once. The 2-bit codes go through
// vpdpbusd against the signed activations, four chunks (one 16-element sub-block) per dot,
// then the row's 4-bit scale multiplies the dot and its 4-bit min the Q8_K 16-element sum.
// Integers are exact; d x da and dmin x da scale the super-block in f32.
#include <immintrin.h>

// GCC 12's _mm512_cvtepi32_ps / _mm512_cvtph_ps pass a self-initialised "undefined" vector
// as the unused merge source, which -Wmaybe-uninitialized reports once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx512/k_quant_groups.h"
#include "kernels/avx512/kernels.h"
#include "kernels/blocks.h"

namespace st::avx512 {
namespace {

inline __m512i chunk(const uint8_t* blk, int k) { return _mm512_loadu_si512(blk + 64 + 64 * k); }

// Nibble `hi` (0: scale, 1: min) of sub-block s's byte of every row, in the row's lane.
inline __m512i nibble_of(const uint8_t* blk, int s, int hi) {
  return _mm512_and_si512(_mm512_srli_epi32(chunk(blk, s / 4), 8 * (s % 4) + 4 * hi), _mm512_set1_epi32(0xF));
}

// Elements 128n + 32k + [0, 32) (sub-blocks 8n + 2k and 8n + 2k + 1) for T tokens.
template <int n, int k, int T>
__attribute__((always_inline)) inline void quarter(const uint8_t* blk, const BlockQ8_K* const a[T], __m512i isum[T],
                                                   __m512i msum[T]) {
  const __m512i m3 = _mm512_set1_epi8(3);
  for (int part = 0; part < 2; ++part) {
    const int s = 8 * n + 2 * k + part;
    __m512i dot[T];
    for (int t = 0; t < T; ++t) dot[t] = _mm512_setzero_si512();
    for (int i = 0; i < 4; ++i) {
      const int c4 = 4 * part + i;
      const __m512i v = _mm512_and_si512(_mm512_srli_epi16(chunk(blk, 4 + 8 * n + c4), 2 * k), m3);
      for (int t = 0; t < T; ++t) dot[t] = _mm512_dpbusd_epi32(dot[t], v, bcast4(a[t]->qs + 128 * n + 32 * k + 4 * c4));
    }
    const __m512i sc = nibble_of(blk, s, 0), mn = nibble_of(blk, s, 1);
    for (int t = 0; t < T; ++t) {
      isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot[t], sc));
      msum[t] = _mm512_add_epi32(msum[t], _mm512_mullo_epi32(mn, _mm512_set1_epi32(a[t]->bsums[s])));
    }
  }
}

template <int T, int nk = 0>
__attribute__((always_inline)) inline void all_quarters(const uint8_t* blk, const BlockQ8_K* const a[T], __m512i isum[T],
                                                        __m512i msum[T]) {
  quarter<nk / 4, nk % 4, T>(blk, a, isum, msum);
  if constexpr (nk < 7) all_quarters<T, nk + 1>(blk, a, isum, msum);
}

// One super-block of a group for T tokens (the k_quant_groups.h contract).
struct Q2K {
  static constexpr size_t kSuperBytes = 16 * sizeof(BlockQ2_K);
  template <int T>
  __attribute__((always_inline)) static void add(const uint8_t* blk, const BlockQ8_K* const a[T], __m512 acc[T]) {
    __m512i isum[T], msum[T];
    for (int t = 0; t < T; ++t) isum[t] = msum[t] = _mm512_setzero_si512();
    all_quarters<T>(blk, a, isum, msum);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
    for (int t = 0; t < T; ++t) {
      const __m512 ad = _mm512_set1_ps(a[t]->d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, ad), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[t]), _mm512_mul_ps(dmin, ad), acc[t]);
    }
  }
};

}  // namespace

void gemm_groups_q2_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups<Q2K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx512
