// One MoE model (tests/model/moe_test_model.h: three layers, sparse ReGLU, several sequences,
// prompt and decode batches) through every expert layout the resident source serves: the
// file's rows, 16-row groups, neuron bundles, down stored transposed, up back in rows for a
// sparse layer. Layouts that only re-arrange bytes for the same arithmetic must give the same
// bits; the others (bundles, transposed down) are held to the model's float twin. The
// budgeted store's layouts are compared with these in tests/runtime/moe_store_test.cpp.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kernels/row_groups.h"
#include "model/moe_test_model.h"
#include "model/resident_expert_source.h"
#include "model/weight_packing.h"

namespace st {
namespace {

using namespace moe_test;

struct Layout {
  bool row_groups = false;         // PackedWeights at load
  bool sparse_layout = false;      // layers switch to the sparse layouts after their first batch
  bool sparse_reglu = true;        // Forward::set_sparse
};

RunResult run_resident(const ModelSpec& m, const Layout& l) {
  auto file = GgufFile::open(m.path());
  const ModelConfig cfg = config_from_gguf(*file);
  ModelWeights w = weights_from_gguf(*file, cfg);
  ThreadPool pool(2);
  std::unique_ptr<PackedWeights> packed;
  if (l.row_groups) packed = std::make_unique<PackedWeights>(w, &pool, [](const uint8_t*, size_t) {});
  ResidentExpertSource experts(w, &pool);
  Forward fwd(cfg, w, experts, pool);
  fwd.set_sparse(l.sparse_reglu);
  fwd.set_sparsity_thresholds(l.sparse_layout ? SparsityPolicy::kAlways : SparsityPolicy::kNever);
  return run_sequences(fwd, cfg);
}

class MoeBlock : public ::testing::TestWithParam<TensorType> {};

TEST_P(MoeBlock, EveryResidentLayoutGivesTheFileLayoutsBits) {
  const ModelSpec m{GetParam()};
  SCOPED_TRACE(std::string(tensor_type_name(m.type)) + " on " + std::string(isa_name(active_isa())));
  write_model(m);
  const RunResult rows = run_resident(m, {});
  ASSERT_EQ(rows.logits.size(), kLogitRows * kVocab);
  // The model is as sparse as designed: most neurons zero, and up rows skipped for it.
  EXPECT_GT(rows.relu.zero, rows.relu.neurons / 2);
  EXPECT_GT(rows.relu.up_rows_skipped, 0);
  EXPECT_EQ(rows.relu.bundle_layers, 0);
  expect_same_bits(rows.logits, run_resident(m, {.sparse_reglu = false}).logits, "every up row computed");
  const RunResult groups = run_resident(m, {.row_groups = true});
  expect_same_bits(rows.logits, groups.logits, "row groups");
  EXPECT_GT(groups.relu.up_rows_skipped, 0);

  ModelSpec twin = m;
  twin.as_f32 = true;
  write_model(twin);
  const RunResult f32 = run_resident(twin, {});
  expect_near_twin(rows.logits, f32.logits, "file rows");

  // Neuron bundles: the same values summed in another order, so against the twin; every
  // resident layout converts to the same bundles.
  const RunResult bundles = run_resident(m, {.sparse_layout = true});
  EXPECT_EQ(bundles.relu.bundle_layers, kLayers);
  expect_near_twin(bundles.logits, f32.logits, "neuron bundles");
  expect_same_bits(bundles.logits, run_resident(m, {.row_groups = true, .sparse_layout = true}).logits,
                   "bundles from row groups");
}

TEST_P(MoeBlock, TransposedDownAgreesWithTheFloatTwinInEveryLayout) {
  const ModelSpec m{GetParam(), /*down_transposed=*/true};
  SCOPED_TRACE(std::string(tensor_type_name(m.type)) + " on " + std::string(isa_name(active_isa())));
  write_model(m);
  ModelSpec twin = m;
  twin.as_f32 = true;
  write_model(twin);
  const RunResult rows = run_resident(m, {});
  expect_near_twin(rows.logits, run_resident(twin, {}).logits, "transposed down");
  expect_same_bits(rows.logits, run_resident(m, {.row_groups = true}).logits, "gate and up in row groups");
  // A sparse layer cannot use bundles with down transposed: up goes back to rows instead.
  const RunResult sparse = run_resident(m, {.row_groups = true, .sparse_layout = true});
  EXPECT_EQ(sparse.relu.bundle_layers, 0);
  expect_same_bits(rows.logits, sparse.logits, "up back in rows");
}

INSTANTIATE_TEST_SUITE_P(Types, MoeBlock, ::testing::Values(TensorType::Q4_0, TensorType::Q8_0),
                         [](const auto& p) { return std::string(tensor_type_name(p.param)); });

}  // namespace
}  // namespace st
