// Expert-read throughput: random 2 MiB aligned O_DIRECT reads (the size of a 21B expert
// matrix, rounded up) from a 1 GiB file, io_uring vs the pread pool, one read in flight vs 32.
//
//   build-bench/bench/io_bench                      (file: $ST_IO_BENCH_FILE or /var/tmp/st_io_bench.bin)
//
// The file is written once with real data (a sparse file would be read as zeros without touching
// the disk) and kept for later runs. As root, the page cache is dropped before each benchmark so
// buffered runs start cold too; O_DIRECT runs bypass it anyway. Counter: bytes_per_second.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/io/async_reader.h"

namespace st {
namespace {

constexpr size_t kFileBytes = size_t{1} << 30;
constexpr size_t kReadBytes = size_t{2} << 20;
constexpr size_t kReadsPerIteration = 64;  // 128 MiB per iteration

std::string bench_file() {
  const char* env = std::getenv("ST_IO_BENCH_FILE");
  const std::string path = env != nullptr ? env : "/var/tmp/st_io_bench.bin";
  struct stat sb {};
  if (::stat(path.c_str(), &sb) == 0 && static_cast<size_t>(sb.st_size) == kFileBytes) return path;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  std::vector<uint64_t> chunk(kReadBytes / sizeof(uint64_t));
  std::mt19937_64 rng(1);
  for (size_t done = 0; done < kFileBytes; done += kReadBytes) {
    for (uint64_t& w : chunk) w = rng();
    if (::write(fd, chunk.data(), kReadBytes) != static_cast<ssize_t>(kReadBytes)) {
      ::close(fd);
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
    }
  }
  ::fsync(fd);
  ::close(fd);
  return path;
}

void drop_page_cache() {
  ::sync();
  std::ofstream("/proc/sys/vm/drop_caches") << "3\n";  // fails quietly when not root
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// args: backend (0 = io_uring, 1 = pread), reads in flight, O_DIRECT (0/1).
void BM_RandomReads(benchmark::State& state) {
  const bool use_uring = state.range(0) == 0;
  const auto depth = static_cast<unsigned>(state.range(1));
  AsyncReaderOptions o;
  o.backend = use_uring ? IoBackend::io_uring : IoBackend::pread;
  o.direct = state.range(2) != 0;
  o.queue_depth = depth;
  o.pread_threads = static_cast<int>(depth);  // one read in flight per thread
  std::unique_ptr<AsyncReader> reader;
  try {
    reader = open_async_reader(bench_file(), o);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::unique_ptr<uint8_t, FreeDeleter> buffers(
      static_cast<uint8_t*>(std::aligned_alloc(4096, size_t{depth} * kReadBytes)));
  std::mt19937_64 rng(7);
  auto random_read = [&](uint64_t slot) {
    const uint64_t offset = rng() % (kFileBytes / kReadBytes) * kReadBytes;
    return ReadRequest{offset, kReadBytes, buffers.get() + slot * kReadBytes, slot};
  };
  drop_page_cache();
  std::vector<ReadCompletion> done;
  for (auto _ : state) {
    // Keep `depth` reads in flight: each completion frees its buffer for the next read.
    size_t issued = 0;
    for (; issued < depth && issued < kReadsPerIteration; ++issued) {
      const ReadRequest r = random_read(issued);
      reader->submit(&r, 1);
    }
    for (size_t finished = 0; finished < kReadsPerIteration;) {
      done.clear();
      reader->reap(done, 1);
      for (const ReadCompletion& c : done) {
        if (c.error != 0) {
          state.SkipWithError(std::strerror(c.error));
          return;
        }
        ++finished;
        if (issued < kReadsPerIteration) {
          const ReadRequest r = random_read(c.tag);
          reader->submit(&r, 1);
          ++issued;
        }
      }
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kReadsPerIteration * kReadBytes));
  state.SetLabel(std::string(reader->name()) + (reader->direct() ? " direct" : " buffered"));
}

BENCHMARK(BM_RandomReads)
    ->ArgNames({"pread", "depth", "direct"})
    ->ArgsProduct({{0, 1}, {1, 32}, {1}})
    ->Args({0, 32, 0})
    ->Args({1, 32, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace
}  // namespace st

BENCHMARK_MAIN();
