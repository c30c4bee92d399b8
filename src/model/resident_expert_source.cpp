#include "model/resident_expert_source.h"

#include "kernels/neuron_columns.h"
#include "kernels/row_groups.h"

namespace st {

ResidentExpertSource::ResidentExpertSource(const ModelWeights& weights, ThreadPool* pool,
                                           std::function<void(const uint8_t*, size_t)> release_source)
    : weights_(weights), pool_(pool), release_source_(std::move(release_source)), down_cols_(weights.layers.size()),
      up_rows_(weights.layers.size()) {}

void ResidentExpertSource::use_sparse_layout(int layer) {
  down_to_columns(static_cast<size_t>(layer));
  up_to_rows(static_cast<size_t>(layer));
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

void ResidentExpertSource::down_to_columns(size_t il) {
  const LayerWeights& L = weights_.layers[il];
  const TensorView& d = L.down_exps.all;
  const int64_t n_out = L.down_exps.rows_per_expert, n_ff = d.n_cols;
  if (down_cols_[il] || L.down_transposed || d.data == nullptr || !neuron_columns_supported(d.type, n_out, n_ff)) return;
  const int64_t n_exp = d.n_rows / n_out;
  const size_t per_expert = static_cast<size_t>(n_out) * d.row_bytes;
  auto cols = std::unique_ptr<uint8_t[]>(new uint8_t[per_expert * static_cast<size_t>(n_exp)]);
  auto repack = [&](int64_t b, int64_t e, int) {
    std::vector<uint8_t> rows(d.row_groups ? per_expert : 0);  // the file layout of a packed matrix
    for (int64_t x = b; x < e; ++x) {
      const uint8_t* src = L.down_exps.expert(static_cast<int>(x)).data;
      if (d.row_groups) {
        unpack_row_groups(d.type, src, n_out, n_ff, rows.data());
        src = rows.data();
      }
      rows_to_neuron_columns(d.type, src, n_out, n_ff, cols.get() + per_expert * static_cast<size_t>(x));
    }
  };
  if (pool_) pool_->parallel_for(n_exp, 1, repack);
  else repack(0, n_exp, 0);
  down_cols_[il] = std::move(cols);
  if (release_source_) release_source_(d.data, per_expert * static_cast<size_t>(n_exp));
}

ExpertView ResidentExpertSource::acquire(int layer, int expert) {
  const auto& L = weights_.layers[static_cast<size_t>(layer)];
  ExpertView v{L.gate_exps.expert(expert), L.up_exps.expert(expert), L.down_exps.expert(expert), L.down_transposed};
  if (const auto& cols = down_cols_[static_cast<size_t>(layer)])
    v.down_cols = cols.get() + v.down.n_bytes() * static_cast<size_t>(expert);
  if (const auto& rows = up_rows_[static_cast<size_t>(layer)]) {
    v.up.data = rows.get() + v.up.n_bytes() * static_cast<size_t>(expert);
    v.up.row_groups = false;
  }
  return v;
}

}  // namespace st
