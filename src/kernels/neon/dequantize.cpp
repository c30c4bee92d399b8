// Dequantization of the low-bit types of the published files (Q2_K, Q3_K, IQ4_NL, IQ4_XS)
// with plain NEON: 16 codes at a time as signed bytes, widened to float and scaled. Bit-exact
// with ref/: every value is the same product in the same order ((d * sc) * code; Q2_K then
// subtracts dmin * m), each product rounded once as in C++.
#include <arm_neon.h>

#include "kernels/blocks.h"
#include "kernels/neon/neon.h"
#include "kernels/neon/util.h"

namespace st::neon {
namespace {

// dst[0..15] = scale * float(codes[i]).
inline void store_scaled(float* dst, int8x16_t codes, float scale) {
  const int16x8_t lo = vmovl_s8(vget_low_s8(codes)), hi = vmovl_high_s8(codes);
  vst1q_f32(dst, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), scale));
  vst1q_f32(dst + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), scale));
  vst1q_f32(dst + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), scale));
  vst1q_f32(dst + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), scale));
}

// dst[0..15] = scale * float(codes[i]) - offset, the product rounded before the subtraction
// (ref/'s expression has two roundings; a fused multiply-subtract would have one).
inline void store_scaled_minus(float* dst, int8x16_t codes, float scale, float offset) {
  store_scaled(dst, codes, scale);
  const float32x4_t m = vdupq_n_f32(offset);
  for (int k = 0; k < 4; ++k) vst1q_f32(dst + 4 * k, vsubq_f32(vld1q_f32(dst + 4 * k), m));
}

void dequantize_row_q2_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  const uint8x16_t three = vdupq_n_u8(3);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = half_to_float(b[i].d), dmin = half_to_float(b[i].dmin);
    for (int h = 0; h < 2; ++h) {
      uint8x16_t q[2] = {vld1q_u8(b[i].qs + 32 * h), vld1q_u8(b[i].qs + 32 * h + 16)};
      for (int k = 0; k < 4; ++k) {
        for (int half = 0; half < 2; ++half) {
          const int j = 8 * h + 2 * k + half;
          const uint8_t s = b[i].scales[j];
          store_scaled_minus(dst + 16 * j, vreinterpretq_s8_u8(vandq_u8(q[half], three)),
                             d * static_cast<float>(s & 0xF), dmin * static_cast<float>(s >> 4));
          q[half] = vshrq_n_u8(q[half], 2);
        }
      }
    }
  }
}

void dequantize_row_q3_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4), one = vdupq_n_u8(1);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = half_to_float(b[i].d);
    int8_t sc[16];
    unpack_scales_q3_k(b[i].scales, sc);
    uint8x16_t hm[2] = {vld1q_u8(b[i].hmask), vld1q_u8(b[i].hmask + 16)};
    for (int h = 0; h < 2; ++h) {
      uint8x16_t q[2] = {vld1q_u8(b[i].qs + 32 * h), vld1q_u8(b[i].qs + 32 * h + 16)};
      for (int k = 0; k < 4; ++k) {
        for (int half = 0; half < 2; ++half) {
          const int j = 8 * h + 2 * k + half;
          // code - 4: the low bits, minus 4 where the third bit (hmask) is clear.
          const uint8x16_t c = vsubq_u8(vandq_u8(q[half], three), vbicq_u8(four, vtstq_u8(hm[half], one)));
          store_scaled(dst + 16 * j, vreinterpretq_s8_u8(c), d * static_cast<float>(sc[j]));
          q[half] = vshrq_n_u8(q[half], 2);
          hm[half] = vshrq_n_u8(hm[half], 1);
        }
      }
    }
  }
}

// 32 grid values of 16 code bytes (low nibbles first, as Q4_0) times scale.
inline void store_iq4(float* dst, const uint8_t* qs, float scale) {
  const int8x16_t grid = vld1q_s8(kIq4nlValues);
  const uint8x16_t q = vld1q_u8(qs);
  store_scaled(dst, vqtbl1q_s8(grid, vandq_u8(q, vdupq_n_u8(0xF))), scale);
  store_scaled(dst + 16, vqtbl1q_s8(grid, vshrq_n_u8(q, 4)), scale);
}

void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / kQK; ++i) store_iq4(dst + i * kQK, b[i].qs, half_to_float(b[i].d));
}

void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = half_to_float(b[i].d);
    int8_t ls[8];
    unpack_scales_iq4_xs(reinterpret_cast<const uint8_t*>(&b[i]), ls);
    for (int j = 0; j < 8; ++j) store_iq4(dst + i * kQK_K + 32 * j, b[i].qs + 16 * j, d * static_cast<float>(ls[j]));
  }
}

}  // namespace

void set_low_bit_dequantize(KernelTable& t) {
  switch (t.type) {
    case TensorType::Q2_K: t.dequantize_row = dequantize_row_q2_k; break;
    case TensorType::Q3_K: t.dequantize_row = dequantize_row_q3_k; break;
    case TensorType::IQ4_NL: t.dequantize_row = dequantize_row_iq4_nl; break;
    case TensorType::IQ4_XS: t.dequantize_row = dequantize_row_iq4_xs; break;
    default: break;
  }
}

}  // namespace st::neon
