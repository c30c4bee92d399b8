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

void dot_rows_f32(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes, int64_t n_w,
                 float* y, int64_t ldy) {
  float_rows::dot_rows<V8, Rows<simd::ConvF32>>(n, x, ldx, n_x, w, w_row_bytes, n_w, y, ldy);
}
void axpy_rows_f32(int64_t n, const float* p, int64_t ldp, int64_t n_p, const void* w, size_t w_row_bytes, int64_t n_w,
                  float* acc, int64_t ldacc) {
  float_rows::axpy_rows<V8, Rows<simd::ConvF32>>(n, p, ldp, n_p, w, w_row_bytes, n_w, acc, ldacc);
}
void dot_rows_f16(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes, int64_t n_w,
                 float* y, int64_t ldy) {
  float_rows::dot_rows<V8, Rows<simd::ConvF16>>(n, x, ldx, n_x, w, w_row_bytes, n_w, y, ldy);
}
void axpy_rows_f16(int64_t n, const float* p, int64_t ldp, int64_t n_p, const void* w, size_t w_row_bytes, int64_t n_w,
                  float* acc, int64_t ldacc) {
  float_rows::axpy_rows<V8, Rows<simd::ConvF16>>(n, p, ldp, n_p, w, w_row_bytes, n_w, acc, ldacc);
}
void dot_rows_bf16(int64_t n, const float* x, int64_t ldx, int64_t n_x, const void* w, size_t w_row_bytes, int64_t n_w,
                  float* y, int64_t ldy) {
  float_rows::dot_rows<V8, Rows<simd::ConvBF16>>(n, x, ldx, n_x, w, w_row_bytes, n_w, y, ldy);
}
void axpy_rows_bf16(int64_t n, const float* p, int64_t ldp, int64_t n_p, const void* w, size_t w_row_bytes, int64_t n_w,
                   float* acc, int64_t ldacc) {
  float_rows::axpy_rows<V8, Rows<simd::ConvBF16>>(n, p, ldp, n_p, w, w_row_bytes, n_w, acc, ldacc);
}

}  // namespace st::avx2
