// A small SmallThinker GGUF for running MoE layers through every expert layout and source
// (three layers; tests/model/moe_block_test.cpp: the resident source; tests/runtime/moe_store_test.cpp: the
// budgeted store). Its ReGLU is sparse the way real models are: every token embedding carries
// one shared direction u, and three quarters of each expert's gate rows point against it, so
// those neurons are off for nearly every token (exactly zero after ReGLU) while the others
// turn on about half the time. Sparse up rows, row lists and neuron bundles then all have
// work to skip. The model's float twin (the same quantized values, dequantized into F32) is
// the oracle for layouts that are not bit-identical to the file's (bundles, transposed down).
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "kernels/kernel_table.h"
#include "kernels/thread_pool.h"
#include "model/config.h"
#include "model/forward.h"
#include "model/kv_store.h"
#include "model/simple_kv.h"  // tests/model
#include "model/test_model_writer.h"  // tests/model
#include "model/weights.h"

namespace st::moe_test {

constexpr int64_t kH = 128, kHeads = 4, kHeadsKv = 2, kHeadDim = 32, kExperts = 8, kUsed = 2, kFf = 256, kVocab = 64;
constexpr int kLayers = 3;
constexpr double kDeadShare = 0.75;  // gate rows against the shared direction

struct ModelSpec {
  TensorType type = TensorType::Q8_0;
  bool down_transposed = false;  // ffn_down_exps as PowerInfer files store it: [n_ff rows x n_embd] per expert
  bool as_f32 = false;           // the float twin
  std::string path() const {
    return ::testing::TempDir() + "/moe_" + std::to_string(::getpid()) + "_" + std::string(tensor_type_name(type)) + (down_transposed ? "_t" : "") +
           (as_f32 ? "_f32" : "") + ".gguf";
  }
};

// `rows` x `cols` values: a normal draw of `scale` plus `along` times the unit vector u
// (length cols) on the rows where dir_of(row) says so; quantized to `type` (or its float twin).
inline std::vector<uint8_t> rows_of(const ModelSpec& m, TensorType type, int64_t rows, int64_t cols, float scale,
                                    std::mt19937& rng, const std::vector<float>& u = {},
                                    const std::function<float(int64_t)>& along = {}) {
  std::normal_distribution<float> g(0.0f, scale);
  return test_model::quantized_rows(type, rows, cols, m.as_f32, [&](int64_t r, std::vector<float>& row) {
    const float a = along ? along(r) : 0.0f;
    for (size_t i = 0; i < row.size(); ++i) row[i] = g(rng) + (a != 0.0f ? a * u[i] : 0.0f);
  });
}

inline std::string write_model(const ModelSpec& m) {
  const TensorType t = m.type, ft = m.as_f32 ? TensorType::F32 : m.type;
  GgufWriter w;
  test_model::set_hparams(w, test_model::Shape{kH, kHeads, kHeadsKv, kHeadDim, kExperts, kUsed, kFf, kLayers});
  std::mt19937 rng(7);
  std::vector<float> u(kH);
  {
    std::normal_distribution<float> g;
    double n2 = 0;
    for (auto& v : u) {
      v = g(rng);
      n2 += v * v;
    }
    for (auto& v : u) v = static_cast<float>(v / std::sqrt(n2));
  }
  const float s = 1.0f / std::sqrt(static_cast<float>(kH));
  const float beta = 2.0f * std::sqrt(static_cast<float>(kH));  // the shared direction dominates each embedding
  auto ones = [] {
    std::vector<float> v(kH, 1.0f);
    std::vector<uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  };
  w.add_tensor("token_embd.weight", ft, {kH, kVocab}, rows_of(m, t, kVocab, kH, 1.0f, rng, u, [&](int64_t) { return beta; }));
  w.add_tensor("output_norm.weight", TensorType::F32, {kH}, ones());
  w.add_tensor("output.weight", ft, {kH, kVocab}, rows_of(m, t, kVocab, kH, s, rng));
  std::bernoulli_distribution dead(kDeadShare);
  for (int il = 0; il < kLayers; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    w.add_tensor(p + "attn_norm.weight", TensorType::F32, {kH}, ones());
    w.add_tensor(p + "ffn_norm.weight", TensorType::F32, {kH}, ones());
    w.add_tensor(p + "attn_q.weight", ft, {kH, kHeads * kHeadDim}, rows_of(m, t, kHeads * kHeadDim, kH, s, rng));
    w.add_tensor(p + "attn_k.weight", ft, {kH, kHeadsKv * kHeadDim}, rows_of(m, t, kHeadsKv * kHeadDim, kH, s, rng));
    w.add_tensor(p + "attn_v.weight", ft, {kH, kHeadsKv * kHeadDim}, rows_of(m, t, kHeadsKv * kHeadDim, kH, s, rng));
    w.add_tensor(p + "attn_output.weight", ft, {kHeads * kHeadDim, kH}, rows_of(m, t, kH, kHeads * kHeadDim, s, rng));
    w.add_tensor(p + "ffn_gate_inp.weight", TensorType::F32, {kH, kExperts}, rows_of(m, TensorType::F32, kExperts, kH, s, rng));
    std::vector<uint8_t> is_dead(static_cast<size_t>(kFf * kExperts));
    for (auto& d : is_dead) d = dead(rng);
    w.add_tensor(p + "ffn_gate_exps.weight", ft, {kH, kFf, kExperts},
                 rows_of(m, t, kFf * kExperts, kH, s, rng, u, [&](int64_t r) { return is_dead[static_cast<size_t>(r)] ? -1.0f : 0.0f; }));
    w.add_tensor(p + "ffn_up_exps.weight", ft, {kH, kFf, kExperts}, rows_of(m, t, kFf * kExperts, kH, s, rng));
    if (m.down_transposed)
      w.add_tensor(p + "ffn_down_exps.weight", ft, {kH, kFf, kExperts}, rows_of(m, t, kFf * kExperts, kH, s, rng));
    else
      w.add_tensor(p + "ffn_down_exps.weight", ft, {kFf, kH, kExperts}, rows_of(m, t, kH * kExperts, kFf, s, rng));
  }
  const std::string path = m.path();
  w.write(path);
  return path;
}

using test::SimpleKv;

// What one run produced: every logit, and what sparse ReGLU did.
struct RunResult {
  std::vector<float> logits;
  ReluCounters relu;
};

// Two sequences through `fwd`: prompts of 13 and 8 tokens in one batch (every token's
// logits), 3 steps of one token for both together, then 4 steps of the first alone (decode).
inline RunResult run_sequences(Forward& fwd, const ModelConfig& cfg) {
  SimpleKv kv_a(cfg.n_layer, cfg.kv_width(), 64), kv_b(cfg.n_layer, cfg.kv_width(), 64);
  std::vector<int32_t> pa, pb;
  for (int i = 0; i < 13; ++i) pa.push_back((i * 37 + 5) % kVocab);
  for (int i = 0; i < 8; ++i) pb.push_back((i * 11 + 3) % kVocab);
  RunResult r;
  auto step = [&](std::vector<SeqChunk> chunks) {
    const std::span<const float> l = fwd.run(chunks);
    r.logits.insert(r.logits.end(), l.begin(), l.end());
  };
  step({{&kv_a, pa, true}, {&kv_b, pb, true}});
  for (int s = 0; s < 7; ++s) {
    const int32_t ta = (s * 101 + 7) % kVocab, tb = (s * 29 + 1) % kVocab;
    if (s < 3) step({{&kv_a, std::span<const int32_t>(&ta, 1), false}, {&kv_b, std::span<const int32_t>(&tb, 1), false}});
    else step({{&kv_a, std::span<const int32_t>(&ta, 1), false}});
  }
  r.relu = fwd.relu_counters();
  return r;
}
inline constexpr size_t kLogitRows = 13 + 8 + 3 * 2 + 4;

// Bit-for-bit equality of two runs' logits.
inline void expect_same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_EQ(std::memcmp(&a[i], &b[i], sizeof(float)), 0) << what << ": logit " << i << ": " << a[i] << " vs " << b[i];
}

