// The driver shared by the AVX2 K-quant row-group kernels (row_groups_q4_k.cpp,
// row_groups_q6_k.cpp): groups outside, passes of 2 tokens inside (the accumulators of both
// 8-row halves stay in the 16 ymm registers), super-blocks in order with a software prefetch
// four super-blocks ahead (as on AVX-512: one super-block's arithmetic is long enough that
// the hardware prefetcher alone falls behind). Both halves of a super-block in turn, so every
// cache line of it is used while it is in L1. A kernel supplies
//   struct K {
//     static constexpr size_t kSuperBytes;  // one super-block of a 16-row group
//     template <int T>  // adds rows 8h .. 8h + 7's products with token t's block a[t] to acc[t]
//     static void add_half(const uint8_t* blk, int h, const BlockQ8_K* const a[T], __m256 acc[T]);
//   };
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/blocks.h"
#include "kernels/kernel_table.h"
#include "kernels/row_groups.h"

namespace st::avx2 {
namespace {

constexpr int kKPassTokens = 2;

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// vpshufb control: in each row's 32-bit lane, the lane's bytes b0 and b1 zero-extended into
// its low and high int16 halves (vpmaddwd operands built with one shuffle, no shifts).
inline __m256i lane_bytes_to_i16(uint32_t b0, uint32_t b1) {
  const uint32_t c = 0x80008000u | b0 | (b1 << 16);
  const auto at = [c](uint32_t lane) { return static_cast<int>(c + 0x00040004u * lane); };
  return _mm256_setr_epi32(at(0), at(1), at(2), at(3), at(0), at(1), at(2), at(3));
}

// The eight 6-bit scales and mins of a Q4_K / Q5_K super-block for 8 rows (the
// unpack_scale_min_k4 rule on whole vectors): byte j of a row's lane in sc[0] is its scale j,
// in sc[1] its scale 4 + j; the same for the mins. Nine operations for all 64 values.
struct KScales {
  __m256i sc[2], m[2];
};

inline KScales unpack_k_scales(const uint8_t* chunk0) {  // the three scale chunks, 64 bytes apart
  const auto load = [chunk0](int k) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk0 + 64 * k)); };
  const __m256i s0 = load(0), s1 = load(1), s2 = load(2);
  const __m256i m6 = _mm256_set1_epi8(0x3F), m4 = _mm256_set1_epi8(0x0F), top2 = _mm256_set1_epi8(0x30);
  KScales k;
  k.sc[0] = _mm256_and_si256(s0, m6);
  k.m[0] = _mm256_and_si256(s1, m6);
  k.sc[1] = _mm256_or_si256(_mm256_and_si256(s2, m4), _mm256_and_si256(_mm256_srli_epi32(s0, 2), top2));
  k.m[1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s2, 4), m4), _mm256_and_si256(_mm256_srli_epi32(s1, 2), top2));
  return k;
}

// Scale of sub-block j in both int16 halves of each row's lane (vpmaddwd against two int16 sums).
template <int j>
inline __m256i k_scale16(const KScales& k) {
  return _mm256_shuffle_epi8(k.sc[j / 4], lane_bytes_to_i16(j % 4, j % 4));
}

// The mins' integer term of a super-block for 8 rows: sum over the eight 32-element
// sub-blocks of m_j x (the activation's sum over sub-block j), four vpmaddwd on (m_2c, m_2c+1)
// x (sum_2c, sum_2c+1) pairs (|sum| <= 32 x 128 fits int16).
inline __m256i k_min_term(const KScales& k, const BlockQ8_K* a) {
  const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a->bsums));
  const __m256i sums = _mm256_hadd_epi16(bs, bs);  // 32-bit lanes 0, 1, 4, 5: the pairs c = 0..3
  __m256i t = _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c) {
    const __m256i m = _mm256_shuffle_epi8(k.m[c / 2], lane_bytes_to_i16(2 * (c % 2), 2 * (c % 2) + 1));
    const __m256i pair = _mm256_permutevar8x32_epi32(sums, _mm256_set1_epi32(c < 2 ? c : c + 2));
    t = _mm256_add_epi32(t, _mm256_madd_epi16(m, pair));
  }
  return t;
}

