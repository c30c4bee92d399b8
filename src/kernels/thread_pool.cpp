#include "kernels/thread_pool.h"

#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__)
#include <immintrin.h>
#define ST_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define ST_CPU_RELAX() asm volatile("yield")
#else
#define ST_CPU_RELAX() ((void)0)
#endif

namespace st {
namespace {
// About 50-100 us of spinning before a worker sleeps: long enough to bridge the gap between
// two kernels of one decode step, short enough not to burn a core while the process idles.
constexpr int kSpinIterations = 20000;
}  // namespace

int ThreadPool::physical_cores() {
  // Count distinct (physical id, core id) pairs; SMT siblings share a core's FP units, so
  // matmul threads beyond the physical cores only add contention.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, phys = "0";
  while (std::getline(in, line)) {
    auto value = [&] { auto p = line.find(':'); return p == std::string::npos ? std::string() : line.substr(p + 2); };
    if (line.rfind("physical id", 0) == 0) phys = value();
    else if (line.rfind("core id", 0) == 0) cores.insert({phys, value()});
  }
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (cores.empty()) return hw > 0 ? hw : 1;
  return static_cast<int>(cores.size());
}

ThreadPool::ThreadPool(int n_threads) {
  n_threads_ = n_threads > 0 ? n_threads : physical_cores();
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
  for (;;) {
    const int64_t b = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (b >= n_) return;
    fn_(ctx_, b, b + grain_ < n_ ? b + grain_ : n_, thread);
  }
}

void ThreadPool::run_loop(ChunkFn fn, void* ctx, int64_t n, int64_t grain) {
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  grain_ = grain;
  next_.store(0, std::memory_order_relaxed);
  open_.store(true);  // seq_cst: publishes the fields above before any worker can join
  generation_.fetch_add(1);
  generation_.notify_all();
  work(0);
  // Close the loop, then wait only for workers that joined it (they are mid-chunk).
  // Joining is "active_++ then check open_", closing is "open_ = false then check active_":
  // with sequentially consistent atomics one side always sees the other.
  open_.store(false);
  int spins = 0;
  while (active_.load() != 0) {
    if (++spins < kSpinIterations) ST_CPU_RELAX();
    else std::this_thread::yield();
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spins = 0; g == seen && spins < kSpinIterations; ++spins) {
      ST_CPU_RELAX();
      g = generation_.load(std::memory_order_acquire);
    }
    while (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    if (stop_.load()) return;
    active_.fetch_add(1);
    if (open_.load()) work(index);
    active_.fetch_sub(1);
  }
}

}  // namespace st
