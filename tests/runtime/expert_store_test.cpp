// The expert store against the file it reads: a small SmallThinker GGUF is written here, the
// store reads its experts into fewer slots than there are experts, and every byte it hands out
// is compared with the file's own bytes at the tensor offsets (the oracle is the file, read
// through the GGUF mapping, not the store). Both I/O backends; counters against an independent
// LRU simulation; prefetch; neuron-sparse up reads (requested rows exact, everything else zero,
// never another expert's stale bytes); a file truncated after the store opened it.
#include "runtime/expert_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/gguf_names.h"
#include "kernels/row_groups.h"
#include "model/config.h"
#include "model/weights.h"
#include "runtime/memory_plan.h"

namespace st {
namespace {

namespace names = gguf_names;
constexpr uint64_t kPage = 4096;
constexpr int kLayers = 3, kExperts = 8, kEmbd = 128, kFf = 256, kVocab = 64;

// Distinct, position-dependent bytes: an expert read from the wrong offset or left over from
// another expert cannot match by accident.
uint8_t pattern(uint64_t tensor, uint64_t i) {
  const uint64_t x = (tensor * 1000003 + i / 8 + 1) * 0x9E3779B97F4A7C15ull;
  return static_cast<uint8_t>(x >> (8 * (i % 8)));
}

// Writes a 3-layer model: dense tensors f32 zeros (never read here), experts Q8_0 of pattern
// bytes (a Q8_0 row of 128 is 136 bytes, so experts start and end mid-page).
void write_model(const std::string& path) {
  GgufWriter w;
  const std::string a = "smallthinker.";
  w.set(std::string(names::kArchitecture), GgufValue::string("smallthinker"));
  w.set(a + "block_count", GgufValue::u32(kLayers));
  w.set(a + "embedding_length", GgufValue::u32(kEmbd));
  w.set(a + "attention.head_count", GgufValue::u32(4));
  w.set(a + "attention.head_count_kv", GgufValue::u32(2));
  w.set(a + "attention.key_length", GgufValue::u32(32));
  w.set(a + "attention.value_length", GgufValue::u32(32));
  w.set(a + "expert_count", GgufValue::u32(kExperts));
  w.set(a + "expert_used_count", GgufValue::u32(2));
  w.set(a + "expert_feed_forward_length", GgufValue::u32(kFf));
  w.set(a + "expert_gating_func", GgufValue::u32(2));
  w.set(a + "rope.freq_base", GgufValue::f32(10000.0f));
  auto zeros = [&](const std::string& name, std::vector<int64_t> ne) {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    w.add_tensor(name, TensorType::F32, ne, std::vector<uint8_t>(static_cast<size_t>(n) * 4));
  };
  zeros(std::string(names::kTokenEmbd), {kEmbd, kVocab});
  zeros(std::string(names::kOutputNorm), {kEmbd});
  uint64_t id = 0;
  for (int il = 0; il < kLayers; ++il) {
    auto n = [&](std::string_view s) { return names::blk(il, s); };
    zeros(n(names::kAttnNorm), {kEmbd});
    zeros(n(names::kFfnNorm), {kEmbd});
    zeros(n(names::kAttnQ), {kEmbd, 4 * 32});
    zeros(n(names::kAttnK), {kEmbd, 2 * 32});
    zeros(n(names::kAttnV), {kEmbd, 2 * 32});
    zeros(n(names::kAttnOut), {4 * 32, kEmbd});
    zeros(n(names::kFfnRouter), {kEmbd, kExperts});
    auto experts = [&](std::string_view s, int64_t cols, int64_t rows) {
      const uint64_t tid = ++id;
      w.add_tensor(n(s), TensorType::Q8_0, {cols, rows, kExperts}, [tid](std::span<uint8_t> dst) {
        for (size_t i = 0; i < dst.size(); ++i) dst[i] = pattern(tid, i);
      });
    };
    experts(names::kFfnGateExps, kEmbd, kFf);
    experts(names::kFfnUpExps, kEmbd, kFf);
    experts(names::kFfnDownExps, kFf, kEmbd);
  }
  w.write(path);
}

const ExpertTensor& part_of(const LayerWeights& L, int which) {
  return which == 0 ? L.gate_exps : which == 1 ? L.up_exps : L.down_exps;
}

// Bytes a whole-part read moves: the 4 KiB pages the part touches, except for the part that
// ends in the file's last partial page, read exactly (a direct read there would come back short).
uint64_t aligned_bytes(const ExpertTensor& t, int expert, uint64_t file_size) {
  const uint64_t begin = t.file_offset + static_cast<uint64_t>(expert) * t.expert_bytes();
  const uint64_t end = (begin + t.expert_bytes() + kPage - 1) / kPage * kPage;
  return end > file_size ? t.expert_bytes() : end - begin / kPage * kPage;
}

struct IoParam {
  IoBackend backend;
  const char* name;
};
void PrintTo(const IoParam& p, std::ostream* os) { *os << p.name; }

class ExpertStoreTest : public testing::TestWithParam<IoParam> {
 protected:
  void SetUp() override {
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("st_expert_store_") + info->test_suite_name() + "_" + info->name() + "_" +
                       std::to_string(::getpid()) + ".gguf";
    std::replace(name.begin(), name.end(), '/', '_');
    path_ = (std::filesystem::temp_directory_path() / name).string();
    write_model(path_);
    file_ = GgufFile::open(path_);
    config_ = config_from_gguf(*file_, {}, nullptr);
    weights_ = weights_from_gguf(*file_, config_);
    // The oracle copy: the file's bytes as written, kept apart from the mapping so a test may
    // truncate the file afterwards.
    bytes_.assign(file_->bytes(), file_->bytes() + file_->file_size());
  }
  void TearDown() override {
    store_.reset();
    file_.reset();
    std::filesystem::remove(path_);
  }

