// Experts in the dense layouts (the file's rows, or 16-row groups): gate products, then the
// up products of the neurons some token needs, ReGLU, and the down products. Sparse ReGLU:
// relu(gate) * up is exactly 0 where gate <= 0, so up rows (neurons) needed by none of an
// expert's tokens are skipped; down still reads every column (see moe_bundles.cpp for the
// layout that skips those too).
#include <algorithm>
#include <atomic>

#include "kernels/chunk_pairs.h"
#include "kernels/kernel_table.h"
#include "kernels/row_groups.h"
#include "model/forward.h"
#include "model/forward_scratch.h"

namespace st {
namespace {

// On matrices in the dense layouts, a row list beats the product of a whole work item's rows
// only below ~30% needed rows (bench/sparse_reglu_bench); above kRowListMaxTokens tokens,
// runs of needed rows are staged whole instead (prefill).
constexpr double kSparseUpMaxShare = 0.3;
constexpr int64_t kRowListMaxTokens = 8;

// (Plain pointers throughout: captured by reference, the buffers' pointers were reloaded on
// every element, which made these scalar loops ~3% of decode.)
// Whether neuron r is needed by one of the n tokens from row b: its gate is > 0.
inline bool needed_by(const float* gate, int64_t F, int64_t b, int64_t n, int64_t r) {
  for (int64_t t = 0; t < n; ++t)
    if (gate[(b + t) * F + r] > 0.0f) return true;
  return false;
}

// ReGLU in place: gate rows [r0, r1) of the n tokens from row b become relu(gate) * up;
// returns how many are exactly zero.
inline int64_t reglu(float* gate, const float* up, int64_t F, int64_t b, int64_t n, int64_t r0, int64_t r1) {
  int64_t z = 0;
  for (int64_t t = b; t < b + n; ++t) {
    for (int64_t i = t * F + r0; i < t * F + r1; ++i) {
      const float v = gate[i] > 0.0f ? gate[i] * up[i] : 0.0f;
      gate[i] = v;
      z += v == 0.0f;
    }
  }
  return z;
}

// Rows computed by a row-list product over `rows` of a row-group matrix: whole groups.
int64_t group_rows(std::span<const int32_t> rows) {
  int64_t done = 0;
  for (size_t i = 0; i < rows.size(); ++i)
    done += (i == 0 || rows[i] / kGroupRows != rows[i - 1] / kGroupRows) ? kGroupRows : 0;
  return done;
}

struct Tally {
  int64_t up_rows = 0, zero = 0;  // up rows computed, ReGLU outputs exactly zero
};

// Phase 1 of one chunk of experts: a work item is (expert, run of item_rows neurons), and
// gate products, up products and ReGLU of an item need only its own rows, so the three
// steps share one hand-out.
class GateUp {
 public:
  GateUp(ForwardScratch& S, const ExpertChunk& chunk, int64_t F, bool sparse)
      : S_(S), chunk_(chunk), gate_(S.gate.data()), up_(S.up.data()), F_(F), sparse_(sparse), row_chunk_(item_rows(F)),
        per_expert_((F + row_chunk_ - 1) / row_chunk_) {
    for (size_t a = 0; a < chunk.ids.size(); ++a)
      up_on_request_ = up_on_request_ || chunk.view(a).up.layout == WeightLayout::requested_rows;
  }
  int64_t n_items() const { return static_cast<int64_t>(chunk_.ids.size()) * per_expert_; }
  // Some expert's up rows are read on request (neuron-sparse reads): every gate product
  // must come first.
  bool up_on_request() const { return up_on_request_; }

  struct Item {
    size_t a;         // index in the chunk
    int e;            // expert id
    int64_t b, n;     // its rows in the grouped buffers
    int64_t r0, r1;   // the item's neurons
  };
  Item at(int64_t item) const {
    const size_t a = static_cast<size_t>(item / per_expert_);
    const int e = chunk_.ids[a];
    const auto [b, n] = S_.expert_rows(e);
    const int64_t r0 = (item % per_expert_) * row_chunk_;
    return {a, e, b, n, r0, std::min(F_, r0 + row_chunk_)};
  }
  bool needed(const Item& it, int64_t r) const { return !sparse_ || needed_by(gate_, F_, it.b, it.n, r); }

