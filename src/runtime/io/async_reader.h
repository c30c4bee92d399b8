// Asynchronous positional reads from one file, the I/O unit of the expert store. Two
// implementations: io_uring (liburing) and a portable pool of threads calling pread; the
// factory picks io_uring when the kernel allows it and falls back automatically.
// Reads may use O_DIRECT (the page cache is bypassed, so the memory budget is not eaten by
// cached file pages): then offset, length and destination must be aligned to `alignment()`.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace st {

struct ReadRequest {
  uint64_t offset = 0;   // in the file
  size_t length = 0;
  void* dst = nullptr;
  uint64_t tag = 0;      // returned with the completion
};

struct ReadCompletion {
  uint64_t tag = 0;
  int error = 0;         // 0, or an errno value (EIO, ...); a short read past EOF reports EIO
};

class AsyncReader {
 public:
  virtual ~AsyncReader() = default;
  // Queues reads; they start immediately. Never blocks for long (may block if the queue is full).
  virtual void submit(const ReadRequest* requests, size_t n) = 0;
  // Appends finished reads to `out`. Blocks until at least `min_complete` are available
  // (0 = just poll). Returns the number appended. `min_complete` is capped at the reads still
  // outstanding (finished or in flight), so waiting for more than were submitted cannot hang.
  virtual size_t reap(std::vector<ReadCompletion>& out, size_t min_complete) = 0;
  virtual size_t in_flight() const = 0;   // submitted and not yet returned by reap()
  virtual bool direct() const = 0;        // O_DIRECT in use
  virtual size_t alignment() const = 0;   // 1 when not direct
  virtual const char* name() const = 0;   // "io_uring" | "pread"
  virtual uint64_t bytes_read() const = 0;
  // Why the reader is not what the options asked for ("" when it is): io_uring refused by the
  // kernel (so pread is used), or O_DIRECT refused by the file system (so reads are buffered).
  virtual std::string fallback_reason() const { return {}; }
};

enum class IoBackend { automatic, io_uring, pread };

struct AsyncReaderOptions {
  IoBackend backend = IoBackend::automatic;
  bool direct = true;        // try O_DIRECT; fall back to buffered reads (+ fadvise DONTNEED) if refused
  unsigned queue_depth = 256;
  int pread_threads = 4;     // for the pread backend
  // Buffered reads only (direct off or refused): drop each range from the page cache once read
  // and turn off read-ahead, because the memory budget (and a memory cgroup) counts page cache.
  bool drop_cached_pages = true;
};

// Opens `path` for reading; throws std::runtime_error naming the file on failure.
std::unique_ptr<AsyncReader> open_async_reader(const std::string& path, const AsyncReaderOptions& options = {});

}  // namespace st
