// Q4_K products on the row-group layout (kernels/row_groups.h) with AVX-512 VNNI. As for
// Q4_0, one 512-bit vector holds a 4-byte chunk of each of 16 rows and vpdpbusd against the
// broadcast activation bytes keeps every row in its own int32 lane. Per super-block and row
// the result is d * da * sum_j sc_j * dot_j - dmin * da * sum_j m_j * bsum_j (j: the eight
// 32-element sub-blocks), the integer parts exact: sc_j and m_j (6 bits) are unpacked from the
// three scale chunks with shifts and masks, lane by lane, and the activation sums come from
// the Q8_K blocks' bsums. The file-layout kernel reduces every sub-block horizontally and
// unpacks scales per row; here 16 rows share each step, which makes decode memory-bound.
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

// Scale and min of sub-block j of every row, from the three scale chunks (row r's bytes
// 4k..4k+3 in lane r of s[k]); the unpack_scale_min_k4 rule, 16 lanes at once.
template <int j>
inline void scale_min(const __m512i s[3], __m512i& sc, __m512i& m) {
  const __m512i m6 = _mm512_set1_epi32(63), m4 = _mm512_set1_epi32(15), m2 = _mm512_set1_epi32(3);
  if constexpr (j < 4) {
    sc = _mm512_and_si512(_mm512_srli_epi32(s[0], 8 * j), m6);
    m = _mm512_and_si512(_mm512_srli_epi32(s[1], 8 * j), m6);
  } else {
    constexpr int k = j - 4;
    sc = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(s[2], 8 * k), m4),
                         _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(s[0], 8 * k + 6), m2), 4));
    m = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(s[2], 8 * k + 4), m4),
                        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(s[1], 8 * k + 6), m2), 4));
  }
}

// Sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles) of one super-block: adds
// sc_j * dot_j to isum and m_j * bsum_j to msum for each of T tokens.
template <int c, int T>
__attribute__((always_inline)) inline void sub_pair(const uint8_t* blk, const __m512i s[3], const BlockQ8_K* const a[T],
                                                    __m512i isum[T], __m512i msum[T]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512i dlo[T], dhi[T];
  for (int t = 0; t < T; ++t) dlo[t] = dhi[t] = _mm512_setzero_si512();
  for (int kk = 0; kk < 8; ++kk) {
    const __m512i q = _mm512_loadu_si512(blk + 64 + 3 * 64 + 64 * (8 * c + kk));
    const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
    for (int t = 0; t < T; ++t) {
      dlo[t] = _mm512_dpbusd_epi32(dlo[t], lo, bcast4(a[t]->qs + 64 * c + 4 * kk));
      dhi[t] = _mm512_dpbusd_epi32(dhi[t], hi, bcast4(a[t]->qs + 64 * c + 32 + 4 * kk));
    }
  }
  __m512i sc0, m0, sc1, m1;
  scale_min<2 * c>(s, sc0, m0);
  scale_min<2 * c + 1>(s, sc1, m1);
  for (int t = 0; t < T; ++t) {
    isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(dlo[t], sc0), _mm512_mullo_epi32(dhi[t], sc1)));
    const __m512i b0 = _mm512_set1_epi32(a[t]->bsums[4 * c] + a[t]->bsums[4 * c + 1]);
    const __m512i b1 = _mm512_set1_epi32(a[t]->bsums[4 * c + 2] + a[t]->bsums[4 * c + 3]);
    msum[t] = _mm512_add_epi32(msum[t], _mm512_add_epi32(_mm512_mullo_epi32(m0, b0), _mm512_mullo_epi32(m1, b1)));
  }
}

// One super-block of a group (blk) for T tokens whose Q8_K blocks are a[t]: adds each
// token's 16 row results to acc[t] (the k_quant_groups.h contract).
struct Q4K {
  static constexpr size_t kSuperBytes = 16 * sizeof(BlockQ4_K);
  template <int T>
  __attribute__((always_inline)) static void add(const uint8_t* blk, const BlockQ8_K* const a[T], __m512 acc[T]) {
    __m512i s[3], isum[T], msum[T];
    for (int k = 0; k < 3; ++k) s[k] = _mm512_loadu_si512(blk + 64 + 64 * k);
    for (int t = 0; t < T; ++t) isum[t] = msum[t] = _mm512_setzero_si512();
    sub_pair<0, T>(blk, s, a, isum, msum);
    sub_pair<1, T>(blk, s, a, isum, msum);
    sub_pair<2, T>(blk, s, a, isum, msum);
    sub_pair<3, T>(blk, s, a, isum, msum);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
    for (int t = 0; t < T; ++t) {
      const __m512 da = _mm512_set1_ps(a[t]->d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, da), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[t]), _mm512_mul_ps(dmin, da), acc[t]);
    }
  }
};

}  // namespace

void gemm_groups_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups<Q4K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

}  // namespace st::avx512
