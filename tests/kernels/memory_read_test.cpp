// read_all (the bandwidth probe's loop) reads every byte, whatever the length, on every ISA
// this CPU runs (IsaKernels::read_all): a change to any byte changes its checksum.
#include "kernels/memory_read.h"

#include "kernels/kernel_table.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <random>
#include <vector>

namespace st {
namespace {

void check_every_byte(uint64_t (*read)(const void*, size_t)) {
  std::mt19937_64 rng(3);
  for (size_t n : {size_t{0}, size_t{7}, size_t{64}, size_t{255}, size_t{4096}, size_t{8 * 256 * 3 + 100}, size_t{1} << 20}) {
    std::vector<uint8_t> buf(n);
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    const uint64_t got = read(buf.data(), n);
    // The checksum is a sum of words and bytes: flipping bits of any one byte changes it.
    if (n == 0) {
      EXPECT_EQ(got, 0u);
      continue;
    }
    for (size_t i : {size_t{0}, n / 3, n / 2, n - 1}) {
      buf[i] ^= 0x5A;
      EXPECT_NE(read(buf.data(), n), got) << "n=" << n << ": byte " << i << " was not read";
      buf[i] ^= 0x5A;
    }
    EXPECT_EQ(read(buf.data(), n), got) << "n=" << n << ": not deterministic";
  }
}

TEST(MemoryRead, ChecksumCoversEveryByte) {
  check_every_byte(read_all);  // the active ISA's, through the table
  for (Isa isa : available_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    check_every_byte(isa_kernels(isa).read_all);
  }
}

}  // namespace
}  // namespace st
