// analyse_activity on a handcrafted log whose frequencies, reuse distances and LRU hit rate
// were worked out by hand (the access sequence is traced in the comments).
#include <gtest/gtest.h>

#include <stdexcept>

#include "smallthinker/tools.h"

namespace smallthinker {
namespace {

// 4 tokens, 2 layers, 4 experts, top-2:
//   token 0: layer 0 {0,1}  layer 1 {2,3}
//   token 1: layer 0 {0,2}  layer 1 {2,3}
//   token 2: layer 0 {1,3}  layer 1 {0,1}
//   token 3: layer 0 {0,1}  layer 1 {2,0}
ActivityLog hand_log() {
  ActivityLog log;
  log.n_layer = 2;
  log.n_expert = 4;
  log.k = 2;
  log.n_ff = 4;
  log.expert_slot_bytes = 1000;
  log.routing = {0, 1, 2, 3, 0, 2, 2, 3, 1, 3, 0, 1, 0, 1, 2, 0};
  log.reglu_zero = {3, 0};
  log.reglu_total = {8, 0};
  log.prompt_tokens = {{10, 11, 12, 13}};
  return log;
}

TEST(StatsAnalysis, FrequenciesCountTokensPerExpert) {
  const ActivityStats s = analyse_activity(hand_log(), {1.0});
  EXPECT_EQ(s.expert_counts[0], (std::vector<uint64_t>{3, 3, 1, 1}));
  EXPECT_EQ(s.expert_counts[1], (std::vector<uint64_t>{2, 1, 3, 2}));
  EXPECT_DOUBLE_EQ(s.expert_frequency[0][0], 0.75);
  EXPECT_DOUBLE_EQ(s.expert_frequency[1][1], 0.25);
}

TEST(StatsAnalysis, ZeroFractionPerLayerWithoutDividingByZero) {
  const ActivityStats s = analyse_activity(hand_log(), {1.0});
  EXPECT_DOUBLE_EQ(s.zero_fraction[0], 0.375);
  EXPECT_DOUBLE_EQ(s.zero_fraction[1], 0.0);
}

TEST(StatsAnalysis, ReuseDistances) {
  // Layer 0: expert 0 at tokens 0,1,3 (d 1, 2); expert 1 at 0,2,3 (d 2, 1); 2 and 3 once.
  // Layer 1: expert 2 at 0,1,3 (d 1, 2); expert 3 at 0,1 (d 1); expert 0 at 2,3 (d 1); 1 once.
  const ActivityStats s = analyse_activity(hand_log(), {1.0});
  EXPECT_EQ(s.first_uses, 8u);
  ASSERT_EQ(s.reuse.size(), 2u);
  EXPECT_EQ(s.reuse[0].lo, 1);
  EXPECT_EQ(s.reuse[0].hi, 1);
  EXPECT_EQ(s.reuse[0].count, 5u);
  EXPECT_EQ(s.reuse[1].lo, 2);
  EXPECT_EQ(s.reuse[1].hi, 2);
  EXPECT_EQ(s.reuse[1].count, 3u);
  EXPECT_DOUBLE_EQ(s.mean_reuse_distance, 11.0 / 8.0);
}

TEST(StatsAnalysis, HitRateCurves) {
  // LRU with 4 slots (half of the 8 experts), oldest first:
  //   t0: 4 misses                       [00 01 12 13]
  //   t1: 00 hit, 02 miss (evicts 01), 12 hit, 13 hit
  //   t2 and t3: every access misses (each evicts what the next access needs)
  // -> 3 hits of 16. With all 8 slots only the 8 first uses miss: 8 of 16 for every policy.
  const ActivityStats s = analyse_activity(hand_log(), {0.5, 1.0});
  ASSERT_EQ(s.cache_curves.size(), 3u);
  EXPECT_EQ(s.cache_curves[0].policy, "lru");
  EXPECT_EQ(s.cache_curves[0].points[0].slots, 4);
  EXPECT_EQ(s.cache_curves[0].points[0].cache_bytes, 4000u);
  EXPECT_DOUBLE_EQ(s.cache_curves[0].points[0].hit_rate, 3.0 / 16.0);
  for (const auto& c : s.cache_curves) {
    EXPECT_EQ(c.points[1].slots, 8);
    EXPECT_DOUBLE_EQ(c.points[1].hit_rate, 0.5) << c.policy;
  }
}

TEST(StatsAnalysis, DefaultSharesAndTheMinimumOfKSlots) {
  const ActivityStats s = analyse_activity(hand_log());
  ASSERT_EQ(s.cache_curves[0].points.size(), 20u);  // 5%, 10%, ... 100%
  EXPECT_EQ(s.cache_curves[0].points[0].slots, 2);  // 5% of 8 rounds to 0: at least K slots
}

TEST(StatsAnalysis, RejectsMalformedLogs) {
  ActivityLog bad = hand_log();
  bad.routing[3] = 4;  // no expert 4
  EXPECT_THROW(analyse_activity(bad), std::invalid_argument);
  bad = hand_log();
  bad.routing.pop_back();
  EXPECT_THROW(analyse_activity(bad), std::invalid_argument);
  bad = hand_log();
  bad.reglu_zero.pop_back();
  EXPECT_THROW(analyse_activity(bad), std::invalid_argument);
  EXPECT_THROW(analyse_activity(hand_log(), {1.5}), std::invalid_argument);
}

}  // namespace
}  // namespace smallthinker
