#include "runtime/io/async_reader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <random>
#include <stdexcept>
#include <thread>

namespace st {
namespace {

constexpr size_t kAlign = 4096;
constexpr size_t kFileSize = 8u << 20;

// The byte every test expects at file offset `i`: a hash, so a read from the wrong offset or a
// stale buffer cannot pass by accident.
uint8_t pattern(uint64_t i) { return static_cast<uint8_t>(((i / 8 + 1) * 0x9E3779B97F4A7C15ull) >> (8 * (i % 8))); }

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<uint8_t, FreeDeleter>;
Buffer aligned_buffer(size_t n) { return Buffer(static_cast<uint8_t*>(std::aligned_alloc(kAlign, (n + kAlign - 1) / kAlign * kAlign))); }

// A file of `size` pattern bytes on the real disk (/tmp is ext4 here, not tmpfs), written back and
// evicted from the page cache so residency checks start from zero.
std::string make_file(size_t size) {
  std::string path = (std::filesystem::temp_directory_path() / "st_async_reader_XXXXXX").string();
  const int fd = ::mkstemp(path.data());
  if (fd < 0) throw std::runtime_error("mkstemp: " + std::string(std::strerror(errno)));
  std::vector<uint8_t> data(size);
  for (size_t i = 0; i < size; ++i) data[i] = pattern(i);
  const bool ok = ::write(fd, data.data(), size) == static_cast<ssize_t>(size) && ::fsync(fd) == 0;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + path);
  return path;
}

size_t resident_pages(const std::string& path, size_t size) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  std::vector<unsigned char> vec((size + 4095) / 4096);
  ::mincore(map, size, vec.data());
  ::munmap(map, size);
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

testing::AssertionResult matches_file(const uint8_t* buf, uint64_t offset, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    if (buf[i] != pattern(offset + i)) return testing::AssertionFailure() << "byte " << offset + i << " differs";
  }
  return testing::AssertionSuccess();
}

struct Mode {
  IoBackend backend;
  bool direct;
};

class AsyncReaderTest : public testing::TestWithParam<Mode> {
 protected:
  static void SetUpTestSuite() { path_ = new std::string(make_file(kFileSize)); }
  static void TearDownTestSuite() {
    std::filesystem::remove(*path_);
    delete path_;
  }

  // Skips the test when the backend cannot run on this machine (io_uring blocked).
  std::unique_ptr<AsyncReader> open(unsigned queue_depth = 32, bool drop = true) {
    AsyncReaderOptions o;
    o.backend = GetParam().backend;
    o.direct = GetParam().direct;
    o.queue_depth = queue_depth;
    o.drop_cached_pages = drop;
    try {
      return open_async_reader(*path_, o);
    } catch (const std::runtime_error&) {
      if (o.backend == IoBackend::io_uring) return nullptr;
      throw;
    }
  }

  static std::string* path_;
};
std::string* AsyncReaderTest::path_ = nullptr;

#define OPEN_OR_SKIP(var, ...)                                   \
  auto var = open(__VA_ARGS__);                                  \
  if (!var) GTEST_SKIP() << "io_uring is unavailable here"

TEST_P(AsyncReaderTest, ReportsWhatItIs) {
  OPEN_OR_SKIP(reader);
  EXPECT_STREQ(reader->name(), GetParam().backend == IoBackend::io_uring ? "io_uring" : "pread");
  EXPECT_EQ(reader->direct(), GetParam().direct);  // /tmp accepts O_DIRECT
  EXPECT_EQ(reader->alignment(), GetParam().direct ? size_t{4096} : size_t{1});
  EXPECT_EQ(reader->fallback_reason(), "");
  EXPECT_EQ(reader->in_flight(), 0u);
}

