// Q8_1 activation quantizer with AVX2, bit-identical to ref/q8_1.cpp (same division for
// the scale, same half-away-from-zero rounding, same non-finite policy).
#include <cmath>

#include "kernels/avx2/kernels.h"
#include "kernels/avx2/simd.h"
#include "kernels/blocks.h"
#include "kernels/float_convert.h"

namespace st::avx2 {

using namespace st::simd;

void quantize_row_q8_1(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    bool nan;
    const float amax = abs_max(x, kQK, &nan);
    if (nan || std::isinf(amax)) {
      out[i].d = out[i].s = fp32_to_fp16(NAN);
      std::memset(out[i].qs, 0, sizeof out[i].qs);
      continue;
    }
    const float d = amax / 127;
    const __m256 id = _mm256_set1_ps(d != 0 ? 1 / d : 0);
    __m256i q[4];
    for (int k = 0; k < 4; ++k)
      q[k] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[i].qs), pack_i32x32_to_i8(q[0], q[1], q[2], q[3]));
    const int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    out[i].d = fp32_to_fp16(d);
    out[i].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

}  // namespace st::avx2
