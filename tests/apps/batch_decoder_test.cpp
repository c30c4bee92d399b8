// BatchDecoder (the server's slots): sequences decoded together in one forward pass must give
// what each gives alone in its own Session, whether prompts join between decode steps or not;
// prefix reuse (keep) must give what a fresh evaluation of the whole sequence gives, also when
// a sliding-window ring has wrapped (then keep falls back to recomputing).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "smallthinker/engine.h"
#include "smallthinker/tools.h"

namespace smallthinker {
namespace {

std::string tiny_swa() {
  const std::string path = ::testing::TempDir() + "/batch_tiny_swa_f32.gguf";
  if (!std::filesystem::exists(path)) {
    SynthOptions o;
    o.preset = "tiny-swa";  // sliding window of 16 on most layers
    o.type = "f32";
    o.seed = 7;
    synth_model(o, path);
  }
  return path;
}

std::shared_ptr<Model> load() {
  ModelOptions o;
  o.path = tiny_swa();
  o.n_threads = 2;
  return Model::load(o);
}

SessionOptions f32_cache(int64_t n_ctx = 128) {
  SessionOptions s;
  s.n_ctx = n_ctx;
  s.kv_f32 = true;
  return s;
}

std::vector<int32_t> tokens(int n, int seed, int vocab) {
  std::vector<int32_t> t;
  for (int i = 0; i < n; ++i) t.push_back((i * 97 + seed * 31 + 5) % vocab);
  return t;
}

int32_t argmax(std::span<const float> l) { return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin()); }

void expect_close(std::span<const float> a, std::span<const float> b) {
  ASSERT_EQ(a.size(), b.size());
  float mx = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    mx = std::max(mx, std::fabs(a[i]));
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  EXPECT_LE(diff, 1e-4f * mx) << "max diff " << diff;
}

// Greedy continuation of `prompt` by a lone Session: the logits of every step.
std::vector<std::vector<float>> alone(const std::shared_ptr<Model>& m, const std::vector<int32_t>& prompt, int n_gen) {
  Session s(m, f32_cache());
  std::vector<std::vector<float>> out;
  auto l = s.eval(prompt);
  for (int i = 0; i < n_gen; ++i) {
    out.emplace_back(l.begin(), l.end());
    const int32_t t = argmax(l);
    l = s.eval(std::span<const int32_t>(&t, 1));
  }
  return out;
}

TEST(BatchDecoder, SlotsDecodedTogetherMatchLoneSessions) {
  auto m = load();
  const int V = static_cast<int>(m->info().n_vocab);
  const std::vector<std::vector<int32_t>> prompts = {tokens(9, 1, V), tokens(23, 2, V), tokens(4, 3, V)};
  const int n_gen = 24;  // past the window of 16
  BatchDecoder d(m, 3, f32_cache());
  // Slots 0 and 1 start together; slot 2's prompt joins at step 5, alongside their decode tokens.
  std::vector<std::vector<std::vector<float>>> got(3);
  std::vector<int32_t> next(3, -1);
  for (int step = 0; got[2].size() < static_cast<size_t>(n_gen) || got[0].size() < static_cast<size_t>(n_gen); ++step) {
    std::vector<BatchDecoder::Chunk> chunks;
    std::vector<int> who;
    for (int s = 0; s < 3; ++s) {
      if (got[static_cast<size_t>(s)].size() >= static_cast<size_t>(n_gen)) continue;
      if (next[static_cast<size_t>(s)] >= 0) {
        chunks.push_back({s, std::span<const int32_t>(&next[static_cast<size_t>(s)], 1)});
      } else if (s < 2 || step == 5) {
        chunks.push_back({s, prompts[static_cast<size_t>(s)]});
      } else {
        continue;
      }
      who.push_back(s);
    }
    const auto logits = d.step(chunks);
    ASSERT_EQ(logits.size(), chunks.size());
    for (size_t k = 0; k < who.size(); ++k) {
      auto& g = got[static_cast<size_t>(who[k])];
      g.emplace_back(logits[k].begin(), logits[k].end());
      next[static_cast<size_t>(who[k])] = argmax(logits[k]);
    }
  }
  for (int s = 0; s < 3; ++s) {
    SCOPED_TRACE("slot " + std::to_string(s));
    const auto ref = alone(m, prompts[static_cast<size_t>(s)], n_gen);
    for (int i = 0; i < n_gen; ++i) {
      expect_close(got[static_cast<size_t>(s)][static_cast<size_t>(i)], ref[static_cast<size_t>(i)]);
      EXPECT_EQ(argmax(got[static_cast<size_t>(s)][static_cast<size_t>(i)]), argmax(ref[static_cast<size_t>(i)])) << "step " << i;
    }
    EXPECT_EQ(d.cached(s).size(), prompts[static_cast<size_t>(s)].size() + n_gen - 1);
  }
}

// Evaluates `first`, keeps `keep` of it, appends `rest`: the last logits must equal a fresh
// evaluation of first[0, kept) + rest.
void check_reuse(int first_len, int keep, int64_t expect_kept) {
  auto m = load();
  const int V = static_cast<int>(m->info().n_vocab);
  const auto first = tokens(first_len, 4, V), rest = tokens(7, 5, V);
  BatchDecoder d(m, 1, f32_cache());
  d.step(std::vector<BatchDecoder::Chunk>{{0, first}});
  const int64_t kept = d.keep(0, keep);
  EXPECT_EQ(kept, expect_kept);
  ASSERT_EQ(d.cached(0).size(), static_cast<size_t>(kept));
  std::vector<int32_t> todo(first.begin() + kept, first.begin() + std::max<int64_t>(kept, keep));
  todo.insert(todo.end(), rest.begin(), rest.end());
  const auto got = d.step(std::vector<BatchDecoder::Chunk>{{0, todo}})[0];
  std::vector<int32_t> whole(first.begin(), first.begin() + keep);
  whole.insert(whole.end(), rest.begin(), rest.end());
  Session s(m, f32_cache());
  expect_close(got, s.eval(whole));
  EXPECT_EQ(d.cached(0), whole);
}

TEST(BatchDecoder, PrefixReuseWithinTheWindow) { check_reuse(12, 8, 8); }
TEST(BatchDecoder, PrefixReuseAfterTheRingWrapsRecomputes) { check_reuse(40, 30, 0); }
TEST(BatchDecoder, DroppingOnlyTheLastTokenOfAWrappedRingIsKept) { check_reuse(40, 39, 39); }

TEST(BatchDecoder, RejectsBadStepsWithoutChangingState) {
  auto m = load();
  BatchDecoder d(m, 2, f32_cache(16));
  const std::vector<int32_t> a = {1, 2, 3};
  d.step(std::vector<BatchDecoder::Chunk>{{0, a}});
  const std::vector<int32_t> bad = {1, static_cast<int32_t>(m->info().n_vocab)};
  EXPECT_THROW(d.step(std::vector<BatchDecoder::Chunk>{{0, a}, {0, a}}), std::invalid_argument);
  EXPECT_THROW(d.step(std::vector<BatchDecoder::Chunk>{{1, bad}}), std::out_of_range);
  EXPECT_THROW(d.step(std::vector<BatchDecoder::Chunk>{{2, a}}), std::out_of_range);
  EXPECT_THROW(d.step(std::vector<BatchDecoder::Chunk>{{0, tokens(14, 1, 100)}}), std::length_error);
  EXPECT_EQ(d.cached(0), a);
  EXPECT_TRUE(d.cached(1).empty());
  EXPECT_THROW(BatchDecoder(m, 0, f32_cache()), std::invalid_argument);
}

TEST(Sampler, GreedyIsArgmaxAndSeedsRepeat) {
  auto m = load();
  const int V = static_cast<int>(m->info().n_vocab);
  std::vector<float> logits(static_cast<size_t>(V));
  for (int i = 0; i < V; ++i) logits[static_cast<size_t>(i)] = std::sin(0.37f * static_cast<float>(i));
  SamplingOptions greedy;
  greedy.temperature = 0;
  Sampler g(*m, greedy);
  EXPECT_EQ(g.sample(logits), argmax(logits));
  SamplingOptions hot;
  hot.temperature = 1.5f;
  hot.top_k = 0;
  hot.top_p = 1;
  hot.min_p = 0;
  hot.seed = 99;
  Sampler a(*m, hot), b(*m, hot);
  for (int i = 0; i < 20; ++i) {
    const int32_t x = a.sample(logits);
    EXPECT_EQ(x, b.sample(logits));
    a.accept(x);
    b.accept(x);
  }
  EXPECT_EQ(a.seed(), 99u);
  EXPECT_TRUE(a.json_complete());
}

}  // namespace
}  // namespace smallthinker
