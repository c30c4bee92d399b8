// IQ4_NL (32-element blocks, dot partner Q8_0) and IQ4_XS (256-element super-blocks of 8
// IQ4_NL-coded sub-blocks with 6-bit scales, dot partner Q8_K): 4-bit indices into the
// non-uniform value grid kIq4nlValues (blocks.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {
namespace {

// Midpoints between neighbouring grid values: v is nearest to grid[k] for k = the number of
// midpoints below it (ties to the lower value). Counting beats searching: no branches.
constexpr auto kGridMidpoints = [] {
  std::array<float, 15> m{};
  for (int k = 0; k < 15; ++k) m[k] = 0.5f * static_cast<float>(kIq4nlValues[k] + kIq4nlValues[k + 1]);
  return m;
}();

uint8_t nearest_grid_index(float v) {
  int idx = 0;
  for (float m : kGridMidpoints) idx += v > m;
  return static_cast<uint8_t>(idx);
}

// 32 codes of Q4_0's nibble order (element l in the low nibble of byte l, l+16 in the high).
void pack_nibbles32(const uint8_t* idx, uint8_t* qs) {
  for (int l = 0; l < 16; ++l) qs[l] = static_cast<uint8_t>(idx[l] | (idx[l + 16] << 4));
}

int grid_value(const uint8_t* qs, int l) { return kIq4nlValues[l < 16 ? qs[l] & 0xF : qs[l - 16] >> 4]; }

}  // namespace

// Scale search over the grid: the largest |x| is put on the grid's end (-127) and on nearby
// points; for each candidate the codes are the nearest grid points and the scale is their
// weighted least-squares fit. Weights favour large |x| (w = x^2 + mean x^2).
float search_grid_scale(int n, const float* x, uint8_t* idx) {
  float amax = 0, max = 0, sum_x2 = 0;
  for (int i = 0; i < n; ++i) {
    sum_x2 += x[i] * x[i];
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < 1e-15f) {
    std::fill(idx, idx + n, nearest_grid_index(0));
    return 0;
  }
  const float mean_x2 = sum_x2 / static_cast<float>(n);
  float best_scale = 0, best = -1;
  uint8_t trial[256];
  for (int k = -8; k <= 8; ++k) {
    const float iscale = (static_cast<float>(kIq4nlValues[0]) + 0.5f * static_cast<float>(k)) / max;
    float sumqx = 0, sumq2 = 0;
    for (int i = 0; i < n; ++i) {
      trial[i] = nearest_grid_index(iscale * x[i]);
      const float q = kIq4nlValues[trial[i]], w = x[i] * x[i] + mean_x2;
      sumqx += w * q * x[i];
      sumq2 += w * q * q;
    }
    // The error drops by sumqx^2 / sumq2 at the least-squares scale: keep the largest drop.
    if (sumq2 > 0 && sumqx * sumqx / sumq2 > best) {
      best = sumqx * sumqx / sumq2;
      best_scale = sumqx / sumq2;
      std::copy(trial, trial + n, idx);
    }
  }
  return best_scale;
}

void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int l = 0; l < kQK; ++l) dst[i * kQK + l] = d * static_cast<float>(grid_value(b[i].qs, l));
  }
}

void quantize_row_iq4_nl(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    const float* x = src + i * kQK;
    uint8_t idx[kQK];
    if (!all_finite(x, kQK)) {
      b[i].d = fp32_to_fp16(NAN);
      std::memset(b[i].qs, 0, sizeof b[i].qs);
      continue;
    }
    b[i].d = fp32_to_fp16(search_grid_scale(kQK, x, idx));
    // Codes again against the stored (fp16-rounded) scale.
    const float d = fp16_to_fp32(b[i].d);
    if (d != 0)
      for (int l = 0; l < kQK; ++l) idx[l] = nearest_grid_index(x[l] / d);
    pack_nibbles32(idx, b[i].qs);
  }
}

float vec_dot_iq4_nl(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockIQ4_NL*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int dot = 0;
    for (int l = 0; l < kQK; ++l) dot += grid_value(w[i].qs, l) * a[i].qs[l];
    sum += fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d) * static_cast<float>(dot);
  }
  return sum;
}

void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    int8_t ls[8];
    unpack_scales_iq4_xs(reinterpret_cast<const uint8_t*>(&b[i]), ls);
    for (int j = 0; j < 8; ++j) {
      const float dl = d * static_cast<float>(ls[j]);
      for (int l = 0; l < 32; ++l) dst[i * kQK_K + 32 * j + l] = dl * static_cast<float>(grid_value(b[i].qs + 16 * j, l));
    }
  }
}

// Per sub-block the grid scale search; the 8 scales then take 6 signed bits relative to the
// largest, and the codes are picked again against the stored scales.
void quantize_row_iq4_xs(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_XS*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    std::memset(&b[i], 0, sizeof b[i]);
    if (!all_finite(x, kQK_K)) {
      b[i].d = fp32_to_fp16(NAN);
      continue;
    }
    uint8_t idx[kQK_K];
    float sub_scale[8], max_scale = 0, max_abs = 0;
    for (int j = 0; j < 8; ++j) {
      sub_scale[j] = search_grid_scale(32, x + 32 * j, idx + 32 * j);
      if (std::fabs(sub_scale[j]) > max_abs) {
        max_abs = std::fabs(sub_scale[j]);
        max_scale = sub_scale[j];
      }
    }
    int ls[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (max_abs >= 1e-15f) {
      const float d_want = -max_scale / 32.f;
      b[i].d = fp32_to_fp16(d_want);
      const float d = fp16_to_fp32(b[i].d);
      for (int j = 0; j < 8; ++j) {
        ls[j] = std::clamp(nearest_int(sub_scale[j] / d), -32, 31);
        const float dl = d * static_cast<float>(ls[j]);
        if (dl != 0)
          for (int l = 0; l < 32; ++l) idx[32 * j + l] = nearest_grid_index(x[32 * j + l] / dl);
      }
    }
    for (int j = 0; j < 8; ++j) {
      const int v = ls[j] + 32;
      b[i].scales_l[j / 2] = static_cast<uint8_t>(b[i].scales_l[j / 2] | ((v & 0xF) << (4 * (j % 2))));
      b[i].scales_h = static_cast<uint16_t>(b[i].scales_h | ((v >> 4) << (2 * j)));
      pack_nibbles32(idx + 32 * j, b[i].qs + 16 * j);
    }
  }
}

float vec_dot_iq4_xs(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockIQ4_XS*>(w_row);
  const auto* a = static_cast<const BlockQ8_K*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int8_t ls[8];
    unpack_scales_iq4_xs(reinterpret_cast<const uint8_t*>(&w[i]), ls);
    int sumi = 0;
    for (int j = 0; j < 8; ++j) {
      int dot = 0;
      for (int l = 0; l < 32; ++l) dot += grid_value(w[i].qs + 16 * j, l) * a[i].qs[32 * j + l];
      sumi += ls[j] * dot;
    }
    sum += fp16_to_fp32(w[i].d) * a[i].d * static_cast<float>(sumi);
  }
  return sum;
}

}  // namespace st::ref
