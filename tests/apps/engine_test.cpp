// End-to-end checks of libsmallthinker on synthetic models. Agreement with the independent
// numpy reference lives in tests/reference/test_forward.py; these check the engine's own
// invariants: batch size must not change results, errors must be clear.
#include "smallthinker/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "smallthinker/tools.h"

namespace smallthinker {
namespace {

std::string synth(const std::string& preset, const std::string& type, std::optional<int64_t> window = {}) {
  const std::string path = ::testing::TempDir() + "/engine_" + preset + "_" + type + ".gguf";
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.preset = preset;
    o.type = type;
    o.seed = 42;
    o.window = window;
    synth_model(o, path);
  }
  return path;
}

ModelOptions opts(const std::string& path, int threads) {
  ModelOptions o;
  o.path = path;
  o.n_threads = threads;
  return o;
}

std::vector<int32_t> some_tokens(int n, int vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 131 + 17) % vocab);
  return t;
}

std::vector<float> eval_all(const std::string& path, const std::vector<int32_t>& tokens, int64_t n_batch, bool kv_f32,
                            const KvCacheTypes& kv_types = {}) {
  auto model = Model::load(opts(path, 2));
  SessionOptions so;
  so.n_ctx = 256;
  so.n_batch = n_batch;
  so.kv_f32 = kv_f32;
  so.kv_types = kv_types;
  Session s(model, so);
  const auto l = s.eval(tokens, true);
  return {l.begin(), l.end()};
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float rel) {
  ASSERT_EQ(a.size(), b.size());
  float mx = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_TRUE(std::isfinite(a[i]) && std::isfinite(b[i])) << i;
    mx = std::max(mx, std::fabs(a[i]));
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  EXPECT_LE(diff, rel * mx) << "max diff " << diff << " of max |logit| " << mx;
}

class BatchInvariance : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchInvariance, OneBatchEqualsTokenByTokenAndChunks) {
  const std::string path = synth(GetParam(), "f32");
  const auto tokens = some_tokens(70, 300);  // longer than tiny-swa's window of 16
  const auto whole = eval_all(path, tokens, 512, true);
  {
    SCOPED_TRACE("token by token, f32 cache");
    expect_close(whole, eval_all(path, tokens, 1, true), 1e-5f);
  }
  {
    SCOPED_TRACE("batches of 13, f32 cache");
    expect_close(whole, eval_all(path, tokens, 13, true), 1e-5f);
  }
  SCOPED_TRACE("token by token, f16 cache");
  // With the f16 cache, fresh keys are rounded like cached ones, so batching matters only
  // where float-rounding differences between the batched and single-token kernels push a
  // value across an f16 rounding boundary (one f16 ulp, 5e-4 relative, on a few entries).
  // Without the rounding of fresh keys the difference is ~1e-2 (measured before it existed).
  expect_close(eval_all(path, tokens, 512, false), eval_all(path, tokens, 1, false), 1e-3f);
}

INSTANTIATE_TEST_SUITE_P(Presets, BatchInvariance, ::testing::Values("tiny", "tiny-swa"));

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  return d;
}

struct KvCase {
  const char* k;
  const char* v;
  float rel;  // batched vs token by token, relative to the largest |logit|
};

class KvTypeBatchInvariance : public ::testing::TestWithParam<KvCase> {};

// Every KV type: fresh keys and values are rounded through the cache type before use, so a
// prompt in one batch, token by token and in batches of 13 sees the same K/V values. What
// remains is the f32 summation order of the matmuls and of attention's key blocks (1e-5 with
// an f32 cache, above) which can move a value across a rounding boundary of the cache type:
// one step is 1/2^11 relative for f16, 1/2^8 for bf16, 1/127 of a block's largest value for
// q8_0 and 1/8 for q4_0, on the few entries it hits. The bound is checked against the
// difference the cache type itself makes (f32 cache vs this type), which batching must stay
// well below.
TEST_P(KvTypeBatchInvariance, BatchingDoesNotChangeResults) {
  const KvCase c = GetParam();
  const std::string path = synth("tiny-swa", "f32");
  const auto tokens = some_tokens(70, 300);  // past tiny-swa's window of 16
  const KvCacheTypes types{c.k, c.v};
  const auto whole = eval_all(path, tokens, 512, false, types);
  const auto single = eval_all(path, tokens, 1, false, types);
  const auto chunks = eval_all(path, tokens, 13, false, types);
  {
    SCOPED_TRACE("token by token");
    expect_close(whole, single, c.rel);
  }
  {
    SCOPED_TRACE("batches of 13");
    expect_close(whole, chunks, c.rel);
  }
  const double cache_effect = max_abs_diff(whole, eval_all(path, tokens, 512, true));
  EXPECT_GT(cache_effect, 0.0) << "the cache type changed nothing: is it used?";
  // Half the cache's own effect: on the f16 cache with AVX-512 batching already moved results by
  // 0.245x of it before the split-K attention (0.267x after), although f32 caches move by 1e-2x
  // of that -- why f16 rounding amplifies summation-order differences this much is still open.
  EXPECT_LE(max_abs_diff(whole, single), 0.5 * cache_effect) << "batching changes results as much as the cache type does";
}

