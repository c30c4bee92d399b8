// ops::exp_shifted (the softmax's vectorizable exp) against double-precision exp.
#include "kernels/ops/fast_exp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace st::ops {
namespace {

TEST(FastExp, WithinAFewUlpOfExpOverTheSoftmaxRange) {
  std::vector<float> x;
  for (float v = -87.0f; v <= 0.0f; v += 0.00037f) x.push_back(v);
  x.push_back(0.0f);
  std::vector<float> y(x.size());
  exp_shifted(x.data(), 0.0f, y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(static_cast<double>(x[i]));
    ASSERT_NEAR(y[i], want, 3e-7 * want) << "exp(" << x[i] << ")";
  }
  EXPECT_EQ(y.back(), 1.0f);
}

TEST(FastExp, ShiftsInPlaceAndFlushesFarBelowTheRange) {
  std::vector<float> x{5.0f, 4.0f, -100.0f, -1e6f, 3.5f};
  exp_shifted(x.data(), 5.0f, x.data(), static_cast<int64_t>(x.size()));
  EXPECT_FLOAT_EQ(x[0], 1.0f);
  EXPECT_NEAR(x[1], std::exp(-1.0), 1e-7);
  EXPECT_GE(x[2], 0.0f);
  EXPECT_LT(x[2], 1e-37f);
  EXPECT_GE(x[3], 0.0f);
  EXPECT_LT(x[3], 1e-37f);
  EXPECT_NEAR(x[4], std::exp(-1.5), 1e-7);
}

}  // namespace
}  // namespace st::ops
