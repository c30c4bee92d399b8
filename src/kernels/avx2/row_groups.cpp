// Q4_0 / Q8_0 products on the row-group layout (kernels/row_groups.h) with AVX2, for CPUs
// without AVX-512 VNNI. A 256-bit vector holds a 4-byte chunk of 8 rows (half a group), so
// vpmaddubsw against the broadcast matching activation bytes leaves each row's products in its
// own 32-bit lane, as vpdpbusd does on AVX-512: no horizontal sums, one scale vector per
// block and half, and every weight vector serves all tokens of a pass.
//
// Q4_0: codes are 0..15 and activations -127..127, so a vpmaddubsw pair is at most 3810 in
// magnitude and the 8 of a block (4 chunks x low/high nibbles) sum exactly in int16 lanes
// (<= 30480); one vpmaddwd per block and half then widens to int32. The zero point (codes are
// stored +8) is -8 x the activation block's sum, added once per block.
// Q8_0: codes are stored biased (u8 = code + 128); the xor back to int8 and the sign trick
// (|w| x sign(a, w)) keep each vpmaddubsw pair within int16 (<= 2 x 128 x 127), widened per
// chunk. Integer block sums are exact either way; each is scaled by (weight scale x
// activation scale) and accumulated in f32 in block order, like the AVX-512 kernel.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "kernels/avx2/kernels.h"
#include "kernels/avx2/simd.h"
#include "kernels/blocks.h"

namespace st::avx2 {

using namespace st::simd;

namespace {

// Tokens per pass over a group: enough to amortise the weight loads and nibble extraction,
// few enough that the accumulators stay in the 16 ymm registers.
constexpr int kPassTokens = 4;
// Bytes ahead of the current block that a one-token pass prefetches (kernels_bench, DRAM-sized
// matrix, one core: +5-20% over the hardware prefetchers alone; 1-4 KiB alike).
constexpr size_t kAhead = 2048;

template <bool kQ8>
struct Shape {
  static constexpr size_t kCodeBytes = kQ8 ? 32 : 16;
  static constexpr size_t kBlockBytes = 32 + 16 * kCodeBytes;  // 16 scales, then the chunks
  static constexpr int kChunks = kQ8 ? 8 : 4;
};

// The activation side of a call, per (token, block): the scale as a float and the weights'
// zero-point term (Q4_0), so a pass broadcasts them straight from memory.
struct ActSide {
  const uint8_t* codes;  // token 0, block 0 codes (after the fp16 scale)
  size_t row_bytes;
  const float* d;        // [token * nb + block]
  const int32_t* zero;   // [token * nb + block]
  int64_t nb;
};

// T tokens x NH halves (starting at half h0) of one group: y[t * ldy + 8 * h + r].
template <bool kQ8, int T, int NH>
void pass(const uint8_t* wg, const ActSide& a, int h0, float* y, int64_t ldy) {
  using S = Shape<kQ8>;
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  __m256 acc[T][NH];
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < NH; ++h) acc[t][h] = _mm256_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b) {
    const uint8_t* blk = wg + static_cast<size_t>(b) * S::kBlockBytes;
    const uint8_t* ab = a.codes + static_cast<size_t>(b) * sizeof(BlockQ8_0);
    if constexpr (NH == 2)  // one stream through the matrix (decode): keep more lines in flight
      for (size_t o = 0; o < S::kBlockBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + kAhead + o), _MM_HINT_T0);
    __m256i s[T][NH];
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < NH; ++h) s[t][h] = _mm256_setzero_si256();
    // Not unrolled: GCC otherwise hoists every chunk's products ahead of their sums and spills
    // them (measured: ~40% slower prefill).
#pragma GCC unroll 1
    for (int k = 0; k < S::kChunks; ++k) {
      const uint8_t* chunk = blk + 32 + 64 * k;
      if constexpr (kQ8) {
        __m256i w[NH], aw[NH];
        for (int h = 0; h < NH; ++h) {
          w[h] = _mm256_xor_si256(loadu256(chunk + 32 * (h0 + h)), flip);
          aw[h] = _mm256_abs_epi8(w[h]);
        }
        for (int t = 0; t < T; ++t) {
          const __m256i av = _mm256_set1_epi32(load_i32(ab + t * a.row_bytes + 4 * k));
          for (int h = 0; h < NH; ++h) {
            const __m256i p = _mm256_maddubs_epi16(aw[h], _mm256_sign_epi8(av, w[h]));
            s[t][h] = _mm256_add_epi32(s[t][h], _mm256_madd_epi16(p, ones));
          }
        }
      } else {
        __m256i lo[NH], hi[NH];
        for (int h = 0; h < NH; ++h) {
          const __m256i q = loadu256(chunk + 32 * (h0 + h));
          lo[h] = _mm256_and_si256(q, low4);
          hi[h] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        }
        for (int t = 0; t < T; ++t) {
          const uint8_t* at = ab + t * a.row_bytes;
          const __m256i alo = _mm256_set1_epi32(load_i32(at + 4 * k));       // elements 4k..
          const __m256i ahi = _mm256_set1_epi32(load_i32(at + 16 + 4 * k));  // elements 16 + 4k..
          for (int h = 0; h < NH; ++h) {
            s[t][h] = _mm256_add_epi16(s[t][h], _mm256_maddubs_epi16(lo[h], alo));
            s[t][h] = _mm256_add_epi16(s[t][h], _mm256_maddubs_epi16(hi[h], ahi));
          }
        }
      }
    }
    __m256 scale[NH];
    for (int h = 0; h < NH; ++h)
      scale[h] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * (h0 + h))));
    for (int t = 0; t < T; ++t) {
      const __m256 da = _mm256_broadcast_ss(a.d + t * a.nb + b);
      for (int h = 0; h < NH; ++h) {
        __m256i isum = s[t][h];
        if constexpr (!kQ8)
          isum = _mm256_add_epi32(_mm256_madd_epi16(isum, ones), _mm256_set1_epi32(a.zero[t * a.nb + b]));
        acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(scale[h], da), acc[t][h]);
      }
    }
  }
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < NH; ++h) _mm256_storeu_ps(y + t * ldy + 8 * (h0 + h), acc[t][h]);
}

