#include "kernels/ref/k_quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/quant_search.h"

namespace st::ref {

void pack_scale_min_k4(int j, int sc, int m, uint8_t* scales) {
  if (j < 4) {
    scales[j] = static_cast<uint8_t>((scales[j] & 0xC0) | sc);
    scales[j + 4] = static_cast<uint8_t>((scales[j + 4] & 0xC0) | m);
  } else {
    scales[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
    scales[j - 4] = static_cast<uint8_t>(scales[j - 4] | ((sc >> 4) << 6));
    scales[j] = static_cast<uint8_t>(scales[j] | ((m >> 4) << 6));
  }
}

void quantize_superblock_scale_min(const float* x, int nmax, float rmin, float rdelta, int nstep, uint8_t* L,
                                   uint8_t* scales, uint16_t* d, uint16_t* dmin) {
  constexpr int kSub = kQK_K / 32;
  std::memset(scales, 0, kKScaleBytes);
  std::memset(L, 0, kQK_K);
  if (!all_finite(x, kQK_K)) {
    *d = *dmin = fp32_to_fp16(NAN);
    return;
  }
  float sub_scale[kSub], sub_min[kSub], weights[32];
  uint8_t aux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kSub; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    sub_scale[j] = search_scale_min(32, nmax, xs, weights, L + 32 * j, &sub_min[j], aux, rmin, rdelta, nstep);
    max_scale = std::max(max_scale, sub_scale[j]);
    max_min = std::max(max_min, sub_min[j]);
  }
  // 6-bit scales and mins relative to the largest of each.
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < kSub; ++j) {
    const int ls = std::min(63, nearest_int(inv_scale * sub_scale[j]));
    const int lm = std::min(63, nearest_int(inv_min * sub_min[j]));
    pack_scale_min_k4(j, ls, lm, scales);
  }
  *d = fp32_to_fp16(max_scale / 63.f);
  *dmin = fp32_to_fp16(max_min / 63.f);
  // Recompute the codes against the scales actually stored.
  const float df = fp16_to_fp32(*d), dminf = fp16_to_fp32(*dmin);
  for (int j = 0; j < kSub; ++j) {
    uint8_t sc, m;
    unpack_scale_min_k4(j, scales, &sc, &m);
    const float ds = df * sc;
    if (ds == 0) continue;
    const float dm = dminf * m;
    for (int l = 0; l < 32; ++l)
      L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / ds), 0, nmax));
  }
}

}  // namespace st::ref
