// Output files: where the bytes go (a temporary file renamed over the target, a device or FIFO
// written in place, an inherited descriptor) and the checks made before anything is written.
// The policy is described in output_file.h.
#include "formats/output_file.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <utility>

#include "formats/temp_file_registry.h"

namespace st {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxSymlinkHops = 40;  // Linux's own limit (ELOOP)

enum class Mode { replace, in_place, descriptor };

// What writing `path` means, found before anything is written.
struct Target {
  Mode mode = Mode::replace;
  std::string path;  // replace: the final target (links followed); in_place: the path to open
  int fd = -1;       // descriptor mode
  bool exists = false;
  struct stat st {};  // the existing file, when exists
};

[[noreturn]] void refuse(const std::string& path, const std::string& why) { throw OutputFileError(path + ": " + why); }

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

// /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N name an open descriptor: N, else -1.
int descriptor_of(const std::string& p) {
  if (p == "/dev/stdout") return 1;
  if (p == "/dev/stderr") return 2;
  for (std::string_view prefix : {std::string_view("/dev/fd/"), std::string_view("/proc/self/fd/")}) {
    if (p.size() <= prefix.size() || p.compare(0, prefix.size(), prefix) != 0) continue;
    const char* first = p.data() + prefix.size();
    const char* last = p.data() + p.size();
    int n = -1;
    const auto [end, ec] = std::from_chars(first, last, n);
    if (ec == std::errc() && end == last && n >= 0) return n;
  }
  return -1;
}

// Follows symbolic links from `path` to the final target; *st is its lstat() when it exists.
std::string follow_links(const std::string& path, struct stat* st, bool* exists) {
  std::string p = path;
  for (int hop = 0;; ++hop) {
    if (::lstat(p.c_str(), st) != 0) {
      if (errno != ENOENT) refuse(path, "cannot examine '" + p + "': " + std::strerror(errno));
      *exists = false;
      return p;
    }
    *exists = true;
    if (!S_ISLNK(st->st_mode)) return p;
    if (hop == kMaxSymlinkHops) refuse(path, "too many levels of symbolic links");
    std::error_code ec;
    const fs::path link = fs::read_symlink(p, ec);
    if (ec) refuse(path, "cannot read the symbolic link '" + p + "': " + ec.message());
    p = link.is_absolute() ? link.string() : (fs::path(p).parent_path() / link).string();
  }
}

void check_directory_exists(const std::string& path, const std::string& target) {
  const fs::path parent = fs::path(target).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    refuse(path, "cannot create the output: the directory '" + dir + "' does not exist (" + std::strerror(errno) + ")");
  if (!S_ISDIR(st.st_mode)) refuse(path, "cannot create the output: '" + dir + "' is not a directory");
}

Target resolve(const std::string& path) {
  if (path.empty()) throw OutputFileError("no output file name given (an empty path)");
  Target t;
  if (const int fd = descriptor_of(path); fd >= 0) {
    if (::fstat(fd, &t.st) != 0) refuse(path, "descriptor " + std::to_string(fd) + " is not open");
    t.mode = Mode::descriptor;
    t.fd = fd;
    t.exists = true;
    t.path = path;
    return t;
  }
  t.path = follow_links(path, &t.st, &t.exists);
  // A kernel "magic" link (/proc/PID/fd/N of a pipe or a deleted file) names no path that could
  // take a temporary file: write through the link itself.
  bool magic = false;
  struct stat via {};
  if (::stat(path.c_str(), &via) == 0 && (!t.exists || !same_file(via, t.st))) {
    t = Target{Mode::in_place, path, -1, true, via};
    magic = true;
  }
  const std::string is = t.path == path ? std::string("is") : "is a symbolic link to '" + t.path + "', which is";
  if (!t.exists) {
    check_directory_exists(path, t.path);
    return t;
  }
  const mode_t m = t.st.st_mode;
  if (S_ISREG(m)) {
    t.mode = magic ? Mode::in_place : Mode::replace;
    // Renaming needs only the directory's permission; replacing a file the user may not write
    // would destroy what cp would have refused to touch.
    if (::faccessat(AT_FDCWD, t.path.c_str(), W_OK, AT_EACCESS) != 0)
      refuse(path, is + " a file you may not write (" + std::strerror(errno) + ")");
  } else if (S_ISCHR(m) || S_ISFIFO(m)) {
    t.mode = Mode::in_place;
  } else if (S_ISDIR(m)) {
    refuse(path, is + " a directory; give the name of a file to write");
  } else if (S_ISBLK(m)) {
    refuse(path, is + " a block device; refusing to write over a disk (write a file and copy it yourself)");
  } else {
    refuse(path, is + " a socket or another special file that cannot take an output file");
  }
  return t;
}

void refuse_if_input(const std::string& path, const Target& t, const std::vector<std::string>& inputs) {
  if (!t.exists) return;
  for (const std::string& in : inputs) {
    struct stat st {};
    if (in.empty() || ::stat(in.c_str(), &st) != 0 || !same_file(st, t.st)) continue;
    refuse(path, "is the same file as the input '" + in +
                     "' (same device and inode); writing it would destroy the input: choose another output file");
  }
}

// Best effort: the file keeps its owner (only root may give a file away) and permissions.
void keep_owner_and_mode(int fd, const struct stat& old) {
  if (old.st_uid != ::geteuid() || old.st_gid != ::getegid()) {
    if (::fchown(fd, old.st_uid, old.st_gid) != 0) {
    }
  }
  ::fchmod(fd, old.st_mode & 07777);
}

// Makes the rename itself durable; a failure here cannot undo it, so it is not an error.
void sync_directory(const std::string& file) {
  const fs::path parent = fs::path(file).parent_path();
  const int fd = ::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string temp_name(const std::string& target, unsigned n) {
  const fs::path t(target);
  const std::string suffix = ".tmp." + std::to_string(::getpid()) + "." + std::to_string(n);
  std::string name = t.filename().string() + suffix;
  if (name.size() > NAME_MAX) name = ".smallthinker" + suffix;  // a long name would not fit
  return (t.parent_path() / name).string();
}

}  // namespace

void check_output_path(const std::string& path, const std::vector<std::string>& inputs) {
  refuse_if_input(path, resolve(path), inputs);
}

OutputFile::OutputFile(const std::string& path, const std::vector<std::string>& inputs) : path_(path) {
  const Target t = resolve(path);
  refuse_if_input(path, t, inputs);
  target_ = t.path;
  if (t.mode == Mode::descriptor) {
    fd_ = t.fd;
    owns_fd_ = false;
    return;
  }
  if (t.mode == Mode::in_place) {
    // No O_CREAT: the target exists (a device, a FIFO, or a file behind a magic link).
    fd_ = ::open(t.path.c_str(), O_WRONLY | O_CLOEXEC | (S_ISREG(t.st.st_mode) ? O_TRUNC : 0));
    if (fd_ < 0) fail("cannot open for writing", errno);
    return;
  }
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
    tmp_ = temp_name(target_, counter++);
    // Registered before it exists, so no moment passes where a signal would leave it behind.
    slot_ = temp_files::add(tmp_);
    // O_EXCL: never write into someone else's file; 0666 so the umask decides a new file's mode.
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    const int err = errno;
    temp_files::remove(slot_);
    slot_ = -1;
    if (err != EEXIST || attempt == 99) {
      const std::string tried = std::exchange(tmp_, std::string());
      fail("cannot create the temporary file '" + tried + "'", err);
    }
  }
  if (t.exists) keep_owner_and_mode(fd_, t.st);
}

