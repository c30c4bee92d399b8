// Integer dot kernels for the quantized weight types, written once over a `Dot` policy and
// instantiated twice: with plain NEON widening multiplies (registry.cpp, ARMv8.0) and
// with SDOT (integer_dotprod.cpp, built with +dotprod). A policy provides
//   static int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t b);
// which adds the 16 products a[i]*b[i] into the 4 lanes of acc (how they are split over the
// lanes does not matter: every caller reduces the lanes).
//
// Weights are turned into signed int8 codes (zero points subtracted where the type has one)
// and multiplied with the int8 activation codes; per block one float fma applies the two
// scales, as in ref/. Everything has internal linkage (see util.h).
#pragma once
#include <arm_neon.h>

#include <type_traits>

#include "kernels/blocks.h"
#include "kernels/kernel_table.h"
#include "kernels/neon/low_bit_dots.h"
#include "kernels/neon/util.h"
#include "kernels/ref/row_loops.h"

namespace st::neon {
namespace {

// ---- the 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) ----

// 5th bits of the 32 elements of a Q5 block (bit j of the little-endian qh word) as 0 / 16.
inline void q5_high_bits(const uint8_t* qh, uint8x16_t* lo, uint8x16_t* hi) {
  static constexpr uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bit = vld1q_u8(kBit), sixteen = vdupq_n_u8(16);
  *lo = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), bit), sixteen);
  *hi = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), bit), sixteen);
}

// Weight policies (the fp16 scale d is always the first field): codes() gives elements 0-15
// and 16-31 as int8, m() the min of the types that have one.
template <int ZeroPoint, bool HasMin>
struct Nibbles {  // Q4_0 (zero point 8), Q4_1 (min)
  static constexpr size_t kBytes = HasMin ? sizeof(BlockQ4_1) : sizeof(BlockQ4_0);
  static constexpr size_t kQs = HasMin ? 4 : 2;
  static constexpr bool kHasMin = HasMin;
  static void codes(const uint8_t* b, int8x16_t* lo, int8x16_t* hi) {
    const uint8x16_t q = vld1q_u8(b + kQs);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0xF))), vdupq_n_s8(ZeroPoint));
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(ZeroPoint));
  }
  static float m(const uint8_t* b) { return half_to_float(load_u16(b + 2)); }
};
using WQ4_0 = Nibbles<8, false>;
using WQ4_1 = Nibbles<0, true>;

template <int ZeroPoint, bool HasMin>
struct Nibbles5 {  // Q5_0 (zero point 16), Q5_1 (min)
  static constexpr size_t kBytes = HasMin ? sizeof(BlockQ5_1) : sizeof(BlockQ5_0);
  static constexpr size_t kQh = HasMin ? 4 : 2;
  static constexpr bool kHasMin = HasMin;
  static void codes(const uint8_t* b, int8x16_t* lo, int8x16_t* hi) {
    const uint8x16_t q = vld1q_u8(b + kQh + 4);
    uint8x16_t h_lo, h_hi;
    q5_high_bits(b + kQh, &h_lo, &h_hi);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0xF)), h_lo)), vdupq_n_s8(ZeroPoint));
    *hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), h_hi)), vdupq_n_s8(ZeroPoint));
  }
  static float m(const uint8_t* b) { return half_to_float(load_u16(b + 2)); }
};
using WQ5_0 = Nibbles5<16, false>;
using WQ5_1 = Nibbles5<0, true>;

struct WQ8_0 {
  static constexpr size_t kBytes = sizeof(BlockQ8_0);
  static constexpr bool kHasMin = false;
  static void codes(const uint8_t* b, int8x16_t* lo, int8x16_t* hi) {
    *lo = vld1q_s8(reinterpret_cast<const int8_t*>(b + 2));
    *hi = vld1q_s8(reinterpret_cast<const int8_t*>(b + 18));
  }
  static float m(const uint8_t*) { return 0; }
};