// One token, two groups from two places, both halves of each, their blocks read alternately:
// two streams per core (kernel_table.h, GemmGroupsPairFn). Per (group, half) the arithmetic
// of pass<kQ8, 1, 2>, so the results are the same bits.
template <bool kQ8>
void pass_pair(const uint8_t* wa, const uint8_t* wb, const ActSide& a, float* ya, float* yb) {
  using S = Shape<kQ8>;
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const uint8_t* wg[2] = {wa, wb};
  __m256 acc[2][2];
  for (auto& m : acc) m[0] = m[1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b) {
    const uint8_t* ab = a.codes + static_cast<size_t>(b) * sizeof(BlockQ8_0);
    __m256i s[2][2];
    for (int m = 0; m < 2; ++m) {
      const uint8_t* blk = wg[m] + static_cast<size_t>(b) * S::kBlockBytes;
      for (size_t o = 0; o < S::kBlockBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + kAhead + o), _MM_HINT_T0);
      s[m][0] = s[m][1] = _mm256_setzero_si256();
    }
#pragma GCC unroll 1
    for (int k = 0; k < S::kChunks; ++k) {
      for (int m = 0; m < 2; ++m) {
        const uint8_t* chunk = wg[m] + static_cast<size_t>(b) * S::kBlockBytes + 32 + 64 * k;
        for (int h = 0; h < 2; ++h) {
          if constexpr (kQ8) {
            const __m256i w = _mm256_xor_si256(loadu256(chunk + 32 * h), flip);
            const __m256i av = _mm256_set1_epi32(load_i32(ab + 4 * k));
            const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(av, w));
            s[m][h] = _mm256_add_epi32(s[m][h], _mm256_madd_epi16(p, ones));
          } else {
            const __m256i q = loadu256(chunk + 32 * h);
            s[m][h] = _mm256_add_epi16(s[m][h], _mm256_maddubs_epi16(_mm256_and_si256(q, low4),
                                                                     _mm256_set1_epi32(load_i32(ab + 4 * k))));
            s[m][h] = _mm256_add_epi16(s[m][h], _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), low4),
                                                                     _mm256_set1_epi32(load_i32(ab + 16 + 4 * k))));
          }
        }
      }
    }
    const __m256 da = _mm256_broadcast_ss(a.d + b);
    for (int m = 0; m < 2; ++m) {
      const uint8_t* blk = wg[m] + static_cast<size_t>(b) * S::kBlockBytes;
      for (int h = 0; h < 2; ++h) {
        const __m256 scale = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
        __m256i isum = s[m][h];
        if constexpr (!kQ8) isum = _mm256_add_epi32(_mm256_madd_epi16(isum, ones), _mm256_set1_epi32(a.zero[b]));
        acc[m][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(scale, da), acc[m][h]);
      }
    }
  }
  for (int h = 0; h < 2; ++h) {
    _mm256_storeu_ps(ya + 8 * h, acc[0][h]);
    _mm256_storeu_ps(yb + 8 * h, acc[1][h]);
  }
}

// One group, T tokens: one token takes both halves in one pass (decode: the group is read from
// memory once, as one stream); more tokens go half by half (the group is in L1 by then).
template <bool kQ8, int T>
void group_tokens(const uint8_t* wg, const ActSide& a, float* y, int64_t ldy) {
  if constexpr (T == 1) {
    pass<kQ8, 1, 2>(wg, a, 0, y, ldy);
  } else {
    pass<kQ8, T, 1>(wg, a, 0, y, ldy);
    pass<kQ8, T, 1>(wg, a, 1, y, ldy);
  }
}