// Against the float twin: integer kernels differ by the int8 rounding of activations, which
// may flip a near-tied expert choice at a position, so the check is per position (median
// relative error, and most positions close), as in forward_layout_test.
inline void expect_near_twin(const std::vector<float>& got, const std::vector<float>& twin, const std::string& what) {
  ASSERT_EQ(got.size(), twin.size()) << what;
  std::vector<double> rel;
  float lo = got[0], hi = got[0];
  for (size_t p = 0; p < twin.size() / kVocab; ++p) {
    double err = 0, mag = 0;
    for (size_t i = p * kVocab; i < (p + 1) * kVocab; ++i) {
      ASSERT_TRUE(std::isfinite(got[i])) << what << ": logit " << i;
      err = std::max(err, std::fabs(static_cast<double>(got[i]) - twin[i]));
      mag = std::max(mag, std::fabs(static_cast<double>(twin[i])));
      lo = std::min(lo, got[i]);
      hi = std::max(hi, got[i]);
    }
    rel.push_back(err / std::max(mag, 1e-6));
  }
  EXPECT_GT(hi - lo, 1e-3f) << what << ": constant logits";
  std::sort(rel.begin(), rel.end());
  const auto within = std::count_if(rel.begin(), rel.end(), [](double r) { return r < 0.1; });
  EXPECT_LT(rel[rel.size() / 2], 0.05) << what << ": median relative error per position against the float twin";
  EXPECT_GE(static_cast<double>(within), 0.8 * static_cast<double>(rel.size())) << what << ": positions within 10%";
}

}  // namespace st::moe_test
