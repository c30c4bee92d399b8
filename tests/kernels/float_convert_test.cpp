// fp16 / bf16 conversions: exhaustive over the 65536 half/bfloat patterns against plain
// arithmetic references, round-to-nearest-even checked at every tie, and every ISA's row
// conversion (F16/BF16 dequantize/quantize) bit-identical to the scalar one.
#include "kernels/float_convert.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "kernel_test_util.h"

namespace st {
namespace {

// Straightforward decoding of a half from its fields.
double half_value(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  const double mag = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return sign ? -mag : mag;
}

TEST(Fp16, ToFloatExhaustive) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    const int exp = (h >> 10) & 31;
    if (exp == 31 && (h & 1023)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_EQ(std::signbit(f), (h >> 15) != 0);
    } else if (exp == 31) {
      ASSERT_TRUE(std::isinf(f) && std::signbit(f) == ((h >> 15) != 0)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(f), half_value(static_cast<uint16_t>(h))) << h;
      ASSERT_EQ(std::signbit(f), (h >> 15) != 0) << h;
    }
  }
}

TEST(Fp16, RoundTripExhaustive) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t back = fp32_to_fp16(fp16_to_fp32(static_cast<uint16_t>(h)));
    const bool nan = ((h >> 10) & 31) == 31 && (h & 1023);
    ASSERT_EQ(back, nan ? (h | 0x200) : h) << h;  // NaN comes back quiet
  }
}

// Ties and near-ties between every pair of adjacent halves, and a sweep of float patterns,
// against the compiler's own software _Float16 conversion (round to nearest even).
#if defined(__aarch64__) && !defined(__clang__)
using CompilerHalf = __fp16;  // GCC 12 has no C++ _Float16 on aarch64; __fp16 is the same IEEE half
#else
using CompilerHalf = _Float16;
#endif
TEST(Fp16, FromFloatMatchesCompiler) {
  auto expect = [](float f) {
    const CompilerHalf h = static_cast<CompilerHalf>(f);
    uint16_t bits;
    std::memcpy(&bits, &h, 2);
    return bits;
  };
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const float lo = fp16_to_fp32(static_cast<uint16_t>(h)), hi = fp16_to_fp32(static_cast<uint16_t>(h + 1));
    const float mid = (lo + hi) / 2;  // exact in float
    for (float f : {mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e9f), -mid})
      ASSERT_EQ(fp32_to_fp16(f), expect(f)) << f;
  }
  for (uint64_t u = 0; u < (1ull << 32); u += 4093) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(u));
    if (std::isnan(f)) {
      const uint16_t h = fp32_to_fp16(f);
      ASSERT_TRUE((h & 0x7c00) == 0x7c00 && (h & 0x200)) << u;  // quiet NaN
      continue;
    }
    ASSERT_EQ(fp32_to_fp16(f), expect(f)) << u;
  }
  EXPECT_EQ(fp32_to_fp16(65519.f), 0x7bff);  // largest half 65504; 65520 is the tie to inf
  EXPECT_EQ(fp32_to_fp16(65520.f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(1e30f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xfc00);
}

// Reference: choose the nearer of the two bfloat16 neighbours in double, ties to even.
uint16_t bf16_reference(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t lo = x & 0xffff0000u;
  const double dlo = std::bit_cast<float>(lo);
  if (lo == x) return static_cast<uint16_t>(x >> 16);
  const uint32_t hi = lo + 0x10000u;  // next bf16 away from zero (may be inf)
  const double dhi = (hi & 0x7fffffffu) == 0x7f800000u ? std::ldexp(std::copysign(1.0, f), 128)
                                                       : static_cast<double>(std::bit_cast<float>(hi));
  const double e_lo = std::fabs(f - dlo), e_hi = std::fabs(dhi - f);
  if (e_lo < e_hi || (e_lo == e_hi && ((lo >> 16) & 1) == 0)) return static_cast<uint16_t>(lo >> 16);
  return static_cast<uint16_t>(hi >> 16);
}

TEST(Bf16, ExhaustiveAndTies) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(b));
    ASSERT_EQ(std::bit_cast<uint32_t>(f), b << 16);
    ASSERT_EQ(fp32_to_bf16(f), std::isnan(f) ? (b | 0x40) : b) << b;  // NaN stays NaN, quiet
    if (std::isfinite(f)) {
      for (uint32_t low : {0x7fffu, 0x8000u, 0x8001u, 0x1234u, 0xffffu}) {
        const float g = std::bit_cast<float>((b << 16) | low);
        if (std::isnan(g)) continue;
        ASSERT_EQ(fp32_to_bf16(g), bf16_reference(g)) << std::hex << ((b << 16) | low);
      }
    }
  }
}

// Every ISA's F16/BF16 row conversions against the scalar functions over all patterns.
TEST(FloatRows, AllIsasBitExact) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  std::vector<float> floats(65536 * 4);
  for (size_t i = 0; i < floats.size(); ++i)
    floats[i] = std::bit_cast<float>(static_cast<uint32_t>(i * 65521u + (i >> 3)));  // spread over all exponents
  for (Isa isa : available_isas()) {
    for (TensorType t : {TensorType::F16, TensorType::BF16}) {
      const auto& k = kernel_table(t, isa);
      const bool half = t == TensorType::F16;
      std::vector<float> out(all.size());
      k.dequantize_row(all.data(), out.data(), static_cast<int64_t>(all.size()));
      for (size_t i = 0; i < all.size(); ++i) {
        const float e = half ? fp16_to_fp32(all[i]) : bf16_to_fp32(all[i]);
        ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(e)) << isa_name(isa) << " " << i;
      }
      std::vector<uint16_t> q(floats.size());
      k.quantize_row(floats.data(), q.data(), static_cast<int64_t>(floats.size()));
      for (size_t i = 0; i < floats.size(); ++i)
        ASSERT_EQ(q[i], half ? fp32_to_fp16(floats[i]) : fp32_to_bf16(floats[i])) << isa_name(isa) << " " << floats[i];
    }
  }
}

}  // namespace
}  // namespace st
