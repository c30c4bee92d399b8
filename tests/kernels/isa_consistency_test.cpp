// Every ISA's kernels against ref/: dequantize and quantize bit-exact, vec_dot / gemv / gemm
// within float rounding (1e-5 of the sum of |products|, offsets included). Odd sizes make
// sure tails and partial tiles are covered.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernel_test_util.h"
#include "kernels/row_groups.h"

namespace st {
namespace {

using test::dot_magnitude;

struct Case {
  TensorType type;
  Isa isa;
};

std::vector<Case> all_cases(const std::vector<TensorType>& types) {
  std::vector<Case> out;
  for (Isa isa : available_isas())
    for (TensorType t : types) out.push_back({t, isa});
  return out;
}

std::vector<int64_t> test_lengths(TensorType t) {
  const int64_t bs = tensor_type_info(t).block_size;
  const int64_t blk = bs == 1 ? 32 : bs;  // float types: still exercise 8/16-wide tails
  std::vector<int64_t> n{blk, 3 * blk, 1536 + blk};
  if (bs == 1) n.insert(n.end(), {1, 7, 37});
  return n;
}

class AllTypes : public ::testing::TestWithParam<Case> {};
class WeightTypes : public ::testing::TestWithParam<Case> {};

TEST_P(AllTypes, DequantizeIsBitExact) {
  const auto [type, isa] = GetParam();
  const auto& ref = kernel_table(type, Isa::scalar);
  const auto& simd = kernel_table(type, isa);
  for (int64_t n : test_lengths(type)) {
    // Realistic blocks, plus blocks of random bytes (any code pattern a file might hold;
    // scale fields kept finite so equality is meaningful).
    auto data = test::quantized_rows(type, n, 2, row_bytes(type, n), 11);
    std::mt19937 rng(5);
    const size_t rb = row_bytes(type, n);
    for (size_t i = rb; i < 2 * rb; ++i) data[i] = static_cast<uint8_t>(rng());
    const auto [off, len] = test::scale_field(type);
    const size_t bb = tensor_type_info(type).block_bytes;
    for (size_t b = 0; len > 0 && b < rb / bb; ++b)
      std::memcpy(data.data() + rb + b * bb + off, data.data() + b * bb + off, len);
    if (type == TensorType::F16 || type == TensorType::BF16)
      for (size_t i = rb + 1; i < 2 * rb; i += 2) data[i] &= 0x3f;  // finite, mixed magnitudes
    for (int r = 0; r < 2; ++r) {
      std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
      ref.dequantize_row(data.data() + r * rb, a.data(), n);
      simd.dequantize_row(data.data() + r * rb, b.data(), n);
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << "n=" << n << " row " << r;
    }
  }
}

TEST_P(AllTypes, QuantizeMatchesRef) {
  const auto [type, isa] = GetParam();
  const auto& ref = kernel_table(type, Isa::scalar);
  const auto& simd = kernel_table(type, isa);
  if (!ref.quantize_row) GTEST_SKIP();
  for (int64_t n : test_lengths(type)) {
    auto x = test::gaussian(n, 3, 2.5f);
    x[0] = 0;  // exact zero and a block of zeros
    if (n >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.f);
    std::vector<uint8_t> a(row_bytes(type, n)), b(row_bytes(type, n));
    ref.quantize_row(x.data(), a.data(), n);
    simd.quantize_row(x.data(), b.data(), n);
    ASSERT_EQ(a, b) << "n=" << n;
  }
}

TEST_P(WeightTypes, VecDotGemvGemmMatchRef) {
  const auto [type, isa] = GetParam();
  const auto& ref = kernel_table(type, Isa::scalar);
  const auto& simd = kernel_table(type, isa);
  const TensorType at = ref.vec_dot_type;
  for (int64_t n : test_lengths(type)) {
    const size_t wrb = row_bytes(type, n) + 4;  // padded strides: kernels must honour them
    const size_t arb = row_bytes(at, n) + 4;
    constexpr int64_t kMaxRows = 17, kMaxTok = 17;
    const auto w = test::quantized_rows(type, n, kMaxRows, wrb, 100 + static_cast<uint32_t>(n));
    const auto act = test::quantized_rows(at, n, kMaxTok, arb, 200 + static_cast<uint32_t>(n), 3.0f);
    auto wrow = [&](int64_t r) { return w.data() + static_cast<size_t>(r) * wrb; };
    auto arow = [&](int64_t t) { return act.data() + static_cast<size_t>(t) * arb; };
    std::vector<double> mag(kMaxRows * kMaxTok);
    std::vector<float> expect(kMaxRows * kMaxTok);
    for (int64_t t = 0; t < kMaxTok; ++t)
      for (int64_t r = 0; r < kMaxRows; ++r) {
        mag[t * kMaxRows + r] = dot_magnitude(type, wrow(r), arow(t), n);
        expect[t * kMaxRows + r] = ref.vec_dot(n, wrow(r), arow(t));
      }
    auto check = [&](float got, int64_t r, int64_t t, const char* what) {
      const double tol = 1e-5 * mag[t * kMaxRows + r] + 1e-30;
      ASSERT_NEAR(got, expect[t * kMaxRows + r], tol) << what << " n=" << n << " row " << r << " tok " << t;
    };
    for (int64_t r = 0; r < kMaxRows; ++r) check(simd.vec_dot(n, wrow(r), arow(0)), r, 0, "vec_dot");
    for (int64_t rows : {1, 3, 7, 17}) {
      std::vector<float> y(static_cast<size_t>(rows) + 1, -7.f);
      simd.gemv(n, w.data(), wrb, rows, arow(2), y.data());
      for (int64_t r = 0; r < rows; ++r) check(y[r], r, 2, "gemv");
      ASSERT_EQ(y[rows], -7.f) << "gemv wrote past n_rows";
      for (int64_t toks : {1, 3, 7, 17}) {
        const int64_t ldy = rows + 3;
        std::vector<float> yy(static_cast<size_t>(ldy * toks), -7.f);
        simd.gemm(n, w.data(), wrb, rows, act.data(), arb, toks, yy.data(), ldy);
        for (int64_t t = 0; t < toks; ++t) {
          for (int64_t r = 0; r < rows; ++r) check(yy[t * ldy + r], r, t, "gemm");
          for (int64_t r = rows; r < ldy; ++r) ASSERT_EQ(yy[t * ldy + r], -7.f) << "gemm wrote outside its rows";
        }
      }
    }
  }
}

// The float types sum in one order whatever the batch: token t of a gemm, a gemv on t alone
// and vec_dot give the same bits (a prompt's last token evaluated again alone, as the
// server's prefix cache does, must reproduce the batch's logits; a seeded reply depends on it).
class FloatWeights : public ::testing::TestWithParam<Case> {};

TEST_P(FloatWeights, GemmTokensEqualGemvBitForBit) {
  const auto [type, isa] = GetParam();
  const auto& k = kernel_table(type, isa);
  for (int64_t n : test_lengths(type)) {
    const size_t wrb = row_bytes(type, n), arb = row_bytes(k.vec_dot_type, n);
    constexpr int64_t kRows = 11, kTok = 5;
    const auto w = test::quantized_rows(type, n, kRows, wrb, 300 + static_cast<uint32_t>(n));
    const auto act = test::quantized_rows(k.vec_dot_type, n, kTok, arb, 301 + static_cast<uint32_t>(n), 3.0f);
    std::vector<float> batch(static_cast<size_t>(kRows * kTok)), one(kRows);
    k.gemm(n, w.data(), wrb, kRows, act.data(), arb, kTok, batch.data(), kRows);
    for (int64_t t = 0; t < kTok; ++t) {
      const uint8_t* a = act.data() + static_cast<size_t>(t) * arb;
      k.gemv(n, w.data(), wrb, kRows, a, one.data());
      for (int64_t r = 0; r < kRows; ++r) {
        ASSERT_EQ(batch[static_cast<size_t>(t * kRows + r)], one[static_cast<size_t>(r)]) << "n=" << n << " row " << r << " tok " << t;
        ASSERT_EQ(k.vec_dot(n, w.data() + static_cast<size_t>(r) * wrb, a), one[static_cast<size_t>(r)]) << "vec_dot n=" << n;
      }
    }
  }
}

// The row-group kernels (kernels/row_groups.h) of every ISA that has one for the type, on
// rows packed by the plain packer, against ref/'s vec_dot on the file rows: two groups, token
// counts around the kernels' passes, padded activation strides.
TEST_P(WeightTypes, GemmGroupsMatchRef) {
  const auto [type, isa] = GetParam();
  const auto& ref = kernel_table(type, Isa::scalar);
  const auto& simd = kernel_table(type, isa);
  if (!simd.gemm_groups) GTEST_SKIP() << "no row-group kernel";
  const TensorType at = ref.vec_dot_type;
  for (int64_t n : test_lengths(type)) {
    constexpr int64_t kRows = 32, kMaxTok = 5;
    const size_t wrb = row_bytes(type, n), arb = row_bytes(at, n) + 4;
    const auto w = test::quantized_rows(type, n, kRows, wrb, 400 + static_cast<uint32_t>(n));
    std::vector<uint8_t> packed(w.size());
    pack_row_groups_ref(type, w.data(), kRows, n, packed.data());
    const auto act = test::quantized_rows(at, n, kMaxTok, arb, 500 + static_cast<uint32_t>(n), 3.0f);
    std::vector<int32_t> sums(static_cast<size_t>(kMaxTok * (n / 32)));
    if (at == TensorType::Q8_0)
      for (int64_t t = 0; t < kMaxTok; ++t) q8_0_block_sums(act.data() + t * arb, n, sums.data() + t * (n / 32));
    for (int64_t toks = 1; toks <= kMaxTok; ++toks) {
      const int64_t ldy = kRows + 3;
      std::vector<float> y(static_cast<size_t>(ldy * toks), -7.f);
      simd.gemm_groups(n, packed.data(), wrb, kRows, act.data(), arb, sums.data(), toks, y.data(), ldy);
      for (int64_t t = 0; t < toks; ++t) {
        for (int64_t r = 0; r < kRows; ++r) {
          const uint8_t* wr = w.data() + static_cast<size_t>(r) * wrb;
          const uint8_t* ar = act.data() + static_cast<size_t>(t) * arb;
          ASSERT_NEAR(y[t * ldy + r], ref.vec_dot(n, wr, ar), 1e-5 * dot_magnitude(type, wr, ar, n) + 1e-30)
              << "gemm_groups n=" << n << " row " << r << " tok " << t << " of " << toks;
        }
        for (int64_t r = kRows; r < ldy; ++r) ASSERT_EQ(y[t * ldy + r], -7.f) << "gemm_groups wrote outside its rows";
      }
    }
  }
}

class FloatTypes : public ::testing::TestWithParam<Case> {};

// Attention's loops over K/V rows (DotRowsFn, AxpyRowsFn): every ISA against ref/ for
// row lengths with and without vector tails (block types: odd and even counts of 32-blocks,
// the head sizes they allow), row counts that leave partial tiles, and padded strides that
// the kernels must honour (nothing written outside the rows asked for).
TEST_P(FloatTypes, DotRowsAndAxpyRowsMatchRef) {
  const auto [type, isa] = GetParam();
  const auto& ref = kernel_table(type, Isa::scalar);
  const auto& simd = kernel_table(type, isa);
  ASSERT_NE(simd.dot_rows, nullptr);
  ASSERT_NE(simd.axpy_rows, nullptr);
  const bool blocks = tensor_type_info(type).block_size > 1;
  for (int64_t n : blocks ? std::vector<int64_t>{32, 96, 128, 160} : std::vector<int64_t>{1, 7, 8, 33, 64, 128, 131}) {
    const size_t wrb = row_bytes(type, n) + 8;  // padded, keeping F32 rows 4-byte aligned (the contract)
    constexpr int64_t kRows = 19;
    const auto w = test::quantized_rows(type, n, kRows, wrb, 300 + static_cast<uint32_t>(n));
    std::vector<float> wf(static_cast<size_t>(kRows * n));  // for the tolerances
    for (int64_t j = 0; j < kRows; ++j) ref.dequantize_row(w.data() + static_cast<size_t>(j) * wrb, wf.data() + j * n, n);
    auto wv = [&](int64_t j, int64_t i) { return static_cast<double>(wf[static_cast<size_t>(j * n + i)]); };
    for (int64_t n_x : {1, 2, 6, 7, 8, 13}) {
      const int64_t ldx = n + 3;
      const auto x = test::gaussian(ldx * n_x, 9, 1.5f);
      for (int64_t n_w : {1, 3, 4, 5, 19}) {
        const int64_t ldy = n_w + 2;
        std::vector<float> want(static_cast<size_t>(ldy * n_x), -7.f), got(want.size(), -7.f);
        ref.dot_rows(n, x.data(), ldx, n_x, w.data(), wrb, n_w, want.data(), ldy);
        simd.dot_rows(n, x.data(), ldx, n_x, w.data(), wrb, n_w, got.data(), ldy);
        for (int64_t r = 0; r < n_x; ++r) {
          for (int64_t j = 0; j < n_w; ++j) {
            double mag = 0;
            for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(x[static_cast<size_t>(r * ldx + i)]) * wv(j, i));
            ASSERT_NEAR(got[static_cast<size_t>(r * ldy + j)], want[static_cast<size_t>(r * ldy + j)], 1e-5 * mag + 1e-30)
                << "dot_rows n=" << n << " n_x=" << n_x << " n_w=" << n_w << " r=" << r << " j=" << j;
          }
          for (int64_t j = n_w; j < ldy; ++j) ASSERT_EQ(got[static_cast<size_t>(r * ldy + j)], -7.f) << "dot_rows wrote past n_w";
        }
        // axpy: acc starts non-zero; p rows (n_x of them, n_w weights each).
        const int64_t ldp = n_w + 1, ldacc = n + 5;
        const auto p = test::gaussian(ldp * n_x, 11, 0.7f);
        const auto acc0 = test::gaussian(ldacc * n_x, 13, 1.0f);
        std::vector<float> acc_want(acc0), acc_got(acc0);
        ref.axpy_rows(n, p.data(), ldp, n_x, w.data(), wrb, n_w, acc_want.data(), ldacc);
        simd.axpy_rows(n, p.data(), ldp, n_x, w.data(), wrb, n_w, acc_got.data(), ldacc);
        for (int64_t r = 0; r < n_x; ++r) {
          for (int64_t i = 0; i < n; ++i) {
            double mag = std::fabs(acc0[static_cast<size_t>(r * ldacc + i)]);
            for (int64_t j = 0; j < n_w; ++j) mag += std::fabs(static_cast<double>(p[static_cast<size_t>(r * ldp + j)]) * wv(j, i));
            ASSERT_NEAR(acc_got[static_cast<size_t>(r * ldacc + i)], acc_want[static_cast<size_t>(r * ldacc + i)], 1e-5 * mag)
                << "axpy_rows n=" << n << " n_x=" << n_x << " n_w=" << n_w << " r=" << r << " i=" << i;
          }
          for (int64_t i = n; i < ldacc; ++i)
            ASSERT_EQ(acc_got[static_cast<size_t>(r * ldacc + i)], acc0[static_cast<size_t>(r * ldacc + i)]) << "axpy_rows wrote past n";
        }
      }
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = test::type_isa_name(info.param.type, info.param.isa);
  for (auto& c : s)
    if (c == '/') c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Kernels, AllTypes, ::testing::ValuesIn(all_cases(test::all_types())), case_name);
INSTANTIATE_TEST_SUITE_P(Kernels, WeightTypes, ::testing::ValuesIn(all_cases(test::weight_types())), case_name);
INSTANTIATE_TEST_SUITE_P(Kernels, FloatWeights,
                         ::testing::ValuesIn(all_cases({TensorType::F32, TensorType::F16, TensorType::BF16})), case_name);
INSTANTIATE_TEST_SUITE_P(Kernels, FloatTypes,
                         ::testing::ValuesIn(all_cases({TensorType::F32, TensorType::F16, TensorType::BF16,
                                                        TensorType::Q8_0, TensorType::Q4_0})),
                         case_name);

// The scalar twins of the quantized K/V loops: a Q8_0/Q4_0 row must act exactly as its
// dequantize_row output stored in f32 (same values, same summation order: bit-equal).
// The quantized row loops must act as the f32 loops on the dequantized rows. On x86 the two
// agree bit for bit; GCC for AArch64 fuses some multiply-adds into FMAs in one loop and not the
// other, so there they differ by rounding (seen: up to 2e-6 on 96-term sums of size ~5). A wrong
// scale, code or block would be off by far more.
void expect_same_up_to_contraction(const std::vector<float>& got, const std::vector<float>& want, std::string_view what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5f * std::max(1.0f, std::fabs(want[i]))) << what << " at " << i;
}

TEST(KvRowTwins, QuantizedRowsActAsTheirDequantizedF32Rows) {
  const auto& f32 = kernel_table(TensorType::F32, Isa::scalar);
  for (TensorType type : {TensorType::Q8_0, TensorType::Q4_0}) {
    const auto& q = kernel_table(type, Isa::scalar);
    constexpr int64_t n = 96, n_w = 5, n_x = 3;
    const size_t wrb = row_bytes(type, n);
    const auto w = test::quantized_rows(type, n, n_w, wrb, 77);
    std::vector<float> wf(static_cast<size_t>(n * n_w));
    for (int64_t j = 0; j < n_w; ++j) q.dequantize_row(w.data() + static_cast<size_t>(j) * wrb, wf.data() + j * n, n);
    const auto x = test::gaussian(n * n_x, 5, 1.0f);
    std::vector<float> want(n_x * n_w), got(want.size());
    f32.dot_rows(n, x.data(), n, n_x, wf.data(), n * 4, n_w, want.data(), n_w);
    q.dot_rows(n, x.data(), n, n_x, w.data(), wrb, n_w, got.data(), n_w);
    expect_same_up_to_contraction(got, want, tensor_type_name(type));
    const auto p = test::gaussian(n_w * n_x, 6, 0.5f);
    std::vector<float> acc_want(static_cast<size_t>(n * n_x), 0.25f), acc_got(acc_want);
    f32.axpy_rows(n, p.data(), n_w, n_x, wf.data(), n * 4, n_w, acc_want.data(), n);
    q.axpy_rows(n, p.data(), n_w, n_x, w.data(), wrb, n_w, acc_got.data(), n);
    expect_same_up_to_contraction(acc_got, acc_want, tensor_type_name(type));
  }
}

}  // namespace
}  // namespace st
