// Q4_0 / Q8_0 products on the row-group layout (kernels/row_groups.h) with AVX-512 VNNI.
// One 512-bit vector holds a 4-byte chunk of each of 16 rows, so vpdpbusd against the
// broadcast matching 4 activation bytes accumulates every row in its own int32 lane: per
// block the work is 4 (Q4_0: x2 nibbles) or 8 vpdpbusd, one scale conversion and one fma
// for 16 rows, with no horizontal sums. Up to 8 tokens share each weight vector, so small
// batches (several server streams, prefill) cost little more than one token per weight read.
#include <immintrin.h>

// GCC 12's _mm512_cvtepi32_ps / _mm512_cvtph_ps pass a self-initialised "undefined" vector
// as the unused merge source, which -Wmaybe-uninitialized reports once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx512/kernels.h"
#include "kernels/blocks.h"

namespace st::avx512 {
namespace {

constexpr int kMaxTokens = 8;

inline int32_t load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline float load_half_f32(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// 16 rows x T tokens of one group. kQ8: codes are biased u8 (8 chunks per block), else Q4_0
// nibbles (4 chunks, low nibble = element j, high = j + 16). Below 4 tokens each token gets
// two accumulator chains so the vpdpbusd latency does not serialise a block.
template <bool kQ8, int T>
void group_pass(const uint8_t* wg, int64_t nb, const uint8_t* act, size_t act_row_bytes, const int32_t* sums,
                float* y, int64_t ldy) {
  constexpr size_t kCodeBytes = kQ8 ? 32 : 16;
  constexpr size_t kBlockBytes = 32 + 16 * kCodeBytes;
  constexpr int32_t kZero = kQ8 ? 128 : 8;
  constexpr bool kSplit = T < 4;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = wg + static_cast<size_t>(b) * kBlockBytes;
    const uint8_t* a[T];
    for (int t = 0; t < T; ++t) a[t] = act + static_cast<size_t>(t) * act_row_bytes + static_cast<size_t>(b) * 34 + 2;
    __m512i s0[T], s1[T];
    for (int t = 0; t < T; ++t) s0[t] = s1[t] = _mm512_setzero_si512();
    if constexpr (kQ8) {
      for (int k = 0; k < 8; k += 2) {
        const __m512i q0 = _mm512_loadu_si512(blk + 32 + 64 * k);
        const __m512i q1 = _mm512_loadu_si512(blk + 32 + 64 * (k + 1));
        for (int t = 0; t < T; ++t) {
          s0[t] = _mm512_dpbusd_epi32(s0[t], q0, _mm512_set1_epi32(load_i32(a[t] + 4 * k)));
          __m512i& s = kSplit ? s1[t] : s0[t];
          s = _mm512_dpbusd_epi32(s, q1, _mm512_set1_epi32(load_i32(a[t] + 4 * k + 4)));
        }
      }
    } else {
      for (int k = 0; k < 4; ++k) {
        const __m512i q = _mm512_loadu_si512(blk + 32 + 64 * k);
        const __m512i lo = _mm512_and_si512(q, low4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
        for (int t = 0; t < T; ++t) {
          s0[t] = _mm512_dpbusd_epi32(s0[t], lo, _mm512_set1_epi32(load_i32(a[t] + 4 * k)));
          __m512i& s = kSplit ? s1[t] : s0[t];
          s = _mm512_dpbusd_epi32(s, hi, _mm512_set1_epi32(load_i32(a[t] + 16 + 4 * k)));
        }
      }
    }
    const __m512 scale = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    for (int t = 0; t < T; ++t) {
      __m512i s = kSplit ? _mm512_add_epi32(s0[t], s1[t]) : s0[t];
      s = _mm512_add_epi32(s, _mm512_set1_epi32(-kZero * sums[t * nb + b]));
      const __m512 da = _mm512_set1_ps(load_half_f32(a[t] - 2));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(scale, da), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

// One token, two groups from two places (two matrices, or two parts of one): their blocks
// are read alternately, so the core keeps two sequential streams going. A core streaming
// one region at a time is held back by how far ahead one stream's hardware prefetch runs
// (measured here: one stream per core ~42 GB/s over two cores, two streams ~52).
template <bool kQ8>
void group_pass_pair(const uint8_t* wa, const uint8_t* wb, int64_t nb, const uint8_t* act, const int32_t* sums,
                     float* ya, float* yb) {
  constexpr size_t kCodeBytes = kQ8 ? 32 : 16;
  constexpr size_t kBlockBytes = 32 + 16 * kCodeBytes;
  constexpr int32_t kZero = kQ8 ? 128 : 8;
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc_a = _mm512_setzero_ps(), acc_b = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk[2] = {wa + static_cast<size_t>(b) * kBlockBytes, wb + static_cast<size_t>(b) * kBlockBytes};
    const uint8_t* a = act + static_cast<size_t>(b) * 34 + 2;
    __m512i s[2][2];
    for (int m = 0; m < 2; ++m) s[m][0] = s[m][1] = _mm512_setzero_si512();
    if constexpr (kQ8) {
      for (int k = 0; k < 8; k += 2) {
        const __m512i a0 = _mm512_set1_epi32(load_i32(a + 4 * k)), a1 = _mm512_set1_epi32(load_i32(a + 4 * k + 4));
        for (int m = 0; m < 2; ++m) {
          s[m][0] = _mm512_dpbusd_epi32(s[m][0], _mm512_loadu_si512(blk[m] + 32 + 64 * k), a0);
          s[m][1] = _mm512_dpbusd_epi32(s[m][1], _mm512_loadu_si512(blk[m] + 32 + 64 * (k + 1)), a1);
        }
      }
    } else {
      for (int k = 0; k < 4; ++k) {
        const __m512i alo = _mm512_set1_epi32(load_i32(a + 4 * k)), ahi = _mm512_set1_epi32(load_i32(a + 16 + 4 * k));
        for (int m = 0; m < 2; ++m) {
          const __m512i q = _mm512_loadu_si512(blk[m] + 32 + 64 * k);
          s[m][0] = _mm512_dpbusd_epi32(s[m][0], _mm512_and_si512(q, low4), alo);
          s[m][1] = _mm512_dpbusd_epi32(s[m][1], _mm512_and_si512(_mm512_srli_epi16(q, 4), low4), ahi);
        }
      }
    }
    const __m512 da = _mm512_set1_ps(load_half_f32(a - 2));
    const __m512i zero = _mm512_set1_epi32(-kZero * sums[b]);
    __m512* acc[2] = {&acc_a, &acc_b};
    for (int m = 0; m < 2; ++m) {
      const __m512 scale = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[m])));
      const __m512i sm = _mm512_add_epi32(_mm512_add_epi32(s[m][0], s[m][1]), zero);
      *acc[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sm), _mm512_mul_ps(scale, da), *acc[m]);
    }
  }
  _mm512_storeu_ps(ya, acc_a);
  _mm512_storeu_ps(yb, acc_b);
}

template <bool kQ8, int T>
void tokens_pass(const uint8_t* wg, int64_t nb, const uint8_t* act, size_t act_row_bytes, const int32_t* sums,
                 int64_t n_tok, float* y, int64_t ldy) {
  if constexpr (T > 0) {
    if (n_tok == T) return group_pass<kQ8, T>(wg, nb, act, act_row_bytes, sums, y, ldy);
    tokens_pass<kQ8, T - 1>(wg, nb, act, act_row_bytes, sums, n_tok, y, ldy);
  }
}

template <bool kQ8>
void gemm_groups(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                 const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  const int64_t nb = n / kQK;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  // Groups outside, tokens inside: a group (16 rows, ~14 KiB for Q4_0 at n = 1536) stays in
  // L1 while every token pass of a prefill batch reads it.
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* wg = wb + static_cast<size_t>(g) * 16 * w_row_bytes;
    for (int64_t t0 = 0; t0 < n_tok; t0 += kMaxTokens) {
      const int64_t tn = n_tok - t0 < kMaxTokens ? n_tok - t0 : kMaxTokens;
      tokens_pass<kQ8, kMaxTokens>(wg, nb, ab + static_cast<size_t>(t0) * act_row_bytes, act_row_bytes,
                                   act_sums + t0 * nb, tn, y + t0 * ldy + g * 16, ldy);
    }
  }
}

