// Q8_K activation quantizer with AVX2, bit-identical to ref/q8_k.cpp: the first element of
// largest magnitude maps to -127, codes round half to even (the CPU's default cvtps2dq mode,
// matching ref's nearest_int), bsums from the int32 codes.
#include <cmath>

#include "kernels/avx2/kernels.h"
#include "kernels/avx2/simd.h"
#include "kernels/blocks.h"

namespace st::avx2 {

using namespace st::simd;

void quantize_row_q8_k(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    std::memset(out[i].qs, 0, sizeof out[i].qs);
    std::memset(out[i].bsums, 0, sizeof out[i].bsums);
    bool nan;
    const float amax = abs_max(x, kQK_K, &nan);
    if (nan || std::isinf(amax)) {
      out[i].d = NAN;
      continue;
    }
    if (amax == 0) {
      out[i].d = 0;
      continue;
    }
    // The signed value of the first element whose magnitude is amax (ref keeps the first).
    float max = 0;
    const __m256 sign = _mm256_set1_ps(-0.0f), vmax = _mm256_set1_ps(amax);
    for (int k = 0; k < kQK_K; k += 8) {
      const __m256 v = _mm256_loadu_ps(x + k);
      const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v), vmax, _CMP_EQ_OQ));
      if (hit) {
        max = x[k + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m256 vs = _mm256_set1_ps(iscale);
    const __m256i cap = _mm256_set1_epi32(127);
    for (int k = 0; k < kQK_K; k += 32) {
      __m256i q[4];
      for (int j = 0; j < 4; ++j)
        q[j] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), vs)), cap);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[i].qs + k), pack_i32x32_to_i8(q[0], q[1], q[2], q[3]));
      out[i].bsums[k / 16] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[0], q[1])));
      out[i].bsums[k / 16 + 1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[2], q[3])));
    }
    out[i].d = 1 / iscale;
  }
}

}  // namespace st::avx2