OutputFile::~OutputFile() {
  if (fd_ >= 0 && owns_fd_) ::close(fd_);
  if (!committed_ && !tmp_.empty()) {
    ::unlink(tmp_.c_str());
    temp_files::remove(slot_);
  }
}

void OutputFile::fail(const std::string& what, int err) const {
  std::string msg = path_ + ": " + what + ": " + std::strerror(err);
  if (err == ENOSPC) msg += " (the disk is full)";
  if (err == EFBIG) msg += " (over the file size limit: `ulimit -f`, or the file system's maximum)";
  if (!tmp_.empty()) msg += "; '" + target_ + "' was left as it was";
  throw OutputFileError(msg);
}

void OutputFile::write(const void* data, size_t n) {
  if (fd_ < 0) throw std::logic_error("OutputFile::write after commit: " + path_);
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write failed", w < 0 ? errno : EIO);
    p += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
}

void OutputFile::commit() {
  if (fd_ < 0) throw std::logic_error("OutputFile::commit twice: " + path_);
  if (!owns_fd_) {  // the caller's descriptor stays open; there is nothing to finish
    fd_ = -1;
    committed_ = true;
    return;
  }
  if (!tmp_.empty() && ::fsync(fd_) != 0) fail("fsync failed", errno);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) fail("close failed", errno);
  if (!tmp_.empty()) {
    if (::rename(tmp_.c_str(), target_.c_str()) != 0) fail("cannot rename '" + tmp_ + "' to '" + target_ + "'", errno);
    temp_files::remove(slot_);
    slot_ = -1;
    sync_directory(target_);
  }
  committed_ = true;
}

void write_output_file(const std::string& path, std::string_view bytes, const std::vector<std::string>& inputs) {
  OutputFile f(path, inputs);
  f.write(bytes);
  f.commit();
}

size_t live_temp_files() { return temp_files::live(); }

}  // namespace st
