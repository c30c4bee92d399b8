// Q3_K products on the row-group layout (kernels/row_groups.h) with AVX-512 VNNI: the layout
// and code extraction of avx2/row_groups_q3_k.cpp on all 16 rows of a group at once (one
// 512-bit vector = one 4-byte chunk of every row). The 3-bit codes 0..7 go through vpdpbusd
// against the signed activations, four chunks (one 16-element sub-block) per dot; the zero
// point 4 becomes -4 x the activation sum (Q8_K bsums) before the row's scale sc - 32 is
// applied with a 32-bit multiply. Integers are exact; d x da scales the super-block in f32.
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

inline __m512i chunk(const uint8_t* blk, int k) { return _mm512_loadu_si512(blk + 32 + 64 * k); }

// sc - 32 of sub-block j of every row, in the row's 32-bit lane.
inline __m512i scale_of(const uint8_t* blk, int j) {
  const int b = j % 8;
  const __m512i lo =
      _mm512_and_si512(_mm512_srli_epi32(chunk(blk, 24 + b / 4), 8 * (b % 4) + 4 * (j / 8)), _mm512_set1_epi32(0xF));
  const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(chunk(blk, 26), 8 * (j % 4) + 2 * (j / 4)), _mm512_set1_epi32(3));
  return _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)), _mm512_set1_epi32(32));
}

// Elements 128n + 32k + [0, 32) (sub-blocks 8n + 2k and 8n + 2k + 1) for T tokens.
template <int n, int k, int T>
__attribute__((always_inline)) inline void quarter(const uint8_t* blk, const BlockQ8_K* const a[T], __m512i isum[T]) {
  const __m512i m3 = _mm512_set1_epi8(3), m1 = _mm512_set1_epi8(1);
  for (int part = 0; part < 2; ++part) {
    const int s = 8 * n + 2 * k + part;
    __m512i dot[T];
    for (int t = 0; t < T; ++t) dot[t] = _mm512_setzero_si512();
    for (int i = 0; i < 4; ++i) {
      const int c4 = 4 * part + i;
      const __m512i lo = _mm512_and_si512(_mm512_srli_epi16(chunk(blk, 8 + 8 * n + c4), 2 * k), m3);
      const __m512i hb = _mm512_and_si512(_mm512_srli_epi16(chunk(blk, c4), 4 * n + k), m1);
      const __m512i v = _mm512_or_si512(lo, _mm512_slli_epi16(hb, 2));
      for (int t = 0; t < T; ++t) dot[t] = _mm512_dpbusd_epi32(dot[t], v, bcast4(a[t]->qs + 128 * n + 32 * k + 4 * c4));
    }
    const __m512i sc = scale_of(blk, s);
    for (int t = 0; t < T; ++t) {
      const __m512i centred = _mm512_sub_epi32(dot[t], _mm512_set1_epi32(4 * a[t]->bsums[s]));
      isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(centred, sc));
    }
  }
}

template <int T, int nk = 0>
__attribute__((always_inline)) inline void all_quarters(const uint8_t* blk, const BlockQ8_K* const a[T], __m512i isum[T]) {
  quarter<nk / 4, nk % 4, T>(blk, a, isum);
  if constexpr (nk < 7) all_quarters<T, nk + 1>(blk, a, isum);
}

// One super-block of a group for T tokens (the k_quant_groups.h contract).
struct Q3K {
  static constexpr size_t kSuperBytes = 16 * sizeof(BlockQ3_K);
  template <int T>
  __attribute__((always_inline)) static void add(const uint8_t* blk, const BlockQ8_K* const a[T], __m512 acc[T]) {
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    all_quarters<T>(blk, a, isum);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(a[t]->d)), acc[t]);
  }
};

}  // namespace

void gemm_groups_q3_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups<Q3K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx512
