// Element order of every block format, restated from the layout description (ggml's
// block_* structs) and checked against ref/'s dequantize on hand-built blocks. A code
// pattern that differs per element makes any swapped nibble or bit visible.
#include <gtest/gtest.h>

#include <cstring>

#include "kernel_test_util.h"

namespace st {
namespace {

constexpr uint16_t kOne = 0x3C00, kHalf = 0x3800;  // fp16 1.0 and 0.5

std::vector<float> dequant(TensorType t, const void* block, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  kernel_table(t, Isa::scalar).dequantize_row(block, y.data(), n);
  return y;
}

TEST(Layout, Q4_0_and_Q4_1) {
  BlockQ4_0 b{kOne, {}};
  BlockQ4_1 b1{kOne, kHalf, {}};
  auto code = [](int e) { return (e * 7 + 3) % 16; };
  for (int j = 0; j < 16; ++j) b.qs[j] = b1.qs[j] = static_cast<uint8_t>(code(j) | (code(j + 16) << 4));
  const auto y = dequant(TensorType::Q4_0, &b, 32), y1 = dequant(TensorType::Q4_1, &b1, 32);
  for (int e = 0; e < 32; ++e) {
    EXPECT_EQ(y[e], code(e) - 8) << e;
    EXPECT_EQ(y1[e], code(e) + 0.5f) << e;
  }
}

TEST(Layout, Q5_0_and_Q5_1) {
  BlockQ5_0 b{kHalf, {}, {}};
  BlockQ5_1 b1{kOne, kOne, {}, {}};
  auto code = [](int e) { return (e * 13 + 5) % 32; };
  uint32_t qh = 0;
  for (int e = 0; e < 32; ++e) qh |= static_cast<uint32_t>(code(e) >> 4) << e;
  for (int j = 0; j < 16; ++j) b.qs[j] = b1.qs[j] = static_cast<uint8_t>((code(j) & 15) | ((code(j + 16) & 15) << 4));
  for (int k = 0; k < 4; ++k) b.qh[k] = b1.qh[k] = static_cast<uint8_t>(qh >> (8 * k));  // little-endian u32
  const auto y = dequant(TensorType::Q5_0, &b, 32), y1 = dequant(TensorType::Q5_1, &b1, 32);
  for (int e = 0; e < 32; ++e) {
    EXPECT_EQ(y[e], (code(e) - 16) * 0.5f) << e;
    EXPECT_EQ(y1[e], code(e) + 1.0f) << e;
  }
}

TEST(Layout, Q8_0_and_Q8_K) {
  BlockQ8_0 b{kHalf, {}};
  BlockQ8_K k{};
  k.d = 0.25f;
  for (int e = 0; e < 32; ++e) b.qs[e] = static_cast<int8_t>(e * 7 - 100);
  for (int e = 0; e < 256; ++e) k.qs[e] = static_cast<int8_t>(e - 128);
  const auto y = dequant(TensorType::Q8_0, &b, 32), yk = dequant(TensorType::Q8_K, &k, 256);
  for (int e = 0; e < 32; ++e) EXPECT_EQ(y[e], (e * 7 - 100) * 0.5f);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(yk[e], (e - 128) * 0.25f);
}

// Q4_K/Q5_K scales: bytes 0-3 hold scales 0-3 (low 6 bits) and the top 2 bits of scales 4-7;
// bytes 4-7 the same for mins; bytes 8-11 the low 4 bits of scale (low nibble) and min (high
// nibble) 4-7.
void pack_k_scales(const int* sc, const int* m, uint8_t* out) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

TEST(Layout, Q4_K_and_Q5_K) {
  int sc[8], m[8];
  for (int j = 0; j < 8; ++j) sc[j] = 10 + 7 * j, m[j] = 60 - 7 * j;  // both sides of 16
  BlockQ4_K b{};
  BlockQ5_K b5{};
  b.d = b5.d = kOne;
  b.dmin = b5.dmin = kHalf;
  pack_k_scales(sc, m, b.scales);
  pack_k_scales(sc, m, b5.scales);
  auto code = [](int e) { return (e * 11 + 7) % 32; };
  // Element 32j + l (sub-block j) sits in byte 32*(j/2) + l, low nibble for even j; for Q5_K
  // its 5th bit is bit j of qh[l].
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32, l = e % 32;
    b.qs[32 * (j / 2) + l] = static_cast<uint8_t>(b.qs[32 * (j / 2) + l] | ((code(e) & 15) << (4 * (j % 2))));
    b5.qs[32 * (j / 2) + l] = b.qs[32 * (j / 2) + l];
    b5.qh[l] = static_cast<uint8_t>(b5.qh[l] | ((code(e) >> 4) << j));
  }
  const auto y = dequant(TensorType::Q4_K, &b, 256), y5 = dequant(TensorType::Q5_K, &b5, 256);
  for (int e = 0; e < 256; ++e) {
    const int j = e / 32;
    EXPECT_EQ(y[e], static_cast<float>(sc[j] * (code(e) & 15)) - 0.5f * m[j]) << e;
    EXPECT_EQ(y5[e], static_cast<float>(sc[j] * code(e)) - 0.5f * m[j]) << e;
  }
}

// Q6_K: element 128h + 32k + l: low 4 bits in ql[64h + 32(k%2) + l] (low nibble for k < 2),
// top 2 bits in bits 2k..2k+1 of qh[32h + l]; int8 scale per 16 elements; d last.
TEST(Layout, Q6_K) {
  BlockQ6_K b{};
  b.d = kHalf;
  auto code = [](int e) { return (e * 29 + 3) % 64; };
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(j % 2 ? -3 * j : 5 * j + 1);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    uint8_t& lo = b.ql[64 * h + 32 * (k % 2) + l];
    lo = static_cast<uint8_t>(lo | ((code(e) & 15) << (4 * (k / 2))));
    b.qh[32 * h + l] = static_cast<uint8_t>(b.qh[32 * h + l] | ((code(e) >> 4) << (2 * k)));
  }
  const auto y = dequant(TensorType::Q6_K, &b, 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], 0.5f * b.scales[e / 16] * (code(e) - 32)) << e;
}

}  // namespace
}  // namespace st

namespace st {
namespace {

// The whole-word unpacking of K-quant scales agrees with the per-index one on random bytes.
TEST(Layout, KScalesWordUnpackMatches) {
  std::mt19937 rng(3);
  for (int it = 0; it < 1000; ++it) {
    uint8_t bytes[kKScaleBytes];
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    uint8_t sc[8], m[8];
    unpack_scales_mins_k4(bytes, sc, m);
    for (int j = 0; j < 8; ++j) {
      uint8_t s1, m1;
      unpack_scale_min_k4(j, bytes, &s1, &m1);
      ASSERT_EQ(sc[j], s1);
      ASSERT_EQ(m[j], m1);
    }
  }
}

}  // namespace
}  // namespace st
