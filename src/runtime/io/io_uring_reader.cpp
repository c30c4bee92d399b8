// The io_uring backend: one ring per reader, one IORING_OP_READ per request (more when a
// read comes back short). The kernel runs the reads with no helper thread of ours, so many
// reads can be in flight from a single compute thread.
//
// Threads: submit() and reap() may run on different threads. One mutex guards the ring and
// the bookkeeping; it is held for microseconds against reads that take milliseconds. A reaper
// that must wait does NOT hold it while sleeping (a submitter would otherwise stall behind it):
// it sleeps on an eventfd the kernel signals on every completion, which cannot lose a wake-up
// because completions posted after the reaper last looked always bump the eventfd.
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "runtime/io/reader_file.h"

namespace st::io {
namespace {

// The ring and its completion eventfd, torn down together.
struct Ring {
  io_uring ring{};
  int event_fd = -1;
  bool ring_ok = false;
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() {
    if (ring_ok) io_uring_queue_exit(&ring);
    if (event_fd >= 0) ::close(event_fd);
  }
};

// One submitted request and how much of it has arrived; `done` advances on short reads.
struct Op {
  ReadRequest request;
  size_t done = 0;
};

class IoUringReader final : public AsyncReader {
 public:
  IoUringReader(ReaderFile file, std::unique_ptr<Ring> ring, unsigned depth)
      : file_(std::move(file)), fallback_reason_(file_.note()), ring_(std::move(ring)), ops_(depth) {
    free_.reserve(depth);
    for (unsigned i = depth; i > 0; --i) free_.push_back(i - 1);
    ready_.reserve(depth);
  }

  // Reads on regular files cannot be cancelled once issued, so wait for every one still in
  // the ring: after this returns the kernel writes into no caller buffer. Remainders of short
  // reads are not resubmitted here; they complete as ECANCELED, which nobody will reap.
  ~IoUringReader() override {
    std::lock_guard lock(mutex_);
    closing_ = true;
    try {
      flush_locked();
    } catch (const std::exception&) {
      // Entries the kernel would not take never started; only those it took are waited for.
    }
    while (in_ring_ > io_uring_sq_ready(&ring_->ring)) {
      if (!wait_one_locked()) break;  // ring broken: nothing more will arrive
    }
  }

  IoUringReader(const IoUringReader&) = delete;
  IoUringReader& operator=(const IoUringReader&) = delete;

  void submit(const ReadRequest* requests, size_t n) override {
    file_.validate(requests, n);
    std::lock_guard lock(mutex_);
    bool ready_now = false;
    for (size_t i = 0; i < n; ++i) {
      if (requests[i].length == 0) {  // nothing to read; spare the kernel a no-op
        ready_.push_back({requests[i].tag, 0});
        ready_now = true;
        continue;
      }
      // The ring holds `depth` reads; a full ring is the one case where submit blocks.
      while (free_.empty()) {
        flush_locked();
        if (!wait_one_locked()) throw std::runtime_error("io_uring wait failed for " + file_.path());
      }
      const uint32_t slot = free_.back();
      free_.pop_back();
      ops_[slot] = Op{requests[i], 0};
      ++in_ring_;
      queue_locked(slot);
    }
    flush_locked();
    // A reaper asleep on the eventfd would not notice zero-length completions on its own.
    if (ready_now) (void)::eventfd_write(ring_->event_fd, 1);
  }

  size_t reap(std::vector<ReadCompletion>& out, size_t min_complete) override {
    std::unique_lock lock(mutex_);
    for (;;) {
      harvest_locked();
      // Stop when enough are ready or nothing more can arrive (another thread may have reaped
      // what this call was waiting for).
      if (ready_.size() >= min_complete || in_ring_ == 0) break;
      if (kernel_waiter_) {  // someone already sleeps on the eventfd; let them wake us
        waiters_cv_.wait(lock);
        continue;
      }
      kernel_waiter_ = true;
      lock.unlock();
      eventfd_t count = 0;
      while (::eventfd_read(ring_->event_fd, &count) < 0 && errno == EINTR) {
      }
      lock.lock();
      kernel_waiter_ = false;
      waiters_cv_.notify_all();
    }
    const size_t n = ready_.size();
    out.insert(out.end(), ready_.begin(), ready_.end());
    ready_.clear();
    return n;
  }

  size_t in_flight() const override {
    std::lock_guard lock(mutex_);
    return in_ring_ + ready_.size();
  }
  bool direct() const override { return file_.direct(); }
  size_t alignment() const override { return file_.alignment(); }
  const char* name() const override { return "io_uring"; }
  uint64_t bytes_read() const override { return bytes_read_.load(std::memory_order_relaxed); }
  std::string fallback_reason() const override { return fallback_reason_; }

