// F16: IEEE half. Conversion is exact one way and rounds to nearest even the other (float_convert.h).
// The dot partner is the same type, so vec_dot converts both sides and accumulates in f32.
#include "kernels/float_convert.h"
#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_f16(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(s[i]);
}

void quantize_row_f16(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_fp16(src[i]);
}

float vec_dot_f16(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const uint16_t*>(w_row);
  const auto* a = static_cast<const uint16_t*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += fp16_to_fp32(w[i]) * fp16_to_fp32(a[i]);
  return sum;
}

}  // namespace st::ref
