// Internal to runtime/io: the opened file both backends read from, and the backend
// constructors the factory in reader_file.cpp chooses between. Not part of the public API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/io/async_reader.h"

namespace st::io {

// One open file descriptor plus what the read path must know about it. Move-only; closes the
// descriptor on destruction.
class ReaderFile {
 public:
  // Opens `path` read-only, with O_DIRECT when `want_direct`; falls back to a buffered
  // descriptor when the file system refuses O_DIRECT (EINVAL) and says so in note().
  ReaderFile(const std::string& path, bool want_direct, bool drop_cached_pages);
  ReaderFile(ReaderFile&& other) noexcept;
  ReaderFile& operator=(ReaderFile&&) = delete;
  ReaderFile(const ReaderFile&) = delete;
  ReaderFile& operator=(const ReaderFile&) = delete;
  ~ReaderFile();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  bool direct() const { return direct_; }
  size_t alignment() const { return alignment_; }
  const std::string& note() const { return note_; }

  // Throws std::invalid_argument naming the file unless every request has a destination and,
  // for O_DIRECT, an aligned offset, length and destination. Checks all before any is queued.
  void validate(const ReadRequest* requests, size_t n) const;
  // After a buffered read finished: ask the kernel to drop its pages (no-op for O_DIRECT).
  void drop_cached(uint64_t offset, size_t length) const;

 private:
  int fd_ = -1;
  std::string path_;
  bool direct_ = false;
  bool drop_cached_pages_ = false;
  size_t alignment_ = 1;
  std::string note_;
};

// One system call never moves more than this, so a huge request cannot overflow the 32-bit
// io_uring length or hit the kernel's ~2 GiB per-call cap; the rest goes as a follow-up read.
inline constexpr size_t kMaxChunk = size_t{1} << 30;

// Appends `more` to a "; "-separated fallback explanation.
void append_reason(std::string& reasons, const std::string& more);

// The pread thread pool; cannot fail except by throwing (thread creation).
std::unique_ptr<AsyncReader> make_pread_reader(ReaderFile file, const AsyncReaderOptions& options,
                                               std::string fallback_reason);

// The io_uring reader; returns null and sets `why` when the kernel refuses io_uring (ENOSYS
// on old kernels, EPERM under seccomp or io_uring_disabled, missing IORING_OP_READ).
std::unique_ptr<AsyncReader> make_io_uring_reader(ReaderFile& file, const AsyncReaderOptions& options,
                                                  std::string& why);

}  // namespace st::io