// Many random aligned reads with a queue shallower than the work, submitted in odd-sized batches
// while reaping as we go: every buffer must hold exactly its range of the file.
TEST_P(AsyncReaderTest, RandomAlignedReadsReturnTheFileContents) {
  OPEN_OR_SKIP(reader, 16);
  std::mt19937_64 rng(42);
  constexpr int kReads = 300;
  std::vector<ReadRequest> reqs(kReads);
  std::vector<Buffer> bufs;
  uint64_t total = 0;
  for (int i = 0; i < kReads; ++i) {
    const size_t len = (1 + rng() % 64) * kAlign;
    const uint64_t off = rng() % ((kFileSize - len) / kAlign + 1) * kAlign;
    bufs.push_back(aligned_buffer(len));
    reqs[i] = {off, len, bufs.back().get(), static_cast<uint64_t>(i)};
    total += len;
  }
  std::vector<ReadCompletion> done;
  for (int i = 0; i < kReads; i += 7) {
    reader->submit(&reqs[i], std::min(7, kReads - i));
    reader->reap(done, 0);
  }
  while (done.size() < kReads) ASSERT_GT(reader->reap(done, kReads - done.size()), 0u);
  std::vector<bool> seen(kReads);
  for (const ReadCompletion& c : done) {
    ASSERT_LT(c.tag, static_cast<uint64_t>(kReads));
    EXPECT_FALSE(seen[c.tag]) << "tag " << c.tag << " completed twice";
    seen[c.tag] = true;
    EXPECT_EQ(c.error, 0);
    EXPECT_TRUE(matches_file(static_cast<uint8_t*>(reqs[c.tag].dst), reqs[c.tag].offset, reqs[c.tag].length));
  }
  EXPECT_EQ(reader->bytes_read(), total);
  EXPECT_EQ(reader->in_flight(), 0u);
}

TEST_P(AsyncReaderTest, DeepQueueAllInFlightAtOnce) {
  OPEN_OR_SKIP(reader, 64);
  constexpr size_t kReads = 64, kLen = 128 * 1024;
  Buffer buf = aligned_buffer(kReads * kLen);
  std::vector<ReadRequest> reqs;
  for (size_t i = 0; i < kReads; ++i) reqs.push_back({i * kLen, kLen, buf.get() + i * kLen, i});
  reader->submit(reqs.data(), reqs.size());
  EXPECT_EQ(reader->in_flight(), kReads);
  std::vector<ReadCompletion> done;
  EXPECT_EQ(reader->reap(done, kReads), kReads);  // blocks until every one is back
  for (const ReadCompletion& c : done) EXPECT_EQ(c.error, 0);
  EXPECT_TRUE(matches_file(buf.get(), 0, kReads * kLen));
  EXPECT_EQ(reader->bytes_read(), kReads * kLen);
}

// The store only asks for ranges inside the file, so any read that reaches past the end means
// the file is truncated: EIO, never a silently short buffer.
TEST_P(AsyncReaderTest, ReadsReachingPastTheEndFailWithEio) {
  OPEN_OR_SKIP(reader);
  Buffer a = aligned_buffer(2 * kAlign), b = aligned_buffer(kAlign), c = aligned_buffer(kAlign);
  const ReadRequest reqs[] = {
      {kFileSize - kAlign, 2 * kAlign, a.get(), 1},  // straddles the end
      {kFileSize + kAlign, kAlign, b.get(), 2},      // wholly beyond it
      {kFileSize - kAlign, kAlign, c.get(), 3},      // the last page, valid
  };
  reader->submit(reqs, 3);
  std::vector<ReadCompletion> done;
  EXPECT_EQ(reader->reap(done, 3), 3u);
  for (const ReadCompletion& d : done) EXPECT_EQ(d.error, d.tag == 3 ? 0 : EIO) << "tag " << d.tag;
  EXPECT_TRUE(matches_file(c.get(), kFileSize - kAlign, kAlign));
}

