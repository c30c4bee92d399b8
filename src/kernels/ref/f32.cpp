// F32: plain floats. vec_dot accumulates in order in f32, the same as a naive loop.
#include <cstring>

#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void quantize_row_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

float vec_dot_f32(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const float*>(w_row);
  const auto* a = static_cast<const float*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += w[i] * a[i];
  return sum;
}

}  // namespace st::ref
