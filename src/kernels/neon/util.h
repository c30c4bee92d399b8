// Small NEON helpers shared by the neon/ files. Internal linkage on purpose: the folder has
// files built with and without +dotprod, and an inline function compiled in the dotprod file
// must never be the copy the plain path links to.
#pragma once
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace st::neon {
namespace {

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// IEEE half -> float by FCVTL (base ARMv8 Advanced SIMD; exact, as float_convert.h).
inline float half_to_float(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

// Narrows 16 int32 (4 vectors) to 16 int8 by truncation, as static_cast<int8_t> does.
inline int8x16_t narrow_i32x16_to_i8(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
  const int16x8_t lo = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
  const int16x8_t hi = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
  return vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
}

// True when all n floats (n a multiple of 4) are finite (|x| < inf fails for inf and NaN).
inline bool all_finite(const float* x, int n) {
  const float32x4_t inf = vdupq_n_f32(__builtin_inff());
  uint32x4_t ok = vdupq_n_u32(~0u);
  for (int i = 0; i < n; i += 4) ok = vandq_u32(ok, vcltq_f32(vabsq_f32(vld1q_f32(x + i)), inf));
  return vminvq_u32(ok) == ~0u;
}

inline float abs_max(const float* x, int n) {
  float32x4_t m = vdupq_n_f32(0);
  for (int i = 0; i < n; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
  return vmaxvq_f32(m);
}

// Dot of one weight row with NT activation rows at once (the weight blocks are decoded once
// for all of them): out[t] = dot(w, act[t]).
using MultiDotFn = void (*)(int64_t n, const uint8_t* w, const uint8_t* const* act, float* out);

template <MultiDotFn Dot1>
float vec_dot_by_multi(int64_t n, const void* w_row, const void* act_row) {
  const auto* a = static_cast<const uint8_t*>(act_row);
  float y;
  Dot1(n, static_cast<const uint8_t*>(w_row), &a, &y);
  return y;
}

// gemm with the weight row outer (it stays in L1) and tokens in groups of 4 sharing each
// decoded weight block; Dot1 / Dot4 are the 1- and 4-token forms of the same kernel.
template <MultiDotFn Dot1, MultiDotFn Dot4>
void gemm_by_multi(int64_t n, const void* w, size_t w_row_bytes, int64_t n_rows, const void* act, size_t act_row_bytes,
                   int64_t n_tok, float* y, int64_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = wb + static_cast<size_t>(r) * w_row_bytes;
    int64_t t = 0;
    for (; t + 4 <= n_tok; t += 4) {
      const uint8_t* a4[4];
      float out[4];
      for (int k = 0; k < 4; ++k) a4[k] = ab + static_cast<size_t>(t + k) * act_row_bytes;
      Dot4(n, row, a4, out);
      for (int k = 0; k < 4; ++k) y[(t + k) * ldy + r] = out[k];
    }
    for (; t < n_tok; ++t) {
      const uint8_t* a1 = ab + static_cast<size_t>(t) * act_row_bytes;
      Dot1(n, row, &a1, &y[t * ldy + r]);
    }
  }
}

}  // namespace
}  // namespace st::neon
