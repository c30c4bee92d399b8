// gemv for the 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), shared by avx2/ and
// avx512/. A straightforward block loop spends more instructions converting and scaling
// each block's 8 partial sums than on the integer products. Here 8 blocks' partial-sum
// vectors are reduced together into one vector of 8 block sums, the 8 fp16 scales are
// collected into one vector, and a single fma applies them: the float work is per 8 blocks.
//
// W is a packer from gemm_parts.h (codes + kBlockBytes/kScaleOffset layout); Dot maps
// (u8 codes, s8 activations) to 8 int32 partial sums; the activation arrays (scale, sum
// term, zero-point term per block) come from the same prepare functions as gemm.
#pragma once
#include <immintrin.h>

#include "kernels/avx2/gemm_parts.h"

namespace st::simd {
namespace {

// Horizontal sums of 8 int32x8 vectors -> one vector of the 8 sums, in order.
inline __m256i reduce8_i32(const __m256i v[8]) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
  // h0123 = [s0a s1a s2a s3a | s0b s1b s2b s3b] (a/b: the two 128-bit halves' partials)
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20), _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

// 8 fp16 values at p, p + stride, ..., p + 7*stride -> 8 floats. Scalar loads and word
// inserts measured faster than vpgatherdd here.
inline __m256 gather_halves(const uint8_t* p, int stride) {
  __m128i v = _mm_cvtsi32_si128(load_u16(p));
  v = _mm_insert_epi16(v, load_u16(p + 1 * stride), 1);
  v = _mm_insert_epi16(v, load_u16(p + 2 * stride), 2);
  v = _mm_insert_epi16(v, load_u16(p + 3 * stride), 3);
  v = _mm_insert_epi16(v, load_u16(p + 4 * stride), 4);
  v = _mm_insert_epi16(v, load_u16(p + 5 * stride), 5);
  v = _mm_insert_epi16(v, load_u16(p + 6 * stride), 6);
  v = _mm_insert_epi16(v, load_u16(p + 7 * stride), 7);
  return _mm256_cvtph_ps(v);
}

template <class W, class Dot>
float batched_row_dot(const uint8_t* row, const ActBlocks& a) {
  const int64_t nb = a.n_blocks;
  const uint8_t* act = a.base;
  __m256 acc = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 8 <= nb; b += 8) {
    __m256i s[8];
    for (int k = 0; k < 8; ++k) s[k] = Dot::dot(W::codes(row, b + k), loadu256(act + a.qs_offset[b + k]));
    __m256i sums = reduce8_i32(s);
    if (a.zero) sums = _mm256_add_epi32(sums, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.zero + b)));
    const __m256 scale =
        _mm256_mul_ps(gather_halves(row + b * W::kBlockBytes, W::kBlockBytes), _mm256_loadu_ps(a.da + b));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), scale, acc);
    if constexpr (W::kHasMin) {
      const __m256 m = gather_halves(row + b * W::kBlockBytes + 2, W::kBlockBytes);
      acc = _mm256_fmadd_ps(m, _mm256_loadu_ps(a.sa + b), acc);
    }
  }
  float tail = 0;
  for (; b < nb; ++b) {
    const int32_t s = hsum_i32(Dot::dot(W::codes(row, b), loadu256(act + a.qs_offset[b]))) + (a.zero ? a.zero[b] : 0);
    float sc, m = 0;
    W::scales(row, b, &sc, &m);
    tail += static_cast<float>(s) * (sc * a.da[b]);
    if constexpr (W::kHasMin) tail += m * a.sa[b];
  }
  return hsum(acc) + tail;
}

// Integer dot policies for batched_row_dot.
struct DotU8S8 {  // unsigned codes (AVX2)
  static __m256i dot(__m256i u, __m256i s) { return dot_u8s8(u, s); }
};
struct DotS8S8 {  // signed codes (AVX2 Q8_0)
  static __m256i dot(__m256i w, __m256i s) { return dot_s8s8(w, s); }
};

// The whole gemv (or a vec_dot with n_rows = 1): prepare the activation arrays once, then
// stream the rows. `prepare` fills them (prepare_act_q8_0 / _q8_1 bound to a zero point).
// With `rows`, only the listed rows (y[i] = row rows[i]): sparse ReGLU's up products, where
// preparing the activations once per call matters because the listed runs are short.
template <class W, class Dot, class Prepare>
void batched_gemv(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y,
                  bool with_zero, Prepare prepare, const int32_t* rows = nullptr) {
  GemmScratch g = alloc_gemm_scratch(act, 0, 1, n, 32, W::kHasMin, with_zero);
  prepare(g);
  const auto* wb = static_cast<const uint8_t*>(w);
  for (int64_t r = 0; r < n_rows; ++r) {
    const size_t row = static_cast<size_t>(rows ? rows[r] : r);
    y[r] = batched_row_dot<W, Dot>(wb + row * w_row_bytes, g.act);
  }
}

}  // namespace
}  // namespace st::simd
