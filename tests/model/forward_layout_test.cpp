// The forward pass on a small random Q4_0 / Q8_0 model, run with the weights as the file
// lays them out and again after the load-time re-layout into row groups (model/
// weight_packing.h): the logits of a prompt and of the decode steps after it must be the same
// bits, on whatever ISA runs the test (x86 here; the aarch64 cross build runs it under qemu,
// which puts the NEON kernels through a whole forward pass). On an ISA without row-group
// kernels nothing is re-laid and the test checks only that the pass runs and gives finite,
// non-constant logits. Both runs are also compared with the model's float twin (the same
// dequantized weights in F32, so float kernels): a broken integer kernel cannot hide there.
// Finer arithmetic checks live elsewhere (kernels: every ISA against scalar; the numpy
// oracle: the whole engine).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "model/simple_kv.h"  // tests/model
#include "model/test_model_writer.h"  // tests/model
#include "kernels/kernel_table.h"
#include "kernels/row_groups.h"
#include "kernels/thread_pool.h"
#include "model/config.h"
#include "model/forward.h"
#include "model/kv_store.h"
#include "model/resident_expert_source.h"
#include "model/weight_packing.h"
#include "model/weights.h"

namespace st {
namespace {

constexpr int64_t kH = 64, kHeads = 4, kHeadsKv = 2, kHeadDim = 32, kExperts = 8, kUsed = 2, kFf = 32, kVocab = 128;
constexpr int kLayers = 3;

// Random rows of `n_cols` quantized to `type`; with `as_f32` the same quantized values,
// dequantized (the float twin of the model: same draws, exact weights, float kernels).
std::vector<uint8_t> random_rows(TensorType type, int64_t n_rows, int64_t n_cols, float scale, std::mt19937& rng,
                                 bool as_f32) {
  std::normal_distribution<float> g(0.0f, scale);
  return test_model::quantized_rows(type, n_rows, n_cols, as_f32, [&](int64_t, std::vector<float>& row) {
    for (auto& v : row) v = g(rng);
  });
}

// `t`: the weights' type; `as_f32`: write its float twin instead.
std::string write_model(TensorType t, bool as_f32) {
  const std::string path = ::testing::TempDir() + "/forward_layout_" + std::string(tensor_type_name(t)) +
                           (as_f32 ? "_f32" : "") + ".gguf";
  const TensorType file_type = as_f32 ? TensorType::F32 : t;
  GgufWriter w;
  test_model::set_hparams(w, test_model::Shape{kH, kHeads, kHeadsKv, kHeadDim, kExperts, kUsed, kFf, kLayers});
  std::mt19937 rng(42);
  const float s = 1.0f / std::sqrt(static_cast<float>(kH));
  auto ones = [] { std::vector<float> v(kH, 1.0f); std::vector<uint8_t> b(v.size() * 4); std::memcpy(b.data(), v.data(), b.size()); return b; };
  w.add_tensor("token_embd.weight", file_type, {kH, kVocab}, random_rows(t, kVocab, kH, 1.0f, rng, as_f32));
  w.add_tensor("output_norm.weight", TensorType::F32, {kH}, ones());
  w.add_tensor("output.weight", file_type, {kH, kVocab}, random_rows(t, kVocab, kH, s, rng, as_f32));
  for (int il = 0; il < kLayers; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    w.add_tensor(p + "attn_norm.weight", TensorType::F32, {kH}, ones());
    w.add_tensor(p + "ffn_norm.weight", TensorType::F32, {kH}, ones());
    w.add_tensor(p + "attn_q.weight", file_type, {kH, kHeads * kHeadDim}, random_rows(t, kHeads * kHeadDim, kH, s, rng, as_f32));
    w.add_tensor(p + "attn_k.weight", file_type, {kH, kHeadsKv * kHeadDim}, random_rows(t, kHeadsKv * kHeadDim, kH, s, rng, as_f32));
    w.add_tensor(p + "attn_v.weight", file_type, {kH, kHeadsKv * kHeadDim}, random_rows(t, kHeadsKv * kHeadDim, kH, s, rng, as_f32));
    w.add_tensor(p + "attn_output.weight", file_type, {kHeads * kHeadDim, kH}, random_rows(t, kH, kHeads * kHeadDim, s, rng, as_f32));
    w.add_tensor(p + "ffn_gate_inp.weight", TensorType::F32, {kH, kExperts}, random_rows(TensorType::F32, kExperts, kH, s, rng, false));
    w.add_tensor(p + "ffn_gate_exps.weight", file_type, {kH, kFf, kExperts}, random_rows(t, kFf * kExperts, kH, s, rng, as_f32));
    w.add_tensor(p + "ffn_up_exps.weight", file_type, {kH, kFf, kExperts}, random_rows(t, kFf * kExperts, kH, s, rng, as_f32));
    w.add_tensor(p + "ffn_down_exps.weight", file_type, {kFf, kH, kExperts}, random_rows(t, kH * kExperts, kFf, s, rng, as_f32));
  }
  w.write(path);
  return path;
}

using test::SimpleKv;

// All logits of a 21-token prompt, then of 5 decode steps.
std::vector<float> run(const std::string& path, bool relay, uint64_t* relaid_bytes) {
  auto file = GgufFile::open(path);
  const ModelConfig cfg = config_from_gguf(*file);
  ModelWeights w = weights_from_gguf(*file, cfg);
  ThreadPool pool(2);
  std::unique_ptr<PackedWeights> packed;
  if (relay) packed = std::make_unique<PackedWeights>(w, &pool, [](const uint8_t*, size_t) {});
  *relaid_bytes = packed ? packed->bytes() : 0;
  ResidentExpertSource experts(w, &pool);
  Forward fwd(cfg, w, experts, pool);
  SimpleKv kv(cfg.n_layer, cfg.kv_width(), 64);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 21; ++i) prompt.push_back((i * 37 + 5) % kVocab);
  SeqChunk c{&kv, prompt, true};
  const std::span<const float> first = fwd.run(std::span<const SeqChunk>(&c, 1));
  std::vector<float> all(first.begin(), first.end());
  for (int s = 0; s < 5; ++s) {
    const int32_t tok = (s * 101 + 7) % kVocab;
    SeqChunk d{&kv, std::span<const int32_t>(&tok, 1), false};
    const std::span<const float> l = fwd.run(std::span<const SeqChunk>(&d, 1));
    all.insert(all.end(), l.begin(), l.end());
  }
  return all;
}

TEST(ForwardLayout, RowGroupWeightsGiveTheFileLayoutsBits) {
  for (TensorType t : {TensorType::Q4_0, TensorType::Q8_0}) {
    SCOPED_TRACE(std::string(tensor_type_name(t)) + " on " + std::string(isa_name(active_isa())));
    const std::string path = write_model(t, false);
    uint64_t none = 0, relaid = 0, unused = 0;
    const std::vector<float> file_layout = run(path, false, &none);
    const std::vector<float> groups = run(path, true, &relaid);
    const std::vector<float> twin = run(write_model(t, true), false, &unused);
    ASSERT_EQ(file_layout.size(), static_cast<size_t>((21 + 5) * kVocab));
    ASSERT_EQ(groups.size(), file_layout.size());
    // Every matrix here has a multiple of 16 rows, so with group kernels all of them move.
    if (row_groups_supported(t, 16)) EXPECT_GT(relaid, 0u);
    else EXPECT_EQ(relaid, 0u);
    float lo = file_layout[0], hi = file_layout[0];
    for (size_t i = 0; i < file_layout.size(); ++i) {
      ASSERT_TRUE(std::isfinite(file_layout[i])) << "logit " << i;
      ASSERT_EQ(std::memcmp(&file_layout[i], &groups[i], sizeof(float)), 0)
          << "logit " << i << ": " << file_layout[i] << " vs " << groups[i];
      lo = std::min(lo, file_layout[i]);
      hi = std::max(hi, file_layout[i]);
    }
    EXPECT_GT(hi - lo, 1e-3f);  // a pass that lost its inputs would give constant logits
    // Against the float twin (same weights, float kernels, unquantized activations): the
    // integer kernels differ only by the int8 rounding of the activations, which may flip a
    // near-tied expert choice at a position (spec: compare per position, not the worst one).
    std::vector<double> rel;
    for (size_t p = 0; p < twin.size() / kVocab; ++p) {
      double err = 0, mag = 0;
      for (size_t i = p * kVocab; i < (p + 1) * kVocab; ++i) {
        err = std::max(err, std::fabs(static_cast<double>(groups[i]) - twin[i]));
        mag = std::max(mag, std::fabs(static_cast<double>(twin[i])));
      }
      rel.push_back(err / std::max(mag, 1e-6));
    }
    std::sort(rel.begin(), rel.end());
    const double median = rel[rel.size() / 2];
    const auto within = std::count_if(rel.begin(), rel.end(), [](double r) { return r < 0.1; });
    EXPECT_LT(median, 0.05) << "median relative error per position against the float twin";
    EXPECT_GE(static_cast<double>(within), 0.8 * static_cast<double>(rel.size())) << "positions within 10%";
  }
}

}  // namespace
}  // namespace st
