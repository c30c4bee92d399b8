// Attention's loops over F32 / F16 / BF16 / Q8_0 / Q4_0 rows (float_rows_impl.h) with AVX2:
// 8 lanes, the conversions of float_gemm.h; a block row's 8 elements never straddle a block
// (blocks hold 32); the block types widen 8 codes to f32 and apply the scale once per block.
#include "kernels/avx2/float_gemm.h"
#include "kernels/avx2/kernels.h"
#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/float_rows_impl.h"

namespace st::avx2 {
namespace {

struct V8 {
  using vec = __m256;
  static constexpr int64_t W = 8;
  static vec zero() { return _mm256_setzero_ps(); }
  static vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, vec v) { _mm256_storeu_ps(p, v); }
  static vec fma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
  static vec broadcast(float f) { return _mm256_set1_ps(f); }
  static void reduce4(vec a, vec b, vec c, vec d, float* out) {
    // hadd twice leaves [a b c d] partial sums in each 128-bit half.
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
  }
};

template <class Conv>
struct Rows {
  static __m256 load(const void* row, int64_t i) { return Conv::load8(row, i); }
  static float load1(const void* row, int64_t i) { return Conv::load1(row, i); }
};

// Block rows for float_rows_impl.h's *_blocks loops: codes as f32, the block's scale apart.
struct RowsQ8_0 {
  static __m256 codes(const void* row, int64_t i) {
    const BlockQ8_0& b = static_cast<const BlockQ8_0*>(row)[i / kQK];
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + i % kQK))));
  }
  static float scale(const void* row, int64_t i) { return _cvtsh_ss(static_cast<const BlockQ8_0*>(row)[i / kQK].d); }
};

// Elements 0..15 of a block are the low nibbles of qs[0..15], 16..31 the high ones.
struct RowsQ4_0 {
  static __m256 codes(const void* row, int64_t i) {
    const BlockQ4_0& b = static_cast<const BlockQ4_0*>(row)[i / kQK];
    const int64_t j = i % kQK;
    const __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b.qs + j % (kQK / 2))));
    const __m256i nib = j < kQK / 2 ? _mm256_and_si256(bytes, _mm256_set1_epi32(0x0F)) : _mm256_srli_epi32(bytes, 4);
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(nib, _mm256_set1_epi32(8)));
  }
  static float scale(const void* row, int64_t i) { return _cvtsh_ss(static_cast<const BlockQ4_0*>(row)[i / kQK].d); }
};

}  // namespace

void set_float_rows(KernelTable& t) {
  switch (t.type) {
    case TensorType::F32:
      t.dot_rows = float_rows::dot_rows_grouped<V8, Rows<simd::ConvF32>, 6, 2>;
      t.axpy_rows = float_rows::axpy_rows_grouped<V8, Rows<simd::ConvF32>, 2>;
      break;
    case TensorType::F16:
      t.dot_rows = float_rows::dot_rows_grouped<V8, Rows<simd::ConvF16>, 6, 2>;
      t.axpy_rows = float_rows::axpy_rows_grouped<V8, Rows<simd::ConvF16>, 2>;
      break;
    case TensorType::BF16:
      t.dot_rows = float_rows::dot_rows_grouped<V8, Rows<simd::ConvBF16>, 6, 2>;
      t.axpy_rows = float_rows::axpy_rows_grouped<V8, Rows<simd::ConvBF16>, 2>;
      break;
    case TensorType::Q8_0:
      t.dot_rows = float_rows::dot_rows_shared<V8, float_rows::ScaledCodes<V8, RowsQ8_0>, 6, 2>;
      t.axpy_rows = float_rows::axpy_rows_blocks<V8, RowsQ8_0>;
      break;
    case TensorType::Q4_0:
      t.dot_rows = float_rows::dot_rows_shared<V8, float_rows::ScaledCodes<V8, RowsQ4_0>, 6, 2>;
      t.axpy_rows = float_rows::axpy_rows_blocks<V8, RowsQ4_0>;
      break;
    default: break;
  }
}

}  // namespace st::avx2