  void gate(int64_t item) const {
    const Item it = at(item);
    matmul_rows(weight_rows(chunk_.view(it.a).gate), it.r0, it.r1, S_.expert_act[static_cast<size_t>(it.e)],
                gate_ + it.b * F_, F_);
  }
  // Decode on re-laid weights: the item's gate and up rows read together as two streams
  // (matmul_rows_pair), every up row computed (in this layout 16 rows share each cache
  // line, so a dense layer's up rows are read whole anyway). False where that does not apply.
  bool gate_and_up_paired(int64_t item, Tally& t) const {
    const Item it = at(item);
    const ExpertView& v = chunk_.view(it.a);
    const WeightRows g = weight_rows(v.gate), u = weight_rows(v.up);
    if (it.n != 1 || up_on_request_ || chunk_.separate_up || !g.row_groups || !u.row_groups) return false;
    matmul_rows_pair(g, it.r0, it.r1, gate_ + it.b * F_, u, it.r0, it.r1, up_ + it.b * F_,
                     S_.expert_act[static_cast<size_t>(it.e)]);
    t.up_rows += it.r1 - it.r0;
    t.zero += reglu(gate_, up_, F_, it.b, it.n, it.r0, it.r1);
    return true;
  }
  void up_and_reglu(int64_t item, int thread, Tally& t) const;

