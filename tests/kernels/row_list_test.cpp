// Products over listed rows in the file's layout (KernelTable::gemm_rows, sparse ReGLU's up
// rows): every ISA that has the kernel against the plain definition, vec_dot per row and
// token on the scalar table, for widths with and without a partial last chunk (the kernels take
// 128 / 64 elements at a time), 1..9 tokens (a pass takes 4), and row lists with gaps, repeats
// of neighbours and the last row. Rows outside the list must stay untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"

namespace st {
namespace {

// `got` against the scalar vec_dot of row r of w (row bytes rb) with token tk of act, within
// float summation-order tolerance.
::testing::AssertionResult matches_row_dot(TensorType t, float got, const uint8_t* w, size_t rb, int32_t r,
                                            const QuantizedActs& act, int64_t tk, int64_t n) {
  const uint8_t* row = w + static_cast<size_t>(r) * rb;
  const float want = kernel_table(t, Isa::scalar).vec_dot(n, row, act.row(tk));
  const double tol = 1e-6 * test::dot_magnitude(t, row, act.row(tk), n) + 1e-6;
  if (std::fabs(static_cast<double>(got) - want) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " vs " << want << " (tolerance " << tol << ")";
}

TEST(RowList, EveryKernelMatchesTheRowDots) {
  int kernels = 0;
  for (Isa isa : available_isas()) {
    for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0}) {
      const KernelTable& kt = kernel_table(t, isa);
      if (!kt.gemm_rows) continue;
      ++kernels;
      for (int64_t n : {32, 64, 96, 128, 160, 1536}) {
        const int64_t n_rows = 70;
        const size_t rb = row_bytes(t, n);
        const auto w = test::quantized_rows(t, n, n_rows, rb, static_cast<uint32_t>(n));
        for (int64_t n_tok : {1, 2, 3, 4, 5, 9}) {
          const auto x = test::gaussian(n * n_tok, static_cast<uint32_t>(n_tok));
          QuantizedActs act;
          quantize_acts(t, x.data(), n_tok, n, act, nullptr);
          std::vector<int32_t> rows;
          for (int32_t r = 0; r < n_rows; ++r)
            if (r % 3 != 1 || r == n_rows - 1) rows.push_back(r);
          const int64_t ldy = n_rows + 5;
          std::vector<float> y(static_cast<size_t>(ldy * n_tok), -7.0f);
          kt.gemm_rows(n, w.data(), rb, rows.data(), static_cast<int64_t>(rows.size()), act.bytes.data(), act.row_bytes,
                       act.block_sums.data(), n_tok, y.data(), ldy);
          for (int64_t tk = 0; tk < n_tok; ++tk) {
            for (int32_t r = 0; r < n_rows; ++r) {
              const float got = y[static_cast<size_t>(tk * ldy + r)];
              if (r % 3 == 1 && r != n_rows - 1) {
                ASSERT_EQ(got, -7.0f) << "row " << r << " is not listed";
                continue;
              }
              ASSERT_TRUE(matches_row_dot(t, got, w.data(), rb, r, act, tk, n))
                  << test::type_isa_name(t, isa) << " n " << n << " tokens " << n_tok << " token " << tk << " row " << r;
            }
          }
        }
      }
    }
  }
  if (kernels == 0) GTEST_SKIP() << "no row-list kernel on this CPU";
}

// Degenerate lists: an empty list writes nothing; a single row (the last one, so a prefetch
// of rows ahead has nothing to ask for) and a list whose rows are all the same row.
TEST(RowList, EveryKernelHandlesEmptyAndSingleRowLists) {
  for (Isa isa : available_isas()) {
    for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0}) {
      const KernelTable& kt = kernel_table(t, isa);
      if (!kt.gemm_rows) continue;
      const int64_t n = 288, n_rows = 9, n_tok = 4;
      const size_t rb = row_bytes(t, n);
      const auto w = test::quantized_rows(t, n, n_rows, rb, 17);
      const auto x = test::gaussian(n * n_tok, 23);
      QuantizedActs act;
      quantize_acts(t, x.data(), n_tok, n, act, nullptr);
      std::vector<float> y(static_cast<size_t>(n_rows * n_tok), -3.0f);
      kt.gemm_rows(n, w.data(), rb, nullptr, 0, act.bytes.data(), act.row_bytes, act.block_sums.data(), n_tok, y.data(),
                   n_rows);
      for (float v : y) ASSERT_EQ(v, -3.0f) << test::type_isa_name(t, isa) << ": empty list wrote";
      for (const std::vector<int32_t>& rows : {std::vector<int32_t>{8}, std::vector<int32_t>{3, 3, 3, 3, 3, 3}}) {
        kt.gemm_rows(n, w.data(), rb, rows.data(), static_cast<int64_t>(rows.size()), act.bytes.data(), act.row_bytes,
                     act.block_sums.data(), n_tok, y.data(), n_rows);
        for (int64_t tk = 0; tk < n_tok; ++tk)
          EXPECT_TRUE(matches_row_dot(t, y[static_cast<size_t>(tk * n_rows + rows[0])], w.data(), rb, rows[0], act, tk, n))
              << test::type_isa_name(t, isa) << " row " << rows[0] << " token " << tk;
      }
    }
  }
}

// matmul_row_list picks the kernel on the file layout; its result must equal the row dots
// for several tokens at once, written at y[t * ldy + row].
TEST(RowList, MatmulRowListServesSeveralTokens) {
  for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0}) {
    const int64_t n = 256, n_rows = 48, n_tok = 3;
    const size_t rb = row_bytes(t, n);
    const auto w = test::quantized_rows(t, n, n_rows, rb, 5);
    const auto x = test::gaussian(n * n_tok, 11);
    QuantizedActs act;
    quantize_acts(t, x.data(), n_tok, n, act, nullptr);
    const std::vector<int32_t> rows{0, 7, 8, 9, 31, 47};
    std::vector<float> y(static_cast<size_t>(n_rows * n_tok), -1.0f);
    matmul_row_list(WeightRows{t, n, n_rows, rb, w.data()}, rows, act, y.data(), n_rows);
    for (int64_t tk = 0; tk < n_tok; ++tk)
      for (int32_t r : rows)
        EXPECT_TRUE(matches_row_dot(t, y[static_cast<size_t>(tk * n_rows + r)], w.data(), rb, r, act, tk, n))
            << "token " << tk << " row " << r;
    EXPECT_EQ(y[1], -1.0f);
  }
}

}  // namespace
}  // namespace st
