// Integer dot kernels for the low-bit types of the published files (Q2_K, Q3_K, IQ4_NL,
// IQ4_XS), over the same `Dot` policy as integer_dots.h (plain widening multiplies or SDOT).
// Codes become signed int8 (Q3_K's zero point 4 subtracted in the bytes, the IQ4 grid looked
// up with one TBL), each 16- or 32-element sub-block's int32 product takes its integer scale
// with one multiply-accumulate, and one float multiply per super-block applies d * a.d as in
// ref/. Products stay far from int16 limits in the widening form: |code| <= 127, |a| <= 127.
// Everything has internal linkage (see util.h).
#pragma once
#include <arm_neon.h>

#include "kernels/blocks.h"
#include "kernels/neon/util.h"

namespace st::neon {
namespace {

inline int8x16_t iq4nl_grid() { return vld1q_s8(kIq4nlValues); }

// IQ4_NL in the 32-element block form of integer_dots.h's dot_q32: nibbles as in Q4_0
// (elements 0-15 the low nibbles, 16-31 the high ones) looked up in the grid.
struct WIQ4_NL {
  static constexpr size_t kBytes = sizeof(BlockIQ4_NL);
  static constexpr bool kHasMin = false;
  static void codes(const uint8_t* b, int8x16_t* lo, int8x16_t* hi) {
    const uint8x16_t q = vld1q_u8(b + 2);
    *lo = vqtbl1q_s8(iq4nl_grid(), vandq_u8(q, vdupq_n_u8(0xF)));
    *hi = vqtbl1q_s8(iq4nl_grid(), vshrq_n_u8(q, 4));
  }
  static float m(const uint8_t*) { return 0; }
};

// sum_j mins[j] * bsums[j] over the 16 sub-blocks (Q2_K's min term), in integers.
inline int32_t q2_k_min_term(const BlockQ8_K& a, const uint8_t scales[16]) {
  const uint8x16_t mins = vshrq_n_u8(vld1q_u8(scales), 4);
  const int16x8_t m_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
  const int16x8_t m_hi = vreinterpretq_s16_u16(vmovl_high_u8(mins));
  const int16x8_t b_lo = vld1q_s16(a.bsums), b_hi = vld1q_s16(a.bsums + 8);
  int32x4_t s = vmull_s16(vget_low_s16(m_lo), vget_low_s16(b_lo));
  s = vmlal_high_s16(s, m_lo, b_lo);
  s = vmlal_s16(s, vget_low_s16(m_hi), vget_low_s16(b_hi));
  return vaddvq_s32(vmlal_high_s16(s, m_hi, b_hi));
}

// Adds quarter k's two sub-blocks (codes c0: elements 0-15, c1: 16-31 of the 32 at aq) of
// every token, weighted by their scales s0, s1.
template <class Dot, int NT>
inline void add_quarter(int32x4_t* isum, const BlockQ8_K* const* a, int off, int8x16_t c0, int8x16_t c1, int32_t s0,
                        int32_t s1) {
  for (int t = 0; t < NT; ++t) {
    const int8_t* aq = a[t]->qs + off;
    isum[t] = vmlaq_n_s32(isum[t], Dot::dot(vdupq_n_s32(0), c0, vld1q_s8(aq)), s0);
    isum[t] = vmlaq_n_s32(isum[t], Dot::dot(vdupq_n_s32(0), c1, vld1q_s8(aq + 16)), s1);
  }
}

// Q2_K: element 128h + 32k + l has its 2-bit code in bits 2k..2k+1 of qs[32h + l]; scale
// (s & 15), min (s >> 4) of sub-block (element / 16). A MultiDotFn.
template <class Dot, int NT>
void dot_q2_k(int64_t n, const uint8_t* w_row, const uint8_t* const* act, float* out) {
  const auto* w = reinterpret_cast<const BlockQ2_K*>(w_row);
  const uint8x16_t three = vdupq_n_u8(3);
  float sum[NT] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ8_K* a[NT];
    for (int t = 0; t < NT; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + i;
    int32x4_t isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = vdupq_n_s32(0);
    const uint8_t* sc = w[i].scales;
    for (int h = 0; h < 2; ++h) {
      uint8x16_t q0 = vld1q_u8(w[i].qs + 32 * h), q1 = vld1q_u8(w[i].qs + 32 * h + 16);
      for (int k = 0; k < 4; ++k, q0 = vshrq_n_u8(q0, 2), q1 = vshrq_n_u8(q1, 2)) {
        const int j = 8 * h + 2 * k;
        add_quarter<Dot, NT>(isum, a, 128 * h + 32 * k, vreinterpretq_s8_u8(vandq_u8(q0, three)),
                             vreinterpretq_s8_u8(vandq_u8(q1, three)), sc[j] & 0xF, sc[j + 1] & 0xF);
      }
    }
    const float dw = half_to_float(w[i].d), dminw = half_to_float(w[i].dmin);
    for (int t = 0; t < NT; ++t)
      sum[t] += a[t]->d * dw * static_cast<float>(vaddvq_s32(isum[t])) -
                a[t]->d * dminw * static_cast<float>(q2_k_min_term(*a[t], sc));
  }
  for (int t = 0; t < NT; ++t) out[t] = sum[t];
}

// Q3_K: the 2 low bits as in Q2_K, the third bit of element 128h + 32k + l is bit 4h + k of
// hmask[l]; code - 4 = low bits - (third bit clear ? 4 : 0). Scales sc - 32. A MultiDotFn.
template <class Dot, int NT>
void dot_q3_k(int64_t n, const uint8_t* w_row, const uint8_t* const* act, float* out) {
  const auto* w = reinterpret_cast<const BlockQ3_K*>(w_row);
  const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4), one = vdupq_n_u8(1);
  float sum[NT] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ8_K* a[NT];
    for (int t = 0; t < NT; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + i;
    int32x4_t isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = vdupq_n_s32(0);
    int8_t sc[16];
    unpack_scales_q3_k(w[i].scales, sc);
    uint8x16_t hm0 = vld1q_u8(w[i].hmask), hm1 = vld1q_u8(w[i].hmask + 16);
    for (int h = 0; h < 2; ++h) {
      uint8x16_t q0 = vld1q_u8(w[i].qs + 32 * h), q1 = vld1q_u8(w[i].qs + 32 * h + 16);
      for (int k = 0; k < 4; ++k) {
        const int j = 8 * h + 2 * k;
        // vtst gives 0xFF where the bit is set; bic keeps 4 where it is clear.
        const uint8x16_t c0 = vsubq_u8(vandq_u8(q0, three), vbicq_u8(four, vtstq_u8(hm0, one)));
        const uint8x16_t c1 = vsubq_u8(vandq_u8(q1, three), vbicq_u8(four, vtstq_u8(hm1, one)));
        add_quarter<Dot, NT>(isum, a, 128 * h + 32 * k, vreinterpretq_s8_u8(c0), vreinterpretq_s8_u8(c1), sc[j],
                             sc[j + 1]);
        q0 = vshrq_n_u8(q0, 2);
        q1 = vshrq_n_u8(q1, 2);
        hm0 = vshrq_n_u8(hm0, 1);
        hm1 = vshrq_n_u8(hm1, 1);
      }
    }
    const float dw = half_to_float(w[i].d);
    for (int t = 0; t < NT; ++t) sum[t] += dw * a[t]->d * static_cast<float>(vaddvq_s32(isum[t]));
  }
  for (int t = 0; t < NT; ++t) out[t] = sum[t];
}

// IQ4_XS: sub-block j's 16 code bytes (elements 32j + 0-15 low nibbles, 16-31 high) looked up
// in the grid, scale ls[j] - 32. A MultiDotFn.
template <class Dot, int NT>
void dot_iq4_xs(int64_t n, const uint8_t* w_row, const uint8_t* const* act, float* out) {
  const auto* w = reinterpret_cast<const BlockIQ4_XS*>(w_row);
  const int8x16_t grid = iq4nl_grid();
  const uint8x16_t low4 = vdupq_n_u8(0xF);
  float sum[NT] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ8_K* a[NT];
    for (int t = 0; t < NT; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + i;
    int32x4_t isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = vdupq_n_s32(0);
    int8_t ls[8];
    unpack_scales_iq4_xs(reinterpret_cast<const uint8_t*>(&w[i]), ls);
    for (int j = 0; j < 8; ++j) {
      const uint8x16_t q = vld1q_u8(w[i].qs + 16 * j);
      const int8x16_t lo = vqtbl1q_s8(grid, vandq_u8(q, low4)), hi = vqtbl1q_s8(grid, vshrq_n_u8(q, 4));
      for (int t = 0; t < NT; ++t) {
        const int8_t* aq = a[t]->qs + 32 * j;
        const int32x4_t p = Dot::dot(Dot::dot(vdupq_n_s32(0), lo, vld1q_s8(aq)), hi, vld1q_s8(aq + 16));
        isum[t] = vmlaq_n_s32(isum[t], p, ls[j]);
      }
    }
    const float dw = half_to_float(w[i].d);
    for (int t = 0; t < NT; ++t) sum[t] += dw * a[t]->d * static_cast<float>(vaddvq_s32(isum[t]));
  }
  for (int t = 0; t < NT; ++t) out[t] = sum[t];
}

}  // namespace
}  // namespace st::neon