 private:
  int64_t up_runs(const Item& it, const WeightRows& w, const QuantizedActs& qa) const;
  ForwardScratch& S_;
  const ExpertChunk& chunk_;
  float* const gate_;  // S_.gate: gate products, then ReGLU activations [rows, F]
  float* const up_;    // S_.up: up products [rows, F]
  const int64_t F_;
  const bool sparse_;
  const int64_t row_chunk_, per_expert_;
  bool up_on_request_ = false;
};

// The up products of the item's needed rows, by whichever product reads them best, then ReGLU.
void GateUp::up_and_reglu(int64_t item, int thread, Tally& t) const {
  const Item it = at(item);
  const QuantizedActs& qa = (chunk_.separate_up ? S_.expert_act_up : S_.expert_act)[static_cast<size_t>(it.e)];
  const WeightRows w = weight_rows(chunk_.view(it.a).up);
  float* y = up_ + it.b * F_;
  int32_t* rows = S_.row_lists[static_cast<size_t>(thread)].data();
  int n_rows = 0;
  for (int64_t r = it.r0; r < it.r1; ++r)
    if (needed(it, r)) rows[n_rows++] = static_cast<int32_t>(r);
  const std::span<const int32_t> list(rows, static_cast<size_t>(n_rows));
  if (!w.row_groups && it.n <= kRowListMaxTokens && kernel_table(w.type).gemm_rows) {
    // Up in rows (a sparse layer): the row-list kernel reads only the needed rows, and is
    // as fast as any dense product on this layout when most rows are needed.
    matmul_row_list(w, list, qa, y, F_);
    t.up_rows += n_rows;
  } else if (static_cast<double>(n_rows) > kSparseUpMaxShare * static_cast<double>(it.r1 - it.r0)) {
    matmul_rows(w, it.r0, it.r1, qa, y, F_);  // dense is faster here (see the constant)
    t.up_rows += it.r1 - it.r0;
  } else if (it.n == 1) {  // decode: one gemv over the list of needed rows
    matmul_row_list(w, list, qa, y, F_);
    t.up_rows += w.row_groups ? group_rows(list) : n_rows;
  } else {
    t.up_rows += up_runs(it, w, qa);
  }
  t.zero += reglu(gate_, up_, F_, it.b, it.n, it.r0, it.r1);
}

// Several tokens: the runs of rows some token needs (of whole groups of 16 rows where the
// matrix is in row-group layout: a group's rows are interleaved). Returns the rows computed.
int64_t GateUp::up_runs(const Item& it, const WeightRows& w, const QuantizedActs& qa) const {
  const int64_t step = w.row_groups ? kGroupRows : 1;
  auto any_needed = [&](int64_t s) {
    for (int64_t i = s; i < std::min(it.r1, s + step); ++i)
      if (needed(it, i)) return true;
    return false;
  };
  int64_t done = 0;
  for (int64_t r = it.r0; r < it.r1;) {
    if (!any_needed(r)) {
      r += step;
      continue;
    }
    int64_t end = r + step;
    while (end < it.r1 && any_needed(end)) end += step;
    end = std::min(end, it.r1);
    matmul_rows(w, r, end, qa, up_ + it.b * F_, F_);
    done += end - r;
    r = end;
  }
  return done;
}

}  // namespace

int64_t Forward::dense_gate_up(int il, const ExpertChunk& chunk) {
  auto& S = *s_;
  const GateUp work(S, chunk, config_.n_ff_exp, sparse_);
  if (S.row_lists.size() < static_cast<size_t>(pool_.size())) S.row_lists.resize(static_cast<size_t>(pool_.size()));
  for (auto& l : S.row_lists) grow(l, static_cast<size_t>(item_rows(config_.n_ff_exp)));
  // A source with neuron-sparse reads loads up rows only once the gate product says which
  // neurons the step needs: then gate products run first for the whole chunk, the needed
  // rows are requested and waited for, and the up products follow.
  const bool up_on_request = work.up_on_request();
  if (up_on_request) {
    pool_.parallel_for(work.n_items(), 1, [&](int64_t ib, int64_t ie, int) {
      for (int64_t item = ib; item < ie; ++item) work.gate(item);
    });
    request_up_rows(il, chunk);
  }
  std::atomic<int64_t> up_rows{0}, zeros{0};
  pool_.parallel_for(work.n_items(), 1, [&](int64_t ib, int64_t ie, int thread) {
    Tally t;
    for (int64_t item = ib; item < ie; ++item) {
      if (work.gate_and_up_paired(item, t)) continue;
      if (!up_on_request) work.gate(item);
      work.up_and_reglu(item, thread, t);
    }
    up_rows += t.up_rows;
    zeros += t.zero;
  });
  count_reglu(il, chunk, up_rows.load(), zeros.load());
  clock_.lap(Phase::expert_gate_up);
  return zeros.load();
}

// Names each expert's needed up rows to a source with neuron-sparse reads and waits for them.
void Forward::request_up_rows(int il, const ExpertChunk& chunk) {
  auto& S = *s_;
  const int64_t F = config_.n_ff_exp;
  int32_t* rows = grow(S.up_rows_needed, static_cast<size_t>(F));
  for (size_t a = 0; a < chunk.ids.size(); ++a) {
    if (chunk.view(a).up.layout != WeightLayout::requested_rows) continue;
    const auto [b, n] = S.expert_rows(chunk.ids[a]);
    size_t n_rows = 0;
    for (int64_t r = 0; r < F; ++r)
      if (!sparse_ || needed_by(S.gate.data(), F, b, n, r)) rows[n_rows++] = static_cast<int32_t>(r);
    hints_->request_up_rows(il, chunk.ids[a], std::span<const int32_t>(rows, n_rows));
  }
  hints_->wait_up_rows();
}

// Down products of the ReGLU activations (in S.gate) into per-(token, slot) rows of
// S.expert_out; in decode as two streams per item (kernels/chunk_pairs.h).
void Forward::dense_down(const ExpertChunk& chunk, int64_t n_tok) {
  auto& S = *s_;
  const int64_t H = config_.n_embd, F = config_.n_ff_exp;
  for (size_t a = 0; a < chunk.ids.size(); ++a) {
    const int e = chunk.ids[a];
    const auto [b, n] = S.expert_rows(e);
    quantize_acts(chunk.view(a).down.type, S.gate.data() + b * F, n, F, S.expert_act[static_cast<size_t>(e)],
                  n > 4 ? &pool_ : nullptr);
  }
  const int64_t rows = item_rows(H);
  matmul_chunks(pool_, static_cast<int64_t>(chunk.ids.size()), (H + rows - 1) / rows, /*paired=*/n_tok == 1,
                [&](int64_t a, int64_t c) {
                  const int e = chunk.ids[static_cast<size_t>(a)];
                  const int64_t r0 = c * rows;
                  return RowChunk{weight_rows(chunk.view(static_cast<size_t>(a)).down), r0, std::min(H, r0 + rows),
                                  &S.expert_act[static_cast<size_t>(e)], S.expert_out.data() + S.expert_rows(e).first * H, H};
                });
  clock_.lap(Phase::expert_down);
}

}  // namespace st
