// Quantization quality and special values. Round-trip error on Gaussian data is held to
// ggml-like levels (relative RMSE = rms(x - dequant(quant(x))) / rms(x)), and the
// documented policies for zeros, huge values and NaN/inf are checked for every type.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kernel_test_util.h"

namespace st {
namespace {

double relative_rmse(TensorType type, const std::vector<float>& x) {
  const auto& k = kernel_table(type, Isa::scalar);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(row_bytes(type, n));
  std::vector<float> y(x.size());
  k.quantize_row(x.data(), q.data(), n);
  k.dequantize_row(q.data(), y.data(), n);
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

struct RmseBound {
  TensorType type;
  double max_rel_rmse;
};

class QuantizeQuality : public ::testing::TestWithParam<RmseBound> {};

TEST_P(QuantizeQuality, GaussianRoundTrip) {
  const auto [type, bound] = GetParam();
  const auto x = test::gaussian(256 * 64, 42);
  const double e = relative_rmse(type, x);
  RecordProperty("rel_rmse", std::to_string(e));
  std::printf("  %-5s relative RMSE %.5f (bound %.5f)\n", std::string(tensor_type_name(type)).c_str(), e, bound);
  EXPECT_LT(e, bound);
  // Scale invariance: the same data scaled quantizes equally well (down to where the fp16
  // scales of the finer types turn subnormal).
  for (float s : {0.1f, 1e3f}) {
    auto xs = x;
    for (auto& v : xs) v *= s;
    EXPECT_LT(relative_rmse(type, xs), bound * 1.01) << "scale " << s;
  }
}

// Bounds: measured values (quantize_test prints them) plus ~10% slack.
INSTANTIATE_TEST_SUITE_P(Kernels, QuantizeQuality,
                         ::testing::Values(RmseBound{TensorType::F16, 2.4e-4}, RmseBound{TensorType::BF16, 1.9e-3},
                                           RmseBound{TensorType::Q8_0, 5.9e-3}, RmseBound{TensorType::Q8_1, 5.9e-3},
                                           RmseBound{TensorType::Q8_K, 7.5e-3}, RmseBound{TensorType::Q4_0, 0.095},
                                           RmseBound{TensorType::Q4_1, 0.086}, RmseBound{TensorType::Q5_0, 0.047},
                                           RmseBound{TensorType::Q5_1, 0.042}, RmseBound{TensorType::Q4_K, 0.078},
                                           RmseBound{TensorType::Q5_K, 0.04}, RmseBound{TensorType::Q6_K, 0.0195},
                                           RmseBound{TensorType::Q2_K, 0.313}, RmseBound{TensorType::Q3_K, 0.168},
                                           RmseBound{TensorType::IQ4_NL, 0.084}, RmseBound{TensorType::IQ4_XS, 0.085}),
                         [](const auto& p) { return std::string(tensor_type_name(p.param.type)); });

class QuantizeSpecial : public ::testing::TestWithParam<TensorType> {};

std::vector<float> round_trip(TensorType type, const std::vector<float>& x) {
  const auto& k = kernel_table(type, Isa::scalar);
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(row_bytes(type, n));
  std::vector<float> y(x.size());
  k.quantize_row(x.data(), q.data(), n);
  k.dequantize_row(q.data(), y.data(), n);
  return y;
}

int64_t block_of(TensorType type) { return std::max<int64_t>(tensor_type_info(type).block_size, 32); }

TEST_P(QuantizeSpecial, ZerosStayExactZeros) {
  const TensorType type = GetParam();
  const std::vector<float> x(static_cast<size_t>(2 * block_of(type)), 0.f);
  for (float v : round_trip(type, x)) ASSERT_EQ(v, 0.f);
}

// A block whose values are all one constant (no spread) round-trips closely. (Very small
// constants are not expected to: fp16 scales go subnormal below ~6e-5 * qmax.)
TEST_P(QuantizeSpecial, ConstantBlock) {
  const TensorType type = GetParam();
  for (float c : {1.0f, -3.5f, 0.05f}) {
    const std::vector<float> x(static_cast<size_t>(block_of(type)), c);
    for (float v : round_trip(type, x)) ASSERT_NEAR(v, c, std::fabs(c) * 0.07f) << c;
  }
}

// Large but representable values keep their relative accuracy (fp16 scales reach 65504 *
// qmax); beyond that the fp16 scale overflows to inf, so the block is non-finite, not wrong.
TEST_P(QuantizeSpecial, HugeValues) {
  const TensorType type = GetParam();
  auto x = test::gaussian(block_of(type), 9);
  for (auto& v : x) v *= 1e3f;
  const auto y = round_trip(type, x);
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  // 2 and 3 bits per weight cannot reach 0.15 on Gaussian data (QuantizeQuality's bounds).
  const double bound = type == TensorType::Q2_K ? 0.35 : type == TensorType::Q3_K ? 0.2 : 0.15;
  EXPECT_LT(std::sqrt(err / ref), bound);
  if (type == TensorType::F32 || type == TensorType::BF16 || type == TensorType::Q8_K) return;  // float range
  std::vector<float> big(x.size(), 0.f);
  big[3] = 1e12f;
  const auto yb = round_trip(type, big);
  EXPECT_FALSE(std::isfinite(yb[3])) << "overflowing scale must not give a finite wrong value";
}

// NaN or inf anywhere in a block makes that block's dequantized values non-finite (NaN for
// quantized types) and leaves other blocks intact.
TEST_P(QuantizeSpecial, NonFinitePoisonsOnlyItsBlock) {
  const TensorType type = GetParam();
  const int64_t bs = block_of(type);
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    auto x = test::gaussian(2 * bs, 4);
    x[5] = bad;
    const auto y = round_trip(type, x);
    const bool float_type = tensor_type_info(type).block_size == 1;
    if (float_type) {
      EXPECT_EQ(std::isnan(y[5]), std::isnan(bad));
      EXPECT_EQ(std::isinf(y[5]), std::isinf(bad));
    } else {
      for (int64_t i = 0; i < bs; ++i) ASSERT_TRUE(std::isnan(y[i])) << i;
    }
    for (int64_t i = bs; i < 2 * bs; ++i) ASSERT_TRUE(std::isfinite(y[i])) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, QuantizeSpecial, ::testing::ValuesIn(test::all_types()),
                         [](const auto& p) { return std::string(tensor_type_name(p.param)); });

}  // namespace
}  // namespace st
