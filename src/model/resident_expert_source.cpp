#include "model/resident_expert_source.h"

#include <utility>
#include <vector>

namespace st {

ResidentExpertSource::ResidentExpertSource(const ModelWeights& weights, ThreadPool* pool, ReleaseBytes release_source)
    : weights_(weights), pool_(pool), release_source_(std::move(release_source)), relaid_(weights.layers.size()) {}

bool ResidentExpertSource::use_sparse_layout(int layer) {
  const auto il = static_cast<size_t>(layer);
  if (!relaid_[il].bytes) relay_layer(il);
  return relaid_[il].bundles;
}

ExpertView ResidentExpertSource::as_loaded(size_t layer, int expert) const {
  const LayerWeights& L = weights_.layers[layer];
  return {L.gate_exps.expert(expert), L.up_exps.expert(expert), L.down_exps.expert(expert)};
}

// Every expert of the layer relaid into one new buffer: bundles where the types allow, else
// up (if it was in row groups) in rows; the originals are then released.
void ResidentExpertSource::relay_layer(size_t il) {
  const ExpertView first = as_loaded(il, 0);
  if (first.up.data == nullptr || first.down.data == nullptr) return;
  const bool bundles = can_bundle(first.up, first.down);
  if (!bundles && first.up.layout != WeightLayout::row_groups) return;  // up already in rows
  const LayerWeights& L = weights_.layers[il];
  const size_t up_bytes = L.up_exps.expert_bytes(), down_bytes = bundles ? L.down_exps.expert_bytes() : 0;
  const int64_t n_exp = L.up_exps.all.n_rows / L.up_exps.rows_per_expert;
  Relaid r{std::unique_ptr<uint8_t[]>(new uint8_t[(up_bytes + down_bytes) * static_cast<size_t>(n_exp)]),
           up_bytes + down_bytes, bundles};
  auto relay = [&](int64_t b, int64_t e, int) {
    std::vector<uint8_t> scratch;  // one expert's up + down rows
    for (int64_t x = b; x < e; ++x) {
      ExpertView v = as_loaded(il, static_cast<int>(x));
      uint8_t* out = r.bytes.get() + r.per_expert * static_cast<size_t>(x);
      const ExpertLayouts want{v.gate.layout, WeightLayout::bundle_part, WeightLayout::bundle_part};
      relay_expert(v, want, {nullptr, out, bundles ? out + up_bytes : nullptr}, scratch);
    }
  };
  if (pool_) pool_->parallel_for(n_exp, 1, relay);
  else relay(0, n_exp, 0);
  relaid_[il] = std::move(r);
  if (!release_source_) return;
  release_source_(L.up_exps.all.data, up_bytes * static_cast<size_t>(n_exp));
  if (bundles) release_source_(L.down_exps.all.data, down_bytes * static_cast<size_t>(n_exp));
}

ExpertView ResidentExpertSource::acquire(int layer, int expert) {
  ExpertView v = as_loaded(static_cast<size_t>(layer), expert);
  const Relaid& r = relaid_[static_cast<size_t>(layer)];
  if (!r.bytes) return v;
  v.up.data = r.bytes.get() + r.per_expert * static_cast<size_t>(expert);
  v.up.layout = WeightLayout::rows;
  if (r.bundles) {
    v.down.data = v.up.data + v.up.n_bytes();  // the two parts, each of up's size
    v.up.layout = v.down.layout = WeightLayout::bundle_part;
  }
  return v;
}

}  // namespace st
