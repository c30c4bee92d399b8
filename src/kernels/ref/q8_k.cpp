// Q8_K: activation partner of the K-quants. A float scale per 256 elements and per-16 code
// sums (bsums) so that weight mins and offsets cost one multiply per sub-block in the dot.
// As in ggml, the largest-magnitude element maps to -127 and codes round half to even.
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_q8_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i)
    for (int j = 0; j < kQK_K; ++j) dst[i * kQK_K + j] = b[i].d * static_cast<float>(b[i].qs[j]);
}

// Non-finite input gives d = NaN with zero codes and sums (the dot product becomes NaN).
void quantize_row_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    std::memset(b[i].qs, 0, sizeof b[i].qs);
    std::memset(b[i].bsums, 0, sizeof b[i].bsums);
    if (!all_finite(x, kQK_K)) {
      b[i].d = NAN;
      continue;
    }
    float max = 0, amax = 0;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (amax == 0) {
      b[i].d = 0;
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j) {
      // |iscale * x| <= 127 up to rounding; the cap guards the one-ulp overshoot.
      const int q = nearest_int(iscale * x[j]);
      b[i].qs[j] = static_cast<int8_t>(q > 127 ? 127 : q);
      b[i].bsums[j / 16] = static_cast<int16_t>(b[i].bsums[j / 16] + b[i].qs[j]);
    }
    b[i].d = 1 / iscale;
  }
}

}  // namespace st::ref
