// A small fork-join pool for the compute kernels: the calling thread plus n-1 workers share
// one parallel loop at a time. The loop's chunks are split into one contiguous span per
// thread; each thread takes chunks from the front of its own span, then steals single chunks
// from the back of the others'. So each thread streams through consecutive weights (what
// the hardware prefetchers follow best) while chunks can be small enough that the threads
// finish together: with dynamic hand-out of consecutive chunks instead, decode waited ~3 ms
// per token at the ends of its ~160 loops, or broke every stream at every chunk.
// Workers spin briefly before sleeping, because a decode step issues hundreds of short
// parallel loops per token and waking sleeping threads costs more than the work. A worker
// that arrives after the loop's work is gone does not join it, so a descheduled worker on a
// busy machine never makes the caller wait: the caller simply does the work itself.
// Lives in kernels/ because every compute layer above uses it; it knows nothing of models.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

namespace st {

class ThreadPool {
 public:
  // n_threads <= 0: one per physical core.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Splits [0, n) into chunks of `grain` (see the class comment for who runs which); calls
  // fn(begin, end, thread) with thread in [0, size()). Returns when every chunk is done.
  template <class Fn>
  void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n_threads_ == 1 || n <= grain) {
      fn(int64_t{0}, n, 0);
      return;
    }
    using F = std::remove_reference_t<Fn>;
    run_loop([](void* ctx, int64_t b, int64_t e, int t) { (*static_cast<F*>(ctx))(b, e, t); }, &fn, n, grain);
  }

  static int physical_cores();

 private:
  using ChunkFn = void (*)(void* ctx, int64_t begin, int64_t end, int thread);
  void run_loop(ChunkFn fn, void* ctx, int64_t n, int64_t grain);
  void work(int thread);  // take chunks of the current loop until none is left
  void worker_loop(int index);
  void run_chunk(int64_t chunk, int thread) const;

  // One thread's share of the current loop: chunks [next, end) packed as (end << 32 | next),
  // so the owner (from the front) and thieves (from the back) claim with one CAS.
  struct alignas(64) Span {
    std::atomic<uint64_t> range{0};
  };

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  // The current loop; written by the caller only while no worker is inside it.
  ChunkFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
  std::unique_ptr<Span[]> spans_;
  std::atomic<bool> open_{false};   // workers may join the current loop
  std::atomic<int> active_{0};      // workers inside the current loop
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace st