// Activation policies: Q8_0 (d, codes) and Q8_1 (d, s = d * sum(codes), codes).
template <bool WithSum>
struct Act8 {
  static constexpr size_t kBytes = WithSum ? sizeof(BlockQ8_1) : sizeof(BlockQ8_0);
  static constexpr size_t kQs = WithSum ? 4 : 2;
  static const int8_t* qs(const uint8_t* b) { return reinterpret_cast<const int8_t*>(b + kQs); }
  static float s(const uint8_t* b) { return half_to_float(load_u16(b + 2)); }
};

// out[t] = dot(weight row, act[t]) for NT activation rows (a MultiDotFn, util.h).
template <class Dot, class W, class A, int NT>
void dot_q32(int64_t n, const uint8_t* w, const uint8_t* const* act, float* out) {
  float32x4_t acc[NT];
  float min_acc[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = vdupq_n_f32(0);
    min_acc[t] = 0;
  }
  const int64_t nb = n / kQK;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * W::kBytes;
    int8x16_t lo, hi;
    W::codes(wb, &lo, &hi);
    const float dw = half_to_float(load_u16(wb));
    for (int t = 0; t < NT; ++t) {
      const uint8_t* ab = act[t] + b * A::kBytes;
      const int32x4_t p = Dot::dot(Dot::dot(vdupq_n_s32(0), lo, vld1q_s8(A::qs(ab))), hi, vld1q_s8(A::qs(ab) + 16));
      acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(p), dw * half_to_float(load_u16(ab)));
      if constexpr (W::kHasMin) min_acc[t] += W::m(wb) * A::s(ab);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = vaddvq_f32(acc[t]) + min_acc[t];
}

// ---- K-quants (256-element super-blocks, Q8_K activations) ----

// sum_j m[j] * (bsums[2j] + bsums[2j+1]): the min term of Q4_K/Q5_K, in integers.
inline int32_t k4_min_term(const BlockQ8_K& a, const uint8_t m[8]) {
  const int16x8_t pair_sums = vpaddq_s16(vld1q_s16(a.bsums), vld1q_s16(a.bsums + 8));
  const int16x8_t mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(m)));
  return vaddvq_s32(vaddq_s32(vmull_s16(vget_low_s16(pair_sums), vget_low_s16(mins)),
                              vmull_high_s16(pair_sums, mins)));
}

