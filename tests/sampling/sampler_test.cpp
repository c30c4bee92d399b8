// Sampler tests: each knob against its llama.cpp meaning, distributions checked statistically
// with fixed seeds (so every run is deterministic), and the NaN / inf / empty-mask edge cases.
#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

namespace st {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Parameters with every truncation and penalty off: plain softmax(logits / T) sampling.
SamplerParams plain(float temperature = 1.0f, uint64_t seed = 1234) {
  SamplerParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

SamplerParams greedy() { return plain(0.0f); }

std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<int> h(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++h[static_cast<size_t>(s.sample(logits))];
  return h;
}

// Pearson chi-square of observed counts against expected probabilities (zeros skipped).
double chi_square(const std::vector<int>& observed, const std::vector<double>& expected_p) {
  const double n = std::accumulate(observed.begin(), observed.end(), 0.0);
  double chi2 = 0.0;
  for (size_t i = 0; i < observed.size(); ++i) {
    if (expected_p[i] == 0.0) continue;
    const double e = n * expected_p[i];
    chi2 += (observed[i] - e) * (observed[i] - e) / e;
  }
  return chi2;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p;
  double sum = 0.0;
  for (float l : logits) {
    p.push_back(std::exp((l - mx) / temperature));
    sum += p.back();
  }
  for (double& x : p) x /= sum;
  return p;
}

std::vector<float> random_logits(size_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> l(n);
  for (float& x : l) x = dist(rng);
  return l;
}

// The tokens the chain keeps, observed from outside: temperature is applied after truncation,
// so a huge temperature makes every survivor equally likely and enough draws see them all
// (for up to ~60 survivors, 3000 draws miss one with probability < 1e-19).
std::set<int32_t> kept_set(SamplerParams p, const std::vector<float>& logits, int draws = 3000) {
  p.temperature = 1e30f;
  Sampler s(p, static_cast<int>(logits.size()));
  std::set<int32_t> seen;
  for (int i = 0; i < draws; ++i) seen.insert(s.sample(logits));
  return seen;
}

// llama.cpp's top_k -> top_p -> min_p written the slow, obvious way: sort everything, then cut.
std::set<int32_t> kept_set_reference(const SamplerParams& p, const std::vector<float>& logits) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  });
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < order.size()) order.resize(static_cast<size_t>(p.top_k));
  const double mx = logits[static_cast<size_t>(order[0])];
  double norm = 0.0;
  for (int32_t id : order) norm += std::exp(logits[static_cast<size_t>(id)] - mx);
  if (p.top_p < 1.0f) {
    double cum = 0.0;
    for (size_t i = 0; i < order.size(); ++i) {
      cum += std::exp(logits[static_cast<size_t>(order[i])] - mx) / norm;
      if (cum >= p.top_p) {
        order.resize(i + 1);
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    std::erase_if(order, [&](int32_t id) {
      return std::exp(logits[static_cast<size_t>(id)] - mx) < p.min_p;  // p / p_max < min_p
    });
  }
  return {order.begin(), order.end()};
}

// ---- greedy ----------------------------------------------------------------------------------

TEST(Sampler, GreedyPicksArgmax) {
  Sampler s(greedy(), 5);
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, -2.0f, 3.5f, 3.4f, 0.0f}), 2);
  EXPECT_EQ(s.sample(std::vector<float>{-5.0f, -1.0f, -3.0f, -2.0f, -9.0f}), 1);
}

TEST(Sampler, GreedyTieGoesToLowestId) {
  Sampler s(greedy(), 4);
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f}), 1);
}

TEST(Sampler, NegativeTemperatureIsGreedy) {
  Sampler s(plain(-1.0f), 4);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(std::vector<float>{1.0f, 1.1f, 0.9f, 1.05f}), 1);
}

TEST(Sampler, TopKOneEqualsGreedy) {
  SamplerParams p = plain(1.5f, 7);
  p.top_k = 1;
  Sampler s(p, 1000);
  for (uint64_t trial = 0; trial < 20; ++trial) {
    const std::vector<float> l = random_logits(1000, trial, 1.0f);
    const auto argmax = std::max_element(l.begin(), l.end()) - l.begin();
    EXPECT_EQ(s.sample(l), argmax);
  }
}

