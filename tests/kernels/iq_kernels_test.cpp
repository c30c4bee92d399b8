// The grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) have no quantizer in
// this engine yet, so their rows here are random block bytes with finite fp16 scales, plus the
// two extreme blocks (every code bit set, none set). Checks: the dot product with Q8_K equals
// the double-precision dot of both dequantized rows (a rounding-sized tolerance), on row sizes
// of odd multiples of 256; gemv/gemm of every ISA equal their scalar twin's vec_dot; and the
// dispatch registers each type as a weight type with Q8_K activations. Bit-exact dequantization
// against the numpy oracle is tests/reference/test_dequant.py's job.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/float_convert.h"

namespace st {
namespace {

using T = TensorType;
const T kIqTypes[] = {T::IQ2_XXS, T::IQ2_XS, T::IQ2_S, T::IQ3_XXS, T::IQ3_S, T::IQ1_S, T::IQ1_M};

// Puts a finite fp16 scale where the block keeps it: the first two bytes, or for IQ1_M the top
// nibbles of its four scale words (bytes 48..55).
void set_scale(T type, uint8_t* block, uint16_t h) {
  if (type != T::IQ1_M) {
    std::memcpy(block, &h, 2);
    return;
  }
  for (int k = 0; k < 4; ++k) {
    uint8_t& hi = block[48 + 2 * k + 1];
    hi = static_cast<uint8_t>((hi & 0x0F) | (((h >> (4 * k)) & 0xF) << 4));
  }
}

std::vector<uint8_t> random_iq_row(T type, int64_t n, uint32_t seed, bool extremes) {
  const auto& info = tensor_type_info(type);
  std::vector<uint8_t> row(row_bytes(type, n));
  std::mt19937 rng(seed);
  for (auto& b : row) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> mag(-3.f, 1.f);
  const int64_t nb = n / info.block_size;
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* p = row.data() + static_cast<size_t>(b) * info.block_bytes;
    if (extremes && b < 2) std::memset(p, b == 0 ? 0xFF : 0x00, info.block_bytes);
    const float d = std::pow(10.f, mag(rng)) * (rng() & 1 ? -1.f : 1.f);
    set_scale(type, p, fp32_to_fp16(d));
  }
  return row;
}

std::vector<uint8_t> q8k_row(int64_t n, uint32_t seed) {
  const auto x = test::gaussian(n, seed, 2.0f);
  std::vector<uint8_t> a(row_bytes(T::Q8_K, n));
  kernel_table(T::Q8_K, Isa::scalar).quantize_row(x.data(), a.data(), n);
  return a;
}

std::string name_of(const ::testing::TestParamInfo<T>& p) { return std::string(tensor_type_name(p.param)); }

class IqKernels : public ::testing::TestWithParam<T> {};

TEST_P(IqKernels, RegisteredAsWeightType) {
  EXPECT_TRUE(kernels_supported(GetParam()));
  EXPECT_TRUE(weight_type_supported(GetParam()));
  for (Isa isa : available_isas()) {
    const auto& k = kernel_table(GetParam(), isa);
    EXPECT_EQ(k.vec_dot_type, T::Q8_K);
    EXPECT_TRUE(k.dequantize_row && k.vec_dot && k.gemv && k.gemm) << isa_name(isa);
  }
}

TEST_P(IqKernels, DotEqualsDotOfDequantized) {
  const T type = GetParam();
  const auto& k = kernel_table(type, Isa::scalar);
  const auto& ak = kernel_table(T::Q8_K, Isa::scalar);
  for (int64_t n : {256, 768, 2304}) {
    for (uint32_t seed = 1; seed <= 4; ++seed) {
      const auto w = random_iq_row(type, n, seed * 31 + static_cast<uint32_t>(n), seed == 1);
      const auto a = q8k_row(n, seed + 500);
      std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
      k.dequantize_row(w.data(), wf.data(), n);
      ak.dequantize_row(a.data(), af.data(), n);
      double expect = 0, magnitude = 0;
      for (int64_t i = 0; i < n; ++i) {
        expect += static_cast<double>(wf[i]) * af[i];
        magnitude += std::fabs(static_cast<double>(wf[i]) * af[i]);
      }
      EXPECT_NEAR(k.vec_dot(n, w.data(), a.data()), expect, 1e-5 * magnitude) << "n=" << n << " seed " << seed;
    }
  }
}

// Every ISA's gemv and gemm against the scalar vec_dot, on 5 rows x 3 tokens of 768 elements.
TEST_P(IqKernels, GemvGemmMatchScalarTwin) {
  const T type = GetParam();
  constexpr int64_t n = 768, rows = 5, toks = 3;
  const size_t wrb = row_bytes(type, n), arb = row_bytes(T::Q8_K, n);
  std::vector<uint8_t> w, a;
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = random_iq_row(type, n, 900 + static_cast<uint32_t>(r), r == 0);
    w.insert(w.end(), row.begin(), row.end());
  }
  for (int64_t t = 0; t < toks; ++t) {
    const auto row = q8k_row(n, 77 + static_cast<uint32_t>(t));
    a.insert(a.end(), row.begin(), row.end());
  }
  const auto& ref = kernel_table(type, Isa::scalar);
  for (Isa isa : available_isas()) {
    const auto& k = kernel_table(type, isa);
    std::vector<float> y(static_cast<size_t>(rows)), yg(static_cast<size_t>(rows * toks));
    k.gemv(n, w.data(), wrb, rows, a.data(), y.data());
    k.gemm(n, w.data(), wrb, rows, a.data(), arb, toks, yg.data(), rows);
    for (int64_t r = 0; r < rows; ++r) {
      const float want0 = ref.vec_dot(n, w.data() + r * wrb, a.data());
      EXPECT_NEAR(y[r], want0, 1e-4f * (1.f + std::fabs(want0))) << isa_name(isa) << " gemv row " << r;
      for (int64_t t = 0; t < toks; ++t) {
        const float want = ref.vec_dot(n, w.data() + r * wrb, a.data() + t * arb);
        EXPECT_NEAR(yg[t * rows + r], want, 1e-4f * (1.f + std::fabs(want)))
            << isa_name(isa) << " gemm " << r << "," << t;
      }
    }
  }
}

