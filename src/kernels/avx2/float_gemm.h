// Dot products, gemv and gemm for the float weight types (F32, F16, BF16), shared by their
// avx2/ files. A `Conv` policy loads 8 elements of its storage type as floats:
//   static __m256 load8(const void* base, int64_t i);   // elements i..i+7
//   static float load1(const void* base, int64_t i);
// All three sum in one order, so a token's result does not depend on the batch it came in
// (the server's prefix cache evaluates a prompt's last token again alone; its logits must be
// the batch's, or a seeded reply changes): per output one 8-lane fma chain over the row in
// order, the tail zero-padded into a last vector, then hsum. The chains' latency is hidden by
// running several outputs at once: gemv 4 rows, gemm a 4-row x 2-token register tile on
// activations and weights converted to zero-padded f32 once (each weight vector feeds two tokens).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/avx2/simd.h"
#include "kernels/scratch.h"

namespace st::simd {
namespace {

// Elements i..n-1 (fewer than 8) as floats, the rest of the vector zero.
template <class Conv>
__m256 load_tail(const void* p, int64_t i, int64_t n) {
  alignas(32) float v[8] = {};
  for (int64_t k = i; k < n; ++k) v[k - i] = Conv::load1(p, k);
  return _mm256_load_ps(v);
}

// R rows of w against one activation row, in the order above.
template <class Conv, int R>
void float_dot_rows(int64_t n, const uint8_t* const (&w)[R], const void* a, float* y) {
  __m256 acc[R];
  for (auto& v : acc) v = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = Conv::load8(a, i);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(Conv::load8(w[r], i), x, acc[r]);
  }
  if (i < n) {
    const __m256 x = load_tail<Conv>(a, i, n);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(load_tail<Conv>(w[r], i, n), x, acc[r]);
  }
  for (int r = 0; r < R; ++r) y[r] = hsum(acc[r]);
}

template <class Conv>
float float_dot(int64_t n, const void* w, const void* a) {
  const uint8_t* const rows[1] = {static_cast<const uint8_t*>(w)};
  float y;
  float_dot_rows<Conv, 1>(n, rows, a, &y);
  return y;
}

template <class Conv>
void float_gemv(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto row = [&](int64_t r) { return wb + static_cast<size_t>(r) * w_row_bytes; };
  int64_t r = 0;
  for (; r + 4 <= n_rows; r += 4) {
    const uint8_t* const rows[4] = {row(r), row(r + 1), row(r + 2), row(r + 3)};
    float_dot_rows<Conv, 4>(n, rows, act, y + r);
  }
  for (; r < n_rows; ++r) y[r] = float_dot<Conv>(n, row(r), act);
}

template <class Conv>
void to_f32_padded(const void* src, int64_t n, int64_t n_pad, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, Conv::load8(src, i));
  for (; i < n; ++i) dst[i] = Conv::load1(src, i);
  for (; i < n_pad; ++i) dst[i] = 0;
}

template <class Conv>
void float_gemm(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                int64_t n_tok, float* y, int64_t ldy) {
  constexpr int R = 4;
  const int64_t n_pad = (n + 7) / 8 * 8;
  auto* a32 = static_cast<float*>(kernel_scratch(static_cast<size_t>((n_tok + R) * n_pad) * sizeof(float)));
  float* w32 = a32 + n_tok * n_pad;
  for (int64_t t = 0; t < n_tok; ++t)
    to_f32_padded<Conv>(static_cast<const uint8_t*>(act) + t * act_row_bytes, n, n_pad, a32 + t * n_pad);
  for (int64_t r0 = 0; r0 < n_rows; r0 += R) {
    const int rows = static_cast<int>(std::min<int64_t>(R, n_rows - r0));
    for (int r = 0; r < R; ++r)  // rows past the end repeat the last one; results dropped
      to_f32_padded<Conv>(static_cast<const uint8_t*>(w) + std::min<int64_t>(r0 + r, n_rows - 1) * w_row_bytes, n,
                          n_pad, w32 + r * n_pad);
    for (int64_t t0 = 0; t0 < n_tok; t0 += 2) {
      const int toks = static_cast<int>(std::min<int64_t>(2, n_tok - t0));
      const float* a0 = a32 + t0 * n_pad;
      const float* a1 = a32 + (t0 + toks - 1) * n_pad;  // a lone last token runs twice
      __m256 acc[R][2];
      for (auto& row : acc) row[0] = row[1] = _mm256_setzero_ps();
      for (int64_t i = 0; i < n_pad; i += 8) {
        const __m256 x0 = _mm256_loadu_ps(a0 + i), x1 = _mm256_loadu_ps(a1 + i);
        for (int r = 0; r < R; ++r) {
          const __m256 wv = _mm256_loadu_ps(w32 + r * n_pad + i);
          acc[r][0] = _mm256_fmadd_ps(wv, x0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(wv, x1, acc[r][1]);
        }
      }
      for (int t = 0; t < toks; ++t)
        for (int r = 0; r < rows; ++r) y[(t0 + t) * ldy + r0 + r] = hsum(acc[r][t]);
    }
  }
}

struct ConvF32 {
  static __m256 load8(const void* p, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(p) + i); }
  static float load1(const void* p, int64_t i) { return static_cast<const float*>(p)[i]; }
};

struct ConvF16 {
  static __m256 load8(const void* p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i)));
  }
  static float load1(const void* p, int64_t i) { return _cvtsh_ss(load_u16(static_cast<const uint16_t*>(p) + i)); }
};

struct ConvBF16 {
  static __m256 load8(const void* p, int64_t i) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float load1(const void* p, int64_t i) {
    const uint32_t bits = static_cast<uint32_t>(load_u16(static_cast<const uint16_t*>(p) + i)) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

}  // namespace
}  // namespace st::simd