template <bool kQ8>
void gemm_groups_pair(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows, const void* act,
                      const int32_t* act_sums, float* ya, float* yb) {
  const int64_t nb = n / kQK;
  const size_t group_bytes = 16 * w_row_bytes;
  for (int64_t g = 0; g < n_rows / 16; ++g)
    group_pass_pair<kQ8>(static_cast<const uint8_t*>(wa) + static_cast<size_t>(g) * group_bytes,
                         static_cast<const uint8_t*>(wb) + static_cast<size_t>(g) * group_bytes, nb,
                         static_cast<const uint8_t*>(act), act_sums, ya + g * 16, yb + g * 16);
}

}  // namespace

void gemm_groups_pair_q4_0(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows,
                           const void* act, const int32_t* act_sums, float* ya, float* yb) {
  gemm_groups_pair<false>(n, wa, wb, w_row_bytes, n_rows, act, act_sums, ya, yb);
}

void gemm_groups_pair_q8_0(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows,
                           const void* act, const int32_t* act_sums, float* ya, float* yb) {
  gemm_groups_pair<true>(n, wa, wb, w_row_bytes, n_rows, act, act_sums, ya, yb);
}

void gemm_groups_q4_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  gemm_groups<false>(n, w, w_row_bytes, n_rows, act, act_row_bytes, act_sums, n_tok, y, ldy);
}

void gemm_groups_q8_0(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act,
                      size_t act_row_bytes, const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  gemm_groups<true>(n, w, w_row_bytes, n_rows, act, act_row_bytes, act_sums, n_tok, y, ldy);
}

}  // namespace st::avx512
