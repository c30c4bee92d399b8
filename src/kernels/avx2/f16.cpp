// F16 with AVX2/F16C: conversions by vcvtph2ps / vcvtps2ph (bit-identical to float_convert.h,
// including NaN quieting); dots and gemm through float_gemm.h.
#include "kernels/avx2/float_gemm.h"
#include "kernels/avx2/kernels.h"
#include "kernels/float_convert.h"

namespace st::avx2 {

using namespace st::simd;

float vec_dot_f16(int64_t n, const void* w_row, const void* act_row) { return float_dot<ConvF16>(n, w_row, act_row); }

void gemv_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  float_gemv<ConvF16>(n, w, w_row_bytes, n_rows, act, y);
}

void gemm_f16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
              int64_t n_tok, float* y, int64_t ldy) {
  float_gemm<ConvF16>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ConvF16::load8(src, i));
  for (; i < n; ++i) dst[i] = ConvF16::load1(src, i);
}

void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) out[i] = fp32_to_fp16(src[i]);
}

}  // namespace st::avx2