 private:
  // Puts the not-yet-read part of `slot` into the submission queue (not yet submitted).
  void queue_locked(uint32_t slot) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_->ring);
    if (sqe == nullptr) {  // queue full of unsubmitted entries: hand them over and retry
      flush_locked();
      sqe = io_uring_get_sqe(&ring_->ring);
      if (sqe == nullptr) throw std::runtime_error("io_uring submission queue full for " + file_.path());
    }
    const Op& op = ops_[slot];
    const size_t chunk = std::min(op.request.length - op.done, kMaxChunk);
    io_uring_prep_read(sqe, file_.fd(), static_cast<char*>(op.request.dst) + op.done, static_cast<unsigned>(chunk),
                       op.request.offset + op.done);
    io_uring_sqe_set_data64(sqe, slot);
  }

  // Submits everything queued. EAGAIN/EBUSY mean the kernel is short of room for completions:
  // take some off the ring and retry.
  void flush_locked() {
    while (io_uring_sq_ready(&ring_->ring) > 0) {
      const int r = io_uring_submit(&ring_->ring);
      if (r >= 0 || r == -EINTR) continue;
      if ((r == -EAGAIN || r == -EBUSY) && in_ring_ > 0) {
        harvest_locked();
        continue;
      }
      throw std::runtime_error("io_uring_submit for " + file_.path() + ": " + std::strerror(-r));
    }
  }

  // Processes every completion already posted, without blocking.
  void harvest_locked() {
    io_uring_cqe* cqe = nullptr;
    bool requeued = false;
    while (io_uring_peek_cqe(&ring_->ring, &cqe) == 0) {
      const auto slot = static_cast<uint32_t>(io_uring_cqe_get_data64(cqe));
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_->ring, cqe);
      requeued |= on_completion(slot, res);
    }
    if (requeued && !closing_) flush_locked();
  }

  // Blocks for one completion (used when the ring is full and in the destructor). Returns
  // false if the ring itself failed.
  bool wait_one_locked() {
    io_uring_cqe* cqe = nullptr;
    int r;
    do {
      r = io_uring_wait_cqe(&ring_->ring, &cqe);
    } while (r == -EINTR);
    if (r < 0) return false;
    harvest_locked();
    return true;
  }

  // Returns true if the request went back into the submission queue.
  bool on_completion(uint32_t slot, int res) {
    Op& op = ops_[slot];
    if (res == -EINTR || res == -EAGAIN) return retry(slot);
    if (res < 0) return finish(slot, -res);
    // Zero bytes before the range is complete: the file ends inside it.
    if (res == 0) return finish(slot, EIO);
    op.done += static_cast<size_t>(res);
    bytes_read_.fetch_add(static_cast<uint64_t>(res), std::memory_order_relaxed);
    if (op.done < op.request.length) return retry(slot);  // short read: ask for the rest
    return finish(slot, 0);
  }

  bool retry(uint32_t slot) {
    if (closing_) return finish(slot, ECANCELED);
    queue_locked(slot);
    return true;
  }

  bool finish(uint32_t slot, int error) {
    const Op& op = ops_[slot];
    file_.drop_cached(op.request.offset, op.done);
    ready_.push_back({op.request.tag, error});
    free_.push_back(slot);
    --in_ring_;
    return false;
  }

  ReaderFile file_;
  const std::string fallback_reason_;
  std::unique_ptr<Ring> ring_;
  mutable std::mutex mutex_;
  std::condition_variable waiters_cv_;  // reapers waiting for the one asleep on the eventfd
  std::vector<Op> ops_;                 // [depth] requests in the ring, indexed by user_data
  std::vector<uint32_t> free_;          // unused slots of ops_
  std::vector<ReadCompletion> ready_;   // finished, not yet reaped
  size_t in_ring_ = 0;                  // slots in use
  bool kernel_waiter_ = false;
  bool closing_ = false;
  std::atomic<uint64_t> bytes_read_{0};
};

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

std::unique_ptr<AsyncReader> make_io_uring_reader(ReaderFile& file, const AsyncReaderOptions& options,
                                                  std::string& why) {
  // The kernel refuses rings above 32768 entries (IORING_MAX_ENTRIES).
  const unsigned depth = std::clamp(options.queue_depth, 1u, 32768u);
  auto ring = std::make_unique<Ring>();
  if (const int r = io_uring_queue_init(depth, &ring->ring, 0); r < 0) {
    why = "io_uring_queue_init: " + errno_text(-r);
    return nullptr;
  }
  ring->ring_ok = true;
  // IORING_OP_READ arrived in Linux 5.6; older rings exist but cannot do plain reads.
  io_uring_probe* probe = io_uring_get_probe_ring(&ring->ring);
  const bool has_read = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_READ);
  if (probe != nullptr) io_uring_free_probe(probe);
  if (!has_read) {
    why = "io_uring lacks IORING_OP_READ (kernel older than 5.6)";
    return nullptr;
  }
  ring->event_fd = ::eventfd(0, EFD_CLOEXEC);
  if (ring->event_fd < 0) {
    why = "eventfd: " + errno_text(errno);
    return nullptr;
  }
  if (const int r = io_uring_register_eventfd(&ring->ring, ring->event_fd); r < 0) {
    why = "io_uring_register_eventfd: " + errno_text(-r);
    return nullptr;
  }
  return std::make_unique<IoUringReader>(std::move(file), std::move(ring), depth);
}

}  // namespace st::io
