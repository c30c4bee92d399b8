// The page bookkeeping of neuron-sparse up reads (runtime/sparse_up_reads.h), without I/O:
// which pages a request needs (by arithmetic on row offsets, recomputed here), that a page is
// handed out once, that an expert's second use asks for the rest of its up part, and when a
// layer stops deferring its up reads.
#include "runtime/sparse_up_reads.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <vector>

namespace st {
namespace {

constexpr size_t kPage = 4096;

std::set<size_t> pages_of(std::span<const SparseUpReads::PageRun> runs) {
  std::set<size_t> out;
  for (const auto& r : runs)
    for (size_t p = r.first; p < r.first + r.count; ++p) EXPECT_TRUE(out.insert(p).second) << "page " << p << " twice";
  return out;
}

TEST(SparseUpReads, RequestsTheRowsPagesOnceThenTheRestOnTheSecondUse) {
  const size_t row_bytes = 864, skip = 1000, n_rows = 256;  // a Q4_0 row of 1536, mid-page start
  const size_t n_pages = (skip + n_rows * row_bytes + kPage - 1) / kPage;
  SparseUpReads s(/*n_slots=*/2, /*n_layer=*/1, n_pages);
  s.refill(1);
  ASSERT_TRUE(s.defer(1, 0));
  EXPECT_TRUE(s.is_sparse(1));
  const std::vector<int32_t> rows = {0, 5, 100, 255};
  std::set<size_t> want;
  for (int32_t r : rows)
    for (size_t b = skip + r * row_bytes; b < skip + (r + 1) * row_bytes; ++b) want.insert(b / kPage);
  const auto first = pages_of(s.pages_for_rows(1, 0, rows, n_rows, row_bytes, skip, n_pages));
  EXPECT_EQ(first, want);
  // The second use of the expert reads everything still missing, and nothing twice.
  const auto second = pages_of(s.pages_for_rows(1, 0, std::vector<int32_t>{7}, n_rows, row_bytes, skip, n_pages));
  for (size_t p = 0; p < n_pages; ++p) EXPECT_NE(first.count(p) > 0, second.count(p) > 0) << "page " << p;
  EXPECT_TRUE(s.pages_for_rows(1, 0, rows, n_rows, row_bytes, skip, n_pages).empty());
  EXPECT_THROW(s.pages_for_rows(1, 0, std::vector<int32_t>{256}, n_rows, row_bytes, skip, n_pages), std::out_of_range);
  s.refill(1);
  EXPECT_FALSE(s.is_sparse(1));
}

TEST(SparseUpReads, ALayerNeedingNearlyEveryPageReadsUpWholeButRemeasures) {
  const size_t n_pages = 40, row_bytes = kPage, n_rows = 40;  // one row per page
  SparseUpReads s(1, 1, n_pages);
  std::vector<int32_t> all(n_rows);
  for (size_t i = 0; i < n_rows; ++i) all[i] = static_cast<int32_t>(i);
  for (int step = 0; step < 40; ++step) {  // every step needs every page: the average nears 1
    s.refill(0);
    ASSERT_TRUE(s.defer(0, 0) || step > 0);
    if (s.is_sparse(0)) s.pages_for_rows(0, 0, all, n_rows, row_bytes, 0, n_pages);
  }
  int deferred = 0;
  for (int fill = 0; fill < 32; ++fill) {
    s.refill(0);
    deferred += s.defer(0, 0);
  }
  EXPECT_EQ(deferred, 2);  // one fill in 16 still goes sparse, to re-measure
}

}  // namespace
}  // namespace st
