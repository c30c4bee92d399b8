// Q2_K: 256-element super-blocks of 16 sub-blocks of 16; value d*sc[j]*q - dmin*m[j] with 2-bit
// q and 4-bit sc/m packed in one byte per sub-block (blocks.h). Dot partner: Q8_K.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/quant_search.h"
#include "kernels/ref/ref.h"

namespace st::ref {
namespace {

int code_q2_k(const BlockQ2_K& b, int e) { return (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }

}  // namespace

void dequantize_row_q2_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const uint8_t s = b[i].scales[e / 16];
      dst[i * kQK_K + e] = d * static_cast<float>(s & 0xF) * static_cast<float>(code_q2_k(b[i], e)) -
                           dmin * static_cast<float>(s >> 4);
    }
  }
}

// Per sub-block a weighted scale/min search (weights favour large |x|), then scales and mins
// quantized to 4 bits relative to the largest of each, and the codes recomputed against the
// stored values. A non-finite super-block gives d = dmin = NaN with zero codes.
void quantize_row_q2_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ2_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    std::memset(&b[i], 0, sizeof b[i]);
    if (!all_finite(x, kQK_K)) {
      b[i].d = b[i].dmin = fp32_to_fp16(NAN);
      continue;
    }
    uint8_t L[kQK_K], aux[16];
    float sub_scale[16], sub_min[16], weights[16], max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      const float* xs = x + 16 * j;
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(xs[l]);
      sub_scale[j] = search_scale_min(16, 3, xs, weights, L + 16 * j, &sub_min[j], aux, -0.5f, 0.1f, 15);
      max_scale = std::max(max_scale, sub_scale[j]);
      max_min = std::max(max_min, sub_min[j]);
    }
    const float inv_scale = max_scale > 0 ? 15.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 15.f / max_min : 0.f;
    for (int j = 0; j < 16; ++j) {
      const int ls = std::min(15, nearest_int(inv_scale * sub_scale[j]));
      const int lm = std::min(15, nearest_int(inv_min * sub_min[j]));
      b[i].scales[j] = static_cast<uint8_t>(ls | (lm << 4));
    }
    b[i].d = fp32_to_fp16(max_scale / 15.f);
    b[i].dmin = fp32_to_fp16(max_min / 15.f);
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 16; ++j) {
      const float ds = d * static_cast<float>(b[i].scales[j] & 0xF);
      const float dm = dmin * static_cast<float>(b[i].scales[j] >> 4);
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<uint8_t>(ds == 0 ? 0 : std::clamp(nearest_int((x[16 * j + l] + dm) / ds), 0, 3));
    }
    for (int e = 0; e < kQK_K; ++e) {
      uint8_t& q = b[i].qs[32 * (e / 128) + e % 32];
      q = static_cast<uint8_t>(q | (L[e] << (2 * ((e % 128) / 32))));
    }
  }
}

float vec_dot_q2_k(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ2_K*>(w_row);
  const auto* a = static_cast<const BlockQ8_K*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < 16; ++j) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += code_q2_k(w[i], 16 * j + l) * a[i].qs[16 * j + l];
      sumi += (w[i].scales[j] & 0xF) * dot;
      summ += (w[i].scales[j] >> 4) * a[i].bsums[j];
    }
    sum += a[i].d * fp16_to_fp32(w[i].d) * static_cast<float>(sumi) -
           a[i].d * fp16_to_fp32(w[i].dmin) * static_cast<float>(summ);
  }
  return sum;
}

}  // namespace st::ref