  // Skips (returns false) when io_uring is forced but unavailable on this machine.
  bool open_store(int n_slots, bool sparse_reads, CachePolicy policy = CachePolicy::lru, bool row_groups = false) {
    ExpertStoreOptions o;
    o.n_slots = n_slots;
    o.slot_bytes = expert_slot_bytes(weights_);
    o.policy = policy;
    o.lookahead = false;
    o.sparse_reads = sparse_reads;
    o.row_groups = row_groups;  // off: bytes exactly as in the file
    o.io.backend = GetParam().backend;
    try {
      store_ = std::make_unique<ExpertStore>(path_, config_, weights_, o);
    } catch (const std::runtime_error&) {
      if (GetParam().backend == IoBackend::io_uring) return false;
      throw;
    }
    EXPECT_STREQ(store_->io_backend(), GetParam().name);
    return true;
  }

  const uint8_t* file_expert(int layer, int which, int expert) const {
    const ExpertTensor& t = part_of(weights_.layers[static_cast<size_t>(layer)], which);
    return bytes_.data() + t.file_offset + static_cast<uint64_t>(expert) * t.expert_bytes();
  }

  testing::AssertionResult part_matches(const ExpertView& v, int layer, int which, int expert) const {
    const TensorView& tv = which == 0 ? v.gate : which == 1 ? v.up : v.down;
    const ExpertTensor& t = part_of(weights_.layers[static_cast<size_t>(layer)], which);
    if (static_cast<size_t>(tv.n_rows) * tv.row_bytes != t.expert_bytes())
      return testing::AssertionFailure() << "part " << which << " has " << tv.n_rows << " rows";
    std::vector<uint8_t> rows;  // a re-laid part, back in the file's layout
    const uint8_t* have = tv.data;
    if (tv.layout == WeightLayout::row_groups) {
      rows.resize(t.expert_bytes());
      unpack_row_groups(tv.type, tv.data, tv.n_rows, tv.n_cols, rows.data());
      have = rows.data();
    }
    if (std::memcmp(have, file_expert(layer, which, expert), t.expert_bytes()) != 0)
      return testing::AssertionFailure() << "part " << which << " of layer " << layer << " expert " << expert
                                         << " differs from the file";
    return testing::AssertionSuccess();
  }

