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

TEST(ThreadPool, EachThreadStreamsItsOwnSpanInOrderAndStealsFromTheBack) {
  // Thread t owns chunks [n t / T, n (t + 1) / T): it takes them front to back, so its weights
  // stream in order; chunks it takes from another span come from that span's back.
  constexpr int kThreads = 3;
  ThreadPool pool(kThreads);
  for (int round = 0; round < 200; ++round) {
    constexpr int64_t n = 300;
    std::vector<std::vector<int64_t>> taken(kThreads);
    pool.parallel_for(n, 1, [&](int64_t b, int64_t, int t) {
      taken[static_cast<size_t>(t)].push_back(b);
      volatile int spin = 0;
      for (int i = 0; i < (b % 7) * 50; ++i) spin = spin + i;  // uneven chunks
    });
    int64_t total = 0;
    for (int t = 0; t < kThreads; ++t) {
      const int64_t lo = n * t / kThreads, hi = n * (t + 1) / kThreads;
      int64_t next_own = lo;
      std::vector<int64_t> stolen_from(kThreads, n);  // per victim: the last chunk stolen
      for (int64_t c : taken[static_cast<size_t>(t)]) {
        ++total;
        if (c >= lo && c < hi) {
          ASSERT_EQ(c, next_own) << "thread " << t << " took its own chunks out of order";
          ++next_own;
        } else {
          const int v = static_cast<int>(c * kThreads / n);
          ASSERT_LT(c, stolen_from[static_cast<size_t>(v)]) << "thread " << t << " stole from the front";
          stolen_from[static_cast<size_t>(v)] = c;
        }
      }
    }
    ASSERT_EQ(total, n);
  }
}

TEST(ThreadPool, DefaultSizeIsThePhysicalCoreCount) {
  ThreadPool pool;
  EXPECT_EQ(pool.size(), ThreadPool::physical_cores());
  EXPECT_GE(pool.size(), 1);
}

}  // namespace
}  // namespace st