// Each ISA's vec_dot against the scalar twin on odd row sizes, extreme blocks included.
TEST_P(IqKernels, VecDotMatchesScalarTwin) {
  const T type = GetParam();
  const auto& ref = kernel_table(type, Isa::scalar);
  for (Isa isa : available_isas()) {
    const auto& k = kernel_table(type, isa);
    for (int64_t n : {256, 1280, 2304}) {
      for (uint32_t seed = 1; seed <= 3; ++seed) {
        const auto w = random_iq_row(type, n, seed * 7 + 1000, seed == 1);
        const auto a = q8k_row(n, seed + 2000);
        const float want = ref.vec_dot(n, w.data(), a.data());
        EXPECT_NEAR(k.vec_dot(n, w.data(), a.data()), want, 1e-5f * (1.f + std::fabs(want)))
            << isa_name(isa) << " n=" << n << " seed " << seed;
      }
    }
  }
}

// IQ2_XS and IQ3_S have AVX2 kernels of their own (avx2/iq_grid.cpp), so the checks above compare
// two implementations there; make sure the table really holds them.
TEST(IqKernelsDispatch, Avx2KernelsRegistered) {
  for (Isa isa : available_isas()) {
    if (isa != Isa::avx2 && isa != Isa::avx512) continue;
    for (T t : {T::IQ2_XS, T::IQ3_S})
      EXPECT_NE(kernel_table(t, isa).vec_dot, kernel_table(t, Isa::scalar).vec_dot) << tensor_type_name(t);
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, IqKernels, ::testing::ValuesIn(kIqTypes), name_of);

}  // namespace
}  // namespace st
