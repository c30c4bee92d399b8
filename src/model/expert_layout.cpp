#include "model/expert_layout.h"

#include <cstring>

#include "kernels/neuron_bundles.h"
#include "kernels/row_groups.h"
#include "kernels/thread_pool.h"

namespace st {

bool can_bundle(const TensorView& up, const TensorView& down, bool down_transposed) {
  return !down_transposed && up.type == down.type && bundles_supported(up.type, up.n_cols, up.n_rows) &&
         down.n_rows == up.n_cols && down.n_cols == up.n_rows;
}

namespace {

// v's file rows at dst, which is not v's memory.
void rows_to(const TensorView& v, uint8_t* dst) {
  if (v.row_groups) unpack_row_groups(v.type, v.data, v.n_rows, v.n_cols, dst);
  else std::memcpy(dst, v.data, v.n_bytes());
}

}  // namespace

void convert_to_bundles(const TensorView& up, const TensorView& down, uint8_t* part0, uint8_t* part1,
                        std::vector<uint8_t>& scratch, ThreadPool* pool) {
  // Bundles are made from the file's layouts: [up rows | down rows] in scratch.
  if (scratch.size() < up.n_bytes() + down.n_bytes()) scratch.resize(up.n_bytes() + down.n_bytes());
  uint8_t* rows = scratch.data();
  rows_to(up, rows);
  rows_to(down, rows + up.n_bytes());
  uint8_t* parts[2] = {part0, part1};
  auto convert = [&](int64_t b, int64_t e, int) {
    for (int64_t p = b; p < e; ++p)
      rows_to_bundle_part(up.type, rows, rows + up.n_bytes(), up.n_cols, up.n_rows, static_cast<int>(p), parts[p]);
  };
  if (pool) pool->parallel_for(2, 1, convert);
  else convert(0, 2, 0);
}

void copy_as_rows(const TensorView& v, uint8_t* dst, std::vector<uint8_t>& scratch) {
  if (dst != v.data) return rows_to(v, dst);
  if (!v.row_groups) return;  // already rows, in place
  if (scratch.size() < v.n_bytes()) scratch.resize(v.n_bytes());
  rows_to(v, scratch.data());
  std::memcpy(dst, scratch.data(), v.n_bytes());
}

}  // namespace st
