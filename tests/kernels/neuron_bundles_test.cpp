// Neuron bundles (sparse ReGLU's layout of up and down): the layout round-trips bit-exactly
// and fills exactly the bytes of up + down, and the sparse FFN over the bundles, on every
// ISA, equals the dense computation written out with the scalar kernels (up dot products,
// ReGLU, the activations quantized as the dense path quantizes them, down dot products):
// at every sparsity, for one token and several, with partial and empty neuron blocks, and at
// extreme codes where too-narrow integer sums would overflow.
#include "kernels/neuron_bundles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "kernel_test_util.h"
#include "kernels/blocks.h"
#include "kernels/matmul.h"

namespace st {
namespace {

const TensorType kTypes[] = {TensorType::Q4_0, TensorType::Q8_0};

struct Expert {
  TensorType type;
  int64_t H, F;
  std::vector<uint8_t> up, down, part0, part1;  // file layouts, then the bundles
  Expert(TensorType t, int64_t h, int64_t f, uint32_t seed) : type(t), H(h), F(f) {
    up = test::quantized_rows(t, H, F, row_bytes(t, H), seed);
    down = test::quantized_rows(t, F, H, row_bytes(t, F), seed + 1);
    up.resize(row_bytes(t, H) * static_cast<size_t>(F));
    down.resize(row_bytes(t, F) * static_cast<size_t>(H));
    make_bundles();
  }
  void make_bundles() {
    const BundleShape s(type, H, F);
    part0.assign(s.part_bytes, 0);
    part1.assign(s.part_bytes, 0);
    rows_to_bundles(type, up.data(), down.data(), H, F, part0.data(), part1.data());
  }
};

// The dense computation with the scalar kernels: out[t][h] and the count of zero activations.
std::vector<float> dense(const Expert& x, const std::vector<float>& gate, const QuantizedActs& act, int64_t n_tok,
                         int64_t* zero, std::vector<double>* magnitude) {
  const KernelTable& kt = kernel_table(x.type, Isa::scalar);
  const KernelTable& q8 = kernel_table(TensorType::Q8_0, Isa::scalar);
  const size_t urb = row_bytes(x.type, x.H), drb = row_bytes(x.type, x.F);
  std::vector<float> out(static_cast<size_t>(n_tok * x.H));
  std::vector<float> a(static_cast<size_t>(x.F));
  std::vector<uint8_t> qa(row_bytes(TensorType::Q8_0, x.F));
  *zero = 0;
  magnitude->assign(out.size(), 0.0);
  for (int64_t t = 0; t < n_tok; ++t) {
    for (int64_t j = 0; j < x.F; ++j) {
      const float g = gate[static_cast<size_t>(t * x.F + j)];
      a[static_cast<size_t>(j)] = g > 0.0f ? g * kt.vec_dot(x.H, x.up.data() + static_cast<size_t>(j) * urb, act.row(t)) : 0.0f;
      *zero += a[static_cast<size_t>(j)] == 0.0f;
    }
    q8.quantize_row(a.data(), qa.data(), x.F);
    for (int64_t h = 0; h < x.H; ++h) {
      const uint8_t* row = x.down.data() + static_cast<size_t>(h) * drb;
      out[static_cast<size_t>(t * x.H + h)] = kt.vec_dot(x.F, row, qa.data());
      (*magnitude)[static_cast<size_t>(t * x.H + h)] = test::dot_magnitude(x.type, row, qa.data(), x.F);
    }
  }
  return out;
}

// Gates with about `zero` of them <= 0 (inactive neurons), the rest positive.
std::vector<float> gates(int64_t n, double zero, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> g(static_cast<size_t>(n));
  for (auto& v : g) v = u(rng) < zero ? -u(rng) : 0.05f + u(rng);
  return g;
}

// Both parts through bundle_ffn_isa, summed.
std::vector<float> sparse(Isa isa, const Expert& x, const std::vector<float>& gate, const QuantizedActs& act,
                          int64_t n_tok, BundleCounts* counts) {
  const BundleShape s(x.type, x.H, x.F);
  std::vector<float> out(static_cast<size_t>(n_tok * x.H), 123.0f), out1(out.size(), 456.0f);
  const BundleCounts c0 = bundle_ffn_isa(isa, s, x.part0.data(), 0, gate.data(), n_tok, act.row(0), act.row_bytes,
                                         act.block_sums.data(), out.data());
  const BundleCounts c1 = bundle_ffn_isa(isa, s, x.part1.data(), 1, gate.data(), n_tok, act.row(0), act.row_bytes,
                                         act.block_sums.data(), out1.data());
  for (size_t i = 0; i < out.size(); ++i) out[i] += out1[i];
  counts->zero = c0.zero + c1.zero;
  counts->rows_read = c0.rows_read + c1.rows_read;
  return out;
}

// Every ISA's sparse FFN against the dense computation, one token. The scalar ISA computes
// the up products exactly as the reference; SIMD row kernels round their sums differently,
// which can move an activation's Q8_0 code by one. Returns the last ISA's counts.
BundleCounts expect_dense_result(const Expert& x, const std::vector<float>& g, const QuantizedActs& act) {
  int64_t want_zero = 0;
  std::vector<double> mag;
  const auto want = dense(x, g, act, 1, &want_zero, &mag);
  BundleCounts c;
  for (Isa isa : available_isas()) {
    const auto got = sparse(isa, x, g, act, 1, &c);
    EXPECT_EQ(c.zero, want_zero) << test::type_isa_name(x.type, isa);
    const double tol = isa == Isa::scalar ? 1e-5 : 2e-3;
    for (size_t i = 0; i < got.size(); ++i)
      if (std::fabs(got[i] - want[i]) > tol * mag[i] + 1e-6) {
        ADD_FAILURE() << test::type_isa_name(x.type, isa) << " at " << i << ": " << got[i] << " vs " << want[i];
        break;
      }
  }
  return c;
}

TEST(NeuronBundles, RoundTripBitExactlyInTheBytesOfUpAndDown) {
  for (TensorType t : kTypes) {
    Expert x(t, 96, 128, 11);
    const BundleShape s(t, 96, 128);
    EXPECT_EQ(s.part_bytes, x.up.size());
    EXPECT_EQ(s.part_bytes, x.down.size());
    std::vector<uint8_t> up(x.up.size()), down(x.down.size());
    bundles_to_rows(t, x.part0.data(), x.part1.data(), 96, 128, up.data(), down.data());
    EXPECT_EQ(up, x.up) << tensor_type_name(t);
    EXPECT_EQ(down, x.down) << tensor_type_name(t);
    EXPECT_NE(x.part0, x.up) << tensor_type_name(t) << ": layout unchanged";
  }
  EXPECT_FALSE(bundles_supported(TensorType::Q4_0, 96, 96));  // 3 blocks: not two equal parts
  EXPECT_FALSE(bundles_supported(TensorType::Q4_K, 256, 256));
  EXPECT_THROW(BundleShape(TensorType::F16, 96, 128), std::invalid_argument);
}

TEST(NeuronBundles, SparseFfnEqualsTheDenseComputationOnEveryIsa) {
  for (TensorType t : kTypes) {
    Expert x(t, 320, 192, 21);  // 320 outputs: 128-output tiles and a 64-output tail
    for (int64_t n_tok : {1, 3, 6}) {
      QuantizedActs act;
      quantize_acts(t, test::gaussian(n_tok * x.H, 5 + static_cast<uint32_t>(n_tok)).data(), n_tok, x.H, act, nullptr);
      for (double zero : {0.0, 0.5, 0.9, 1.0}) {
        const auto g = gates(n_tok * x.F, zero, 7);
        int64_t want_zero = 0;
        std::vector<double> mag;
        const auto want = dense(x, g, act, n_tok, &want_zero, &mag);
        int64_t want_rows = 0;
        for (int64_t j = 0; j < x.F; ++j) {
          bool any = false;
          for (int64_t tk = 0; tk < n_tok; ++tk) any = any || g[static_cast<size_t>(tk * x.F + j)] > 0.0f;
          want_rows += any;
        }
        for (Isa isa : available_isas()) {
          BundleCounts c;
          const auto got = sparse(isa, x, g, act, n_tok, &c);
          EXPECT_EQ(c.zero, want_zero) << test::type_isa_name(t, isa);
          EXPECT_EQ(c.rows_read, want_rows) << test::type_isa_name(t, isa);
          // The scalar ISA computes the up products exactly as the reference; SIMD row kernels
          // round their sums differently, which can move an activation's Q8_0 code by one.
          const double tol = isa == Isa::scalar ? 1e-5 : 2e-3;
          for (size_t i = 0; i < got.size(); ++i)
            ASSERT_NEAR(got[i], want[i], tol * mag[i] + 1e-6)
                << test::type_isa_name(t, isa) << " tokens " << n_tok << " zero " << zero << " at " << i;
        }
      }
    }
  }
}

// Blocks with 1, 3, 5, 17, 32 and 0 active neurons (the SIMD kernels take neurons in pairs
// and fours, widen int16 sums every 16, and must skip an empty block).
TEST(NeuronBundles, EveryIsaHandlesPartialAndEmptyBlocks) {
  const int active_per_block[] = {1, 3, 5, 17, 32, 0};
  for (TensorType t : kTypes) {
    Expert x(t, 192, 192, 31);
    std::vector<float> g(static_cast<size_t>(x.F), -1.0f);
    std::mt19937 rng(3);
    for (int b = 0; b < 6; ++b) {
      std::vector<int> idx(32);
      for (int j = 0; j < 32; ++j) idx[static_cast<size_t>(j)] = j;
      std::shuffle(idx.begin(), idx.end(), rng);
      for (int k = 0; k < active_per_block[b]; ++k) g[static_cast<size_t>(32 * b + idx[static_cast<size_t>(k)])] = 0.5f + 0.1f * k;
    }
    QuantizedActs act;
    quantize_acts(t, test::gaussian(x.H, 9).data(), 1, x.H, act, nullptr);
    EXPECT_EQ(expect_dense_result(x, g, act).rows_read, 1 + 3 + 5 + 17 + 32);
  }
}

// Every neuron of a block active with the largest activation code (+-127: all up rows equal,
// all gates equal), against down codes at both ends of their range (Q8_0 -128 and 127, Q4_0
// -8 and 7) with scale 1: each output's integer sum is 32 x 127 x code, beyond int16.
TEST(NeuronBundles, EveryIsaSumsExtremeCodesExactly) {
  const int64_t H = 96, F = 64;
  const uint16_t kOne = 0x3C00;  // fp16 1.0
  for (TensorType t : kTypes) {
    const bool q4 = t == TensorType::Q4_0;
    Expert x(t, H, F, 41);
    const size_t urb = row_bytes(t, H), drb = row_bytes(t, F), bb = q4 ? sizeof(BlockQ4_0) : sizeof(BlockQ8_0);
    for (int64_t j = 1; j < F; ++j) std::memcpy(x.up.data() + j * urb, x.up.data(), urb);  // equal up rows
    auto code_of = [&](int64_t h) { return h % 3 == 1 ? (q4 ? 7 : 127) : (q4 ? -8 : -128); };
    for (int64_t h = 0; h < H; ++h)
      for (int64_t b = 0; b < F / 32; ++b) {
        uint8_t* blk = x.down.data() + static_cast<size_t>(h) * drb + static_cast<size_t>(b) * bb;
        std::memcpy(blk, &kOne, 2);
        for (int i = 0; i < (q4 ? 16 : 32); ++i)
          blk[2 + i] = q4 ? static_cast<uint8_t>((code_of(h) + 8) * 0x11) : static_cast<uint8_t>(code_of(h));
      }
    x.make_bundles();
    const std::vector<float> g(static_cast<size_t>(F), 1.0f);
    QuantizedActs act;
    quantize_acts(t, test::gaussian(H, 13).data(), 1, H, act, nullptr);
    expect_dense_result(x, g, act);
  }
}

}  // namespace
}  // namespace st
