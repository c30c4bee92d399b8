// Scalar IEEE half (fp16) and bfloat16 <-> float conversions, written with integer bit
// operations so they give the same bits on every compiler and CPU (no F16C needed here; the
// SIMD folders use F16C and are tested bit-for-bit against these).
//
// Policy: fp16 -> float is exact (a signalling NaN comes back quiet); float -> fp16/bf16 rounds to nearest, ties to
// even; values beyond the fp16 range become +-inf; NaN stays NaN (quiet bit set, top payload bits kept, as F16C's
// vcvtps2ph does).
//
// Everything lives in an anonymous namespace on purpose: this header is included from TUs
// compiled with different -m flags, and internal linkage keeps the linker from picking an
// AVX-512-compiled copy of an inline function for the scalar path.
#pragma once
#include <bit>
#include <cstdint>

namespace st {
namespace {

inline float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) {  // inf, or NaN: payload kept, quiet bit set (as F16C's vcvtph2ps does)
    return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13) | (mant ? 0x400000u : 0u));
  }
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  // Zero or subnormal: mant * 2^-24 is exact in float.
  const float mag = static_cast<float>(mant) * 0x1p-24f;
  return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(mag));
}

inline uint16_t fp32_to_fp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  const uint32_t exp = a >> 23;
  if (exp >= 113) {
    // Normal half range (or overflow): rebias the exponent, then round the 13 dropped bits;
    // a carry out of the mantissa correctly bumps the exponent (and reaches inf at the top).
    const uint32_t m = a - (112u << 23);
    const uint32_t h = (m + 0xfffu + ((m >> 13) & 1u)) >> 13;
    return static_cast<uint16_t>(sign | (h >= 0x7c00u ? 0x7c00u : h));
  }
  if (exp < 102) return sign;  // below half of the smallest subnormal: rounds to zero
  // Subnormal half: value = mant24 * 2^(exp-150), in units of 2^-24 that is mant24 >> (126-exp).
  const uint32_t mant24 = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exp;  // 14..24
  uint32_t h = mant24 >> shift;
  const uint32_t rem = mant24 & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1u))) ++h;  // may become 0x400, the smallest normal
  return static_cast<uint16_t>(sign | h);
}

inline float bf16_to_fp32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

inline uint16_t fp32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  // Round to nearest even on the 16 dropped bits; overflow carries into inf as it should.
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace
}  // namespace st
