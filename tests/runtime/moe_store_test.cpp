// The budgeted expert store against the resident source on one MoE model
// (tests/model/moe_test_model.h): whatever the store does with the bytes it reads (row groups
// or not, neuron bundles once a layer is sparse, up rows read on request, fewer slots than a
// batch selects experts), the forward pass must give the bits it gives on the resident weights
// in the same layout. The resident layouts themselves are checked in tests/model/moe_block_test.cpp.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "model/moe_test_model.h"
#include "model/resident_expert_source.h"
#include "runtime/expert_store.h"
#include "runtime/memory_plan.h"

namespace st {
namespace {

using namespace moe_test;

// One run on the resident weights as the file lays them out (no store, no row groups).
RunResult run_resident(const ModelSpec& m, bool sparse_layout) {
  auto file = GgufFile::open(m.path());
  const ModelConfig cfg = config_from_gguf(*file);
  const ModelWeights w = weights_from_gguf(*file, cfg);
  ThreadPool pool(2);
  ResidentExpertSource experts(w, &pool);
  Forward fwd(cfg, w, experts, pool);
  fwd.set_sparsity_thresholds(sparse_layout ? SparsityPolicy::kAlways : SparsityPolicy::kNever);
  return run_sequences(fwd, cfg);
}

struct StoreSetup {
  int n_slots;  // 4: fewer than a prompt batch selects per layer (experts come in chunks)
  bool row_groups, sparse_reads, sparse_layout;
  std::string name() const {
    return std::to_string(n_slots) + " slots" + (row_groups ? ", row groups" : "") +
           (sparse_reads ? ", sparse reads" : "") + (sparse_layout ? ", sparse layout" : "");
  }
};

RunResult run_store(const ModelSpec& m, const StoreSetup& s, ExpertStoreStats* stats) {
  auto file = GgufFile::open(m.path());
  const ModelConfig cfg = config_from_gguf(*file);
  const ModelWeights w = weights_from_gguf(*file, cfg);
  ThreadPool pool(2);
  ExpertStoreOptions o;
  o.n_slots = s.n_slots;
  o.slot_bytes = expert_slot_bytes(w);
  o.row_groups = s.row_groups;
  o.sparse_reads = s.sparse_reads;
  o.pool = &pool;
  ExpertStore store(m.path(), cfg, w, o);
  Forward fwd(cfg, w, store, pool);
  fwd.set_sparsity_thresholds(s.sparse_layout ? SparsityPolicy::kAlways : SparsityPolicy::kNever);
  RunResult r = run_sequences(fwd, cfg);
  *stats = store.stats();
  return r;
}

class MoeStore : public ::testing::TestWithParam<std::tuple<TensorType, bool>> {};

TEST_P(MoeStore, EveryStoreLayoutGivesTheResidentBits) {
  const ModelSpec m{std::get<0>(GetParam()), std::get<1>(GetParam())};
  write_model(m);
  const RunResult dense = run_resident(m, false), sparse = run_resident(m, true);
  const bool bundles = sparse.relu.bundle_layers > 0;
  EXPECT_EQ(bundles, !m.down_transposed);
  for (int n_slots : {4, 2 * static_cast<int>(kExperts)})
    for (bool row_groups : {false, true})
      for (bool sparse_reads : {false, true})
        for (bool sparse_layout : {false, true}) {
          const StoreSetup s{n_slots, row_groups, sparse_reads, sparse_layout};
          SCOPED_TRACE(std::string(tensor_type_name(m.type)) + (m.down_transposed ? " (down transposed)" : "") + ", " +
                       s.name());
          ExpertStoreStats stats;
          const RunResult r = run_store(m, s, &stats);
          EXPECT_GT(stats.experts_read, 0u);
          if (n_slots == 4) {
            EXPECT_GT(stats.experts_read, static_cast<uint64_t>(kLayers * kExperts));  // re-reads
          }
          if (sparse_reads) {
            EXPECT_GT(stats.sparse_read_bytes_saved, 0);
          }
          // With up rows read on request the store keeps dense layouts (bundles would need every up row).
          const bool as_bundles = sparse_layout && bundles && !sparse_reads;
          EXPECT_EQ(r.relu.bundle_layers, as_bundles ? kLayers : 0);
          expect_same_bits(as_bundles ? sparse.logits : dense.logits, r.logits, s.name());
        }
}

INSTANTIATE_TEST_SUITE_P(Types, MoeStore,
                         ::testing::Combine(::testing::Values(TensorType::Q4_0, TensorType::Q8_0), ::testing::Bool()),
                         [](const auto& p) {
                           return std::string(tensor_type_name(std::get<0>(p.param))) +
                                  (std::get<1>(p.param) ? "_down_transposed" : "");
                         });

}  // namespace
}  // namespace st
