// Q5_0: 32 elements as 5-bit codes q with value (q - 16) * d. The low 4 bits are packed as in
// Q4_0; the 5th bit of element j is bit j of qh (a little-endian u32). Dot partner: Q8_0.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/q5_bits.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const uint32_t qh = load_qh(b[i].qh);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = static_cast<float>(code5(b[i].qs, qh, j) - 16) * d;
  }
}

// As Q4_0 with 32 levels: the largest-magnitude element maps to code 0 (-16*d).
void quantize_row_q5_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    if (!all_finite(x, kQK)) {
      b[i].d = fp32_to_fp16(NAN);
      std::memset(b[i].qs, 0, sizeof b[i].qs);
      std::memset(b[i].qh, 0, sizeof b[i].qh);
      continue;
    }
    float max = 0, amax = 0;
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -16;
    const float id = d != 0 ? 1 / d : 0;
    b[i].d = fp32_to_fp16(d);
    int q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = std::min(31, static_cast<int>(x[j] * id + 16.5f));
    pack_code5(q, b[i].qs, b[i].qh);
  }
}

float vec_dot_q5_0(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ5_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint32_t qh = load_qh(w[i].qh);
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += (code5(w[i].qs, qh, j) - 16) * a[i].qs[j];
    sum += static_cast<float>(isum) * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d));
  }
  return sum;
}

}  // namespace st::ref
