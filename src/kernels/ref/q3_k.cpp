// Q3_K: 256-element super-blocks of 16 sub-blocks of 16; value d * (sc[j] - 32) * (q - 4) with
// 3-bit q (2 low bits in qs, the third in hmask) and 6-bit scales (blocks.h). Dot partner: Q8_K.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {
namespace {

// Element e's 3-bit code (0..7; the value is code - 4).
int code_q3_k(const BlockQ3_K& b, int e) {
  const int lo = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
  const int hi = (b.hmask[e % 32] >> (e / 32)) & 1;
  return lo | (hi << 2);
}

// Inverse of q3_k_scale (blocks.h): sc[j] in -32..31.
void pack_scales_q3_k(const int8_t sc[16], uint8_t scales[12]) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < 16; ++j) {
    const int v = sc[j] + 32;
    scales[j % 8] = static_cast<uint8_t>(scales[j % 8] | ((v & 0xF) << (4 * (j / 8))));
    scales[8 + j % 4] = static_cast<uint8_t>(scales[8 + j % 4] | ((v >> 4) << (2 * (j / 4))));
  }
}

}  // namespace

void dequantize_row_q3_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    int sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = q3_k_scale(b[i].scales, j);
    for (int e = 0; e < kQK_K; ++e)
      dst[i * kQK_K + e] = d * static_cast<float>(sc[e / 16]) * static_cast<float>(code_q3_k(b[i], e) - 4);
  }
}

// Per sub-block a symmetric scale search over the codes -4..3 (search_symmetric_scale puts the
// largest magnitude on -4), then the 16 scales quantized to 6 signed bits relative to the
// largest, and the codes recomputed against the stored scales.
void quantize_row_q3_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ3_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    uint8_t L[kQK_K];
    int8_t sc[16] = {};
    std::memset(&b[i], 0, sizeof b[i]);
    if (!all_finite(x, kQK_K)) {
      b[i].d = fp32_to_fp16(NAN);
      continue;
    }
    float sub_scale[16], max_scale = 0, max_abs = 0;
    for (int j = 0; j < 16; ++j) {
      sub_scale[j] = search_symmetric_scale(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(sub_scale[j]) > max_abs) {
        max_abs = std::fabs(sub_scale[j]);
        max_scale = sub_scale[j];
      }
    }
    if (max_abs < 1e-15f) {  // all zero: d = 0 (scales and codes are then irrelevant)
      pack_scales_q3_k(sc, b[i].scales);
      continue;
    }
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(std::clamp(nearest_int(iscale * sub_scale[j]), -32, 31));
    pack_scales_q3_k(sc, b[i].scales);
    b[i].d = fp32_to_fp16(1 / iscale);
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      const float ds = d * static_cast<float>(sc[j]);
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] =
            static_cast<uint8_t>(ds == 0 ? 4 : std::clamp(nearest_int(x[16 * j + l] / ds), -4, 3) + 4);
    }
    for (int e = 0; e < kQK_K; ++e) {
      uint8_t& q = b[i].qs[32 * (e / 128) + e % 32];
      q = static_cast<uint8_t>(q | ((L[e] & 3) << (2 * ((e % 128) / 32))));
      b[i].hmask[e % 32] = static_cast<uint8_t>(b[i].hmask[e % 32] | ((L[e] >> 2) << (e / 32)));
    }
  }
}

float vec_dot_q3_k(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ3_K*>(w_row);
  const auto* a = static_cast<const BlockQ8_K*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int sumi = 0;
    for (int j = 0; j < 16; ++j) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += (code_q3_k(w[i], 16 * j + l) - 4) * a[i].qs[16 * j + l];
      sumi += q3_k_scale(w[i].scales, j) * dot;
    }
    sum += fp16_to_fp32(w[i].d) * a[i].d * static_cast<float>(sumi);
  }
  return sum;
}

}  // namespace st::ref