// Q4_K and Q5_K (HighBits = true): sub-blocks 2c and 2c+1 share the 32 bytes of chunk c
// (low / high nibbles); Q5_K's 5th bits come from qh, two bit planes per chunk. A MultiDotFn.
template <class Dot, bool HighBits, int NT>
void dot_k4(int64_t n, const uint8_t* w_row, const uint8_t* const* act, float* out) {
  using Block = std::conditional_t<HighBits, BlockQ5_K, BlockQ4_K>;
  const auto* w = reinterpret_cast<const Block*>(w_row);
  const uint8x16_t low4 = vdupq_n_u8(0xF), one = vdupq_n_u8(1), two = vdupq_n_u8(2);
  float sum[NT] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_mins_k4(w[i].scales, sc, m);
    const BlockQ8_K* a[NT];
    for (int t = 0; t < NT; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + i;
    uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
    if constexpr (HighBits) {
      qh0 = vld1q_u8(w[i].qh);
      qh1 = vld1q_u8(w[i].qh + 16);
    }
    int32x4_t isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = vdupq_n_s32(0);
    for (int c = 0; c < 4; ++c) {
      const uint8x16_t q0 = vld1q_u8(w[i].qs + 32 * c), q1 = vld1q_u8(w[i].qs + 32 * c + 16);
      uint8x16_t lo0 = vandq_u8(q0, low4), lo1 = vandq_u8(q1, low4);
      uint8x16_t hi0 = vshrq_n_u8(q0, 4), hi1 = vshrq_n_u8(q1, 4);
      if constexpr (HighBits) {  // bit 2c -> sub-block 2c, bit 2c+1 -> sub-block 2c+1
        lo0 = vorrq_u8(lo0, vshlq_n_u8(vandq_u8(qh0, one), 4));
        lo1 = vorrq_u8(lo1, vshlq_n_u8(vandq_u8(qh1, one), 4));
        hi0 = vorrq_u8(hi0, vshlq_n_u8(vandq_u8(qh0, two), 3));
        hi1 = vorrq_u8(hi1, vshlq_n_u8(vandq_u8(qh1, two), 3));
        qh0 = vshrq_n_u8(qh0, 2);
        qh1 = vshrq_n_u8(qh1, 2);
      }
      for (int t = 0; t < NT; ++t) {
        const int8_t* aq = a[t]->qs + 64 * c;
        int32x4_t p_lo = Dot::dot(vdupq_n_s32(0), vreinterpretq_s8_u8(lo0), vld1q_s8(aq));
        p_lo = Dot::dot(p_lo, vreinterpretq_s8_u8(lo1), vld1q_s8(aq + 16));
        int32x4_t p_hi = Dot::dot(vdupq_n_s32(0), vreinterpretq_s8_u8(hi0), vld1q_s8(aq + 32));
        p_hi = Dot::dot(p_hi, vreinterpretq_s8_u8(hi1), vld1q_s8(aq + 48));
        isum[t] = vmlaq_n_s32(vmlaq_n_s32(isum[t], p_lo, sc[2 * c]), p_hi, sc[2 * c + 1]);
      }
    }
    const float dw = half_to_float(w[i].d), dminw = half_to_float(w[i].dmin);
    for (int t = 0; t < NT; ++t)
      sum[t] += a[t]->d * dw * static_cast<float>(vaddvq_s32(isum[t])) -
                a[t]->d * dminw * static_cast<float>(k4_min_term(*a[t], m));
  }
  for (int t = 0; t < NT; ++t) out[t] = sum[t];
}

// Q6_K: each 128-element half has 64 bytes of low nibbles and 32 bytes of 2-bit pairs; the
// 32-element quarter k takes nibble (k / 2) of ql[32 * (k % 2) + l] and bits 2k..2k+1 of qh[l].
// A MultiDotFn.
template <class Dot, int NT>
void dot_q6_k(int64_t n, const uint8_t* w_row, const uint8_t* const* act, float* out) {
  const auto* w = reinterpret_cast<const BlockQ6_K*>(w_row);
  const uint8x16_t low4 = vdupq_n_u8(0xF), three = vdupq_n_u8(3);
  const int8x16_t offset = vdupq_n_s8(32);
  float sum[NT] = {};
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ8_K* a[NT];
    for (int t = 0; t < NT; ++t) a[t] = reinterpret_cast<const BlockQ8_K*>(act[t]) + i;
    int32x4_t isum[NT];
    for (int t = 0; t < NT; ++t) isum[t] = vdupq_n_s32(0);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = w[i].ql + 64 * h;
      const uint8x16_t ql0 = vld1q_u8(ql), ql1 = vld1q_u8(ql + 16), ql2 = vld1q_u8(ql + 32), ql3 = vld1q_u8(ql + 48);
      uint8x16_t qh0 = vld1q_u8(w[i].qh + 32 * h), qh1 = vld1q_u8(w[i].qh + 32 * h + 16);
      const int8_t* sc = w[i].scales + 8 * h;
      for (int k = 0; k < 4; ++k, qh0 = vshrq_n_u8(qh0, 2), qh1 = vshrq_n_u8(qh1, 2)) {
        const uint8x16_t l0 = k % 2 ? ql2 : ql0, l1 = k % 2 ? ql3 : ql1;
        const uint8x16_t n0 = k < 2 ? vandq_u8(l0, low4) : vshrq_n_u8(l0, 4);
        const uint8x16_t n1 = k < 2 ? vandq_u8(l1, low4) : vshrq_n_u8(l1, 4);
        const int8x16_t c0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(n0, vshlq_n_u8(vandq_u8(qh0, three), 4))), offset);
        const int8x16_t c1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(n1, vshlq_n_u8(vandq_u8(qh1, three), 4))), offset);
        for (int t = 0; t < NT; ++t) {
          const int8_t* aq = a[t]->qs + 128 * h + 32 * k;
          isum[t] = vmlaq_n_s32(isum[t], Dot::dot(vdupq_n_s32(0), c0, vld1q_s8(aq)), sc[2 * k]);
          isum[t] = vmlaq_n_s32(isum[t], Dot::dot(vdupq_n_s32(0), c1, vld1q_s8(aq + 16)), sc[2 * k + 1]);
        }
      }
    }
    const float dw = half_to_float(w[i].d);
    for (int t = 0; t < NT; ++t) sum[t] += dw * a[t]->d * static_cast<float>(vaddvq_s32(isum[t]));
  }
  for (int t = 0; t < NT; ++t) out[t] = sum[t];
}

