// Q4_K products on the row-group layout (kernels/row_groups.h) with AVX2, for CPUs without
// AVX-512 VNNI. A 256-bit vector holds a 4-byte chunk of 8 rows (half a group); vpmaddubsw
// against the broadcast activation bytes leaves each row's products in its own 32-bit lane
// as two int16 sums. A 32-element sub-block adds up exactly in int16 (codes 0..15 times
// activations of at most 128 in magnitude: 8 chunks x 2 x 1920 = 30720), and one vpmaddwd
// by the sub-block's scale (sc in both halves of the lane) widens and scales it at once. The
// mins' term is m_j x (the activation's bsums), as in the AVX-512 kernel; the integer parts
// are exact, then d * da and dmin * da scale them in f32.
#include <immintrin.h>

#include <cstring>

#include "kernels/avx2/k_quant_groups.h"
#include "kernels/avx2/kernels.h"
#include "kernels/blocks.h"

namespace st::avx2 {
namespace {

inline __m256i load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Scale (in both int16 halves of each lane) and min of sub-block j of 8 rows, from the three
// scale chunks (the unpack_scale_min_k4 rule, lane by lane).
template <int j>
inline void scale_min(const __m256i s[3], __m256i& sc16, __m256i& m) {
  const __m256i m6 = _mm256_set1_epi32(63), m4 = _mm256_set1_epi32(15), m2 = _mm256_set1_epi32(3);
  __m256i sc;
  if constexpr (j < 4) {
    sc = _mm256_and_si256(_mm256_srli_epi32(s[0], 8 * j), m6);
    m = _mm256_and_si256(_mm256_srli_epi32(s[1], 8 * j), m6);
  } else {
    constexpr int k = j - 4;
    sc = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s[2], 8 * k), m4),
                         _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(s[0], 8 * k + 6), m2), 4));
    m = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s[2], 8 * k + 4), m4),
                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(s[1], 8 * k + 6), m2), 4));
  }
  sc16 = _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16));
}

// Sub-blocks 2c and 2c + 1 of one half (8 rows) of a super-block for T tokens.
template <int c, int T>
__attribute__((always_inline)) inline void sub_pair(const uint8_t* half, const __m256i s[3], const BlockQ8_K* const a[T],
                                                    __m256i isum[T], __m256i msum[T]) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256i dlo[T], dhi[T];
  for (int t = 0; t < T; ++t) dlo[t] = dhi[t] = _mm256_setzero_si256();
  for (int kk = 0; kk < 8; ++kk) {
    const __m256i q = load(half + 256 + 64 * (8 * c + kk));
    const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    for (int t = 0; t < T; ++t) {
      dlo[t] = _mm256_add_epi16(dlo[t], _mm256_maddubs_epi16(lo, bcast4(a[t]->qs + 64 * c + 4 * kk)));
      dhi[t] = _mm256_add_epi16(dhi[t], _mm256_maddubs_epi16(hi, bcast4(a[t]->qs + 64 * c + 32 + 4 * kk)));
    }
  }
  __m256i sc0, m0, sc1, m1;
  scale_min<2 * c>(s, sc0, m0);
  scale_min<2 * c + 1>(s, sc1, m1);
  for (int t = 0; t < T; ++t) {
    isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(dlo[t], sc0), _mm256_madd_epi16(dhi[t], sc1)));
    const __m256i b0 = _mm256_set1_epi32(a[t]->bsums[4 * c] + a[t]->bsums[4 * c + 1]);
    const __m256i b1 = _mm256_set1_epi32(a[t]->bsums[4 * c + 2] + a[t]->bsums[4 * c + 3]);
    msum[t] = _mm256_add_epi32(msum[t], _mm256_add_epi32(_mm256_mullo_epi32(m0, b0), _mm256_mullo_epi32(m1, b1)));
  }
}

// Rows 8h .. 8h + 7 of one super-block for T tokens (the k_quant_groups.h contract).
struct Q4K {
  static constexpr size_t kSuperBytes = 16 * sizeof(BlockQ4_K);
  template <int T>
  __attribute__((always_inline)) static void add_half(const uint8_t* blk, int h, const BlockQ8_K* const a[T],
                                                      __m256 acc[T]) {
    const uint8_t* half = blk + 32 * h;  // chunks of rows 8h .. 8h + 7
    __m256i s[3], isum[T], msum[T];
    for (int k = 0; k < 3; ++k) s[k] = load(half + 64 + 64 * k);
    for (int t = 0; t < T; ++t) isum[t] = msum[t] = _mm256_setzero_si256();
    sub_pair<0, T>(half, s, a, isum, msum);
    sub_pair<1, T>(half, s, a, isum, msum);
    sub_pair<2, T>(half, s, a, isum, msum);
    sub_pair<3, T>(half, s, a, isum, msum);
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * h)));
    for (int t = 0; t < T; ++t) {
      const __m256 da = _mm256_set1_ps(a[t]->d);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, da), acc[t]);
      acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[t]), _mm256_mul_ps(dmin, da), acc[t]);
    }
  }
};

}  // namespace

void gemm_groups_q4_k(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* /*act_sums*/, int64_t n_tok, float* y, int64_t ldy) {
  k_gemm_groups<Q4K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

void pack_groups_q4_k(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  // Row by row (the source is one sequential stream), each row's d, dmin and 35 chunks of
  // 4 bytes (scales, then codes) to their places in the group's super-blocks (L1-resident).
  constexpr size_t kBlock = sizeof(BlockQ4_K);
  const int64_t nsb = n_cols / kQK_K;
  const size_t row_bytes = static_cast<size_t>(nsb) * kBlock;
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* src = rows + static_cast<size_t>(g) * 16 * row_bytes;
    uint8_t* dst = groups + static_cast<size_t>(g) * 16 * row_bytes;
    for (int r = 0; r < 16; ++r) {
      const uint8_t* s = src + static_cast<size_t>(r) * row_bytes;
      for (int64_t b = 0; b < nsb; ++b, s += kBlock) {
        uint8_t* d = dst + static_cast<size_t>(b) * Q4K::kSuperBytes;
        std::memcpy(d + 2 * r, s, 2);
        std::memcpy(d + 32 + 2 * r, s + 2, 2);
        for (int k = 0; k < 35; ++k) std::memcpy(d + 64 + 64 * k + 4 * r, s + 4 + 4 * k, 4);
      }
    }
  }
}

}  // namespace st::avx2
