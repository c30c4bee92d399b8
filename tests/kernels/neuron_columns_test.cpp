// Neuron columns (sparse ReGLU down product): the layout round-trips bit-exactly, the sparse
// product of the scalar kernel equals the dense reference dot product bit for bit (the same
// integer block sums scaled the same way), and every SIMD kernel equals the scalar one up
// to float rounding (the NEON kernels, which sum in integers, bit for bit).
#include "kernels/neuron_columns.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <random>

#include "kernel_test_util.h"
#include "kernels/blocks.h"

namespace st {
namespace {

const TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q8_0, TensorType::F32, TensorType::F16, TensorType::BF16};

struct Case {
  TensorType type;
  int64_t n_out, n_ff;
  size_t row_bytes() const { return st::row_bytes(type, n_ff); }
};

// ReGLU-like activations: about `zero` of them exactly 0, the rest positive.
std::vector<float> sparse_acts(int64_t n, double zero, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(n));
  for (auto& x : a) x = u(rng) < zero ? 0.0f : u(rng) * 3.0f;
  return a;
}

std::vector<int32_t> nonzero(const std::vector<float>& a) {
  std::vector<int32_t> js;
  for (size_t j = 0; j < a.size(); ++j)
    if (a[j] != 0.0f) js.push_back(static_cast<int32_t>(j));
  return js;
}

TEST(NeuronColumns, RoundTripsBitExactly) {
  for (TensorType t : kTypes) {
    const Case c{t, 96, 128};
    const auto rows = test::quantized_rows(t, c.n_ff, c.n_out, c.row_bytes(), 11);
    const size_t bytes = c.row_bytes() * static_cast<size_t>(c.n_out);
    std::vector<uint8_t> cols(bytes), back(bytes);
    rows_to_neuron_columns(t, rows.data(), c.n_out, c.n_ff, cols.data());
    neuron_columns_to_rows(t, cols.data(), c.n_out, c.n_ff, back.data());
    EXPECT_TRUE(std::equal(back.begin(), back.end(), rows.begin())) << tensor_type_name(t);
    EXPECT_FALSE(std::equal(cols.begin(), cols.end(), rows.begin())) << tensor_type_name(t) << ": layout unchanged";
  }
}

TEST(NeuronColumns, ScalarSparseProductEqualsDenseReference) {
  for (TensorType t : kTypes) {
    for (double zero : {0.0, 0.6, 0.97}) {
      const Case c{t, 160, 256};
      const auto rows = test::quantized_rows(t, c.n_ff, c.n_out, c.row_bytes(), 21);
      std::vector<uint8_t> cols(c.row_bytes() * static_cast<size_t>(c.n_out));
      rows_to_neuron_columns(t, rows.data(), c.n_out, c.n_ff, cols.data());
      const KernelTable& kt = kernel_table(t, Isa::scalar);
      const auto a = sparse_acts(c.n_ff, zero, 5);
      std::vector<uint8_t> qa(row_bytes(kt.vec_dot_type, c.n_ff));
      kernel_table(kt.vec_dot_type, Isa::scalar).quantize_row(a.data(), qa.data(), c.n_ff);
      const auto active = nonzero(a);
      std::vector<float> got(static_cast<size_t>(c.n_out));
      // Two h ranges, as threads split the outputs.
      neuron_columns_down_isa(Isa::scalar, t, cols.data(), c.n_out, c.n_ff, qa.data(), active, 0, 64, got.data());
      neuron_columns_down_isa(Isa::scalar, t, cols.data(), c.n_out, c.n_ff, qa.data(), active, 64, c.n_out, got.data() + 64);
      for (int64_t h = 0; h < c.n_out; ++h) {
        const float want = kt.vec_dot(c.n_ff, rows.data() + static_cast<size_t>(h) * c.row_bytes(), qa.data());
        if (t == TensorType::Q4_0 || t == TensorType::Q8_0)
          ASSERT_EQ(got[static_cast<size_t>(h)], want) << tensor_type_name(t) << " zero " << zero << " h " << h;
        else
          ASSERT_NEAR(got[static_cast<size_t>(h)], want, 1e-4f * (1.0f + std::fabs(want))) << tensor_type_name(t) << " h " << h;
      }
    }
  }
}

