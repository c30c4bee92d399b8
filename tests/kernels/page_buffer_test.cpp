// PageBuffer: alignment, zeroed memory, lazy vs populated pages (mincore), ownership, errors.
#include "kernels/page_buffer.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace st {
namespace {

const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));

// Resident pages of [p, p + n) and whether the range is mapped at all.
size_t resident_pages(const uint8_t* p, size_t n, bool* mapped = nullptr) {
  std::vector<unsigned char> v((n + kPage - 1) / kPage);
  const int rc = mincore(const_cast<uint8_t*>(p), n, v.data());
  if (mapped) *mapped = rc == 0 || errno != ENOMEM;
  size_t r = 0;
  if (rc == 0)
    for (unsigned char c : v) r += c & 1;
  return r;
}

TEST(PageBuffer, LargeBuffersStartOnAHugePageAndAreZero) {
  const size_t n = (size_t{3} << 20) + 123;
  PageBuffer b(n, "the test buffer");
  ASSERT_TRUE(b);
  EXPECT_EQ(b.size(), n);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (size_t{2} << 20), 0u);
  for (size_t i = 0; i < n; i += 4093) ASSERT_EQ(b.data()[i], 0) << i;
  b.data()[0] = 1;
  b.data()[n - 1] = 2;  // the last byte asked for is writable
  EXPECT_EQ(b.data()[n - 1], 2);
}

TEST(PageBuffer, SmallBuffersArePageAligned) {
  PageBuffer b(100, "the test buffer");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kPage, 0u);
  b.data()[99] = 7;
  EXPECT_EQ(b.data()[99], 7);
}

TEST(PageBuffer, PagesAreFaultedInOnlyWhenAskedOrTouched) {
  const size_t n = 64 * kPage;
  PageBuffer lazy(n, "the test buffer");
  EXPECT_EQ(resident_pages(lazy.data(), n), 0u);
  lazy.data()[5 * kPage] = 1;
  EXPECT_GE(resident_pages(lazy.data(), n), 1u);
  PageBuffer populated(n, "the test buffer", /*populate=*/true);
  EXPECT_EQ(resident_pages(populated.data(), n), n / kPage);
}

TEST(PageBuffer, MovesOwnershipAndResetUnmaps) {
  PageBuffer a(8 * kPage, "the test buffer");
  uint8_t* p = a.data();
  p[0] = 3;
  PageBuffer b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  EXPECT_EQ(b.data(), p);
  PageBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.data()[0], 3);
  c.reset();
  EXPECT_FALSE(c);
  bool mapped = true;
  resident_pages(p, 8 * kPage, &mapped);
  EXPECT_FALSE(mapped);
}

TEST(PageBuffer, EmptyAndImpossibleSizes) {
  PageBuffer empty(0, "the test buffer");
  EXPECT_FALSE(empty);
  try {
    PageBuffer huge(size_t{1} << 62, "the test buffer");
    FAIL() << "2^62 bytes were allocated";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("the test buffer"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace st
