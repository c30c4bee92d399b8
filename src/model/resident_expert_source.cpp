#include "model/resident_expert_source.h"

#include <vector>

#include "model/expert_layout.h"

namespace st {

ResidentExpertSource::ResidentExpertSource(const ModelWeights& weights, ThreadPool* pool,
                                           std::function<void(const uint8_t*, size_t)> release_source)
    : weights_(weights), pool_(pool), release_source_(std::move(release_source)), bundles_(weights.layers.size()),
      up_rows_(weights.layers.size()) {}

bool ResidentExpertSource::use_sparse_layout(int layer) {
  if (to_bundles(static_cast<size_t>(layer))) return true;
  up_to_rows(static_cast<size_t>(layer));
  return false;
}

void ResidentExpertSource::up_to_rows(size_t il) {
  const ExpertTensor& up = weights_.layers[il].up_exps;
  const TensorView& u = up.all;
  if (up_rows_[il] || !u.row_groups || u.data == nullptr) return;  // already rows
  const int64_t n_exp = u.n_rows / up.rows_per_expert;
  const size_t per_expert = up.expert_bytes();
  auto rows = std::unique_ptr<uint8_t[]>(new uint8_t[per_expert * static_cast<size_t>(n_exp)]);
  auto unpack = [&](int64_t b, int64_t e, int) {
    std::vector<uint8_t> scratch;  // (unused: the copy is not in place)
    for (int64_t x = b; x < e; ++x)
      copy_as_rows(up.expert(static_cast<int>(x)), rows.get() + per_expert * static_cast<size_t>(x), scratch);
  };
  if (pool_) pool_->parallel_for(n_exp, 1, unpack);
  else unpack(0, n_exp, 0);
  up_rows_[il] = std::move(rows);
  if (release_source_) release_source_(u.data, per_expert * static_cast<size_t>(n_exp));
}

bool ResidentExpertSource::to_bundles(size_t il) {
  const LayerWeights& L = weights_.layers[il];
  if (bundles_[il]) return true;
  if (L.up_exps.all.data == nullptr || L.down_exps.all.data == nullptr ||
      !can_bundle(L.up_exps.expert(0), L.down_exps.expert(0), L.down_transposed))
    return false;
  const size_t up_bytes = L.up_exps.expert_bytes(), down_bytes = L.down_exps.expert_bytes();
  const int64_t n_exp = L.up_exps.all.n_rows / L.up_exps.rows_per_expert;
  const size_t per_expert = up_bytes + down_bytes;  // two parts of up's size
  auto bundles = std::unique_ptr<uint8_t[]>(new uint8_t[per_expert * static_cast<size_t>(n_exp)]);
  auto convert = [&](int64_t b, int64_t e, int) {
    std::vector<uint8_t> scratch;  // one expert's up + down rows
    for (int64_t x = b; x < e; ++x) {
      uint8_t* out = bundles.get() + per_expert * static_cast<size_t>(x);
      convert_to_bundles(L.up_exps.expert(static_cast<int>(x)), L.down_exps.expert(static_cast<int>(x)), out,
                         out + up_bytes, scratch);
    }
  };
  if (pool_) pool_->parallel_for(n_exp, 1, convert);
  else convert(0, n_exp, 0);
  bundles_[il] = std::move(bundles);
  if (release_source_) {
    release_source_(L.up_exps.all.data, up_bytes * static_cast<size_t>(n_exp));
    release_source_(L.down_exps.all.data, down_bytes * static_cast<size_t>(n_exp));
  }
  return true;
}

ExpertView ResidentExpertSource::acquire(int layer, int expert) {
  const auto& L = weights_.layers[static_cast<size_t>(layer)];
  ExpertView v{L.gate_exps.expert(expert), L.up_exps.expert(expert), L.down_exps.expert(expert),
               L.down_transposed ? ExpertLayout::down_transposed : ExpertLayout::dense};
  if (const auto& b = bundles_[static_cast<size_t>(layer)]) {
    v.layout = ExpertLayout::bundles;
    const size_t per_expert = v.up.n_bytes() + v.down.n_bytes();  // two parts of equal size
    v.bundles[0] = b.get() + per_expert * static_cast<size_t>(expert);
    v.bundles[1] = v.bundles[0] + per_expert / 2;
  }
  if (const auto& rows = up_rows_[static_cast<size_t>(layer)]) {
    v.up.data = rows.get() + v.up.n_bytes() * static_cast<size_t>(expert);
    v.up.row_groups = false;
  }
  return v;
}

}  // namespace st
