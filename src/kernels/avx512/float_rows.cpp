// Attention's loops over F32 / F16 / BF16 / Q8_0 / Q4_0 rows (float_rows_impl.h) with AVX-512: 16 lanes,
// twice the AVX2 kernels' work per instruction (these loops are compute-bound: the K/V rows
// of a block sit in L1/L2 while the query heads of a kv head go over them).
#include <immintrin.h>

// GCC 12's _mm512_cvtph_ps passes a self-initialised "undefined" vector as the unused merge
// source, which -Wmaybe-uninitialized reports once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstring>

#include "kernels/avx512/kernels.h"
#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/float_rows_impl.h"

namespace st::avx512 {
namespace {

struct V16 {
  using vec = __m512;
  static constexpr int64_t W = 16;
  static vec zero() { return _mm512_setzero_ps(); }
  static vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, vec v) { _mm512_storeu_ps(p, v); }
  static vec fma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
  static vec broadcast(float f) { return _mm512_set1_ps(f); }
  static void reduce4(vec a, vec b, vec c, vec d, float* out) {
    auto fold = [](__m512 v) {  // 16 -> 8 lanes
      return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    };
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(fold(a), fold(b)), _mm256_hadd_ps(fold(c), fold(d)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
  }
};

struct RowsF32 {
  static __m512 load(const void* row, int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(row) + i); }
  static float load1(const void* row, int64_t i) { return static_cast<const float*>(row)[i]; }
};
struct RowsF16 {
  static __m512 load(const void* row, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + i)));
  }
  static float load1(const void* row, int64_t i) { return fp16_to_fp32(static_cast<const uint16_t*>(row)[i]); }
};
struct RowsBF16 {
  static __m512 load(const void* row, int64_t i) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static float load1(const void* row, int64_t i) { return bf16_to_fp32(static_cast<const uint16_t*>(row)[i]); }
};

// Half a block per load (16 of 32 elements): codes as f32, the block's scale apart.
struct RowsQ8_0 {
  static __m512 codes(const void* row, int64_t i) {
    const BlockQ8_0& b = static_cast<const BlockQ8_0*>(row)[i / kQK];
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + i % kQK))));
  }
  static float scale(const void* row, int64_t i) { return _cvtsh_ss(static_cast<const BlockQ8_0*>(row)[i / kQK].d); }
};

// Elements 0..15 of a block are the low nibbles of qs, 16..31 the high ones: one load each.
struct RowsQ4_0 {
  static __m512 codes(const void* row, int64_t i) {
    const BlockQ4_0& b = static_cast<const BlockQ4_0*>(row)[i / kQK];
    const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
    const __m512i nib = i % kQK < kQK / 2 ? _mm512_and_si512(bytes, _mm512_set1_epi32(0x0F)) : _mm512_srli_epi32(bytes, 4);
    return _mm512_cvtepi32_ps(_mm512_sub_epi32(nib, _mm512_set1_epi32(8)));
  }
  static float scale(const void* row, int64_t i) { return _cvtsh_ss(static_cast<const BlockQ4_0*>(row)[i / kQK].d); }
};

}  // namespace

void set_float_rows(KernelTable& t) {
  switch (t.type) {
    case TensorType::F32:
      t.dot_rows = float_rows::dot_rows_grouped<V16, RowsF32, 6, 4>;
      t.axpy_rows = float_rows::axpy_rows_grouped<V16, RowsF32, 6>;
      break;
    case TensorType::F16:
      t.dot_rows = float_rows::dot_rows_grouped<V16, RowsF16, 6, 4>;
      t.axpy_rows = float_rows::axpy_rows_grouped<V16, RowsF16, 6>;
      break;
    case TensorType::BF16:
      t.dot_rows = float_rows::dot_rows_grouped<V16, RowsBF16, 6, 4>;
      t.axpy_rows = float_rows::axpy_rows_grouped<V16, RowsBF16, 6>;
      break;
    case TensorType::Q8_0:
      t.dot_rows = float_rows::dot_rows_shared<V16, float_rows::ScaledCodes<V16, RowsQ8_0>, 6, 4>;
      t.axpy_rows = float_rows::axpy_rows_grouped<V16, float_rows::ScaledCodes<V16, RowsQ8_0>, 6>;
      break;
    case TensorType::Q4_0:
      t.dot_rows = float_rows::dot_rows_shared<V16, float_rows::ScaledCodes<V16, RowsQ4_0>, 6, 4>;
      t.axpy_rows = float_rows::axpy_rows_grouped<V16, float_rows::ScaledCodes<V16, RowsQ4_0>, 6>;
      break;
    default: break;
  }
}

}  // namespace st::avx512
