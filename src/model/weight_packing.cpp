#include "model/weight_packing.h"

#include <sys/mman.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/row_groups.h"
#include "kernels/thread_pool.h"

namespace st {
namespace {

// Packs v's rows into dst in slices of 64 rows spread over the pool (groups are independent
// and a slice's packed bytes cover the same range as its rows). copy_back: then copies each
// slice over v's own bytes (memory the caller owns), packing v in place.
void pack_rows_parallel(const TensorView& v, uint8_t* dst, ThreadPool* pool, bool copy_back = false) {
  constexpr int64_t kSlice = 64;
  auto body = [&](int64_t b, int64_t e, int) {
    const int64_t r0 = b * kSlice, r1 = std::min(v.n_rows, e * kSlice);
    const size_t off = static_cast<size_t>(r0) * v.row_bytes;
    pack_row_groups(v.type, v.data + off, r1 - r0, v.n_cols, dst + off);
    if (copy_back) std::memcpy(const_cast<uint8_t*>(v.data) + off, dst + off, static_cast<size_t>(r1 - r0) * v.row_bytes);
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
  if (scratch.size() < v.n_bytes()) scratch.resize(v.n_bytes());
  pack_rows_parallel(v, scratch.data(), pool, /*copy_back=*/true);
  v.row_groups = true;
}

PackedWeights::PackedWeights(ModelWeights& w, ThreadPool* pool,
                             const std::function<void(const uint8_t*, size_t)>& release_original) {
  auto pack = [&](TensorView& v, int64_t unit_rows) {
    if (!can_pack_rows(v, unit_rows)) return;
    // Whole pages of their own, so a released copy goes back to the system at once.
    constexpr size_t kPage = 4096;
    Buffer buf{nullptr, (v.n_bytes() + kPage - 1) / kPage * kPage};
    void* m = mmap(nullptr, buf.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
      throw std::runtime_error("cannot allocate " + std::to_string(buf.length) + " bytes for re-laid weights");
    buf.data = static_cast<uint8_t*>(m);
    pack_rows_parallel(v, buf.data, pool);
    if (release_original) release_original(v.data, v.n_bytes());
    v.data = buf.data;
    v.row_groups = true;
    bytes_ += v.n_bytes();
    buffers_.push_back(buf);
  };
  for (TensorView* v : dense_matmul_views(w)) pack(*v, v->n_rows);
  for (auto& L : w.layers) {
    pack(L.gate_exps.all, L.gate_exps.rows_per_expert);
    pack(L.up_exps.all, L.up_exps.rows_per_expert);
    if (!L.down_transposed) pack(L.down_exps.all, L.down_exps.rows_per_expert);
  }
}

bool PackedWeights::release(const uint8_t* data) {
  for (auto& b : buffers_)
    if (b.data && b.data == data) {
      munmap(b.data, b.length);
      b.data = nullptr;
      return true;
    }
  return false;
}

PackedWeights::~PackedWeights() {
  for (auto& b : buffers_)
    if (b.data) munmap(b.data, b.length);
}

}  // namespace st