  std::string path_;
  std::unique_ptr<GgufFile> file_;
  ModelConfig config_;
  ModelWeights weights_;
  std::vector<uint8_t> bytes_;
  std::unique_ptr<ExpertStore> store_;
};

#define OPEN_OR_SKIP(...) \
  if (!open_store(__VA_ARGS__)) GTEST_SKIP() << "io_uring is unavailable here"

TEST_P(ExpertStoreTest, EveryExpertMatchesTheFileThroughEvictions) {
  constexpr int kSlots = 5;  // of 24 experts
  OPEN_OR_SKIP(kSlots, false);
  // Forward, backward, then a shuffled pass: hits, misses and evictions of every kind.
  std::vector<std::pair<int, int>> order;
  for (int l = 0; l < kLayers; ++l)
    for (int e = 0; e < kExperts; ++e) order.push_back({l, e});
  std::vector<std::pair<int, int>> seq = order;
  seq.insert(seq.end(), order.rbegin(), order.rend());
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  seq.insert(seq.end(), order.begin(), order.end());

  std::list<std::pair<int, int>> lru;  // the independent model of an LRU cache of kSlots
  uint64_t hits = 0, misses = 0, bytes = 0;
  for (const auto& [l, e] : seq) {
    auto it = std::find(lru.begin(), lru.end(), std::make_pair(l, e));
    if (it != lru.end()) {
      ++hits;
      lru.erase(it);
    } else {
      ++misses;
      for (int w = 0; w < 3; ++w) bytes += aligned_bytes(part_of(weights_.layers[static_cast<size_t>(l)], w), e, bytes_.size());
      if (lru.size() == kSlots) lru.pop_back();
    }
    lru.push_front({l, e});
    ExpertLease lease(*store_, l, e);
    EXPECT_NE(lease.view().up.layout, WeightLayout::requested_rows);
    for (int w = 0; w < 3; ++w) ASSERT_TRUE(part_matches(lease.view(), l, w, e));
  }
  EXPECT_EQ(store_->cache_stats().hits, hits);
  EXPECT_EQ(store_->cache_stats().misses, misses);
  EXPECT_EQ(store_->stats().experts_read, misses);
  EXPECT_EQ(store_->stats().demand_reads, misses);
  EXPECT_EQ(store_->stats().prefetched, 0u);
  EXPECT_EQ(store_->stats().bytes_read, bytes);
  EXPECT_EQ(store_->stats().sparse_read_bytes_saved, 0);
  EXPECT_EQ(store_->cache().n_resident(), kSlots);
}

// With row groups on, every part a group kernel exists for is re-laid once after its read,
// holds the file's bytes in the interleaved order, and stays so while the expert is cached.
TEST_P(ExpertStoreTest, ReLaidPartsHoldTheFileBytesInGroupOrder) {
  OPEN_OR_SKIP(5, false, CachePolicy::lru, true);
  int relaid = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (int l = 0; l < kLayers; ++l)
      for (int e : {0, 3, 7, 3}) {
        ExpertLease lease(*store_, l, e);
        const ExpertView& v = lease.view();
        for (int w = 0; w < 3; ++w) {
          const TensorView& tv = w == 0 ? v.gate : w == 1 ? v.up : v.down;
          EXPECT_EQ(tv.layout == WeightLayout::row_groups, row_groups_supported(tv.type, tv.n_rows)) << "part " << w;
          relaid += tv.layout == WeightLayout::row_groups;
          ASSERT_TRUE(part_matches(v, l, w, e));
        }
      }
  if (relaid == 0) GTEST_SKIP() << "no row-group kernel on this CPU";
}

TEST_P(ExpertStoreTest, PrefetchThenAcquire) {
  OPEN_OR_SKIP(6, false);
  const int32_t first[] = {3, 6};
  store_->prefetch(1, first);  // reads start now; acquire only waits
  EXPECT_EQ(store_->stats().prefetched, 2u);
  {
    ExpertLease a(*store_, 1, 3), b(*store_, 1, 6);
    for (int w = 0; w < 3; ++w) {
      EXPECT_TRUE(part_matches(a.view(), 1, w, 3));
      EXPECT_TRUE(part_matches(b.view(), 1, w, 6));
    }
  }
  EXPECT_EQ(store_->stats().demand_reads, 0u);
  EXPECT_EQ(store_->cache_stats().misses, 2u);
  // One resident, one new: a hit and a prefetched read; nothing read twice.
  const int32_t second[] = {6, 0};
  store_->prefetch(1, second);
  EXPECT_EQ(store_->cache_stats().hits, 1u);
  EXPECT_EQ(store_->stats().prefetched, 3u);
  {
    ExpertLease a(*store_, 1, 6), b(*store_, 1, 0);
    for (int w = 0; w < 3; ++w) {
      EXPECT_TRUE(part_matches(a.view(), 1, w, 6));
      EXPECT_TRUE(part_matches(b.view(), 1, w, 0));
    }
  }
  EXPECT_EQ(store_->stats().experts_read, 3u);
  EXPECT_EQ(store_->stats().demand_reads, 0u);
}

TEST_P(ExpertStoreTest, SparseUpReadsHoldRequestedRowsAndZerosElsewhere) {
  constexpr int kSlots = 4;
  OPEN_OR_SKIP(kSlots, true);
  std::mt19937 rng(11);
  // Per resident expert, the file pages of its up part read since it was filled (the oracle
  // for which bytes must be the file's and which must be zero), and its uses since then (the
  // second use reads every remaining page).
  std::map<std::pair<int, int>, std::set<uint64_t>> pages_read;
  std::map<std::pair<int, int>, int> uses;
  int64_t saved = 0;
  uint64_t bytes = 0, late = 0;
  std::vector<std::pair<int, int>> seq;
  for (int pass = 0; pass < 3; ++pass)
    for (int l = 0; l < kLayers; ++l)
      for (int e = 0; e < kExperts; e += 1 + pass) seq.push_back({l, e});
  std::shuffle(seq.begin() + 10, seq.end(), rng);  // later passes revisit residents (hits)
  for (const auto& [l, e] : seq) {
    const ExpertTensor& up = weights_.layers[static_cast<size_t>(l)].up_exps;
    const uint64_t misses = store_->cache_stats().misses;
    ExpertLease lease(*store_, l, e);
    const ExpertView& v = lease.view();
    auto& got = pages_read[{l, e}];
    if (store_->cache_stats().misses != misses) {  // filled now: gate and down read, up deferred
      got.clear();
      uses[{l, e}] = 0;
      bytes += aligned_bytes(weights_.layers[static_cast<size_t>(l)].gate_exps, e, bytes_.size()) +
               aligned_bytes(weights_.layers[static_cast<size_t>(l)].down_exps, e, bytes_.size());
      saved += static_cast<int64_t>(aligned_bytes(up, e, bytes_.size()));
    }
    ASSERT_EQ(v.up.layout, WeightLayout::requested_rows);
    EXPECT_TRUE(part_matches(v, l, 0, e));
    EXPECT_TRUE(part_matches(v, l, 2, e));
    // About 2% of the rows, ascending, as the forward pass asks for them (a page holds 30 rows:
    // about half the pages stay unread, well below where the store would read up whole).
    std::vector<int32_t> rows;
    for (int32_t row = 0; row < kFf; ++row)
      if (rng() % 50 == 0) rows.push_back(row);
    store_->request_up_rows(l, e, rows);
    store_->wait_up_rows();
    const uint64_t begin = up.file_offset + static_cast<uint64_t>(e) * up.expert_bytes();
    bool waited = false;  // some page was not read yet: the store had to read (the step waits)
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // file bytes the request needs
    for (int32_t row : rows) {
      const uint64_t a = begin + static_cast<uint64_t>(row) * up.all.row_bytes;
      ranges.push_back({a, a + up.all.row_bytes});
    }
    if (++uses[{l, e}] == 2) ranges.assign(1, {begin, begin + up.expert_bytes()});
    for (const auto& [a, z] : ranges) {
      for (uint64_t p = a / kPage; p <= (z - 1) / kPage; ++p) {
        if (got.insert(p).second) {
          bytes += kPage;
          saved -= static_cast<int64_t>(kPage);
          waited = true;
        }
      }
    }
    late += waited;
    // Byte by byte: the file's where its page was read, zero everywhere else.
    const uint8_t* have = v.up.data;
    const uint8_t* want = file_expert(l, 1, e);
    size_t wrong = 0;
    for (size_t i = 0; i < up.expert_bytes(); ++i)
      wrong += have[i] != (got.count((begin + i) / kPage) ? want[i] : 0);
    ASSERT_EQ(wrong, 0u) << "layer " << l << " expert " << e << ": up bytes neither the file's nor zero";
    for (int32_t row : rows)
      ASSERT_EQ(std::memcmp(have + static_cast<size_t>(row) * up.all.row_bytes,
                            want + static_cast<size_t>(row) * up.all.row_bytes, up.all.row_bytes), 0);
  }
  EXPECT_EQ(store_->stats().bytes_read, bytes);
  EXPECT_EQ(store_->stats().sparse_read_bytes_saved, saved);
  EXPECT_EQ(store_->stats().up_late_reads, late);
  EXPECT_GT(saved, 0);
  EXPECT_GT(store_->cache_stats().hits, 0u);
  EXPECT_GT(store_->cache_stats().misses, static_cast<uint64_t>(kSlots));  // evictions happened
}

TEST_P(ExpertStoreTest, SparseReadsOfEveryRowEqualTheWholeExpertAndTurnThemselvesOff) {
  OPEN_OR_SKIP(3, true);
  std::vector<int32_t> all(kFf);
  for (int32_t r = 0; r < kFf; ++r) all[static_cast<size_t>(r)] = r;
  // Four rounds over 8 experts with 3 slots: every acquire is a fill. A layer that needs
  // every page soon has its up parts read whole again (no second read to wait for), except
  // one fill in 16 that keeps measuring.
  int sparse_fills = 0, whole_fills_late = 0;
  for (int round = 0; round < 4; ++round) {
    for (int e = 0; e < kExperts; ++e) {
      ExpertLease lease(*store_, 2, e);
      if (lease.view().up.layout == WeightLayout::requested_rows) ++sparse_fills;
      else if (round >= 3) ++whole_fills_late;
      store_->request_up_rows(2, e, all);
      store_->request_up_rows(2, e, all);  // already present: nothing more is read
      store_->wait_up_rows();
      for (int w = 0; w < 3; ++w) EXPECT_TRUE(part_matches(lease.view(), 2, w, e));
    }
  }
  EXPECT_EQ(store_->cache_stats().misses, 4u * kExperts);
  EXPECT_GE(sparse_fills, 10);
  EXPECT_LT(sparse_fills, 4 * kExperts);
  EXPECT_GE(whole_fills_late, kExperts - 1);
  EXPECT_EQ(store_->stats().sparse_read_bytes_saved, 0);
  // A row outside the expert is a caller bug, reported as such.
  ExpertLease lease(*store_, 0, 0);
  const int32_t bad[] = {kFf};
  EXPECT_THROW(store_->request_up_rows(0, 0, bad), std::out_of_range);
}

// Where the file is cut: in the middle of layer 2's up part of expert 3 (mid-page, mid-row).
uint64_t cut_offset(const ModelWeights& w) {
  const ExpertTensor& up = w.layers[2].up_exps;
  return up.file_offset + 3 * up.expert_bytes() + up.expert_bytes() / 2 + 100;
}

testing::AssertionResult error_names(const std::function<void()>& f, const std::string& path) {
  try {
    f();
  } catch (const std::exception& ex) {
    if (std::string(ex.what()).find(path) == std::string::npos)
      return testing::AssertionFailure() << "the error does not name the file: " << ex.what();
    return testing::AssertionSuccess() << ex.what();
  }
  return testing::AssertionFailure() << "no error";
}

TEST_P(ExpertStoreTest, FileTruncatedAfterOpenGivesAnErrorNamingIt) {
  OPEN_OR_SKIP(4, false);
  ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(cut_offset(weights_))), 0);
  {
    ExpertLease ok(*store_, 0, 1);  // wholly before the cut
    for (int w = 0; w < 3; ++w) EXPECT_TRUE(part_matches(ok.view(), 0, w, 1));
  }
  EXPECT_TRUE(error_names([&] { ExpertLease l(*store_, 2, 3); }, path_)) << "expert straddling the cut";
  EXPECT_TRUE(error_names([&] { ExpertLease l(*store_, 2, 6); }, path_)) << "expert past the cut";
  const int32_t both[] = {5, 7};
  EXPECT_TRUE(error_names([&] {
    store_->prefetch(2, both);
    ExpertLease a(*store_, 2, 5), b(*store_, 2, 7);
  }, path_)) << "prefetched experts past the cut";
  // The store still serves what the file still has.
  ExpertLease ok(*store_, 1, 4);
  for (int w = 0; w < 3; ++w) EXPECT_TRUE(part_matches(ok.view(), 1, w, 4));
}

