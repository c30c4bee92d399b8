// Output files, one policy for every tool that writes (synth, convert, quantize, logits, dequant,
// stats, routing traces): a write never destroys what was at the path before it succeeded.
//
//  * A path that does not exist yet, or names a regular file, is written to
//    "<target>.tmp.<pid>.<n>" in the target's directory and renamed over the target only after
//    every write, fsync and close succeeded: a full disk, an error or an interrupt leaves the
//    previous file as it was. An existing file is replaced (like cp), keeping its permissions;
//    one the user may not write is refused, as cp would refuse it.
//  * A symbolic link is followed to its final target and the temporary file is made beside
//    that target, so the link stays a link and the file it points to gets the new contents.
//  * Character devices and FIFOs (/dev/null, a named pipe) are written in place: they cannot be
//    replaced, and a reader may be waiting on them. /dev/stdout, /dev/stderr, /dev/fd/N and
//    /proc/self/fd/N write to that open descriptor.
//  * Directories, block devices and sockets are refused with an error naming the path.
//  * An output that is the same file as one of the tool's inputs (same device and inode: any
//    spelling of the path, a symbolic link or a hard link) is refused before anything is written.
//  * Temporary files are removed on every error path (the destructor) and when SIGINT, SIGTERM,
//    SIGHUP, SIGQUIT or SIGPIPE ends the process: a handler unlinks them and re-raises the
//    signal with its default action. It is installed when the first temporary file is made, and
//    only for signals that still have their default action (a program's own handler is kept).
//    SIGXFSZ is ignored from then on, so exceeding `ulimit -f` fails the write with EFBIG, which
//    is reported, instead of killing the process with the temporary file in place.
//    SIGKILL cannot be caught: it can leave a "*.tmp.<pid>.<n>" file behind.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace st {

class OutputFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Checks, without writing anything, that `path` can be written as described above and that it
// is not the same file as any of `inputs` (inputs that do not exist are skipped: their readers
// report them). Tools call this before their long work so a bad output path fails at once.
// Throws OutputFileError naming the path and what to do instead.
void check_output_path(const std::string& path, const std::vector<std::string>& inputs = {});

class OutputFile {
 public:
  // Opens `path` for writing (the temporary file, the device, or the descriptor); checks it
  // against `inputs` like check_output_path. Throws OutputFileError.
  explicit OutputFile(const std::string& path, const std::vector<std::string>& inputs = {});
  ~OutputFile();  // an output not committed is discarded: its temporary file is removed
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Writes all of it or throws (a short write, ENOSPC, EFBIG, EIO...).
  void write(const void* data, size_t n);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Makes the output final: fsync, close and rename over the target (written in place: close).
  // Throws on any failure, and the previous file is then still in place.
  void commit();

  uint64_t written() const { return written_; }
  const std::string& path() const { return path_; }
  bool in_place() const { return tmp_.empty(); }
  const std::string& temp_path() const { return tmp_; }  // empty when written in place

 private:
  [[noreturn]] void fail(const std::string& what, int err) const;

  std::string path_;    // as the caller spelled it, for messages
  std::string target_;  // the final target (symbolic links followed)
  std::string tmp_;     // the temporary file, or empty when written in place
  int fd_ = -1;
  int slot_ = -1;        // the temporary file's entry in the signal handler's list
  bool owns_fd_ = true;  // false for /dev/stdout and friends: the descriptor is the caller's
  bool committed_ = false;
  uint64_t written_ = 0;
};

// The whole file at once: OutputFile, write, commit.
void write_output_file(const std::string& path, std::string_view bytes, const std::vector<std::string>& inputs = {});

// How many temporary files this process has open right now (for tests).
size_t live_temp_files();

}  // namespace st