// O_DIRECT: a misaligned request fails the whole batch up front, naming the file; buffered
// reads take any offset, length and buffer.
TEST_P(AsyncReaderTest, AlignmentIsCheckedOnlyForDirectReads) {
  OPEN_OR_SKIP(reader);
  Buffer buf = aligned_buffer(4 * kAlign);
  const ReadRequest reqs[] = {{0, kAlign, buf.get(), 1}, {12345, 1000, buf.get() + kAlign + 3, 2}};
  std::vector<ReadCompletion> done;
  if (reader->direct()) {
    try {
      reader->submit(reqs, 2);
      FAIL() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(*path_), std::string::npos) << e.what();
    }
    EXPECT_EQ(reader->in_flight(), 0u);
    reader->submit(reqs, 1);  // the aligned one alone is accepted
    EXPECT_EQ(reader->reap(done, 1), 1u);
  } else {
    reader->submit(reqs, 2);
    EXPECT_EQ(reader->reap(done, 2), 2u);
    EXPECT_TRUE(matches_file(buf.get() + kAlign + 3, 12345, 1000));
  }
  for (const ReadCompletion& c : done) EXPECT_EQ(c.error, 0);
  EXPECT_TRUE(matches_file(buf.get(), 0, kAlign));
}

TEST_P(AsyncReaderTest, ReapNeverWaitsForMoreThanWasSubmitted) {
  OPEN_OR_SKIP(reader);
  Buffer buf = aligned_buffer(kAlign);
  const ReadRequest req{0, kAlign, buf.get(), 7};
  reader->submit(&req, 1);
  std::vector<ReadCompletion> done;
  EXPECT_EQ(reader->reap(done, 10), 1u);
  EXPECT_EQ(reader->reap(done, 10), 0u);
  const ReadRequest empty{0, 0, nullptr, 8};  // zero bytes completes at once
  reader->submit(&empty, 1);
  EXPECT_EQ(reader->reap(done, 1), 1u);
  EXPECT_EQ(done.back().tag, 8u);
}

// The compute thread submits while two other threads reap (so one of them waits in the kernel
// while the other waits for it).
TEST_P(AsyncReaderTest, SubmitAndReapFromDifferentThreads) {
  OPEN_OR_SKIP(reader, 8);
  constexpr size_t kReads = 200, kLen = 16 * 1024;
  auto offset_of = [](size_t i) { return (i * 37 % (kFileSize / kLen)) * kLen; };
  Buffer buf = aligned_buffer(kReads * kLen);
  std::atomic<size_t> n_done{0};
  std::vector<ReadCompletion> done[2];
  auto reap = [&](int r) {
    while (n_done.load() < kReads) n_done += reader->reap(done[r], 1);
  };
  std::thread reaper0(reap, 0), reaper1(reap, 1);
  for (size_t i = 0; i < kReads; ++i) {
    const ReadRequest req{offset_of(i), kLen, buf.get() + i * kLen, i};
    reader->submit(&req, 1);
  }
  reaper0.join();
  reaper1.join();
  EXPECT_EQ(done[0].size() + done[1].size(), kReads);
  for (size_t i = 0; i < kReads; ++i) EXPECT_TRUE(matches_file(buf.get() + i * kLen, offset_of(i), kLen));
}

// Destroying the reader with reads in flight must not leave the kernel or a thread writing into
// buffers the caller frees next (ASan catches it for pread; for io_uring, the buffers must not
// change after the destructor returns).
TEST_P(AsyncReaderTest, DestructionWithReadsInFlightIsSafe) {
  OPEN_OR_SKIP(reader, 32);
  constexpr size_t kReads = 32, kLen = 256 * 1024;
  Buffer buf = aligned_buffer(kReads * kLen);
  std::memset(buf.get(), 0, kReads * kLen);
  std::vector<ReadRequest> reqs;
  for (size_t i = 0; i < kReads; ++i) reqs.push_back({i * kLen, kLen, buf.get() + i * kLen, i});
  reader->submit(reqs.data(), reqs.size());
  reader.reset();
  std::vector<uint8_t> snapshot(buf.get(), buf.get() + kReads * kLen);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(std::memcmp(snapshot.data(), buf.get(), snapshot.size()), 0);
}