// ---- seeds -----------------------------------------------------------------------------------

TEST(Sampler, SameSeedSameSequence) {
  const std::vector<float> l = random_logits(1000, 1, 0.5f);
  Sampler a(plain(1.0f, 42), 1000), b(plain(1.0f, 42), 1000), c(plain(1.0f, 43), 1000);
  std::vector<int32_t> sa, sb, sc;
  for (int i = 0; i < 100; ++i) {
    sa.push_back(a.sample(l));
    sb.push_back(b.sample(l));
    sc.push_back(c.sample(l));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  EXPECT_GT(std::set<int32_t>(sa.begin(), sa.end()).size(), 10u);  // really drawing, not argmax
}

TEST(Sampler, RandomSeedIsReportedAndReplayable) {
  const std::vector<float> l = random_logits(1000, 2, 0.5f);
  Sampler r1(plain(1.0f, SamplerParams::kRandomSeed), 1000);
  Sampler r2(plain(1.0f, SamplerParams::kRandomSeed), 1000);
  EXPECT_NE(r1.seed(), SamplerParams::kRandomSeed);
  EXPECT_NE(r1.seed(), r2.seed());
  Sampler replay(plain(1.0f, r1.seed()), 1000);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(r1.sample(l), replay.sample(l));
}

TEST(Sampler, ResetReplaysSequenceAndClearsPenalties) {
  SamplerParams p = plain(1.0f, 9);
  p.repeat_penalty = 2.0f;
  Sampler s(p, 1000);
  const std::vector<float> l = random_logits(1000, 3, 0.5f);
  std::vector<int32_t> first, second;
  for (int i = 0; i < 50; ++i) {
    first.push_back(s.sample(l));
    s.accept(first.back());
  }
  s.reset();
  for (int i = 0; i < 50; ++i) {
    second.push_back(s.sample(l));
    s.accept(second.back());
  }
  EXPECT_EQ(first, second);
}

// ---- truncation ------------------------------------------------------------------------------

TEST(Sampler, TopPNeverSamplesOutsideNucleus) {
  // cumulative 0.5, 0.8, 0.9, ...: top_p = 0.75 keeps exactly {0, 1}.
  const std::vector<float> l = logits_of({0.5, 0.3, 0.1, 0.05, 0.03, 0.02});
  SamplerParams p = plain(1.0f, 11);
  p.top_p = 0.75f;
  Sampler s(p, 6);
  const std::vector<int> h = histogram(s, l, 10000);
  EXPECT_GT(h[0], 0);
  EXPECT_GT(h[1], 0);
  for (size_t i = 2; i < h.size(); ++i) EXPECT_EQ(h[i], 0) << "token " << i;
  // Inside the nucleus the ratio is kept: 0.5 : 0.3 renormalised.
  EXPECT_LT(chi_square(h, {0.625, 0.375, 0, 0, 0, 0}), 10.83);  // df 1, p = 0.001
}

TEST(Sampler, TopPIsNormalisedOverTopKSurvivors) {
  // llama.cpp order: top_k first, then top_p over the renormalised survivors. After top_k = 2
  // the probabilities are 0.57 / 0.43, so top_p = 0.5 keeps only token 0; over the full
  // distribution (top_k off) the same top_p needs tokens 0 and 1.
  const std::vector<float> l = logits_of({0.4, 0.3, 0.2, 0.1});
  SamplerParams p = plain(1.0f, 5);
  p.top_p = 0.5f;
  p.top_k = 2;
  Sampler with_k(p, 4);
  EXPECT_EQ(histogram(with_k, l, 2000)[0], 2000);
  p.top_k = 0;
  Sampler without_k(p, 4);
  const std::vector<int> h = histogram(without_k, l, 2000);
  EXPECT_GT(h[1], 0);
  EXPECT_EQ(h[0] + h[1], 2000);
}

TEST(Sampler, TopPCutInsideATieKeepsLowestIds) {
  // cumulative 0.3, 0.5, 0.7: top_p = 0.65 keeps three tokens, and of the three equal 0.2
  // tokens the lowest ids win the tie.
  const std::vector<float> l = logits_of({0.3, 0.2, 0.2, 0.2, 0.1});
  SamplerParams p = plain(1.0f, 31);
  p.top_p = 0.65f;
  EXPECT_EQ(kept_set(p, l), (std::set<int32_t>{0, 1, 2}));
}

TEST(Sampler, TopPIsNormalisedBeforeMinP) {
  // min_p = 0.05 drops the twenty 0.01 tokens, but top_p still measures 0.45 against the full
  // distribution (llama.cpp runs top_p first): 0.45 < 0.5, so token 1 is needed too.
  std::vector<double> probs = {0.45, 0.35};
  probs.resize(22, 0.01);
  SamplerParams p = plain(1.0f, 37);
  p.top_p = 0.5f;
  p.min_p = 0.05f;
  EXPECT_EQ(kept_set(p, logits_of(probs)), (std::set<int32_t>{0, 1}));
}

TEST(Sampler, KeptSetMatchesReferenceChain) {
  // Random distributions and settings against the sort-everything reference; covers top_k's
  // buffered selection, the bucketed nucleus (cut buckets holding several tokens) and min_p.
  std::mt19937_64 rng(77);
  int checked = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const size_t n_vocab = 50 + rng() % 600;
    const float scale = 0.5f + static_cast<float>(rng() % 100) / 25.0f;
    const std::vector<float> l = random_logits(n_vocab, rng(), scale);
    SamplerParams p = plain(1.0f, rng());
    p.top_k = (rng() % 3 == 0) ? 0 : static_cast<int32_t>(1 + rng() % 60);
    p.top_p = (rng() % 4 == 0) ? 1.0f : 0.3f + static_cast<float>(rng() % 69) / 100.0f;
    p.min_p = (rng() % 2 == 0) ? 0.0f : static_cast<float>(rng() % 30) / 100.0f;
    const std::set<int32_t> expected = kept_set_reference(p, l);
    if (expected.size() > 60) continue;  // too many to be sure every one gets drawn
    ++checked;
    EXPECT_EQ(kept_set(p, l), expected) << "trial " << trial << " top_k " << p.top_k << " top_p "
                                        << p.top_p << " min_p " << p.min_p;
  }
  EXPECT_GE(checked, 40);
}

