#include "formats/mapped_pages.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace st {
namespace {

std::string temp_file(const std::string& name, size_t bytes) {
  const std::string p = ::testing::TempDir() + "/mapped_pages_" + name;
  std::ofstream(p, std::ios::binary) << std::string(bytes, 'x');
  return p;
}

// Reads every page of the mapping (what a forward pass does to the weights).
uint64_t touch(const uint8_t* p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += 4096) sum += reinterpret_cast<const volatile uint8_t*>(p)[i];
  return sum;
}

// A model file truncated while mapped: the next read past the new end raised SIGBUS and the
// process died with "Bus error". A watched mapping ends it with a message naming the file.
TEST(MappedPagesDeathTest, TruncatedWatchedFileIsAFatalErrorNamingIt) {
  const std::string p = temp_file("watched.bin", 1 << 20);
  EXPECT_EXIT(
      {
        const int fd = open(p.c_str(), O_RDONLY);
        void* m = mmap(nullptr, 1 << 20, PROT_READ, MAP_PRIVATE, fd, 0);
        watch_mapping(m, 1 << 20, p);
        touch(static_cast<const uint8_t*>(m), 1 << 20);
        if (truncate(p.c_str(), 0) != 0) _exit(3);
        touch(static_cast<const uint8_t*>(m), 1 << 20);
        _exit(0);
      },
      ::testing::ExitedWithCode(1), "model file .*watched.bin changed while in use.*must not be\\s+modified");
}

// A fault outside every watched mapping keeps the default action (death by SIGBUS).
TEST(MappedPagesDeathTest, FaultsOutsideWatchedMappingsStaySigbus) {
  const std::string watched = temp_file("other_watched.bin", 4096);
  const std::string p = temp_file("unwatched.bin", 1 << 16);
  EXPECT_EXIT(
      {
        const int fd0 = open(watched.c_str(), O_RDONLY);
        void* w = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, fd0, 0);
        watch_mapping(w, 4096, watched);  // installs the handler
        const int fd = open(p.c_str(), O_RDONLY);
        void* m = mmap(nullptr, 1 << 16, PROT_READ, MAP_PRIVATE, fd, 0);
        if (truncate(p.c_str(), 0) != 0) _exit(3);
        touch(static_cast<const uint8_t*>(m), 1 << 16);
        _exit(0);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

// GgufFile::open watches its mapping and unwatches it when closed.
TEST(MappedPagesDeathTest, GgufFileWatchesItsMapping) {
  const std::string p = ::testing::TempDir() + "/mapped_pages_model.gguf";
  GgufWriter w;
  w.set("general.architecture", GgufValue::string("smallthinker"));
  w.add_tensor("t", TensorType::F32, {1 << 16}, std::vector<uint8_t>(size_t{4} << 16, 1));
  w.write(p);
  EXPECT_EXIT(
      {
        auto f = GgufFile::open(p);
        if (truncate(p.c_str(), 0) != 0) _exit(3);
        touch(f->bytes() + f->data_offset(), (size_t{4} << 16) - 4096);
        _exit(0);
      },
      ::testing::ExitedWithCode(1), "model file .*mapped_pages_model.gguf changed while in use");
}

}  // namespace
}  // namespace st