// T tokens over one group: y[t * ldy + r].
template <class K, int T>
void k_pass(const uint8_t* wg, int64_t nsb, const uint8_t* act, size_t act_row_bytes, float* y, int64_t ldy) {
  constexpr size_t kAhead = 4 * K::kSuperBytes;
  __m256 acc[2][T];
  for (int h = 0; h < 2; ++h)
    for (int t = 0; t < T; ++t) acc[h][t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* blk = wg + static_cast<size_t>(b) * K::kSuperBytes;
    for (size_t o = 0; o < K::kSuperBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + kAhead + o), _MM_HINT_T0);
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t)
      a[t] = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_row_bytes) + b;
    for (int h = 0; h < 2; ++h) K::template add_half<T>(blk, h, a, acc[h]);
  }
  for (int h = 0; h < 2; ++h)
    for (int t = 0; t < T; ++t) _mm256_storeu_ps(y + t * ldy + 8 * h, acc[h][t]);
}

// The GemmGroupsFn contract on Q8_K activations (act_sums unused).
template <class K>
void k_gemm_groups(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                   int64_t n_tok, float* y, int64_t ldy) {
  const int64_t nsb = n / kQK_K;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  // Groups outside, tokens inside: a group's super-blocks stay in L1/L2 across token passes.
  for (int64_t g = 0; g < n_rows / 16; ++g) {
    const uint8_t* wg = wb + static_cast<size_t>(g) * 16 * w_row_bytes;
    int64_t t0 = 0;
    for (; t0 + kKPassTokens <= n_tok; t0 += kKPassTokens)
      k_pass<K, kKPassTokens>(wg, nsb, ab + static_cast<size_t>(t0) * act_row_bytes, act_row_bytes, y + t0 * ldy + g * 16,
                              ldy);
    if (t0 < n_tok)
      k_pass<K, 1>(wg, nsb, ab + static_cast<size_t>(t0) * act_row_bytes, act_row_bytes, y + t0 * ldy + g * 16, ldy);
  }
}


// Token counts from which a batch goes to the file-layout tile gemm instead (kernels_bench,
// AVX2, 1536 x 1536 x 64 tokens: the tile gemm 120-140 GOP/s against 75-95 for 2-token passes
// here, which re-extract every code per pair of tokens; at 4 tokens the passes win).
constexpr int64_t kTileGemmTokens = 16;

// k_gemm_groups, except that a prefill-sized batch unpacks the rows back to the file layout
// (per-thread buffer, ~10% of the product's time) and runs the active ISA's tile gemm for
// `type` on them (on AVX-512 machines that table inherits these kernels for Q5_K, and its own
// tile gemm is the faster one there).
template <class K>
void k_gemm_groups_or_tiles(TensorType type, int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows,
                            const void* act, size_t act_row_bytes, int64_t n_tok, float* y, int64_t ldy) {
  if (n_tok < kTileGemmTokens) return k_gemm_groups<K>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
  // Slices of 256 rows: the buffer stays small whatever the caller hands over (a whole lm_head).
  constexpr int64_t kSliceRows = 256;
  thread_local std::vector<uint8_t> rows;  // not kernel_scratch: the tile gemm uses that
  const size_t bytes = static_cast<size_t>(std::min(n_rows, kSliceRows)) * w_row_bytes;
  if (rows.size() < bytes) rows.resize(bytes);
  const GemmFn gemm = kernel_table(type).gemm;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kSliceRows) {
    const int64_t nr = std::min(kSliceRows, n_rows - r0);
    unpack_row_groups(type, static_cast<const uint8_t*>(w) + static_cast<size_t>(r0) * w_row_bytes, nr, n, rows.data());
    gemm(n, rows.data(), w_row_bytes, nr, act, act_row_bytes, n_tok, y + r0, ldy);
  }
}

}  // namespace
}  // namespace st::avx2
