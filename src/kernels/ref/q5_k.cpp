// Q5_K: as Q4_K with 5-bit codes; the 5th bit of element 32*j + l (sub-block j) is bit j of
// qh[l]. Dot partner: Q8_K.
#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/k_quant_common.h"
#include "kernels/ref/ref.h"

namespace st::ref {
namespace {

// Code of element l (0..31) of sub-block j (0..7).
int code_q5_k(const BlockQ5_K& b, int j, int l) {
  const int lo = (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF;
  return lo | (((b.qh[l] >> j) & 1) << 4);
}

}  // namespace

void dequantize_row_q5_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, b[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      for (int l = 0; l < 32; ++l) dst[i * kQK_K + 32 * j + l] = d1 * static_cast<float>(code_q5_k(b[i], j, l)) - m1;
    }
  }
}

void quantize_row_q5_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t L[kQK_K];
    quantize_superblock_scale_min(src + i * kQK_K, 31, -0.5f, 0.1f, 15, L, b[i].scales, &b[i].d, &b[i].dmin);
    for (int l = 0; l < 32; ++l) b[i].qh[l] = 0;
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
        b[i].qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        b[i].qh[l] = static_cast<uint8_t>(b[i].qh[l] | ((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      }
    }
  }
}

float vec_dot_q5_k(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ5_K*>(w_row);
  const auto* a = static_cast<const BlockQ8_K*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, w[i].scales, &sc, &m);
      int dot = 0;
      for (int l = 0; l < 32; ++l) dot += code_q5_k(w[i], j, l) * a[i].qs[32 * j + l];
      sumi += sc * dot;
      summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
    }
    sum += a[i].d * fp16_to_fp32(w[i].d) * static_cast<float>(sumi) -
           a[i].d * fp16_to_fp32(w[i].dmin) * static_cast<float>(summ);
  }
  return sum;
}

}  // namespace st::ref
