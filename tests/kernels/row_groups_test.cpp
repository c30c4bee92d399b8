// Row groups (kernels/row_groups.h): the layout round-trips bit-exactly, the plain C++ product
// on packed weights agrees with the scalar row-by-row dot product (an independent path over
// the file layout), every SIMD kernel agrees with that plain product for token counts around
// its 8-token passes, and matmul over packed weights (threaded, row lists) matches unpacked.
#include "kernels/row_groups.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernel_test_util.h"
#include "kernels/blocks.h"
#include "kernels/matmul.h"
#include "kernels/thread_pool.h"

namespace st {
namespace {

const TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K,
                             TensorType::Q6_K, TensorType::Q3_K, TensorType::Q2_K};

// Tests name sizes in 32-element blocks; the K-quants' blocks are 256 elements, so their
// matrices get 8x the columns (the same number of blocks, at least one super-block).
int64_t cols_for(TensorType t, int64_t n) { return tensor_type_info(t).block_size == 256 ? 8 * n : n; }

struct Problem {
  TensorType type;
  int64_t n_rows, n_cols, n_tok;
  std::vector<uint8_t> rows, packed;
  QuantizedActs act;
  size_t row_bytes;

  Problem(TensorType t, int64_t r, int64_t c, int64_t k, uint32_t seed)
      : type(t), n_rows(r), n_cols(cols_for(t, c)), n_tok(k) {
    c = n_cols;
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

// Activations of +-1 in five sign patterns, one per token: all +, all -, alternating, by half
// of each 32 elements, and alternating runs of `run` elements.
std::vector<float> sign_patterns(int64_t n_tok, int64_t n_cols, int64_t run) {
  std::vector<float> x(static_cast<size_t>(n_tok * n_cols));
  for (int64_t k = 0; k < n_tok; ++k)
    for (int64_t j = 0; j < n_cols; ++j) {
      const bool sign[] = {true, false, j % 2 == 1, j % 32 < 16, (j / run) % 2 == 1};
      x[static_cast<size_t>(k * n_cols + j)] = sign[k % 5] ? 1.0f : -1.0f;
    }
  return x;
}

// Every ISA's group kernel for K-quant `t` on `packed` (n_rows x n_cols) against the plain
// product, with the activations x (n_tok rows) quantized to Q8_K; returns how many ran.
int every_k_kernel_matches_the_plain_product(TensorType t, const std::vector<uint8_t>& packed, int64_t n_rows,
                                             int64_t n_cols, const std::vector<float>& x) {
  const int64_t n_tok = static_cast<int64_t>(x.size()) / n_cols;
  const size_t rb = st::row_bytes(t, n_cols);
  QuantizedActs act;
  quantize_acts(t, x.data(), n_tok, n_cols, act, nullptr);
  std::vector<float> want(static_cast<size_t>(n_tok * n_rows));
  gemm_row_groups_ref(t, n_cols, packed.data(), rb, n_rows, act.row(0), act.row_bytes, n_tok, want.data(), n_rows);
  int kernels = 0;
  for (Isa isa : available_isas()) {
    const auto& kt = kernel_table(t, isa);
    if (!kt.gemm_groups) continue;
    ++kernels;
    std::vector<float> got(want.size());
    kt.gemm_groups(n_cols, packed.data(), rb, n_rows, act.row(0), act.row_bytes, nullptr, n_tok, got.data(), n_rows);
    expect_close(got, want, test::type_isa_name(t, isa) + " extreme codes");
  }
  return kernels;
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
        pack(p.rows.data(), p.n_rows, p.n_cols, got.data());
        pack_row_groups_ref(t, p.rows.data(), p.n_rows, p.n_cols, want.data());
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
      gemm_row_groups_ref(t, p.n_cols, p.packed.data(), p.row_bytes, p.n_rows, p.act.row(0), p.act.row_bytes, p.n_tok,
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
        // 17 tokens over 272 rows: batches that kernels may hand to a tile gemm in 256-row slices.
        Problem p(t, n_tok == 17 ? 272 : 64, 96, n_tok, 100 + static_cast<uint32_t>(n_tok));
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

// The two-stream one-token kernel (GemmGroupsPairFn) gives exactly what two single calls give.
TEST(RowGroups, EveryPairKernelEqualsTwoSingleCalls) {
  int kernels = 0;
  for (Isa isa : available_isas())
    for (TensorType t : kTypes) {
      const auto& kt = kernel_table(t, isa);
      if (!kt.gemm_groups_pair) continue;
      ++kernels;
      Problem a(t, 64, 160, 1, 41), b(t, 64, 160, 1, 42);  // b's weights; a's activations for both
      std::vector<float> ya(64, -1.f), yb(64, -1.f), want_a(64, -2.f), want_b(64, -2.f);
      kt.gemm_groups_pair(a.n_cols, a.packed.data(), b.packed.data(), a.row_bytes, 64, a.act.row(0),
                          a.act.block_sums.data(), ya.data(), yb.data());
      kt.gemm_groups(a.n_cols, a.packed.data(), a.row_bytes, 64, a.act.row(0), a.act.row_bytes, a.act.block_sums.data(), 1,
                     want_a.data(), 64);
      kt.gemm_groups(a.n_cols, b.packed.data(), a.row_bytes, 64, a.act.row(0), a.act.row_bytes, a.act.block_sums.data(), 1,
                     want_b.data(), 64);
      for (size_t r = 0; r < 64; ++r) {
        ASSERT_EQ(ya[r], want_a[r]) << test::type_isa_name(t, isa) << " row " << r;
        ASSERT_EQ(yb[r], want_b[r]) << test::type_isa_name(t, isa) << " row " << r;
      }
    }
  if (kernels == 0) GTEST_SKIP() << "no pair kernel on this CPU";
}

// matmul_rows_pair: ranges of different lengths and places, packed or in the file's layout,
// equal two matmul_rows calls bit for bit; it is for one token only.
TEST(RowGroups, MatmulRowsPairEqualsTwoMatmulRows) {
  for (TensorType t : kTypes) {
    Problem p(t, 256, 128, 1, 55);
    const WeightRows plain{t, p.n_cols, p.n_rows, p.row_bytes, p.rows.data()};
    WeightRows grouped = plain;
    grouped.data = p.packed.data();
    grouped.row_groups = true;
    std::vector<WeightRows> layouts{plain};
    if (row_groups_supported(t, 256)) layouts.push_back(grouped);  // (packed bytes need a group kernel)
    for (const WeightRows& w : layouts) {
      std::vector<float> got(256, -1.f), want(256, -2.f);
      matmul_rows_pair(w, 0, 64, got.data(), w, 128, 176, got.data(), p.act);  // 64 and 48 rows
      matmul_rows(w, 0, 64, p.act, want.data(), 256);
      matmul_rows(w, 128, 176, p.act, want.data(), 256);
      for (size_t r = 0; r < 256; ++r)
        if (r < 64 || (r >= 128 && r < 176)) ASSERT_EQ(got[r], want[r]) << tensor_type_name(t) << " row " << r;
        else ASSERT_EQ(got[r], -1.f) << "row " << r << " outside both ranges was written";
    }
    Problem two(t, 64, 128, 2, 56);
    std::vector<float> y(128);
    const WeightRows w2{t, two.n_cols, two.n_rows, two.row_bytes, two.rows.data()};
    EXPECT_THROW(matmul_rows_pair(w2, 0, 16, y.data(), w2, 16, 32, y.data(), two.act), std::logic_error);
  }
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
      if (t != TensorType::Q4_0 && t != TensorType::Q8_0) continue;  // their block layouts below
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
      const std::vector<float> x = sign_patterns(kTok, kCols, 32);
      QuantizedActs act;
      quantize_acts(t, x.data(), kTok, kCols, act, nullptr);
      std::vector<float> got(static_cast<size_t>(kTok * kRows)), want(got.size());
      kt.gemm_groups(kCols, packed.data(), rb, kRows, act.row(0), act.row_bytes, act.block_sums.data(), kTok,
                     got.data(), kRows);
      gemm_row_groups_ref(t, kCols, packed.data(), rb, kRows, act.row(0), act.row_bytes, kTok, want.data(), kRows);
      expect_close(got, want, test::type_isa_name(t, isa) + " extreme codes");
      if (!kt.gemm_groups_pair) continue;
      for (int64_t k = 0; k < kTok; ++k) {  // the two-stream kernel, token by token
        std::vector<float> ya(kRows), yb(kRows), wk(want.begin() + k * kRows, want.begin() + (k + 1) * kRows);
        kt.gemm_groups_pair(kCols, packed.data(), packed.data(), rb, kRows, act.row(k), act.block_sums.data() + k * (kCols / 32),
                            ya.data(), yb.data());
        expect_close(ya, wk, test::type_isa_name(t, isa) + " pair, extreme codes");
        expect_close(yb, wk, test::type_isa_name(t, isa) + " pair, extreme codes");
      }
    }
  if (kernels == 0) GTEST_SKIP() << "no row-group kernel on this CPU";
}

// The same for Q4_K: every code 15 (or 0, or mixed), every 6-bit scale and min 63, against
// activations of +-1 (which quantize to 127 / -128): AVX2 and plain NEON sum a sub-block in
// int16 lanes right up to 8 x 2 x 15 x 128 = 30720.
TEST(RowGroups, EveryQ4KKernelIsExactAtExtremeCodes) {
  constexpr TensorType t = TensorType::Q4_K;
  constexpr int64_t kRows = 32, kCols = 512, kTok = 5;
  const size_t rb = st::row_bytes(t, kCols);
  std::vector<uint8_t> rows(rb * kRows), packed(rows.size());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t b = 0; b < kCols / 256; ++b) {
      auto* blk = reinterpret_cast<BlockQ4_K*>(rows.data() + static_cast<size_t>(r) * rb) + b;
      blk->d = blk->dmin = 0x3C00;  // fp16 1.0
      std::memset(blk->scales, 0xFF, sizeof(blk->scales));
      for (size_t i = 0; i < sizeof(blk->qs); ++i)
        blk->qs[i] = r % 4 == 0 ? 0xFF : r % 4 == 1 ? 0x00 : r % 4 == 2 ? 0x0F : (i < 64 ? 0xFF : 0xF0);
    }
  pack_row_groups_ref(t, rows.data(), kRows, kCols, packed.data());
  const std::vector<float> x = sign_patterns(kTok, kCols, 32);
  if (every_k_kernel_matches_the_plain_product(t, packed, kRows, kCols, x) == 0)
    GTEST_SKIP() << "no Q4_K row-group kernel on this CPU";
}

// Q5_K at its extremes: every code 31 (or 0, or 15 / 16 by the fifth bit, or mixed per
// sub-block), scales and mins 63 (or mixed), against activations of +-1: AVX2 adds four
// chunks' vpmaddubsw pairs of a sub-block in int16 (4 x 2 x 31 x 128 = 31744).
TEST(RowGroups, EveryQ5KKernelIsExactAtExtremeCodes) {
  constexpr TensorType t = TensorType::Q5_K;
  constexpr int64_t kRows = 32, kCols = 512, kTok = 5;
  const size_t rb = st::row_bytes(t, kCols);
  std::vector<uint8_t> rows(rb * kRows), packed(rows.size());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t b = 0; b < kCols / 256; ++b) {
      auto* blk = reinterpret_cast<BlockQ5_K*>(rows.data() + static_cast<size_t>(r) * rb) + b;
      blk->d = blk->dmin = 0x3C00;  // fp16 1.0
      std::memset(blk->scales, r % 3 == 2 ? (b % 2 ? 0xA5 : 0x5A) : 0xFF, sizeof(blk->scales));
      const int kind = static_cast<int>(r % 5);
      std::memset(blk->qs, kind == 1 ? 0x00 : kind == 2 ? 0x0F : kind == 3 ? 0xF0 : 0xFF, sizeof(blk->qs));
      std::memset(blk->qh, kind == 1 ? 0x00 : kind == 2 ? 0xAA : kind == 4 ? 0x0F : 0xFF, sizeof(blk->qh));
    }
  pack_row_groups_ref(t, rows.data(), kRows, kCols, packed.data());
  const std::vector<float> x = sign_patterns(kTok, kCols, 32);
  if (every_k_kernel_matches_the_plain_product(t, packed, kRows, kCols, x) == 0)
    GTEST_SKIP() << "no Q5_K row-group kernel on this CPU";
}

// Q6_K at its extremes: every code 63 (or 0, or mixed), int8 scales of 127 and -128, against
// activations of +-1: AVX2 adds two chunks' vpmaddubsw pairs in int16 (2 x 2 x 63 x 128 = 32256).
TEST(RowGroups, EveryQ6KKernelIsExactAtExtremeCodes) {
  constexpr TensorType t = TensorType::Q6_K;
  constexpr int64_t kRows = 32, kCols = 512, kTok = 5;
  const size_t rb = st::row_bytes(t, kCols);
  std::vector<uint8_t> rows(rb * kRows), packed(rows.size());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t b = 0; b < kCols / 256; ++b) {
      auto* blk = reinterpret_cast<BlockQ6_K*>(rows.data() + static_cast<size_t>(r) * rb) + b;
      blk->d = 0x3C00;  // fp16 1.0
      for (size_t i = 0; i < sizeof(blk->scales); ++i) blk->scales[i] = static_cast<int8_t>(r % 2 ? 127 : (i % 2 ? -128 : 127));
      const uint8_t code = r % 4 == 0 ? 0xFF : r % 4 == 1 ? 0x00 : 0xF0;
      std::memset(blk->ql, code, sizeof(blk->ql));
      std::memset(blk->qh, r % 4 == 1 ? 0x00 : 0xFF, sizeof(blk->qh));
    }
  pack_row_groups_ref(t, rows.data(), kRows, kCols, packed.data());
  const std::vector<float> x = sign_patterns(kTok, kCols, 16);
  if (every_k_kernel_matches_the_plain_product(t, packed, kRows, kCols, x) == 0)
    GTEST_SKIP() << "no Q6_K row-group kernel on this CPU";
}

// Q3_K at its extremes: every code 7 (low bits 3, third bit set), 0, or mixed per byte or per
// quarter, 6-bit scales 31 and -32, against activations of +-1: AVX2 adds four chunks'
// vpmaddubsw pairs of a sub-block in int16 (4 x 2 x 7 x 128 = 7168).
TEST(RowGroups, EveryQ3KKernelIsExactAtExtremeCodes) {
  constexpr TensorType t = TensorType::Q3_K;
  constexpr int64_t kRows = 32, kCols = 512, kTok = 5;
  const size_t rb = st::row_bytes(t, kCols);
  std::vector<uint8_t> rows(rb * kRows), packed(rows.size());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t b = 0; b < kCols / 256; ++b) {
      auto* blk = reinterpret_cast<BlockQ3_K*>(rows.data() + static_cast<size_t>(r) * rb) + b;
      blk->d = 0x3C00;  // fp16 1.0
      std::memset(blk->scales, r % 3 == 0 ? 0xFF : r % 3 == 1 ? 0x00 : (b % 2 ? 0xAA : 0x55), sizeof(blk->scales));
      const uint8_t code = r % 4 == 0 ? 0xFF : r % 4 == 1 ? 0x00 : r % 4 == 2 ? 0xF0 : 0x33;
      std::memset(blk->qs, code, sizeof(blk->qs));
      std::memset(blk->hmask, r % 4 == 1 ? 0x00 : r % 4 == 3 ? 0x0F : 0xFF, sizeof(blk->hmask));
    }
  pack_row_groups_ref(t, rows.data(), kRows, kCols, packed.data());
  const std::vector<float> x = sign_patterns(kTok, kCols, 16);
  if (every_k_kernel_matches_the_plain_product(t, packed, kRows, kCols, x) == 0)
    GTEST_SKIP() << "no Q3_K row-group kernel on this CPU";
}

