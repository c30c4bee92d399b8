// BF16 with AVX2: widening is a 16-bit shift; narrowing rounds to nearest even in integer
// arithmetic with NaN kept quiet, exactly as float_convert.h; dots and gemm via float_gemm.h.
#include "kernels/avx2/float_gemm.h"
#include "kernels/avx2/kernels.h"
#include "kernels/float_convert.h"

namespace st::avx2 {

using namespace st::simd;

float vec_dot_bf16(int64_t n, const void* w_row, const void* act_row) { return float_dot<ConvBF16>(n, w_row, act_row); }

void gemv_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, float* y) {
  float_gemv<ConvBF16>(n, w, w_row_bytes, n_rows, act, y);
}

void gemm_bf16(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
               int64_t n_tok, float* y, int64_t ldy) {
  float_gemm<ConvBF16>(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, ldy);
}

void dequantize_row_bf16(const void* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, ConvBF16::load8(src, i));
  for (; i < n; ++i) dst[i] = bf16_to_fp32(static_cast<const uint16_t*>(src)[i]);
}

void quantize_row_bf16(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i h[2];
    for (int k = 0; k < 2; ++k) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 8 * k));
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
      const __m256i rounded =
          _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
      const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
      const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, abs_mask), inf);
      h[k] = _mm256_blendv_epi8(rounded, quiet, is_nan);
    }
    // packus keeps 128-bit lanes apart: reorder the 64-bit quarters back into element order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h[0], h[1]), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), packed);
  }
  for (; i < n; ++i) out[i] = fp32_to_bf16(src[i]);
}

}  // namespace st::avx2
