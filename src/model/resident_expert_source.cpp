#include "model/resident_expert_source.h"

#include <vector>

#include "kernels/neuron_bundles.h"
#include "kernels/row_groups.h"

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
  const size_t per_expert = static_cast<size_t>(up.rows_per_expert) * u.row_bytes;
  auto rows = std::unique_ptr<uint8_t[]>(new uint8_t[per_expert * static_cast<size_t>(n_exp)]);
  auto unpack = [&](int64_t b, int64_t e, int) {
    for (int64_t x = b; x < e; ++x)
      unpack_row_groups(u.type, up.expert(static_cast<int>(x)).data, up.rows_per_expert, u.n_cols,
                        rows.get() + per_expert * static_cast<size_t>(x));
  };
  if (pool_) pool_->parallel_for(n_exp, 1, unpack);
  else unpack(0, n_exp, 0);
  up_rows_[il] = std::move(rows);
  if (release_source_) release_source_(u.data, per_expert * static_cast<size_t>(n_exp));
}

bool ResidentExpertSource::to_bundles(size_t il) {
  const LayerWeights& L = weights_.layers[il];
  const TensorView& u = L.up_exps.all;
  const TensorView& d = L.down_exps.all;
  const int64_t H = L.down_exps.rows_per_expert, F = L.up_exps.rows_per_expert;
  if (bundles_[il]) return true;
  if (L.down_transposed || u.data == nullptr || d.data == nullptr || u.type != d.type || !bundles_supported(u.type, H, F))
    return false;
  const BundleShape shape(u.type, H, F);
  const int64_t n_exp = u.n_rows / F;
  const size_t per_expert = 2 * shape.part_bytes, up_bytes = static_cast<size_t>(F) * u.row_bytes,
               down_bytes = static_cast<size_t>(H) * d.row_bytes;
  auto bundles = std::unique_ptr<uint8_t[]>(new uint8_t[per_expert * static_cast<size_t>(n_exp)]);
  auto convert = [&](int64_t b, int64_t e, int) {
    std::vector<uint8_t> rows(up_bytes + down_bytes);  // the file layouts of re-laid matrices
    for (int64_t x = b; x < e; ++x) {
      const uint8_t* up = L.up_exps.expert(static_cast<int>(x)).data;
      const uint8_t* down = L.down_exps.expert(static_cast<int>(x)).data;
      if (u.row_groups) {
        unpack_row_groups(u.type, up, F, H, rows.data());
        up = rows.data();
      }
      if (d.row_groups) {
        unpack_row_groups(d.type, down, H, F, rows.data() + up_bytes);
        down = rows.data() + up_bytes;
      }
      uint8_t* out = bundles.get() + per_expert * static_cast<size_t>(x);
      rows_to_bundles(u.type, up, down, H, F, out, out + shape.part_bytes);
    }
  };
  if (pool_) pool_->parallel_for(n_exp, 1, convert);
  else convert(0, n_exp, 0);
  bundles_[il] = std::move(bundles);
  if (release_source_) {
    release_source_(u.data, up_bytes * static_cast<size_t>(n_exp));
    release_source_(d.data, down_bytes * static_cast<size_t>(n_exp));
  }
  return true;
}

ExpertView ResidentExpertSource::acquire(int layer, int expert) {
  const auto& L = weights_.layers[static_cast<size_t>(layer)];
  ExpertView v{L.gate_exps.expert(expert), L.up_exps.expert(expert), L.down_exps.expert(expert), L.down_transposed};
  if (const auto& b = bundles_[static_cast<size_t>(layer)]) {
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
