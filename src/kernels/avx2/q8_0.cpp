// The Q8_0 activation quantizer with AVX2 (the Q8_0 weight kernels are BlockKernels
// instances, see registry.cpp).
#include <cmath>

#include "kernels/avx2/simd.h"
#include "kernels/blocks.h"
#include "kernels/avx2/kernels.h"
#include "kernels/float_convert.h"

namespace st::avx2 {

// Bit-identical to ref/q8_0.cpp: same scale division, half-away-from-zero rounding, and
// non-finite policy (d = NaN, zero codes).
void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  using namespace st::simd;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, out += sizeof(BlockQ8_0)) {
    const float* x = src + i * kQK;
    bool nan;
    const float amax = abs_max(x, kQK, &nan);
    if (nan || std::isinf(amax)) {
      const uint16_t dn = fp32_to_fp16(NAN);
      std::memcpy(out, &dn, 2);
      std::memset(out + 2, 0, kQK);
      continue;
    }
    const float d = amax / 127;
    const __m256 id = _mm256_set1_ps(d != 0 ? 1 / d : 0);
    __m256i q[4];
    for (int k = 0; k < 4; ++k)
      q[k] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id)));
    const uint16_t dh = fp32_to_fp16(d);
    std::memcpy(out, &dh, 2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2), pack_i32x32_to_i8(q[0], q[1], q[2], q[3]));
  }
}

}  // namespace st::avx2