TEST(Sampler, TopKTiesAcrossBufferFlushes) {
  // Far more candidates than the selection buffer holds, with ties: equal logits go to the
  // lowest ids, and a later, larger logit still gets in after the buffer has been cut back.
  std::vector<float> l(2000, 0.0f);
  SamplerParams p = plain(1.0f, 41);
  p.top_k = 5;
  p.top_p = 1.0f;
  EXPECT_EQ(kept_set(p, l), (std::set<int32_t>{0, 1, 2, 3, 4}));
  for (int32_t id : {700, 1500, 1999}) l[static_cast<size_t>(id)] = 1.0f;
  l[1200] = 0.0005f;
  EXPECT_EQ(kept_set(p, l), (std::set<int32_t>{700, 1500, 1999, 1200, 0}));
}

TEST(Sampler, MinPThreshold) {
  // min_p = 0.12 -> threshold 0.12 * 0.4 = 0.048: 0.06 survives, 0.04 does not.
  const std::vector<float> l = logits_of({0.4, 0.3, 0.2, 0.06, 0.04});
  SamplerParams p = plain(1.0f, 13);
  p.min_p = 0.12f;
  Sampler s(p, 5);
  const std::vector<int> h = histogram(s, l, 20000);
  EXPECT_EQ(h[4], 0);
  const double kept = 0.96;
  EXPECT_LT(chi_square(h, {0.4 / kept, 0.3 / kept, 0.2 / kept, 0.06 / kept, 0}), 16.27);  // df 3
  // Just below the 0.04 / 0.4 ratio the last token is kept again.
  p.min_p = 0.09f;
  Sampler loose(p, 5);
  EXPECT_GT(histogram(loose, l, 20000)[4], 0);
}

TEST(Sampler, MinPAboveOneKeepsTheBestToken) {
  SamplerParams p = plain(1.0f, 3);
  p.min_p = 2.0f;
  Sampler s(p, 3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(std::vector<float>{0.0f, 0.1f, 0.05f}), 1);
}

