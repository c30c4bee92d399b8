#include "text/bpe.h"

#include <gtest/gtest.h>

#include <random>

namespace st {
namespace {

// Symbols are plain ids here: bytes are ids 0..255 and merge results are new ids.
std::array<int32_t, 256> identity_bytes() {
  std::array<int32_t, 256> a{};
  for (int i = 0; i < 256; ++i) a[i] = i;
  return a;
}

TEST(Bpe, MergesByRankThenLeftmost) {
  const std::vector<BpeMerge> merges = {
      {'a', 'a', 300},  // rank 0
      {300, 300, 301},  // rank 1
      {'b', 'c', 302},  // rank 2
      {'a', 'b', 303},  // rank 3: loses to "bc" (rank 2) in "abc"
  };
  BpeModel bpe(identity_bytes(), merges);
  auto encode = [&](std::string_view s) {
    std::vector<int32_t> out;
    bpe.encode_piece(s, out);
    return out;
  };
  EXPECT_EQ(encode("aaaaa"), (std::vector<int32_t>{301, 'a'}));  // aa|a|a|a -> aa|aa|a -> aaaa|a
  EXPECT_EQ(encode("aaa"), (std::vector<int32_t>{300, 'a'}));    // leftmost of equal ranks
  EXPECT_EQ(encode("abc"), (std::vector<int32_t>{'a', 302}));
  EXPECT_EQ(encode("ab"), (std::vector<int32_t>{303}));
  EXPECT_EQ(encode("x"), (std::vector<int32_t>{'x'}));
  EXPECT_EQ(encode(""), (std::vector<int32_t>{}));
  EXPECT_EQ(encode("aaaaa"), (std::vector<int32_t>{301, 'a'}));  // again, from the cache
}

TEST(Bpe, DuplicatePairKeepsFirstRank) {
  const std::vector<BpeMerge> merges = {{'x', 'y', 300}, {'y', 'z', 301}, {'x', 'y', 302}};
  BpeModel bpe(identity_bytes(), merges);
  std::vector<int32_t> out;
  bpe.encode_piece("xyz", out);
  EXPECT_EQ(out, (std::vector<int32_t>{300, 'z'}));
}

// The scan and the priority queue must agree on every input, including long ones with many
// equal ranks (the case where a wrong tie-break would show).
TEST(Bpe, LinearAndHeapStrategiesAgree) {
  std::mt19937 gen(42);
  std::vector<BpeMerge> merges;
  int32_t next = 256;
  std::vector<int32_t> symbols = {'a', 'b', 'c', 'd'};
  for (int i = 0; i < 60; ++i) {
    std::uniform_int_distribution<size_t> pick(0, symbols.size() - 1);
    const int32_t l = symbols[pick(gen)], r = symbols[pick(gen)];
    merges.push_back({l, r, next});
    symbols.push_back(next++);
  }
  BpeModel bpe(identity_bytes(), merges);
  std::uniform_int_distribution<int> len(0, 300), ch('a', 'd');
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<int32_t> a(static_cast<size_t>(len(gen)));
    for (auto& s : a) s = ch(gen);
    auto b = a;
    bpe.merge_linear(a);
    bpe.merge_heap(b);
    ASSERT_EQ(a, b) << "trial " << trial;
  }
}

}  // namespace
}  // namespace st