// Q2_K at its extremes: codes 3 (or 0, or mixed), 4-bit scales and mins 15 (or mixed), against
// activations of +-1 (AVX2 adds four chunks' pairs in int16: 4 x 2 x 3 x 128 = 3072).
TEST(RowGroups, EveryQ2KKernelIsExactAtExtremeCodes) {
  constexpr TensorType t = TensorType::Q2_K;
  constexpr int64_t kRows = 32, kCols = 512, kTok = 5;
  const size_t rb = st::row_bytes(t, kCols);
  std::vector<uint8_t> rows(rb * kRows), packed(rows.size());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t b = 0; b < kCols / 256; ++b) {
      auto* blk = reinterpret_cast<BlockQ2_K*>(rows.data() + static_cast<size_t>(r) * rb) + b;
      blk->d = blk->dmin = 0x3C00;  // fp16 1.0
      std::memset(blk->scales, r % 3 == 0 ? 0xFF : r % 3 == 1 ? 0x0F : (b % 2 ? 0xF0 : 0x5A), sizeof(blk->scales));
      std::memset(blk->qs, r % 4 == 0 ? 0xFF : r % 4 == 1 ? 0x00 : r % 4 == 2 ? 0xF0 : 0x33, sizeof(blk->qs));
    }
  pack_row_groups_ref(t, rows.data(), kRows, kCols, packed.data());
  const std::vector<float> x = sign_patterns(kTok, kCols, 16);
  if (every_k_kernel_matches_the_plain_product(t, packed, kRows, kCols, x) == 0)
    GTEST_SKIP() << "no Q2_K row-group kernel on this CPU";
}

