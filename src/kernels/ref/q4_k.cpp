// Q4_K: 256-element super-blocks of 8 sub-blocks of 32; value d*sc[j]*q - dmin*m[j] with 4-bit
// q and 6-bit sc/m (blocks.h). qs holds 64-element chunks: byte l of chunk c carries element
// 64c+l in its low nibble and 64c+32+l in its high nibble. Dot partner: Q8_K.
#include "kernels/blocks.h"
#include "kernels/float_convert.h"
#include "kernels/ref/k_quant_common.h"
#include "kernels/ref/ref.h"

namespace st::ref {

void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float dmin = fp16_to_fp32(b[i].dmin);
    float* y = dst + i * kQK_K;
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = b[i].qs + 32 * c;
      uint8_t sc, m;
      unpack_scale_min_k4(2 * c, b[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      unpack_scale_min_k4(2 * c + 1, b[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) y[64 * c + l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) y[64 * c + 32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void quantize_row_q4_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t L[kQK_K];
    quantize_superblock_scale_min(src + i * kQK_K, 15, -1.f, 0.1f, 20, L, b[i].scales, &b[i].d, &b[i].dmin);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        b[i].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

float vec_dot_q4_k(int64_t n, const void* w_row, const void* act_row) {
  const auto* w = static_cast<const BlockQ4_K*>(w_row);
  const auto* a = static_cast<const BlockQ8_K*>(act_row);
  float sum = 0;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    // sum_j sc_j * sum(q*a) and sum_j m_j * sum(a) in integers, then two float multiplies.
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(j, w[i].scales, &sc, &m);
      const uint8_t* q = w[i].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int dot = 0;
      for (int l = 0; l < 32; ++l) dot += ((q[l] >> shift) & 0xF) * a[i].qs[32 * j + l];
      sumi += sc * dot;
      summ += m * (a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
    }
    sum += a[i].d * fp16_to_fp32(w[i].d) * static_cast<float>(sumi) -
           a[i].d * fp16_to_fp32(w[i].dmin) * static_cast<float>(summ);
  }
  return sum;
}

}  // namespace st::ref
