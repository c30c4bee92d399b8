// Opening the file (O_DIRECT or its buffered fallback), checking requests against the
// file's alignment rules, dropping read pages from the page cache, and the factory that picks
// a backend.
#include "runtime/io/reader_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace st::io {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// O_DIRECT needs offset, length and buffer aligned to the device's logical block (512 on
// most disks). We promise at least 4096 (the page size, and what the pack format uses) so
// callers can align once; statx (Linux 6.1+) can only raise it, e.g. for 64 KiB-block devices.
size_t direct_alignment(int fd) {
  size_t align = 4096;
#ifdef STATX_DIOALIGN
  struct statx sx {};
  if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) != 0) {
    align = std::max({align, size_t{sx.stx_dio_mem_align}, size_t{sx.stx_dio_offset_align}});
  }
#else
  (void)fd;
#endif
  return align;
}

int open_read_only(const std::string& path, int extra_flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

}  // namespace

void append_reason(std::string& reasons, const std::string& more) {
  if (!reasons.empty()) reasons += "; ";
  reasons += more;
}

ReaderFile::ReaderFile(const std::string& path, bool want_direct, bool drop_cached_pages)
    : path_(path), drop_cached_pages_(drop_cached_pages) {
  if (want_direct) {
    fd_ = open_read_only(path, O_DIRECT);
    if (fd_ >= 0) {
      direct_ = true;
      alignment_ = direct_alignment(fd_);
      return;
    }
    // EINVAL is the file system saying "no O_DIRECT here" (tmpfs before Linux 6.6, some FUSE
    // and network mounts). Anything else (ENOENT, EACCES) fails the buffered open too and is
    // reported below with its own errno.
    if (errno != EINVAL) throw std::runtime_error("cannot open " + path + ": " + errno_text(errno));
    note_ = "O_DIRECT refused for " + path + " (" + errno_text(EINVAL) + "), using buffered reads";
  }
  fd_ = open_read_only(path, 0);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + errno_text(errno));
  if (drop_cached_pages_) {
    // Read-ahead would pull in pages beyond each range that drop_cached() never sees; the store
    // reads whole ranges that it chose, so read-ahead has nothing to guess anyway. Advisory:
    // a failure only costs memory, so it is not an error.
    (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM);
  }
}

ReaderFile::ReaderFile(ReaderFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      direct_(other.direct_),
      drop_cached_pages_(other.drop_cached_pages_),
      alignment_(other.alignment_),
      note_(std::move(other.note_)) {}

ReaderFile::~ReaderFile() {
  if (fd_ >= 0) ::close(fd_);
}

void ReaderFile::validate(const ReadRequest* requests, size_t n) const {
  for (size_t i = 0; i < n; ++i) {
    const ReadRequest& r = requests[i];
    if (r.dst == nullptr && r.length > 0) {
      throw std::invalid_argument("read of " + path_ + " at offset " + std::to_string(r.offset) +
                                  ": null destination");
    }
    if (!direct_) continue;
    const auto addr = reinterpret_cast<uintptr_t>(r.dst);
    if (r.offset % alignment_ != 0 || r.length % alignment_ != 0 || addr % alignment_ != 0) {
      throw std::invalid_argument("O_DIRECT read of " + path_ + " needs offset, length and buffer aligned to " +
                                  std::to_string(alignment_) + " bytes; got offset " + std::to_string(r.offset) +
                                  ", length " + std::to_string(r.length) + ", buffer address % " +
                                  std::to_string(alignment_) + " = " + std::to_string(addr % alignment_));
    }
  }
}

void ReaderFile::drop_cached(uint64_t offset, size_t length) const {
  if (direct_ || !drop_cached_pages_ || length == 0) return;
  // The kernel only drops pages wholly inside the range, so widen it to page boundaries;
  // the extra pages at the edges are clean file pages and cheap to read again.
  const uint64_t page = 4096;
  const uint64_t begin = offset / page * page;
  const uint64_t end = (offset + length + page - 1) / page * page;
  (void)::posix_fadvise(fd_, static_cast<off_t>(begin), static_cast<off_t>(end - begin), POSIX_FADV_DONTNEED);
}

}  // namespace st::io

namespace st {

std::unique_ptr<AsyncReader> open_async_reader(const std::string& path, const AsyncReaderOptions& options) {
  if (options.queue_depth == 0) throw std::invalid_argument("async reader for " + path + ": queue depth must be > 0");
  io::ReaderFile file(path, options.direct, options.drop_cached_pages);
  std::string reasons = file.note();
  if (options.backend != IoBackend::pread) {
    std::string why;
    if (auto reader = io::make_io_uring_reader(file, options, why)) return reader;
    if (options.backend == IoBackend::io_uring) {
      throw std::runtime_error("io_uring unavailable for " + path + ": " + why);
    }
    io::append_reason(reasons, why + ", using the pread thread pool");
  }
  return io::make_pread_reader(std::move(file), options, std::move(reasons));
}

}  // namespace st
