// Q5_1: 32 elements as 5-bit codes q with value q * d + m; bits laid out as Q5_0.
// Dot partner: Q8_1 (its s carries the min term, see q4_1.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/q5_bits.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float m = fp16_to_fp32(b[i].m);
    const uint32_t qh = load_qh(b[i].qh);
    // Product rounded, then the add, as ggml's C reference does.
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = static_cast<float>(code5(b[i].qs, qh, j)) * d + m;
  }
}

// min/max range split into 31 steps, codes rounded to nearest. Non-finite blocks get
// d = m = NaN and zero codes.
void quantize_row_q5_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    if (!all_finite(x, kQK)) {
      b[i].d = b[i].m = fp32_to_fp16(NAN);
      std::memset(b[i].qs, 0, sizeof b[i].qs);
      std::memset(b[i].qh, 0, sizeof b[i].qh);
      continue;
    }
    float min = x[0], max = x[0];
    for (int j = 1; j < kQK; ++j) {
      min = std::fmin(min, x[j]);
      max = std::fmax(max, x[j]);
    }
    const float d = (max - min) / 31;
    const float id = d != 0 ? 1 / d : 0;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(min);
    int q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = std::min(31, static_cast<int>((x[j] - min) * id + 0.5f));
    pack_code5(q, b[i].qs, b[i].qh);
  }
}

float vec_dot_q5_1(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ5_1*>(w_row);
  const auto* a = static_cast<const BlockQ8_1*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const uint32_t qh = load_qh(w[i].qh);
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += code5(w[i].qs, qh, j) * a[i].qs[j];
    sum += static_cast<float>(isum) * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d)) +
           fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  return sum;
}

}  // namespace st::ref