TEST(Sampler, TemperatureAppliesAfterTruncation) {
  // top_p sees the untempered 0.6 / 0.3 / 0.1 and drops token 2; a huge temperature then makes
  // the two survivors equally likely but cannot bring token 2 back.
  const std::vector<float> l = logits_of({0.6, 0.3, 0.1});
  SamplerParams p = plain(100.0f, 17);
  p.top_p = 0.85f;
  Sampler s(p, 3);
  const std::vector<int> h = histogram(s, l, 10000);
  EXPECT_EQ(h[2], 0);
  EXPECT_LT(chi_square(h, {0.5, 0.5, 0.0}), 10.83);
}

// ---- temperature -----------------------------------------------------------------------------

TEST(Sampler, TemperatureMatchesSoftmaxStatistics) {
  const std::vector<float> l = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f};
  for (float t : {0.7f, 1.0f, 1.8f}) {
    Sampler s(plain(t, 2024), 6);
    const std::vector<int> h = histogram(s, l, 20000);
    // df 5: 20.52 is the p = 0.001 critical value; a wrong temperature (e.g. T ignored) gives
    // chi-square in the hundreds at 20k draws.
    EXPECT_LT(chi_square(h, softmax(l, t)), 20.52) << "T = " << t;
    EXPECT_GT(chi_square(h, softmax(l, t * 1.25)), 30.0) << "T = " << t << " not distinguishable";
  }
}

// ---- penalties and bias ----------------------------------------------------------------------

TEST(Sampler, RepeatPenaltyMatchesLlamaCpp) {
  SamplerParams p = greedy();
  p.repeat_penalty = 1.3f;
  Sampler s(p, 5);
  for (int32_t t : {0, 1, 2, 0, 0}) s.accept(t);  // repeats count once for repeat_penalty
  std::vector<float> l = {2.0f, -2.0f, 0.0f, 3.0f, -1.0f};
  s.apply_adjustments(l);
  EXPECT_FLOAT_EQ(l[0], 2.0f / 1.3f);   // positive: divided
  EXPECT_FLOAT_EQ(l[1], -2.0f * 1.3f);  // negative: multiplied
  EXPECT_FLOAT_EQ(l[2], 0.0f);
  EXPECT_FLOAT_EQ(l[3], 3.0f);          // not in the window
  EXPECT_FLOAT_EQ(l[4], -1.0f);
}

TEST(Sampler, RepeatPenaltyChangesGreedyChoice) {
  SamplerParams p = greedy();
  p.repeat_penalty = 1.5f;
  Sampler s(p, 3);
  s.accept(0);
  EXPECT_EQ(s.sample(std::vector<float>{2.0f, 1.5f, 0.0f}), 1);    // 2 / 1.5 < 1.5
  EXPECT_EQ(s.sample(std::vector<float>{-1.0f, -1.4f, -3.0f}), 1);  // -1 * 1.5 < -1.4
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  SamplerParams p = greedy();
  p.repeat_penalty = 2.0f;
  p.frequency_penalty = 1.0f;
  p.repeat_last_n = 2;
  Sampler s(p, 4);
  for (int32_t t : {0, 1, 2}) s.accept(t);  // 0 has left the window
  std::vector<float> l = {4.0f, 4.0f, 4.0f, 4.0f};
  s.apply_adjustments(l);
  EXPECT_EQ(l, (std::vector<float>{4.0f, 1.0f, 1.0f, 4.0f}));
  s.accept(1);  // window {2, 1}; 1 is counted once again after its old copy left
  s.accept(1);  // window {1, 1}
  l = {4.0f, 4.0f, 4.0f, 4.0f};
  s.apply_adjustments(l);
  EXPECT_EQ(l, (std::vector<float>{4.0f, 0.0f, 4.0f, 4.0f}));
}

TEST(Sampler, UnboundedAndDisabledWindows) {
  SamplerParams p = greedy();
  p.presence_penalty = 1.0f;
  p.repeat_last_n = -1;
  Sampler all(p, 200);
  for (int32_t t = 0; t < 200; ++t) all.accept(t);
  std::vector<float> l(200, 0.0f);
  all.apply_adjustments(l);
  for (float x : l) EXPECT_EQ(x, -1.0f);

  p.repeat_last_n = 0;
  Sampler none(p, 200);
  for (int32_t t = 0; t < 200; ++t) none.accept(t);
  l.assign(200, 0.0f);
  none.apply_adjustments(l);
  for (float x : l) EXPECT_EQ(x, 0.0f);
}