TEST(NeuronColumns, EverySimdKernelEqualsScalar) {
  for (Isa isa : available_isas()) {
    for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0}) {
      const Case c{t, 1536, 768};
      const auto rows = test::quantized_rows(t, c.n_ff, c.n_out, c.row_bytes(), 31);
      std::vector<uint8_t> cols(c.row_bytes() * static_cast<size_t>(c.n_out));
      rows_to_neuron_columns(t, rows.data(), c.n_out, c.n_ff, cols.data());
      const auto a = sparse_acts(c.n_ff, 0.7, 9);
      std::vector<uint8_t> qa(row_bytes(TensorType::Q8_0, c.n_ff));
      kernel_table(TensorType::Q8_0, Isa::scalar).quantize_row(a.data(), qa.data(), c.n_ff);
      const auto active = nonzero(a);
      std::vector<float> want(static_cast<size_t>(c.n_out)), got(static_cast<size_t>(c.n_out));
      neuron_columns_down_isa(Isa::scalar, t, cols.data(), c.n_out, c.n_ff, qa.data(), active, 0, c.n_out, want.data());
      for (int64_t h0 = 0; h0 < c.n_out; h0 += 512)
        neuron_columns_down_isa(isa, t, cols.data(), c.n_out, c.n_ff, qa.data(), active, h0, std::min(c.n_out, h0 + 512),
                                got.data() + h0);
      // SIMD kernels may fuse the final multiply-add (one rounding less): equal up to float
      // rounding of the per-group sums, not bit for bit.
      float scale = 0;
      for (float w : want) scale = std::max(scale, std::fabs(w));
      for (size_t h = 0; h < want.size(); ++h)
        ASSERT_NEAR(got[h], want[h], 2e-6f * scale) << test::type_isa_name(t, isa) << " h " << h;
    }
  }
}

// The NEON kernels sum integers exactly and scale like the scalar kernel (multiply, then add):
// for them the comparison is bit for bit.
bool bit_exact_isa(Isa isa) { return isa == Isa::neon || isa == Isa::neon_dotprod; }

// The shapes the SIMD kernels split work by: groups with 1, 3, 5, 17 and all 32 active neurons
// (SDOT takes neurons in fours; the NEON Q4_0 kernel widens its int16 sums every 16), an
// empty group, and output ranges that are a lone 32-output tail, 64 + 32, and 3 x 64.
TEST(NeuronColumns, EverySimdKernelHandlesPartialGroupsAndTails) {
  const int active_per_group[] = {1, 3, 5, 17, 32, 0};
  const int64_t n_out = 320, n_ff = 32 * 6;
  const int64_t splits[] = {0, 32, 128, 320};
  for (Isa isa : available_isas()) {
    for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0}) {
      const Case c{t, n_out, n_ff};
      const auto rows = test::quantized_rows(t, c.n_ff, c.n_out, c.row_bytes(), 41);
      std::vector<uint8_t> cols(c.row_bytes() * static_cast<size_t>(c.n_out));
      rows_to_neuron_columns(t, rows.data(), c.n_out, c.n_ff, cols.data());
      std::vector<float> a(static_cast<size_t>(n_ff), 0.0f);
      std::mt19937 rng(3);
      std::uniform_real_distribution<float> u(-2.0f, 2.0f);
      for (int g = 0; g < 6; ++g) {
        std::vector<int> idx(32);
        for (int j = 0; j < 32; ++j) idx[static_cast<size_t>(j)] = j;
        std::shuffle(idx.begin(), idx.end(), rng);
        for (int k = 0; k < active_per_group[g]; ++k) {
          float x = u(rng);
          if (std::fabs(x) < 0.05f) x = 1.0f;  // non-zero after quantization
          a[static_cast<size_t>(32 * g + idx[static_cast<size_t>(k)])] = x;
        }
      }
      std::vector<uint8_t> qa(row_bytes(TensorType::Q8_0, n_ff));
      kernel_table(TensorType::Q8_0, Isa::scalar).quantize_row(a.data(), qa.data(), n_ff);
      const auto active = nonzero(a);
      std::vector<float> want(static_cast<size_t>(n_out)), got(static_cast<size_t>(n_out));
      neuron_columns_down_isa(Isa::scalar, t, cols.data(), n_out, n_ff, qa.data(), active, 0, n_out, want.data());
      for (size_t s = 0; s + 1 < std::size(splits); ++s)
        neuron_columns_down_isa(isa, t, cols.data(), n_out, n_ff, qa.data(), active, splits[s], splits[s + 1],
                                got.data() + splits[s]);
      float scale = 0;
      for (float w : want) scale = std::max(scale, std::fabs(w));
      ASSERT_GT(scale, 0.0f);
      for (size_t h = 0; h < want.size(); ++h) {
        if (bit_exact_isa(isa))
          ASSERT_EQ(got[h], want[h]) << test::type_isa_name(t, isa) << " h " << h;
        else
          ASSERT_NEAR(got[h], want[h], 2e-6f * scale) << test::type_isa_name(t, isa) << " h " << h;
      }
    }
  }
}

