// Attention's loops over F32 / F16 / BF16 rows (float_rows_impl.h) with AVX2: 8 lanes, the
// conversions of float_gemm.h. The AVX-512 table keeps these: the loops run from L1/L2 and
// are a small part of a step once the cache is not copied and transposed first.
#include "kernels/avx2/float_gemm.h"
#include "kernels/avx2/kernels.h"
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

}  // namespace

void set_float_rows(KernelTable& t) {
  switch (t.type) {
    case TensorType::F32:
      t.dot_rows = float_rows::dot_rows<V8, Rows<simd::ConvF32>>;
      t.axpy_rows = float_rows::axpy_rows<V8, Rows<simd::ConvF32>>;
      break;
    case TensorType::F16:
      t.dot_rows = float_rows::dot_rows<V8, Rows<simd::ConvF16>>;
      t.axpy_rows = float_rows::axpy_rows<V8, Rows<simd::ConvF16>>;
      break;
    case TensorType::BF16:
      t.dot_rows = float_rows::dot_rows<V8, Rows<simd::ConvBF16>>;
      t.axpy_rows = float_rows::axpy_rows<V8, Rows<simd::ConvBF16>>;
      break;
    default: break;
  }
}

}  // namespace st::avx2
