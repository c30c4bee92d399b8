// ref/ against its own definition: vec_dot(w, act) must equal the float dot product of
// dequantize(w) and dequantize(act). Q8_1's s is stored in fp16, so for Q4_1/Q5_1 the min
// term may differ by fp16 rounding of s; the bound includes that.
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "kernels/float_convert.h"

namespace st {
namespace {

class RefDot : public ::testing::TestWithParam<TensorType> {};

TEST_P(RefDot, EqualsDotOfDequantized) {
  const TensorType type = GetParam();
  const auto& k = kernel_table(type, Isa::scalar);
  const auto& ak = kernel_table(k.vec_dot_type, Isa::scalar);
  for (int64_t n : {256, 768, 1536 + 256}) {
    for (uint32_t seed = 1; seed <= 4; ++seed) {
      const auto w = test::quantized_rows(type, n, 1, row_bytes(type, n), seed);
      const auto a = test::quantized_rows(k.vec_dot_type, n, 1, row_bytes(k.vec_dot_type, n), seed + 50, 2.0f);
      std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
      k.dequantize_row(w.data(), wf.data(), n);
      ak.dequantize_row(a.data(), af.data(), n);
      double expect = 0;
      for (int64_t i = 0; i < n; ++i) expect += static_cast<double>(wf[i]) * af[i];
      double tol = 1e-5 * test::dot_magnitude(type, w.data(), a.data(), n);
      if (k.vec_dot_type == TensorType::Q8_1) {
        // |m * s| * 2^-11 per block: s = d * sum(q) rounded to fp16.
        const auto* ab = reinterpret_cast<const BlockQ8_1*>(a.data());
        std::vector<float> offs(static_cast<size_t>(n));
        const auto z = test::zero_codes(type, w.data(), n);
        k.dequantize_row(z.data(), offs.data(), n);
        for (int64_t b = 0; b < n / kQK; ++b)
          tol += std::fabs(offs[static_cast<size_t>(b * kQK)] * fp16_to_fp32(ab[b].s)) * 0x1p-11;
      }
      EXPECT_NEAR(k.vec_dot(n, w.data(), a.data()), expect, tol) << "n=" << n << " seed " << seed;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, RefDot, ::testing::ValuesIn(test::weight_types()),
                         [](const auto& p) { return std::string(tensor_type_name(p.param)); });

}  // namespace
}  // namespace st