// On an ISA with group kernels the file layout goes through them too (16 rows staged at a
// time), so both layouts give identical bits: what lets the expert cache serve experts in the
// file's layout while resident weights are re-laid.
TEST(RowGroups, FileLayoutProductsEqualPackedOnesBitForBit) {
  ThreadPool pool(2);
  for (TensorType t : kTypes) {
    if (!row_groups_supported(t, 64)) continue;  // no row-group kernel for this type here
    // 17 and 64 tokens: prompt-sized batches, which the K-quant group kernels hand to the tile gemm
    // (whose scratch must not be the staging buffer: it was, and 64 tokens clobbered partial groups).
    for (int64_t n_tok : {1, 3, 9, 17, 64}) {
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

// One token over a matrix large enough for matmul's two-streams-per-thread path: the same
// bits as the file layout's rows one range at a time.
TEST(RowGroups, OneTokenMatmulInPairsEqualsTheFileLayoutBitForBit) {
  ThreadPool pool(2);
  for (TensorType t : kTypes) {
    if (!row_groups_supported(t, 64)) continue;  // no row-group kernel for this type here
    Problem p(t, 1040, 96, 1, 77);  // 16 chunks of 64 rows and a partial one
    const WeightRows plain{t, p.n_cols, p.n_rows, p.row_bytes, p.rows.data()};
    WeightRows grouped = plain;
    grouped.data = p.packed.data();
    grouped.row_groups = true;
    std::vector<float> a(static_cast<size_t>(p.n_rows), -1.0f), b(a.size(), -2.0f);
    matmul(grouped, p.act, a.data(), p.n_rows, pool);
    matmul_rows(plain, 0, p.n_rows, p.act, b.data(), p.n_rows);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << tensor_type_name(t) << " at " << i;
    // matmul_parts pairs chunks across parts of different sizes.
    Problem q(t, 96, 96, 1, 78);
    WeightRows gq{t, q.n_cols, q.n_rows, q.row_bytes, q.packed.data(), true};
    std::vector<float> c(a.size(), -3.0f), d(96, -3.0f), want_d(96, -4.0f);
    const MatmulPart parts[2] = {{grouped, c.data(), p.n_rows}, {gq, d.data(), 96}};
    matmul_parts(parts, p.act, pool);  // q's rows with p's activations: same shape
    matmul_rows(WeightRows{t, q.n_cols, q.n_rows, q.row_bytes, q.rows.data()}, 0, 96, p.act, want_d.data(), 96);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(c[i], b[i]) << "parts, first matrix at " << i;
    for (size_t i = 0; i < 96; ++i) ASSERT_EQ(d[i], want_d[i]) << "parts, second matrix at " << i;
  }
}

TEST(RowGroups, MatmulOverPackedWeightsMatchesTheFileLayout) {
  ThreadPool pool(2);
  for (TensorType t : kTypes) {
    if (!row_groups_supported(t, 256)) continue;  // no row-group kernel for this type here
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
