// Q8_0: 32 int8 codes and an fp16 scale. Both a weight type and the activation partner of
// Q4_0/Q5_0/Q8_0. Quantization is ggml's: d = max|x|/127, codes rounded half away from zero.
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = static_cast<float>(b[i].qs[j]) * d;
  }
}

// Non-finite input (NaN/inf anywhere in a block) yields d = NaN and zero codes, so every dot
// product touching the block is NaN, as float math would be. A finite block whose max exceeds
// 127 * 65504 overflows the fp16 scale to inf (ggml does the same).
void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    if (!all_finite(x, kQK)) {
      b[i].d = fp32_to_fp16(NAN);
      std::memset(b[i].qs, 0, sizeof b[i].qs);
      continue;
    }
    float amax = 0;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0 ? 1 / d : 0;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) b[i].qs[j] = static_cast<int8_t>(std::round(x[j] * id));
  }
}

float vec_dot_q8_0(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ8_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += w[i].qs[j] * a[i].qs[j];
    sum += static_cast<float>(isum) * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d));
  }
  return sum;
}

}  // namespace st::ref
