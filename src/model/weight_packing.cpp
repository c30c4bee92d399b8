#include "model/weight_packing.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/row_groups.h"
#include "kernels/thread_pool.h"

namespace st {
namespace {

constexpr int64_t kSlice = 64;  // rows per piece of work: whole groups

// Packs v's rows into dst in slices spread over the pool (groups are independent and a
// slice's packed bytes cover the same range as its rows).
void pack_rows_parallel(const TensorView& v, uint8_t* dst, ThreadPool* pool) {
  auto body = [&](int64_t b, int64_t e, int) {
    const int64_t r0 = b * kSlice, r1 = std::min(v.n_rows, e * kSlice);
    const size_t off = static_cast<size_t>(r0) * v.row_bytes;
    pack_row_groups(v.type, v.data + off, r1 - r0, v.n_cols, dst + off);
  };
  const int64_t n = (v.n_rows + kSlice - 1) / kSlice;
  if (pool) pool->parallel_for(n, 16, body);
  else body(0, n, 0);
}

}  // namespace

std::vector<TensorView*> dense_matmul_views(ModelWeights& w) {
  std::vector<TensorView*> views;
  for (auto& L : w.layers)
    for (TensorView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.router}) views.push_back(v);
  if (!w.tied_output) views.push_back(&w.output);
  return views;
}

bool can_pack_rows(const TensorView& v, int64_t unit_rows) {
  return v.data != nullptr && !v.row_groups && unit_rows % kGroupRows == 0 && row_groups_supported(v.type, v.n_rows);
}

void pack_view_in_place(TensorView& v, std::vector<uint8_t>& scratch, ThreadPool* pool) {
  // One slice-sized buffer per thread (not one the matrix's size: under a memory budget the
  // lm_head alone would overshoot it).
  const int n_threads = pool ? pool->size() : 1;
  const size_t slice_bytes = static_cast<size_t>(kSlice) * v.row_bytes;
  if (scratch.size() < slice_bytes * static_cast<size_t>(n_threads)) scratch.resize(slice_bytes * static_cast<size_t>(n_threads));
  auto body = [&](int64_t b, int64_t e, int thread) {
    uint8_t* buf = scratch.data() + slice_bytes * static_cast<size_t>(thread);
    for (int64_t s = b; s < e; ++s) {
      const int64_t r0 = s * kSlice, r1 = std::min(v.n_rows, r0 + kSlice);
      auto* rows = const_cast<uint8_t*>(v.data) + static_cast<size_t>(r0) * v.row_bytes;  // the caller's own memory
      pack_row_groups(v.type, rows, r1 - r0, v.n_cols, buf);
      std::memcpy(rows, buf, static_cast<size_t>(r1 - r0) * v.row_bytes);
    }
  };
  const int64_t n = (v.n_rows + kSlice - 1) / kSlice;
  if (pool) pool->parallel_for(n, 4, body);
  else body(0, n, 0);
  v.row_groups = true;
}

PackedWeights::PackedWeights(ModelWeights& w, ThreadPool* pool,
                             const std::function<void(const uint8_t*, size_t)>& release_original,
                             const ByteProgress& progress) {
  std::vector<std::pair<TensorView*, int64_t>> todo;  // (view, rows per unit)
  for (TensorView* v : dense_matmul_views(w)) todo.emplace_back(v, v->n_rows);
  for (auto& L : w.layers) {
    todo.emplace_back(&L.gate_exps.all, L.gate_exps.rows_per_expert);
    todo.emplace_back(&L.up_exps.all, L.up_exps.rows_per_expert);
    if (!L.down_transposed) todo.emplace_back(&L.down_exps.all, L.down_exps.rows_per_expert);
  }
  std::erase_if(todo, [](const auto& t) { return !can_pack_rows(*t.first, t.second); });
  uint64_t total = 0;
  for (const auto& t : todo) total += t.first->n_bytes();
  for (const auto& t : todo) {
    TensorView& v = *t.first;
    // Whole pages of their own, so a released copy goes back to the system at once.
    PageBuffer buf(v.n_bytes(), "re-laid weights");
    pack_rows_parallel(v, buf.data(), pool);
    if (release_original) release_original(v.data, v.n_bytes());
    v.data = buf.data();
    v.row_groups = true;
    bytes_ += v.n_bytes();
    buffers_.push_back(std::move(buf));
    if (progress) progress(bytes_, total);
  }
}

bool PackedWeights::release(const uint8_t* data) {
  for (auto& b : buffers_)
    if (b && b.data() == data) {
      b.reset();
      return true;
    }
  return false;
}

}  // namespace st