// ---- table filling ----

// vec_dot, gemv and gemm of one table from the 1- and 4-token forms of a kernel.
template <MultiDotFn Dot1, MultiDotFn Dot4>
void set_multi(KernelTable& t) {
  t.vec_dot = vec_dot_by_multi<Dot1>;
  t.gemv = ref::gemv_by_dot<vec_dot_by_multi<Dot1>>;
  t.gemm = gemm_by_multi<Dot1, Dot4>;
}

// The integer-dot entries of a quantized weight type's table (other types untouched).
template <class Dot>
void set_integer_kernels(KernelTable& t) {
  switch (t.type) {
    case TensorType::Q4_0: set_multi<dot_q32<Dot, WQ4_0, Act8<false>, 1>, dot_q32<Dot, WQ4_0, Act8<false>, 4>>(t); break;
    case TensorType::Q4_1: set_multi<dot_q32<Dot, WQ4_1, Act8<true>, 1>, dot_q32<Dot, WQ4_1, Act8<true>, 4>>(t); break;
    case TensorType::Q5_0: set_multi<dot_q32<Dot, WQ5_0, Act8<false>, 1>, dot_q32<Dot, WQ5_0, Act8<false>, 4>>(t); break;
    case TensorType::Q5_1: set_multi<dot_q32<Dot, WQ5_1, Act8<true>, 1>, dot_q32<Dot, WQ5_1, Act8<true>, 4>>(t); break;
    case TensorType::Q8_0: set_multi<dot_q32<Dot, WQ8_0, Act8<false>, 1>, dot_q32<Dot, WQ8_0, Act8<false>, 4>>(t); break;
    case TensorType::Q4_K: set_multi<dot_k4<Dot, false, 1>, dot_k4<Dot, false, 4>>(t); break;
    case TensorType::Q5_K: set_multi<dot_k4<Dot, true, 1>, dot_k4<Dot, true, 4>>(t); break;
    case TensorType::Q6_K: set_multi<dot_q6_k<Dot, 1>, dot_q6_k<Dot, 4>>(t); break;
    case TensorType::Q2_K: set_multi<dot_q2_k<Dot, 1>, dot_q2_k<Dot, 4>>(t); break;
    case TensorType::Q3_K: set_multi<dot_q3_k<Dot, 1>, dot_q3_k<Dot, 4>>(t); break;
    case TensorType::IQ4_NL:
      set_multi<dot_q32<Dot, WIQ4_NL, Act8<false>, 1>, dot_q32<Dot, WIQ4_NL, Act8<false>, 4>>(t);
      break;
    case TensorType::IQ4_XS: set_multi<dot_iq4_xs<Dot, 1>, dot_iq4_xs<Dot, 4>>(t); break;
    default: break;
  }
}

}  // namespace
}  // namespace st::neon
