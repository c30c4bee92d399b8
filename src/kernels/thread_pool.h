// A small fork-join pool for the compute kernels: the calling thread plus n-1 workers run one
// job at a time. Workers spin briefly before sleeping, because a decode step issues hundreds
// of short parallel regions per token and waking sleeping threads costs more than the work.
// Lives in kernels/ because every compute layer above uses it; it knows nothing of models.
#pragma once
#include <atomic>
#include <cstdint>
#include <thread>
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

  // Calls fn(thread_index, n_threads) once on every thread (the caller is thread 0) and
  // returns when all calls have finished.
  template <class Fn>
  void run(Fn&& fn) {
    run_erased([](void* ctx, int t, int n) { (*static_cast<Fn*>(ctx))(t, n); }, &fn);
  }

  // Splits [0, n) into chunks of `grain` handed out dynamically; fn(begin, end, thread).
  template <class Fn>
  void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (n_threads_ == 1 || n <= grain) {
      fn(int64_t{0}, n, 0);
      return;
    }
    std::atomic<int64_t> next{0};
    run([&](int t, int) {
      for (;;) {
        const int64_t b = next.fetch_add(grain, std::memory_order_relaxed);
        if (b >= n) break;
        fn(b, b + grain < n ? b + grain : n, t);
      }
    });
  }

  static int physical_cores();

 private:
  using JobFn = void (*)(void* ctx, int thread, int n_threads);
  void run_erased(JobFn fn, void* ctx);
  void worker_loop(int index);

  int n_threads_ = 1;
  std::vector<std::thread> workers_;
  JobFn job_ = nullptr;
  void* job_ctx_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace st