INSTANTIATE_TEST_SUITE_P(Types, KvTypeBatchInvariance,
                         ::testing::Values(KvCase{"f16", "f16", 1e-3f}, KvCase{"bf16", "bf16", 4e-3f},
                                           KvCase{"q8_0", "q8_0", 1e-2f}, KvCase{"q4_0", "q4_0", 5e-2f},
                                           KvCase{"q8_0", "f16", 1e-2f}, KvCase{"f16", "q4_0", 5e-2f}),
                         [](const auto& p) { return std::string(p.param.k) + "_" + p.param.v; });

TEST(Engine, BadKvCacheTypesAreRefusedWithTheValidNames) {
  auto model = Model::load(opts(synth("tiny", "f32"), 1));
  SessionOptions so;
  so.kv_types.v = "q5_1";
  try {
    Session s(model, so);
    FAIL() << "q5_1 accepted as a V cache type";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("-ctv"), std::string::npos) << msg;
    EXPECT_NE(msg.find("q8_0, q4_0"), std::string::npos) << msg;
  }
}

TEST(Engine, QuantizedModelRunsAndGivesFiniteLogits) {
  for (const char* type : {"q4_0", "q8_0", "q4_k", "q6_k", "f16", "bf16"}) {
    const auto l = eval_all(synth("tiny-swa", type), some_tokens(20, 300), 512, false);
    for (float x : l) ASSERT_TRUE(std::isfinite(x)) << type;
  }
}

TEST(Engine, GenerateIsReproducibleWithASeed) {
  auto model = Model::load(opts(synth("tiny", "q8_0"), 2));
  SamplingOptions so;
  so.temperature = 1.0f;
  so.seed = 99;
  const auto prompt = some_tokens(5, 300);
  Session a(model), b(model);
  const auto ga = a.generate(prompt, 20, so, {}, {});
  const auto gb = b.generate(prompt, 20, so, {}, {});
  EXPECT_EQ(ga, gb);
  EXPECT_EQ(ga.size(), 20u);
  EXPECT_EQ(a.n_past(), 5 + 19);  // the last sampled token is not evaluated
}

TEST(Engine, BadInputsGiveClearErrors) {
  auto model = Model::load(opts(synth("tiny", "f32"), 1));
  SessionOptions so;
  so.n_ctx = 8;
  Session s(model, so);
  const std::vector<int32_t> bad = {1, 100000};
  EXPECT_THROW(s.eval(bad), std::out_of_range);
  EXPECT_THROW(s.eval(some_tokens(9, 300)), std::length_error);

  // A file cut in the middle of its tensor data.
  const std::string src = synth("tiny", "f32"), cut = ::testing::TempDir() + "/engine_truncated.gguf";
  std::filesystem::copy_file(src, cut, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(cut, std::filesystem::file_size(src) / 2);
  try {
    Model::load(opts(cut, 1));
    FAIL() << "truncated file loaded";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("engine_truncated.gguf"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Model::load(opts(::testing::TempDir() + "/does_not_exist.gguf", 1)), std::exception);
}

TEST(Engine, LoadingReportsProgressUpToTheTotal) {
  const std::string path = synth("tiny", "q8_0");
  for (bool budget : {false, true}) {
    ModelOptions o = opts(path, 2);
    if (budget) o.memory = "256MiB";
    std::vector<std::pair<uint64_t, uint64_t>> calls;
    o.progress = [&calls](uint64_t done, uint64_t total) { calls.emplace_back(done, total); };
    auto model = Model::load(o);
    // Resident: bytes re-laid into row groups (none on a CPU without those kernels);
    // budgeted: the dense weights copied out of the file.
    if (!budget && model->info().row_group_bytes == 0) continue;
    ASSERT_FALSE(calls.empty()) << "budget " << budget;
    for (size_t i = 1; i < calls.size(); ++i) {
      EXPECT_GT(calls[i].first, calls[i - 1].first) << i;
      EXPECT_EQ(calls[i].second, calls[0].second) << i;
    }
    EXPECT_EQ(calls.back().first, calls.back().second);
    if (!budget) {
      EXPECT_EQ(calls.back().second, model->info().row_group_bytes);
    }
  }
}

}  // namespace
}  // namespace smallthinker
