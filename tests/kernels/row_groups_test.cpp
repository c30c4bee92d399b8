// Row groups (kernels/row_groups.h): the layout round-trips bit-exactly, the plain C++ product
// on packed weights agrees with the scalar row-by-row dot product (an independent path over
// the file layout), every SIMD kernel agrees with that plain product for token counts around
// its 8-token passes, and matmul over packed weights (threaded, row lists) matches unpacked.
#include "kernels/row_groups.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"

namespace st {
namespace {

const TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q8_0};

struct Problem {
  TensorType type;
  int64_t n_rows, n_cols, n_tok;
  std::vector<uint8_t> rows, packed;
  QuantizedActs act;
  size_t row_bytes;

  Problem(TensorType t, int64_t r, int64_t c, int64_t k, uint32_t seed) : type(t), n_rows(r), n_cols(c), n_tok(k) {
    row_bytes = st::row_bytes(t, c);
    rows = test::quantized_rows(t, c, r, row_bytes, seed);
    rows.resize(row_bytes * static_cast<size_t>(r));
    packed.assign(rows.size(), 0);
    pack_row_groups(t, rows.data(), r, c, packed.data());
    const auto x = test::gaussian(c * k, seed + 17u);
    quantize_acts(t, x.data(), k, c, act, nullptr);
  }
  // Scalar dot products over the file layout: y[t][r].
  std::vector<float> expected() const {
    const auto& kt = kernel_table(type, Isa::scalar);
    std::vector<float> y(static_cast<size_t>(n_tok * n_rows));
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t r = 0; r < n_rows; ++r)
        y[static_cast<size_t>(t * n_rows + r)] = kt.vec_dot(n_cols, rows.data() + static_cast<size_t>(r) * row_bytes, act.row(t));
    return y;
  }
};

// Both sides sum the same exact integer block sums; only the float accumulation differs.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  double scale = 0;
  for (float w : want) scale = std::max(scale, static_cast<double>(std::fabs(w)));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 * scale + 1e-6) << what << " at " << i;
}

TEST(RowGroups, PackUnpackRoundTripsAndMovesEveryByte) {
  for (TensorType t : kTypes) {
    Problem p(t, 48, 96, 1, 3);
    EXPECT_NE(p.packed, p.rows) << "packing must change the layout";
    std::vector<uint8_t> back(p.rows.size());
    unpack_row_groups(t, p.packed.data(), p.n_rows, p.n_cols, back.data());
    EXPECT_EQ(back, p.rows) << tensor_type_name(t);
  }
}

TEST(RowGroups, EverySimdPackerWritesThePlainLayout) {
  int packers = 0;
  for (Isa isa : available_isas())
    for (TensorType t : kTypes) {
      const auto pack = kernel_table(t, isa).pack_groups;
      if (!pack) continue;
      ++packers;
      for (int64_t n_cols : {32, 96, 1536}) {
        Problem p(t, 64, n_cols, 1, 5);
        std::vector<uint8_t> got(p.rows.size(), 0xEE), want(p.rows.size(), 0x11);
        pack(p.rows.data(), p.n_rows, n_cols, got.data());
        pack_row_groups_ref(t, p.rows.data(), p.n_rows, n_cols, want.data());
        EXPECT_EQ(got, want) << test::type_isa_name(t, isa) << " n=" << n_cols;
      }
    }
  if (packers == 0) GTEST_SKIP() << "no SIMD packer on this CPU";
}

TEST(RowGroups, RejectsPartialGroups) {
  std::vector<uint8_t> a(st::row_bytes(TensorType::Q4_0, 64) * 20), b(a.size());
  EXPECT_THROW(pack_row_groups(TensorType::Q4_0, a.data(), 20, 64, b.data()), std::invalid_argument);
  EXPECT_THROW(pack_row_groups(TensorType::Q4_1, a.data(), 16, 64, b.data()), std::invalid_argument);
  EXPECT_FALSE(row_groups_supported(TensorType::Q4_0, 20));
  EXPECT_FALSE(row_groups_supported(TensorType::F16, 16));
}

TEST(RowGroups, PlainProductOnPackedWeightsMatchesRowDots) {
  for (TensorType t : kTypes)
    for (int64_t n_cols : {32, 160, 1536}) {
      Problem p(t, 32, n_cols, 3, 11);
      std::vector<float> y(static_cast<size_t>(p.n_tok * p.n_rows));
      gemm_row_groups_ref(t, n_cols, p.packed.data(), p.row_bytes, p.n_rows, p.act.row(0), p.act.row_bytes, p.n_tok,
                          y.data(), p.n_rows);
      expect_close(y, p.expected(), std::string(tensor_type_name(t)) + " n=" + std::to_string(n_cols));
    }
}

