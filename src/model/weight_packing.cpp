#include "model/weight_packing.h"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/thread_pool.h"

namespace st {

std::vector<TensorView*> dense_matmul_views(ModelWeights& w) {
  std::vector<TensorView*> views;
  for (auto& L : w.layers)
    for (TensorView* v : {&L.wq, &L.wk, &L.wv, &L.wo, &L.router}) views.push_back(v);
  if (!w.tied_output) views.push_back(&w.output);
  return views;
}

void pack_dense_in_place(ModelWeights& w) {
  std::vector<uint8_t> scratch;
  for (TensorView* v : dense_matmul_views(w))
    if (can_pack_rows(*v, v->n_rows)) relay_matrix(*v, WeightLayout::row_groups, const_cast<uint8_t*>(v->data), scratch);
}

PackedWeights::PackedWeights(ModelWeights& w, ThreadPool* pool,
                             const ReleaseBytes& release_original,
                             const ByteProgress& progress) {
  std::vector<std::pair<TensorView*, int64_t>> todo;  // (view, rows per unit)
  for (TensorView* v : dense_matmul_views(w)) todo.emplace_back(v, v->n_rows);
  for (auto& L : w.layers) {
    todo.emplace_back(&L.gate_exps.all, L.gate_exps.rows_per_expert);
    todo.emplace_back(&L.up_exps.all, L.up_exps.rows_per_expert);
    todo.emplace_back(&L.down_exps.all, L.down_exps.rows_per_expert);  // (can_pack_rows: a transposed down stays)
  }
  std::erase_if(todo, [](const auto& t) { return !can_pack_rows(*t.first, t.second); });
  uint64_t total = 0;
  for (const auto& t : todo) total += t.first->n_bytes();
  for (const auto& t : todo) {
    TensorView& v = *t.first;
    // Whole pages of their own, so a released copy goes back to the system at once.
    PageBuffer buf(v.n_bytes(), "re-laid weights");
    const uint8_t* original = v.data;
    std::vector<uint8_t> unused;  // (the copy is not in place)
    relay_matrix(v, WeightLayout::row_groups, buf.data(), unused, pool);
    if (release_original) release_original(original, v.n_bytes());
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
