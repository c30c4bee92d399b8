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

TEST(ThreadPool, RunCallsEveryThreadOnceAndManyJobsInARow) {
  ThreadPool pool(2);
  EXPECT_EQ(pool.size(), 2);
  std::atomic<int> total{0};
  for (int job = 0; job < 2000; ++job) {
    std::atomic<int> mask{0};
    pool.run([&](int t, int n) {
      EXPECT_EQ(n, 2);
      mask.fetch_or(1 << t);
      total++;
    });
    ASSERT_EQ(mask.load(), 3);
  }
  EXPECT_EQ(total.load(), 4000);
}

TEST(ThreadPool, DefaultSizeIsThePhysicalCoreCount) {
  ThreadPool pool;
  EXPECT_EQ(pool.size(), ThreadPool::physical_cores());
  EXPECT_GE(pool.size(), 1);
}

}  // namespace
}  // namespace st