TEST(Sampler, PresenceAndFrequencyPenalties) {
  SamplerParams p = greedy();
  p.presence_penalty = 0.25f;
  p.frequency_penalty = 0.5f;
  Sampler s(p, 4);
  for (int32_t t : {0, 0, 0, 1}) s.accept(t);
  std::vector<float> l = {1.0f, 1.0f, 1.0f, -1.0f};
  s.apply_adjustments(l);
  EXPECT_FLOAT_EQ(l[0], 1.0f - 3 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[1], 1.0f - 1 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[2], 1.0f);
  EXPECT_FLOAT_EQ(l[3], -1.0f);
}

TEST(Sampler, RepeatPenaltyBeforeOpenAIPenalties) {
  SamplerParams p = greedy();
  p.repeat_penalty = 2.0f;
  p.presence_penalty = 1.0f;
  p.frequency_penalty = 0.5f;
  Sampler s(p, 2);
  s.accept(0);
  s.accept(0);
  std::vector<float> l = {3.0f, -3.0f};
  s.accept(1);
  s.apply_adjustments(l);
  EXPECT_FLOAT_EQ(l[0], 3.0f / 2.0f - 2 * 0.5f - 1.0f);
  EXPECT_FLOAT_EQ(l[1], -3.0f * 2.0f - 0.5f - 1.0f);
}

TEST(Sampler, LogitBias) {
  SamplerParams p = greedy();
  p.logit_bias = {{2, 5.0f}, {0, -kInf}};
  Sampler s(p, 4);
  std::vector<float> l = {9.0f, 3.0f, 1.0f, 2.0f};
  EXPECT_EQ(s.sample(l), 2);  // 1 + 5 beats 3; token 0 is banned
  s.apply_adjustments(l);
  EXPECT_EQ(l[0], -kInf);
  EXPECT_FLOAT_EQ(l[2], 6.0f);

  // A banned token is never drawn either.
  p.temperature = 1.0f;
  p.logit_bias = {{0, -kInf}};
  Sampler sampled(p, 4);
  EXPECT_EQ(histogram(sampled, {9.0f, 3.0f, 1.0f, 2.0f}, 2000)[0], 0);
}

TEST(Sampler, LogitBiasOutOfRangeThrows) {
  SamplerParams p = greedy();
  p.logit_bias = {{4, 1.0f}};
  EXPECT_THROW((void)Sampler(p, 4), std::invalid_argument);
  p.logit_bias = {{-1, 1.0f}};
  EXPECT_THROW((void)Sampler(p, 4), std::invalid_argument);
}

// ---- allowed-token mask ----------------------------------------------------------------------

TEST(Sampler, AllowedMaskRestrictsSampling) {
  SamplerParams p = plain(1.0f, 21);
  p.allowed_token = [](int32_t t) { return t % 2 == 0; };
  Sampler s(p, 10);
  const std::vector<float> l = {0.0f, 5.0f, 0.5f, 5.0f, 1.0f, 5.0f, 0.2f, 5.0f, 0.1f, 5.0f};
  const std::vector<int> h = histogram(s, l, 5000);
  for (size_t i = 1; i < h.size(); i += 2) EXPECT_EQ(h[i], 0);
  EXPECT_LT(chi_square(h, softmax({0.0f, -kInf, 0.5f, -kInf, 1.0f, -kInf, 0.2f, -kInf, 0.1f, -kInf}, 1.0)),
            29.59);  // df 4 (zero-probability odd tokens skipped) + slack; p = 1e-5

  p.temperature = 0.0f;
  Sampler g(p, 10);
  EXPECT_EQ(g.sample(l), 4);
}

TEST(Sampler, AllowedMaskMayChangeBetweenSteps) {
  int32_t only = 3;
  SamplerParams p = plain(1.0f, 2);
  p.allowed_token = [&only](int32_t t) { return t == only; };
  Sampler s(p, 5);
  const std::vector<float> l = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  EXPECT_EQ(s.sample(l), 3);
  only = 1;
  EXPECT_EQ(s.sample(l), 1);
}