template <bool kQ8>
void gemm_groups(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                 const int32_t* act_sums, int64_t n_tok, float* y, int64_t ldy) {
  const int64_t nb = n / kQK;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  // Per-thread: the activation scales and zero-point terms of this call's tokens. Not in
  // kernel_scratch: matmul's file-layout staging holds that buffer while it calls this kernel.
  thread_local std::vector<float> d;
  thread_local std::vector<int32_t> zero;
  const size_t n_side = static_cast<size_t>(n_tok * nb);
  if (d.size() < n_side) {
    d.resize(n_side);
    zero.resize(n_side);
  }
  for (int64_t t = 0; t < n_tok; ++t)
    act_block_terms(ab + static_cast<size_t>(t) * act_row_bytes, act_sums + t * nb, nb, kQ8 ? 0 : 8, d.data() + t * nb,
                    zero.data() + t * nb);
  // Groups outside, tokens inside: a group (16 rows, ~14 KiB for Q4_0 at n = 1536) stays in
  // L1 while every pass of a batch reads it.
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* wg = wb + static_cast<size_t>(g) * 16 * w_row_bytes;
    for (int64_t t0 = 0; t0 < n_tok; t0 += kPassTokens) {
      const ActSide a{ab + static_cast<size_t>(t0) * act_row_bytes + 2, act_row_bytes, d.data() + t0 * nb,
                      zero.data() + t0 * nb, nb};
      float* yt = y + t0 * ldy + g * 16;
      switch (n_tok - t0 < kPassTokens ? n_tok - t0 : kPassTokens) {
        case 1: group_tokens<kQ8, 1>(wg, a, yt, ldy); break;
        case 2: group_tokens<kQ8, 2>(wg, a, yt, ldy); break;
        case 3: group_tokens<kQ8, 3>(wg, a, yt, ldy); break;
        default: group_tokens<kQ8, 4>(wg, a, yt, ldy); break;
      }
    }
  }
}

template <bool kQ8>
void gemm_groups_pair(int64_t n, const void* wa, const void* wb, size_t w_row_bytes, int64_t n_rows, const void* act,
                      const int32_t* act_sums, float* ya, float* yb) {
  const int64_t nb = n / kQK;
  thread_local std::vector<float> d;  // as in gemm_groups
  thread_local std::vector<int32_t> zero;
  if (d.size() < static_cast<size_t>(nb)) {
    d.resize(static_cast<size_t>(nb));
    zero.resize(static_cast<size_t>(nb));
  }
  const auto* ab = static_cast<const uint8_t*>(act);
  act_block_terms(ab, act_sums, nb, kQ8 ? 0 : 8, d.data(), zero.data());
  const ActSide a{ab + 2, 0, d.data(), zero.data(), nb};
  const size_t group_bytes = 16 * w_row_bytes;
  for (int64_t g = 0; g < n_rows / 16; ++g)
    pass_pair<kQ8>(static_cast<const uint8_t*>(wa) + static_cast<size_t>(g) * group_bytes,
                   static_cast<const uint8_t*>(wb) + static_cast<size_t>(g) * group_bytes, a, ya + g * 16, yb + g * 16);
}

// Row by row: the source is read as one sequential stream (freshly read experts are cold in
// the caches, and a single stream is what the prefetchers follow best), while the writes land
// in the group's own 16 x row_bytes region, which stays in L1.
template <bool kQ8>
void pack_rows_into_groups(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  constexpr int kCodeBytes = kQ8 ? 32 : 16;
  constexpr int kBlockBytes = 2 + kCodeBytes;
  constexpr size_t kGroupBlock = 16 * kBlockBytes;
  const int64_t nb = n_cols / kQK;
  const size_t row_bytes = static_cast<size_t>(nb) * kBlockBytes;
  const __m128i bias = _mm_set1_epi8(kQ8 ? static_cast<char>(0x80) : 0);
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* src = rows + static_cast<size_t>(g) * 16 * row_bytes;
    uint8_t* dst = groups + static_cast<size_t>(g) * 16 * row_bytes;
    for (int r = 0; r < 16; ++r) {
      const uint8_t* s = src + static_cast<size_t>(r) * row_bytes;
      uint8_t* d = dst + 4 * r;
      for (int64_t b = 0; b < nb; ++b, s += kBlockBytes, d += kGroupBlock) {
        std::memcpy(d - 2 * r, s, 2);  // scale r at offset 2r of the block (d is 4r in)
        for (int h = 0; h < kCodeBytes / 16; ++h) {
          const __m128i c = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 2 + 16 * h)), bias);
          uint8_t* o = d + 32 + 256 * h;  // chunks 4h .. 4h + 3
          _mm_storeu_si32(o, c);
          _mm_storeu_si32(o + 64, _mm_srli_si128(c, 4));
          _mm_storeu_si32(o + 128, _mm_srli_si128(c, 8));
          _mm_storeu_si32(o + 192, _mm_srli_si128(c, 12));
        }
      }
    }
  }
}

}  // namespace

void pack_groups_q4_0(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  pack_rows_into_groups<false>(rows, n_rows, n_cols, groups);
}

void pack_groups_q8_0(const uint8_t* rows, int64_t n_rows, int64_t n_cols, uint8_t* groups) {
  pack_rows_into_groups<true>(rows, n_rows, n_cols, groups);
}

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

}  // namespace st::avx2