// Extreme codes against hand-computed sums: all 32 neurons active with activation code -128
// and weight codes at both ends of their range (Q8_0 -128 and 127; Q4_0 -8 and 7), scales 1.
// Per output the integer sum is 32 * code * -128, beyond int16 (32768 = 2^15 for Q4_0 -8,
// 524288 for Q8_0 -128): a kernel that sums in too narrow lanes fails here.
TEST(NeuronColumns, EverySimdKernelSumsExtremeCodesExactly) {
  const int64_t n_out = 96, n_ff = 32;
  const uint16_t kOne = 0x3C00;  // fp16 1.0
  BlockQ8_0 act{};
  act.d = kOne;
  for (auto& q : act.qs) q = -128;
  std::vector<int32_t> all(32);
  for (int j = 0; j < 32; ++j) all[static_cast<size_t>(j)] = j;
  for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0}) {
    const bool q4 = t == TensorType::Q4_0;
    const size_t cb = static_cast<size_t>(q4 ? n_out / 2 : n_out);
    // The column layout directly: n_out fp16 scales, then 32 code columns.
    std::vector<uint8_t> cols(static_cast<size_t>(n_out) * 2 + 32 * cb);
    for (int64_t h = 0; h < n_out; ++h) std::memcpy(cols.data() + 2 * h, &kOne, 2);
    uint8_t* codes = cols.data() + n_out * 2;
    auto code_of = [&](int64_t h) { return h % 3 == 1 ? (q4 ? 7 : 127) : (q4 ? -8 : -128); };
    for (int j = 0; j < 32; ++j)
      for (int64_t h = 0; h < n_out; ++h) {
        uint8_t* col = codes + static_cast<size_t>(j) * cb;
        if (!q4) {
          col[h] = static_cast<uint8_t>(code_of(h));
          continue;
        }
        const auto nibble = static_cast<uint8_t>(code_of(h) + 8);
        uint8_t& b = col[(h / 32) * 16 + (h % 16)];
        b = static_cast<uint8_t>((h % 32) < 16 ? ((b & 0xF0) | nibble) : ((b & 0x0F) | (nibble << 4)));
      }
    for (Isa isa : available_isas()) {
      std::vector<float> got(static_cast<size_t>(n_out));
      neuron_columns_down_isa(isa, t, cols.data(), n_out, n_ff, &act, all, 0, n_out, got.data());
      for (int64_t h = 0; h < n_out; ++h)
        ASSERT_EQ(got[static_cast<size_t>(h)], static_cast<float>(32 * code_of(h) * -128))
            << test::type_isa_name(t, isa) << " h " << h;
    }
  }
}

TEST(NeuronColumns, RefusesUnsupportedTypes) {
  EXPECT_FALSE(neuron_columns_supported(TensorType::Q4_K, 256, 256));
  EXPECT_FALSE(neuron_columns_supported(TensorType::Q4_0, 48, 256));
  std::vector<uint8_t> buf(1 << 16);
  EXPECT_THROW(rows_to_neuron_columns(TensorType::Q6_K, buf.data(), 256, 256, buf.data()), std::invalid_argument);
}

}  // namespace
}  // namespace st