TEST(Sampler, MaskAllowingNothingFallsBackToArgmax) {
  SamplerParams p = plain(1.0f, 2);
  p.allowed_token = [](int32_t) { return false; };
  Sampler s(p, 4);
  EXPECT_EQ(s.sample(std::vector<float>{0.0f, 1.0f, 3.0f, 2.0f}), 2);
}

// ---- NaN / inf -------------------------------------------------------------------------------

TEST(Sampler, NaNLogitsAreNeverSampled) {
  const std::vector<float> l = {kNaN, 1.0f, kNaN, 0.5f, -kInf};
  Sampler g(greedy(), 5);
  EXPECT_EQ(g.sample(l), 1);
  SamplerParams p = plain(1.0f, 4);
  p.top_p = 0.99f;
  p.min_p = 0.01f;
  Sampler s(p, 5);
  const std::vector<int> h = histogram(s, l, 2000);
  EXPECT_EQ(h[0] + h[2] + h[4], 0);
  EXPECT_EQ(h[1] + h[3], 2000);
}

TEST(Sampler, AllNaNOrNegInfReturnsFirstToken) {
  for (float bad : {kNaN, -kInf}) {
    const std::vector<float> l(8, bad);
    Sampler g(greedy(), 8);
    EXPECT_EQ(g.sample(l), 0);
    Sampler s(SamplerParams{}, 8);  // llama.cpp defaults, random seed
    EXPECT_EQ(s.sample(l), 0);
  }
}

TEST(Sampler, AllNegInfWithMaskReturnsFirstAllowed) {
  SamplerParams p;
  p.allowed_token = [](int32_t t) { return t >= 5; };
  Sampler s(p, 8);
  EXPECT_EQ(s.sample(std::vector<float>(8, -kInf)), 5);
}

TEST(Sampler, EverythingBannedFallsBackToRawArgmax) {
  // All tokens banned by bias: no distribution is left, the raw logits still decide.
  SamplerParams p = plain(1.0f, 3);
  p.logit_bias = {{0, -kInf}, {1, -kInf}, {2, -kInf}};
  Sampler s(p, 3);
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 5.0f, 3.0f}), 1);
  // With a mask, the fallback stays inside it.
  p.allowed_token = [](int32_t t) { return t != 1; };
  Sampler masked(p, 3);
  EXPECT_EQ(masked.sample(std::vector<float>{1.0f, 5.0f, 3.0f}), 2);
  p.temperature = 0.0f;
  Sampler greedy_masked(p, 3);
  EXPECT_EQ(greedy_masked.sample(std::vector<float>{1.0f, 5.0f, 3.0f}), 2);
}

TEST(Sampler, PositiveInfinityTakesAllTheMass) {
  const std::vector<float> l = {0.0f, kInf, 50.0f, kInf};
  Sampler g(greedy(), 4);
  EXPECT_EQ(g.sample(l), 1);
  for (float t : {0.5f, 1.0f, kInf}) {
    SamplerParams p = plain(t, 8);
    p.top_p = 0.9f;
    p.min_p = 0.1f;
    p.repeat_penalty = 1.1f;
    Sampler s(p, 4);
    s.accept(1);
    const std::vector<int> h = histogram(s, l, 1000);
    EXPECT_EQ(h[0] + h[2], 0) << "T = " << t;
    // Both +inf tokens share the mass (the penalty's +inf / 1.1 is still +inf).
    EXPECT_GT(h[1], 350) << "T = " << t;
    EXPECT_GT(h[3], 350) << "T = " << t;
  }
}

TEST(Sampler, ExtremeTemperaturesStayFinite) {
  const std::vector<float> l = {0.0f, 1.0f, 0.5f};
  Sampler tiny(plain(1e-45f, 1), 3);  // 1/T overflows: behaves as greedy
  for (int i = 0; i < 20; ++i) EXPECT_EQ(tiny.sample(l), 1);
  Sampler huge(plain(kInf, 1), 3);  // uniform
  const std::vector<int> h = histogram(huge, l, 3000);
  EXPECT_LT(chi_square(h, {1.0 / 3, 1.0 / 3, 1.0 / 3}), 13.82);
}

