#include "kernels/thread_pool.h"

#include <fstream>
#include <set>
#include <stdexcept>
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
  spans_ = std::make_unique<Span[]>(static_cast<size_t>(n_threads_));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

namespace {
constexpr uint64_t pack_range(uint64_t next, uint64_t end) { return end << 32 | next; }
constexpr uint64_t range_next(uint64_t r) { return r & 0xffffffffu; }
constexpr uint64_t range_end(uint64_t r) { return r >> 32; }
}  // namespace

void ThreadPool::run_chunk(int64_t chunk, int thread) const {
  const int64_t b = chunk * grain_;
  fn_(ctx_, b, b + grain_ < n_ ? b + grain_ : n_, thread);
}

void ThreadPool::work(int thread) {
  // Own span, front to back.
  std::atomic<uint64_t>& own = spans_[static_cast<size_t>(thread)].range;
  for (uint64_t r = own.load(std::memory_order_relaxed);;) {
    if (range_next(r) >= range_end(r)) break;
    if (own.compare_exchange_weak(r, pack_range(range_next(r) + 1, range_end(r)), std::memory_order_acq_rel))
      run_chunk(static_cast<int64_t>(range_next(r)), thread);
  }
  // Then the others' spans, one chunk at a time from their backs, the fullest first.
  for (;;) {
    int victim = -1;
    uint64_t most = 0;
    for (int v = 0; v < n_threads_; ++v) {
      const uint64_t r = spans_[static_cast<size_t>(v)].range.load(std::memory_order_relaxed);
      const uint64_t left = range_end(r) > range_next(r) ? range_end(r) - range_next(r) : 0;
      if (left > most) most = left, victim = v;
    }
    if (victim < 0) return;
    std::atomic<uint64_t>& span = spans_[static_cast<size_t>(victim)].range;
    uint64_t r = span.load(std::memory_order_relaxed);
    while (range_next(r) < range_end(r)) {
      if (span.compare_exchange_weak(r, pack_range(range_next(r), range_end(r) - 1), std::memory_order_acq_rel)) {
        run_chunk(static_cast<int64_t>(range_end(r) - 1), thread);
        break;
      }
    }
  }
}

void ThreadPool::run_loop(ChunkFn fn, void* ctx, int64_t n, int64_t grain) {
  fn_ = fn;
  ctx_ = ctx;
  n_ = n;
  grain_ = grain;
  const int64_t n_chunks = (n + grain - 1) / grain;
  if (n_chunks >= (int64_t{1} << 32)) throw std::length_error("ThreadPool: more than 2^32 chunks in one loop");
  for (int t = 0; t < n_threads_; ++t)
    spans_[static_cast<size_t>(t)].range.store(
        pack_range(static_cast<uint64_t>(n_chunks * t / n_threads_), static_cast<uint64_t>(n_chunks * (t + 1) / n_threads_)),
        std::memory_order_relaxed);
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
