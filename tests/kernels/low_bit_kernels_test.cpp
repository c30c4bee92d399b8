// Q2_K, Q3_K, IQ4_NL and IQ4_XS kernels at their extremes. The SIMD kernels sum products in
// int16 lanes before widening (maddubs pairs: Q3_K 2 x 7 x 128, IQ4 2 x 127 x 127 through the
// sign trick), so every code at its largest or smallest, the scales at both ends, against
// activations of +-1 (quantized to +-127) in sign patterns that make block sums as large as
// they can be, must still give ref/'s result on every ISA, for vec_dot, gemv and the gemm tile
// (3, 8 and 11 tokens: the AVX2 and VNNI tiles and their tails).
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>

#include "kernel_test_util.h"

namespace st {
namespace {

constexpr int64_t kRows = 12, kCols = 512, kMaxTok = 11;
constexpr uint16_t kOne = 0x3C00;  // fp16 1.0

// Rows of `type` whose block bytes come from fill(block pointer, row, block index).
std::vector<uint8_t> extreme_rows(TensorType type, const std::function<void(uint8_t*, int64_t, int64_t)>& fill) {
  const size_t rb = row_bytes(type, kCols), bb = tensor_type_info(type).block_bytes;
  std::vector<uint8_t> rows(rb * kRows);
  for (int64_t r = 0; r < kRows; ++r)
    for (size_t b = 0; b < rb / bb; ++b) fill(rows.data() + static_cast<size_t>(r) * rb + b * bb, r, static_cast<int64_t>(b));
  return rows;
}

// A code byte per row: all ones, all zeros, alternating bits by nibble, by half, or by byte.
uint8_t code_byte(int64_t r, size_t i) {
  switch (r % 5) {
    case 0: return 0xFF;
    case 1: return 0x00;
    case 2: return 0xF0;
    case 3: return i % 2 ? 0xFF : 0x00;
    default: return i < 16 ? 0xFF : 0x0F;
  }
}

std::vector<float> sign_activations() {
  std::vector<float> x(static_cast<size_t>(kMaxTok * kCols));
  for (int64_t t = 0; t < kMaxTok; ++t)
    for (int64_t j = 0; j < kCols; ++j) {
      const bool sign[] = {true, false, j % 2 == 1, j % 32 < 16, (j / 16) % 2 == 1, (j / 8) % 3 == 0};
      x[static_cast<size_t>(t * kCols + j)] = sign[t % 6] ? 1.0f : -1.0f;
    }
  return x;
}

void expect_every_isa_matches_ref(TensorType type, const std::vector<uint8_t>& w) {
  const auto& ref = kernel_table(type, Isa::scalar);
  const TensorType at = ref.vec_dot_type;
  const size_t wrb = row_bytes(type, kCols), arb = row_bytes(at, kCols);
  const auto x = sign_activations();
  std::vector<uint8_t> act(arb * kMaxTok);
  for (int64_t t = 0; t < kMaxTok; ++t)
    kernel_table(at, Isa::scalar).quantize_row(x.data() + t * kCols, act.data() + static_cast<size_t>(t) * arb, kCols);
  auto wrow = [&](int64_t r) { return w.data() + static_cast<size_t>(r) * wrb; };
  auto arow = [&](int64_t t) { return act.data() + static_cast<size_t>(t) * arb; };
  auto check = [&](float got, int64_t r, int64_t t, const std::string& what) {
    const float want = ref.vec_dot(kCols, wrow(r), arow(t));
    const double tol = 1e-5 * test::dot_magnitude(type, wrow(r), arow(t), kCols) + 1e-6;
    ASSERT_NEAR(got, want, tol) << what << " row " << r << " token " << t;
  };
  for (Isa isa : available_isas()) {
    const auto& k = kernel_table(type, isa);
    const std::string name = test::type_isa_name(type, isa);
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t t = 0; t < kMaxTok; ++t) check(k.vec_dot(kCols, wrow(r), arow(t)), r, t, name + " vec_dot");
    std::vector<float> y(kRows);
    k.gemv(kCols, w.data(), wrb, kRows, arow(4), y.data());
    for (int64_t r = 0; r < kRows; ++r) check(y[static_cast<size_t>(r)], r, 4, name + " gemv");
    for (int64_t n_tok : {3, 8, 11}) {
      std::vector<float> yy(static_cast<size_t>(kRows * n_tok));
      k.gemm(kCols, w.data(), wrb, kRows, act.data(), arb, n_tok, yy.data(), kRows);
      for (int64_t t = 0; t < n_tok; ++t)
        for (int64_t r = 0; r < kRows; ++r) check(yy[static_cast<size_t>(t * kRows + r)], r, t, name + " gemm");
    }
  }
}

TEST(LowBitKernels, Q3KExtremeCodes) {
  const auto w = extreme_rows(TensorType::Q3_K, [](uint8_t* p, int64_t r, int64_t b) {
    auto* blk = reinterpret_cast<BlockQ3_K*>(p);
    blk->d = kOne;
    // Scales 31 (bytes 0xFF), -32 (0x00), or mixed per super-block.
    std::memset(blk->scales, r % 3 == 0 ? 0xFF : r % 3 == 1 ? 0x00 : (b % 2 ? 0xFF : 0x00), sizeof blk->scales);
    for (size_t i = 0; i < sizeof blk->qs; ++i) blk->qs[i] = code_byte(r, i);
    for (size_t i = 0; i < sizeof blk->hmask; ++i) blk->hmask[i] = code_byte(r + b, i);
  });
  expect_every_isa_matches_ref(TensorType::Q3_K, w);
}

TEST(LowBitKernels, Q2KExtremeCodes) {
  const auto w = extreme_rows(TensorType::Q2_K, [](uint8_t* p, int64_t r, int64_t b) {
    auto* blk = reinterpret_cast<BlockQ2_K*>(p);
    blk->d = blk->dmin = kOne;
    std::memset(blk->scales, r % 3 == 0 ? 0xFF : r % 3 == 1 ? 0x0F : (b % 2 ? 0xF0 : 0xFF), sizeof blk->scales);
    for (size_t i = 0; i < sizeof blk->qs; ++i) blk->qs[i] = code_byte(r, i);
  });
  expect_every_isa_matches_ref(TensorType::Q2_K, w);
}

TEST(LowBitKernels, IQ4NLExtremeCodes) {
  // Nibble 0 is the grid's -127, nibble 15 its 113.
  const auto w = extreme_rows(TensorType::IQ4_NL, [](uint8_t* p, int64_t r, int64_t) {
    auto* blk = reinterpret_cast<BlockIQ4_NL*>(p);
    blk->d = kOne;
    for (size_t i = 0; i < sizeof blk->qs; ++i) blk->qs[i] = code_byte(r, i);
  });
  expect_every_isa_matches_ref(TensorType::IQ4_NL, w);
}

TEST(LowBitKernels, IQ4XSExtremeCodes) {
  const auto w = extreme_rows(TensorType::IQ4_XS, [](uint8_t* p, int64_t r, int64_t b) {
    auto* blk = reinterpret_cast<BlockIQ4_XS*>(p);
    blk->d = kOne;
    const bool high = r % 3 == 0 || (r % 3 == 2 && b % 2);  // scales 31, or -32
    blk->scales_h = high ? 0xFFFF : 0x0000;
    std::memset(blk->scales_l, high ? 0xFF : 0x00, sizeof blk->scales_l);
    for (size_t i = 0; i < sizeof blk->qs; ++i) blk->qs[i] = code_byte(r, i);
  });
  expect_every_isa_matches_ref(TensorType::IQ4_XS, w);
}

// The SIMD kernels' whole-word scale unpackers agree with the per-scale definitions on every
// bit pattern (random bytes: each scale bit is set and clear many times).
TEST(LowBitKernels, ScaleUnpackersAgree) {
  std::mt19937 rng(8);
  for (int trial = 0; trial < 2000; ++trial) {
    uint8_t b[16];
    for (auto& v : b) v = static_cast<uint8_t>(rng());
    int8_t q3[16], iq[8];
    unpack_scales_q3_k(b, q3);
    for (int j = 0; j < 16; ++j) ASSERT_EQ(q3[j], q3_k_scale(b, j)) << "q3_k scale " << j;
    unpack_scales_iq4_xs(b, iq);
    for (int j = 0; j < 8; ++j) ASSERT_EQ(iq[j], iq4_xs_scale(b, j)) << "iq4_xs scale " << j;
  }
}

// Hand-made blocks against the format's definition, independent of ref/'s code: Q3_K with
// every code 7 under hmask bit set (value 3) and scale byte patterns giving known scales.
TEST(LowBitKernels, Q3KKnownBlock) {
  BlockQ3_K b{};
  b.d = kOne;
  std::memset(b.hmask, 0xFF, sizeof b.hmask);  // third bit set: code = low bits + 4
  for (int l = 0; l < 64; ++l) b.qs[l] = 0xE4;   // quarters k = 0..3 get low bits 0, 1, 2, 3
  // sc[j] = 33 + j for j < 8 and 40 - (j - 8) for j >= 8 (6-bit: low nibbles, top 2 bits).
  int sc[16];
  for (int j = 0; j < 16; ++j) sc[j] = j < 8 ? 33 + j : 40 - (j - 8);
  for (int j = 0; j < 16; ++j) {
    b.scales[j % 8] = static_cast<uint8_t>(b.scales[j % 8] | ((sc[j] & 0xF) << (4 * (j / 8))));
    b.scales[8 + j % 4] = static_cast<uint8_t>(b.scales[8 + j % 4] | ((sc[j] >> 4) << (2 * (j / 4))));
  }
  std::vector<float> y(256);
  kernel_table(TensorType::Q3_K, Isa::scalar).dequantize_row(&b, y.data(), 256);
  for (int e = 0; e < 256; ++e) {
    const int q = (e % 128) / 32;  // low bits = quarter, third bit set: value q + 4 - 4
    ASSERT_EQ(y[static_cast<size_t>(e)], static_cast<float>((sc[e / 16] - 32) * q)) << "element " << e;
  }
}

}  // namespace
}  // namespace st
