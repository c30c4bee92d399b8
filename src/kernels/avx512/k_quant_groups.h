// The driver shared by the AVX-512 K-quant row-group kernels (row_groups_q4_k.cpp,
// row_groups_q6_k.cpp): groups outside, passes of up to 4 tokens inside (their accumulators
// stay in registers), super-blocks in order with a software prefetch four super-blocks ahead.
// A kernel supplies
//   struct K {
//     static constexpr size_t kSuperBytes;  // one super-block of a 16-row group
//     template <int T>  // adds the 16 rows' products with token t's block a[t] to acc[t]
//     static void add(const uint8_t* blk, const BlockQ8_K* const a[T], __m512 acc[T]);
//   };
// The prefetch distance, measured on Q4_K (one core from DRAM, kernels_bench
// groups/q4_k/avx512/1536xlargex1tok): 15 GB/s without, 21 / 30-37 / 31-35 GB/s at 1 / 4 / 8
// super-blocks; one super-block's arithmetic is long enough that the hardware prefetcher
// alone falls behind. With it a second stream (GemmGroupsPairFn) no longer helps (24-27
// GB/s), so the K-quants have no pair kernels.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/blocks.h"

namespace st::avx512 {
namespace {

constexpr int kKPassTokens = 4;

inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// T tokens over one group: y[t * ldy + r].
template <class K, int T>
void k_pass(const uint8_t* wg, int64_t nsb, const uint8_t* act, size_t act_row_bytes, float* y, int64_t ldy) {
  constexpr size_t kAhead = 4 * K::kSuperBytes;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* blk = wg + static_cast<size_t>(b) * K::kSuperBytes;
    for (size_t o = 0; o < K::kSuperBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(blk + kAhead + o), _MM_HINT_T0);
    const BlockQ8_K* a[T];
    for (int t = 0; t < T; ++t)
      a[t] = reinterpret_cast<const BlockQ8_K*>(act + static_cast<size_t>(t) * act_row_bytes) + b;
    K::template add<T>(blk, a, acc);
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ldy, acc[t]);
}

template <class K, int T>
void k_tokens_pass(const uint8_t* wg, int64_t nsb, const uint8_t* act, size_t act_row_bytes, int64_t n_tok, float* y,
                   int64_t ldy) {
  if constexpr (T > 0) {
    if (n_tok == T) return k_pass<K, T>(wg, nsb, act, act_row_bytes, y, ldy);
    k_tokens_pass<K, T - 1>(wg, nsb, act, act_row_bytes, n_tok, y, ldy);
  }
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
    for (int64_t t0 = 0; t0 < n_tok; t0 += kKPassTokens) {
      const int64_t tn = n_tok - t0 < kKPassTokens ? n_tok - t0 : kKPassTokens;
      k_tokens_pass<K, kKPassTokens>(wg, nsb, ab + static_cast<size_t>(t0) * act_row_bytes, act_row_bytes, tn,
                                     y + t0 * ldy + g * 16, ldy);
    }
  }
}

}  // namespace
}  // namespace st::avx512