TEST(RowGroups, EverySimdKernelMatchesThePlainProduct) {
  int kernels = 0;
  for (Isa isa : available_isas())
    for (TensorType t : kTypes) {
      const auto& kt = kernel_table(t, isa);
      if (!kt.gemm_groups) continue;
      EXPECT_TRUE(row_groups_supported(t, 64, isa));
      ++kernels;
      for (int64_t n_tok : {1, 2, 3, 4, 5, 7, 8, 9, 17}) {
        Problem p(t, 64, 96, n_tok, 100 + static_cast<uint32_t>(n_tok));
        const int64_t ldy = p.n_rows + 5;  // a padded output stride
        std::vector<float> got(static_cast<size_t>(n_tok * ldy)), want(got.size());
        kt.gemm_groups(p.n_cols, p.packed.data(), p.row_bytes, p.n_rows, p.act.row(0), p.act.row_bytes,
                       p.act.block_sums.data(), n_tok, got.data(), ldy);
        gemm_row_groups_ref(t, p.n_cols, p.packed.data(), p.row_bytes, p.n_rows, p.act.row(0), p.act.row_bytes, n_tok,
                            want.data(), ldy);
        expect_close(got, want, test::type_isa_name(t, isa) + " tokens=" + std::to_string(n_tok));
      }
    }
  if (kernels == 0) GTEST_SKIP() << "no row-group kernel on this CPU";
}

// Kernels that sum products in int16 lanes before widening (AVX2's Q4_0, plain NEON) rely on
// the codes' ranges; random weights never come near the limits, so this puts every extreme
// code (Q4_0 nibbles 15 and 0, Q8_0 codes -128 and 127) against activations of +-127 whose
// signs make the block sums as large as they can be.
TEST(RowGroups, EverySimdKernelIsExactAtExtremeCodes) {
  constexpr int64_t kRows = 32, kCols = 96, kTok = 5;
  int kernels = 0;
  for (Isa isa : available_isas())
    for (TensorType t : kTypes) {
      const auto& kt = kernel_table(t, isa);
      if (!kt.gemm_groups) continue;
      ++kernels;
      const bool q8 = t == TensorType::Q8_0;
      const size_t rb = st::row_bytes(t, kCols), code_bytes = q8 ? 32 : 16;
      std::vector<uint8_t> rows(rb * kRows), packed(rows.size());
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t b = 0; b < kCols / 32; ++b) {
          uint8_t* blk = rows.data() + static_cast<size_t>(r) * rb + static_cast<size_t>(b) * (2 + code_bytes);
          const uint16_t one = 0x3C00;  // fp16 1.0
          std::memcpy(blk, &one, 2);
          // Per row: all maximal, all minimal, alternating (Q4_0: within each byte), or by half.
          const uint8_t hi = q8 ? 0x7F : 0xFF, lo = q8 ? 0x80 : 0x00;
          for (size_t i = 0; i < code_bytes; ++i) {
            uint8_t c = i < code_bytes / 2 ? hi : lo;
            if (r % 4 == 0) c = hi;
            else if (r % 4 == 1) c = lo;
            else if (r % 4 == 2) c = q8 ? (i % 2 ? hi : lo) : 0x0F;
            blk[2 + i] = c;
          }
        }
      pack_row_groups_ref(t, rows.data(), kRows, kCols, packed.data());
      // Tokens: all +1, all -1, alternating, by half block, and a sign per block.
      std::vector<float> x(static_cast<size_t>(kTok * kCols));
      for (int64_t k = 0; k < kTok; ++k)
        for (int64_t j = 0; j < kCols; ++j) {
          const bool sign[] = {true, false, j % 2 == 1, j % 32 < 16, (j / 32) % 2 == 1};
          x[static_cast<size_t>(k * kCols + j)] = sign[k] ? 1.0f : -1.0f;
        }
      QuantizedActs act;
      quantize_acts(t, x.data(), kTok, kCols, act, nullptr);
      std::vector<float> got(static_cast<size_t>(kTok * kRows)), want(got.size());
      kt.gemm_groups(kCols, packed.data(), rb, kRows, act.row(0), act.row_bytes, act.block_sums.data(), kTok,
                     got.data(), kRows);
      gemm_row_groups_ref(t, kCols, packed.data(), rb, kRows, act.row(0), act.row_bytes, kTok, want.data(), kRows);
      expect_close(got, want, test::type_isa_name(t, isa) + " extreme codes");
    }
  if (kernels == 0) GTEST_SKIP() << "no row-group kernel on this CPU";
}