// The memory budget counts page cache: buffered reads must not leave the file cached.
TEST_P(AsyncReaderTest, ReadsLeaveNoPagesInThePageCache) {
  for (bool drop : {true, false}) {
    OPEN_OR_SKIP(reader, 32, drop);
    Buffer buf = aligned_buffer(kFileSize / 2);
    const ReadRequest req{kFileSize / 4, kFileSize / 2, buf.get(), 0};
    reader->submit(&req, 1);
    std::vector<ReadCompletion> done;
    reader->reap(done, 1);
    ASSERT_EQ(done.at(0).error, 0);
    const size_t resident = resident_pages(*path_, kFileSize);
    if (reader->direct() || drop) {
      EXPECT_EQ(resident, 0u) << "drop=" << drop;
    } else {
      EXPECT_GT(resident, 0u) << "the check cannot see cached pages";
    }
    const int fd = ::open(path_->c_str(), O_RDONLY);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, AsyncReaderTest,
                         testing::Values(Mode{IoBackend::io_uring, true}, Mode{IoBackend::io_uring, false},
                                         Mode{IoBackend::pread, true}, Mode{IoBackend::pread, false}),
                         [](const testing::TestParamInfo<Mode>& p) {
                           return std::string(p.param.backend == IoBackend::io_uring ? "IoUring" : "Pread") +
                                  (p.param.direct ? "Direct" : "Buffered");
                         });

TEST(AsyncReaderFactory, PicksABackendAndNamesMissingFiles) {
  const std::string path = make_file(kAlign);
  auto reader = open_async_reader(path);
  const std::string name = reader->name();
  EXPECT_TRUE(name == "io_uring" || name == "pread") << name;
  if (name == "pread") {
    EXPECT_NE(reader->fallback_reason(), "");
  }
  std::filesystem::remove(path);
  try {
    open_async_reader(path);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::strerror(ENOENT)), std::string::npos) << e.what();
  }
}

// A container whose seccomp profile blocks io_uring and a file system refusing O_DIRECT, both
// simulated in a child process: the automatic factory must fall back to buffered pread, say why,
// and still read correctly without filling the page cache.
std::string fallback_in_sandbox(const std::string& path) {
  const sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[2])),  // flags, low half
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_DIRECT, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(filter)), const_cast<sock_filter*>(filter)};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    return "seccomp: " + std::string(std::strerror(errno));
  }
  try {
    AsyncReaderOptions forced;
    forced.backend = IoBackend::io_uring;
    try {
      open_async_reader(path, forced);
      return "forcing io_uring should have thrown";
    } catch (const std::runtime_error&) {
    }
    auto reader = open_async_reader(path);
    const std::string why = reader->fallback_reason();
    if (std::string(reader->name()) != "pread" || reader->direct() || reader->alignment() != 1) return "wrong fallback";
    if (why.find("io_uring_queue_init") == std::string::npos || why.find("O_DIRECT") == std::string::npos) return "reason: " + why;
    std::vector<uint8_t> buf(1000);
    const ReadRequest req{12345, buf.size(), buf.data(), 0};  // unaligned is fine when buffered
    reader->submit(&req, 1);
    std::vector<ReadCompletion> done;
    reader->reap(done, 1);
    if (done.size() != 1 || done[0].error != 0 || !matches_file(buf.data(), req.offset, buf.size())) return "bad read";
    if (resident_pages(path, kFileSize) != 0) return "pages left in the page cache";
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(AsyncReaderFactory, FallsBackWhenIoUringAndODirectAreRefused) {
  const std::string path = make_file(kFileSize);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // child: no gtest assertions here, report through the pipe
    const std::string error = fallback_in_sandbox(path);
    (void)!::write(pipe_fds[1], error.data(), error.size());
    ::_exit(error.empty() ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string message(4096, '\0');
  const ssize_t n = ::read(pipe_fds[0], message.data(), message.size());
  message.resize(n > 0 ? static_cast<size_t>(n) : 0);
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << message;
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace st
