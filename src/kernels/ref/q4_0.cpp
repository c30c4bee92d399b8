// Q4_0: 32 elements as 4-bit codes q with value (q - 8) * d. Element j sits in the low nibble
// of qs[j], element j+16 in its high nibble. Dot partner: Q8_0.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    float* y = dst + i * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((b[i].qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// ggml's rule: the largest-magnitude element maps exactly to code 0 (value -8*d), which
// spends the extra negative code on it; the other side is capped at 7. Non-finite blocks get
// d = NaN and zero codes.
void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    if (!all_finite(x, kQK)) {
      b[i].d = fp32_to_fp16(NAN);
      std::memset(b[i].qs, 0, sizeof b[i].qs);
      continue;
    }
    float max = 0, amax = 0;
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0 ? 1 / d : 0;
    b[i].d = fp32_to_fp16(d);
    auto code = [&](float v) { return std::min(15, static_cast<int>(v * id + 8.5f)); };
    for (int j = 0; j < kQK / 2; ++j) b[i].qs[j] = static_cast<uint8_t>(code(x[j]) | (code(x[j + kQK / 2]) << 4));
  }
}

float vec_dot_q4_0(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ4_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      isum += ((w[i].qs[j] & 0x0F) - 8) * a[i].qs[j];
      isum += ((w[i].qs[j] >> 4) - 8) * a[i].qs[j + kQK / 2];
    }
    sum += static_cast<float>(isum) * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d));
  }
  return sum;
}

}  // namespace st::ref
