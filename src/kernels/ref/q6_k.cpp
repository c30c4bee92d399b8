// Q6_K: 256-element super-blocks of 16 sub-blocks of 16; value d * scales[j] * (q - 32) with
// 6-bit q and int8 scales. Each 128-element half h is four 32-element quarters k: element
// 128h + 32k + l keeps its low 4 bits in ql[64h + 32(k%2) + l] (low nibble for k < 2, high
// for k >= 2) and its top 2 bits in bits 2k..2k+1 of qh[32h + l]. Dot partner: Q8_K.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {
namespace {

int code_q6_k(const BlockQ6_K& b, int e) {
  const int h = e / 128, k = (e % 128) / 32, l = e % 32;
  const int lo = (b.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0xF;
  const int hi = (b.qh[32 * h + l] >> (2 * k)) & 3;
  return lo | (hi << 4);
}

}  // namespace

void dequantize_row_q6_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int e = 0; e < kQK_K; ++e)
      dst[i * kQK_K + e] = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>(code_q6_k(b[i], e) - 32);
  }
}

// Per sub-block a symmetric scale search (search_symmetric_scale, 64 levels); the 16 scales
// are then quantized to int8 relative to the largest, and codes recomputed against them.
// Non-finite super-blocks get d = NaN, zero scales and codes.
void quantize_row_q6_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    uint8_t L[kQK_K];
    std::memset(b[i].ql, 0, sizeof b[i].ql);
    std::memset(b[i].qh, 0, sizeof b[i].qh);
    std::memset(b[i].scales, 0, sizeof b[i].scales);
    if (!all_finite(x, kQK_K)) {
      b[i].d = fp32_to_fp16(NAN);
      continue;
    }
    float sub_scale[16], max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < 16; ++j) {
      sub_scale[j] = search_symmetric_scale(16, 32, x + 16 * j, L + 16 * j);
      if (std::fabs(sub_scale[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(sub_scale[j]);
        max_scale = sub_scale[j];
      }
    }
    if (max_abs_scale < 1e-15f) {  // all zero: d = 0 and zero codes mean 0 everywhere
      b[i].d = 0;
      continue;
    }
    const float iscale = -128.f / max_scale;
    b[i].d = fp32_to_fp16(1 / iscale);
    for (int j = 0; j < 16; ++j)
      b[i].scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * sub_scale[j])));
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      const float ds = d * static_cast<float>(b[i].scales[j]);
      if (ds == 0) {
        std::fill(L + 16 * j, L + 16 * j + 16, uint8_t{32});
        continue;
      }
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int(x[16 * j + l] / ds), -32, 31) + 32);
    }
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, k = (e % 128) / 32, l = e % 32;
      uint8_t& lo = b[i].ql[64 * h + 32 * (k % 2) + l];
      lo = static_cast<uint8_t>(lo | ((L[e] & 0xF) << (4 * (k / 2))));
      uint8_t& hi = b[i].qh[32 * h + l];
      hi = static_cast<uint8_t>(hi | ((L[e] >> 4) << (2 * k)));
    }
  }
}

float vec_dot_q6_k(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ6_K*>(w_row);
  const auto* a = static_cast<const BlockQ8_K*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += (code_q6_k(w[i], 16 * j + l) - 32) * a[i].qs[16 * j + l];
      sumi += w[i].scales[j] * dot;
    }
    sum += fp16_to_fp32(w[i].d) * a[i].d * static_cast<float>(sumi);
  }
  return sum;
}

}  // namespace st::ref
