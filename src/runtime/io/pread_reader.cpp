// The portable backend: a few threads take requests from a queue and pread them. Used when
// io_uring is unavailable (old kernels, seccomp-filtered containers) or when asked for.
// Each thread has one read outstanding, so the device sees at most `pread_threads` reads at
// once; that is enough to keep an SSD busy with the 0.5-2 MB reads the expert store issues.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "runtime/io/reader_file.h"

namespace st::io {
namespace {

class PreadReader final : public AsyncReader {
 public:
  PreadReader(ReaderFile file, int n_threads, std::string fallback_reason)
      : file_(std::move(file)), fallback_reason_(std::move(fallback_reason)) {
    const int n = std::max(1, n_threads);
    try {
      for (int i = 0; i < n; ++i) threads_.emplace_back([this] { worker(); });
    } catch (...) {
      stop_threads();
      throw;
    }
  }

  // Requests still in the queue are dropped (never started, so their buffers are untouched);
  // reads already running finish before the threads are joined, so no thread writes into a
  // caller's buffer after the destructor returns.
  ~PreadReader() override { stop_threads(); }

  PreadReader(const PreadReader&) = delete;
  PreadReader& operator=(const PreadReader&) = delete;

  void submit(const ReadRequest* requests, size_t n) override {
    file_.validate(requests, n);
    {
      std::lock_guard lock(mutex_);
      queue_.insert(queue_.end(), requests, requests + n);
    }
    if (n == 1) {
      work_cv_.notify_one();
    } else if (n > 1) {
      work_cv_.notify_all();
    }
  }

  size_t reap(std::vector<ReadCompletion>& out, size_t min_complete) override {
    std::unique_lock lock(mutex_);
    // Recomputed on every wake-up: another thread may have reaped what we were waiting for,
    // and then "nothing left outstanding" must end the wait instead of hanging.
    done_cv_.wait(lock, [&] { return done_.size() >= min_complete || (queue_.empty() && running_ == 0); });
    const size_t n = done_.size();
    out.insert(out.end(), done_.begin(), done_.end());
    done_.clear();
    return n;
  }

  size_t in_flight() const override {
    std::lock_guard lock(mutex_);
    return queue_.size() + running_ + done_.size();
  }
  bool direct() const override { return file_.direct(); }
  size_t alignment() const override { return file_.alignment(); }
  const char* name() const override { return "pread"; }
  uint64_t bytes_read() const override { return bytes_read_.load(std::memory_order_relaxed); }
  std::string fallback_reason() const override { return fallback_reason_; }

 private:
  void worker() {
    std::unique_lock lock(mutex_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      const ReadRequest request = queue_.front();
      queue_.pop_front();
      ++running_;
      lock.unlock();
      const int error = read_fully(request);
      lock.lock();
      --running_;
      done_.push_back({request.tag, error});
      done_cv_.notify_all();
    }
  }

  // pread may return less than asked (signals, EOF, the per-call size cap): loop on the rest.
  // Returning 0 before the range is complete means the file ends inside it: EIO, which the
  // store reports as a truncated file.
  int read_fully(const ReadRequest& request) {
    auto* dst = static_cast<char*>(request.dst);
    size_t done = 0;
    int error = 0;
    while (done < request.length) {
      const size_t chunk = std::min(request.length - done, kMaxChunk);
      const ssize_t got = ::pread(file_.fd(), dst + done, chunk, static_cast<off_t>(request.offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        error = errno;
        break;
      }
      if (got == 0) {
        error = EIO;
        break;
      }
      done += static_cast<size_t>(got);
      bytes_read_.fetch_add(static_cast<uint64_t>(got), std::memory_order_relaxed);
    }
    file_.drop_cached(request.offset, done);
    return error;
  }

  void stop_threads() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
      queue_.clear();
    }
    work_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    done_cv_.notify_all();
  }

  ReaderFile file_;
  const std::string fallback_reason_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;  // workers: queue non-empty or stop
  std::condition_variable done_cv_;  // reapers: a read finished
  std::deque<ReadRequest> queue_;    // submitted, not yet started
  std::vector<ReadCompletion> done_; // finished, not yet reaped
  size_t running_ = 0;               // being read by a worker right now
  bool stop_ = false;
  std::atomic<uint64_t> bytes_read_{0};
  std::vector<std::thread> threads_;  // last: started after everything they touch exists
};

}  // namespace

std::unique_ptr<AsyncReader> make_pread_reader(ReaderFile file, const AsyncReaderOptions& options,
                                               std::string fallback_reason) {
  return std::make_unique<PreadReader>(std::move(file), options.pread_threads, std::move(fallback_reason));
}

}  // namespace st::io
