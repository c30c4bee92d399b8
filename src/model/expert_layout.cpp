#include "model/expert_layout.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "formats/mapped_pages.h"
#include "kernels/neuron_bundles.h"
#include "kernels/row_groups.h"
#include "kernels/thread_pool.h"
#include "model/expert_source.h"
#include "model/weight_packing.h"

namespace st {
namespace {

constexpr int64_t kSlice = 64;  // rows per piece of parallel packing work: whole groups

// v's file rows at dst, which is not v's memory.
void rows_to(const TensorView& v, uint8_t* dst) {
  if (v.layout == WeightLayout::row_groups) unpack_row_groups(v.type, v.data, v.n_rows, v.n_cols, dst);
  else std::memcpy(dst, v.data, v.n_bytes());
}

// v's rows packed into dst (not v's memory) in slices spread over the pool: groups are
// independent and a slice's packed bytes cover the same range as its rows.
void pack_to(const TensorView& v, uint8_t* dst, ThreadPool* pool) {
  auto body = [&](int64_t b, int64_t e, int) {
    const int64_t r0 = b * kSlice, r1 = std::min(v.n_rows, e * kSlice);
    const size_t off = static_cast<size_t>(r0) * v.row_bytes;
    pack_row_groups(v.type, v.data + off, r1 - r0, v.n_cols, dst + off);
  };
  const int64_t n = (v.n_rows + kSlice - 1) / kSlice;
  if (pool) pool->parallel_for(n, 16, body);
  else body(0, n, 0);
}

// v's rows packed where they are, one slice at a time through a slice-sized buffer per
// thread (not one the matrix's size: under a memory budget the lm_head alone would
// overshoot it).
void pack_in_place(const TensorView& v, uint8_t* data, std::vector<uint8_t>& scratch, ThreadPool* pool) {
  const int n_threads = pool ? pool->size() : 1;
  const size_t slice_bytes = static_cast<size_t>(kSlice) * v.row_bytes;
  if (scratch.size() < slice_bytes * static_cast<size_t>(n_threads)) scratch.resize(slice_bytes * static_cast<size_t>(n_threads));
  auto body = [&](int64_t b, int64_t e, int thread) {
    uint8_t* buf = scratch.data() + slice_bytes * static_cast<size_t>(thread);
    for (int64_t s = b; s < e; ++s) {
      const int64_t r0 = s * kSlice, r1 = std::min(v.n_rows, r0 + kSlice);
      uint8_t* rows = data + static_cast<size_t>(r0) * v.row_bytes;
      pack_row_groups(v.type, rows, r1 - r0, v.n_cols, buf);
      std::memcpy(rows, buf, static_cast<size_t>(r1 - r0) * v.row_bytes);
    }
  };
  const int64_t n = (v.n_rows + kSlice - 1) / kSlice;
  if (pool) pool->parallel_for(n, 4, body);
  else body(0, n, 0);
}

// up [n_ff x n_embd] and down [n_embd x n_ff] as the two neuron-bundle parts at part0 and
// part1, which may be up's and down's own bytes: bundles are made from the file's rows,
// [up rows | down rows] staged in scratch first.
void to_bundles(TensorView& up, TensorView& down, uint8_t* part0, uint8_t* part1, std::vector<uint8_t>& scratch,
                ThreadPool* pool) {
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
  up.data = part0;
  down.data = part1;
  up.layout = down.layout = WeightLayout::bundle_part;
}

// One matrix toward `to`, where that is a conversion between rows and row groups.
void relay_if_possible(TensorView& m, WeightLayout to, uint8_t* dst, std::vector<uint8_t>& scratch, ThreadPool* pool) {
  if (!dst || m.layout == to) return;
  const bool pack = m.layout == WeightLayout::rows && to == WeightLayout::row_groups && can_pack_rows(m, m.n_rows);
  const bool unpack = m.layout == WeightLayout::row_groups && to == WeightLayout::rows;
  if (pack || unpack) relay_matrix(m, to, dst, scratch, pool);
}

}  // namespace

bool can_pack_rows(const TensorView& v, int64_t unit_rows) {
  return v.data != nullptr && v.layout == WeightLayout::rows && unit_rows % kGroupRows == 0 &&
         row_groups_supported(v.type, v.n_rows);
}

bool can_bundle(const TensorView& up, const TensorView& down) {
  auto dense = [](WeightLayout l) { return l == WeightLayout::rows || l == WeightLayout::row_groups; };
  return dense(up.layout) && dense(down.layout) && up.type == down.type &&
         bundles_supported(up.type, up.n_cols, up.n_rows) && down.n_rows == up.n_cols && down.n_cols == up.n_rows;
}

void relay_matrix(TensorView& m, WeightLayout to, uint8_t* dst, std::vector<uint8_t>& scratch, ThreadPool* pool) {
  const bool in_place = dst == m.data;
  if (to == WeightLayout::row_groups) {
    if (in_place) pack_in_place(m, dst, scratch, pool);
    else pack_to(m, dst, pool);
  } else if (!in_place) {
    rows_to(m, dst);
  } else {
    if (scratch.size() < m.n_bytes()) scratch.resize(m.n_bytes());
    rows_to(m, scratch.data());
    std::memcpy(dst, scratch.data(), m.n_bytes());
  }
  m.data = dst;
  m.layout = to;
}

void relay_expert(ExpertView& v, ExpertLayouts want, const ExpertPlaces& places, std::vector<uint8_t>& scratch,
                  ThreadPool* pool) {
  if (want.up == WeightLayout::bundle_part && v.up.layout != WeightLayout::bundle_part) {
    // Bundles where the types (and places) allow; else at least up in rows, so that a row
    // list reads one contiguous run per needed neuron.
    if (places.up && places.down && can_bundle(v.up, v.down)) to_bundles(v.up, v.down, places.up, places.down, scratch, pool);
    want.up = WeightLayout::rows;
    want.down = v.down.layout;
  }
  relay_if_possible(v.gate, want.gate, places.gate, scratch, pool);
  relay_if_possible(v.up, want.up, places.up, scratch, pool);
  relay_if_possible(v.down, want.down, places.down, scratch, pool);
}

ReleaseBytes drop_mapped_pages(const uint8_t* map, uint64_t map_len) {
  return [map, map_len](const uint8_t* p, size_t n) {
    if (p < map || p + n > map + map_len) return;  // not in the mapping: not ours to drop
    release_mapped_pages(map, map_len, static_cast<uint64_t>(p - map), static_cast<uint64_t>(p - map) + n);
  };
}

ReleaseBytes release_superseded(ReleaseBytes drop, PackedWeights* packed) {
  return [drop = std::move(drop), packed](const uint8_t* p, size_t n) {
    if (!packed || !packed->release(p)) drop(p, n);
  };
}

}  // namespace st