// ---- API contract ----------------------------------------------------------------------------

TEST(Sampler, DoesNotModifyCallerLogits) {
  SamplerParams p;
  p.seed = 5;
  p.repeat_penalty = 1.5f;
  p.logit_bias = {{1, 3.0f}};
  Sampler s(p, 6);
  s.accept(0);
  const std::vector<float> l = {1.0f, kNaN, 3.0f, -kInf, kInf, -2.0f};
  const std::vector<float> copy = l;
  (void)s.sample(l);
  for (size_t i = 0; i < l.size(); ++i) {
    EXPECT_TRUE(l[i] == copy[i] || (std::isnan(l[i]) && std::isnan(copy[i])));
  }
}

TEST(Sampler, InvalidArguments) {
  EXPECT_THROW((void)Sampler(SamplerParams{}, 0), std::invalid_argument);
  Sampler s(SamplerParams{}, 4);
  EXPECT_THROW((void)s.sample(std::vector<float>(3, 0.0f)), std::invalid_argument);
  std::vector<float> wrong(5, 0.0f);
  EXPECT_THROW(s.apply_adjustments(wrong), std::invalid_argument);
  s.accept(-1);  // ignored, not UB
  s.accept(4);
  EXPECT_GE(s.sample(std::vector<float>(4, 0.0f)), 0);
}

// Real vocabulary size: the default chain and the top_k-off nucleus path (chunked sort) must
// only return tokens a brute-force reference allows. Timing belongs in bench/, not here.
TEST(Sampler, FullVocabularyRespectsTruncation) {
  constexpr int kVocab = 151936;
  const std::vector<float> l = random_logits(kVocab, 99, 3.0f);
  std::vector<int32_t> order(kVocab);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return l[static_cast<size_t>(a)] > l[static_cast<size_t>(b)];
  });

  SamplerParams defaults;
  defaults.seed = 1;
  Sampler s(defaults, kVocab);
  const std::set<int32_t> top40(order.begin(), order.begin() + 40);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(top40.count(s.sample(l)));

  // Nucleus over the whole vocabulary (top_k and min_p off), computed the slow way.
  const std::vector<double> probs = softmax(l, 1.0);
  std::set<int32_t> nucleus;
  double cum = 0.0;
  for (int32_t id : order) {
    nucleus.insert(id);
    cum += probs[static_cast<size_t>(id)];
    if (cum >= 0.9) break;
  }
  ASSERT_GT(nucleus.size(), 64u);  // the chunked sort has to grow past its first chunk
  SamplerParams p = plain(1.0f, 2);
  p.top_p = 0.9f;
  Sampler n(p, kVocab);
  std::set<int32_t> seen;
  for (int i = 0; i < 150; ++i) {
    const int32_t id = n.sample(l);
    EXPECT_TRUE(nucleus.count(id)) << id;
    seen.insert(id);
  }
  EXPECT_GT(seen.size(), 20u);
}

// ---- top_probs -------------------------------------------------------------------------------

TEST(TopProbs, SortedSoftmax) {
  const std::vector<float> l = logits_of({0.2, 0.5, 0.3});
  const auto top = top_probs(l, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_NEAR(top[0].second, 0.5f, 1e-6f);
  EXPECT_EQ(top[1].first, 2);
  EXPECT_NEAR(top[1].second, 0.3f, 1e-6f);
}

TEST(TopProbs, ClampsAndHandlesNaN) {
  const auto top = top_probs(std::vector<float>{kNaN, 0.0f, 0.0f}, 10);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);  // tie: lowest id first
  EXPECT_FLOAT_EQ(top[0].second, 0.5f);
  EXPECT_EQ(top[2].first, 0);
  EXPECT_EQ(top[2].second, 0.0f);
  for (const auto& [id, prob] : top_probs(std::vector<float>(3, -kInf), 3)) EXPECT_EQ(prob, 0.0f);
  EXPECT_TRUE(top_probs(std::vector<float>{1.0f}, 0).empty());
}

}  // namespace
}  // namespace st
