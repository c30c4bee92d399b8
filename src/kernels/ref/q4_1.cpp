// Q4_1: 32 elements as 4-bit codes q with value q * d + m (nibble order as Q4_0).
// Dot partner: Q8_1, whose s = da * sum(a) turns the min into one multiply per block.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float m = fp16_to_fp32(b[i].m);
    float* y = dst + i * kQK;
    for (int j = 0; j < kQK / 2; ++j) {
      // Product rounded, then the add: two float operations, as ggml's C reference does.
      y[j] = static_cast<float>(b[i].qs[j] & 0x0F) * d + m;
      y[j + kQK / 2] = static_cast<float>(b[i].qs[j] >> 4) * d + m;
    }
  }
}

// min/max range split into 15 steps, codes rounded to nearest (ggml's rule). Non-finite
// blocks get d = m = NaN and zero codes.
void quantize_row_q4_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    if (!all_finite(x, kQK)) {
      b[i].d = b[i].m = fp32_to_fp16(NAN);
      std::memset(b[i].qs, 0, sizeof b[i].qs);
      continue;
    }
    float min = x[0], max = x[0];
    for (int j = 1; j < kQK; ++j) {
      min = std::fmin(min, x[j]);
      max = std::fmax(max, x[j]);
    }
    const float d = (max - min) / 15;
    const float id = d != 0 ? 1 / d : 0;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(min);
    auto code = [&](float v) { return std::min(15, static_cast<int>((v - min) * id + 0.5f)); };
    for (int j = 0; j < kQK / 2; ++j) b[i].qs[j] = static_cast<uint8_t>(code(x[j]) | (code(x[j + kQK / 2]) << 4));
  }
}

float vec_dot_q4_1(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ4_1*>(w_row);
  const auto* a = static_cast<const BlockQ8_1*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      isum += (w[i].qs[j] & 0x0F) * a[i].qs[j];
      isum += (w[i].qs[j] >> 4) * a[i].qs[j + kQK / 2];
    }
    sum += static_cast<float>(isum) * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d)) +
           fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  return sum;
}

}  // namespace st::ref
