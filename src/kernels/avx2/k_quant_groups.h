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

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/blocks.h"

namespace st::avx2 {
namespace {

constexpr int kKPassTokens = 2;

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
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

}  // namespace
}  // namespace st::avx2