TEST_P(ExpertStoreTest, SparseUpRowsPastATruncationGiveAnErrorNamingIt) {
  OPEN_OR_SKIP(4, true);
  ExpertLease lease(*store_, 2, 3);  // gate and down read while the file was whole
  ASSERT_EQ(lease.view().up.layout, WeightLayout::requested_rows);
  ASSERT_EQ(::truncate(path_.c_str(), static_cast<off_t>(cut_offset(weights_))), 0);
  const int32_t before[] = {0, 1, 2};  // pages before the cut: still fine
  store_->request_up_rows(2, 3, before);
  store_->wait_up_rows();
  const ExpertTensor& up = weights_.layers[2].up_exps;
  EXPECT_EQ(std::memcmp(lease.view().up.data, file_expert(2, 1, 3), 3 * up.all.row_bytes), 0);
  const int32_t after[] = {kFf - 2, kFf - 1};
  EXPECT_TRUE(error_names([&] {
    store_->request_up_rows(2, 3, after);
    store_->wait_up_rows();
  }, path_));
}

INSTANTIATE_TEST_SUITE_P(Backends, ExpertStoreTest,
                         testing::Values(IoParam{IoBackend::io_uring, "io_uring"}, IoParam{IoBackend::pread, "pread"}),
                         [](const testing::TestParamInfo<IoParam>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace st
