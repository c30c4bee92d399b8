#include "kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace st {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexExactlyOnce) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 2, 7, 1000, 4097}) {
    for (int64_t grain : {1, 3, 64}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, grain, [&](int64_t b, int64_t e, int t) {
        EXPECT_GE(t, 0);
        EXPECT_LT(t, 3);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << n << " " << grain << " " << i;
    }
  }
}

TEST(ThreadPool, ManyShortLoopsInARowUseBothThreads) {
  ThreadPool pool(2);
  EXPECT_EQ(pool.size(), 2);
  std::atomic<int64_t> total{0};
  std::atomic<int> mask{0};
  for (int job = 0; job < 2000; ++job) {
    pool.parallel_for(64, 1, [&](int64_t b, int64_t e, int t) {
      mask.fetch_or(1 << t);
      total += e - b;
    });
  }
  EXPECT_EQ(total.load(), 2000 * 64);
  EXPECT_EQ(mask.load() & 1, 1);  // the caller always works; the worker joins when it is awake
}

TEST(ThreadPool, NestedWorkSeesConsistentData) {
  // Results written inside a loop are visible to the caller after parallel_for returns.
  ThreadPool pool(2);
  std::vector<int64_t> out(10000);
  for (int round = 0; round < 50; ++round) {
    pool.parallel_for(10000, 7, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) out[static_cast<size_t>(i)] = i * round;
    });
    for (int64_t i = 0; i < 10000; i += 997) ASSERT_EQ(out[static_cast<size_t>(i)], i * round);
  }
}

TEST(ThreadPool, DefaultSizeIsThePhysicalCoreCount) {
  ThreadPool pool;
  EXPECT_EQ(pool.size(), ThreadPool::physical_cores());
  EXPECT_GE(pool.size(), 1);
}

}  // namespace
}  // namespace st