// On an ISA with group kernels the file layout goes through them too (16 rows staged at a
// time), so both layouts give identical bits: what lets the expert cache serve experts in the
// file's layout while resident weights are re-laid.
TEST(RowGroups, FileLayoutProductsEqualPackedOnesBitForBit) {
  ThreadPool pool(2);
  for (TensorType t : kTypes) {
    if (!row_groups_supported(t, 64)) GTEST_SKIP() << "no row-group kernel on this CPU";
    for (int64_t n_tok : {1, 3, 9}) {
      Problem p(t, 64, 96, n_tok, 21);
      const WeightRows plain{t, p.n_cols, p.n_rows, p.row_bytes, p.rows.data()};
      WeightRows grouped = plain;
      grouped.data = p.packed.data();
      grouped.row_groups = true;
      std::vector<float> a(static_cast<size_t>(n_tok * p.n_rows), -1.0f), b(a.size(), -2.0f);
      matmul(grouped, p.act, a.data(), p.n_rows, pool);
      matmul_rows(plain, 0, 40, p.act, b.data(), p.n_rows);   // 2 whole groups + 8 rows
      matmul_rows(plain, 40, 64, p.act, b.data(), p.n_rows);  // rows not at a group start
      for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << tensor_type_name(t) << " at " << i;
      if (n_tok != 1) continue;
      const std::vector<int32_t> rows{0, 5, 17, 18, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 63};
      std::vector<float> c(static_cast<size_t>(p.n_rows), -3.0f);
      // Listed rows of the file layout go through the row-list kernel where there is one
      // (tests/kernels/row_list_test.cpp: same values up to float summation order), otherwise
      // through the same staging.
      matmul_row_list(plain, rows, p.act, c.data(), 0);
      const bool staged = kernel_table(t).gemm_rows == nullptr;
      for (int32_t r : rows) {
        if (staged) ASSERT_EQ(c[static_cast<size_t>(r)], a[static_cast<size_t>(r)]) << "listed row " << r;
        else ASSERT_NEAR(c[static_cast<size_t>(r)], a[static_cast<size_t>(r)], 1e-5f * std::fabs(a[static_cast<size_t>(r)]) + 1e-5f);
      }
      EXPECT_EQ(c[1], -3.0f);
    }
  }
}

TEST(RowGroups, MatmulOverPackedWeightsMatchesTheFileLayout) {
  ThreadPool pool(2);
  for (TensorType t : kTypes) {
    if (!row_groups_supported(t, 256)) GTEST_SKIP() << "no row-group kernel on this CPU";
    for (int64_t n_tok : {1, 6}) {
      Problem p(t, 256, 128, n_tok, 7);
      const WeightRows plain{t, p.n_cols, p.n_rows, p.row_bytes, p.rows.data()};
      WeightRows grouped = plain;
      grouped.data = p.packed.data();
      grouped.row_groups = true;
      std::vector<float> b(static_cast<size_t>(n_tok * p.n_rows));
      const std::vector<float> a = p.expected();  // scalar row dots: [t][r] with ldy = n_rows
      matmul(grouped, p.act, b.data(), p.n_rows, pool);
      expect_close(b, a, std::string(tensor_type_name(t)) + " matmul");
      if (n_tok != 1) continue;
      const std::vector<int32_t> rows{3, 4, 40, 41, 47, 200, 255};
      std::vector<float> c(static_cast<size_t>(p.n_rows), -1.0f);
      matmul_row_list(grouped, rows, p.act, c.data(), 0);
      for (int32_t r : rows) EXPECT_NEAR(c[static_cast<size_t>(r)], a[static_cast<size_t>(r)], 1e-5 * std::fabs(a[static_cast<size_t>(r)]) + 1e-6);
      EXPECT_EQ(c[5], -1.0f) << "rows outside the list stay untouched";
      EXPECT_THROW(matmul_rows(grouped, 8, 24, p.act, c.data(), p.n_rows), std::logic_error);
    }
  }
}

}  // namespace
}  // namespace st
