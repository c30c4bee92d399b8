// Mixture-of-experts block of one layer: RMSNorm -> for each selected expert, ReGLU
// (relu(gate h2) * up h2) -> down, weighted by the router -> residual add.
// Tokens are grouped per expert so each expert's weights are read once per batch. Expert
// outputs are kept per (token, slot) and summed in top-K order, as llama.cpp does, so the
// result does not depend on how work was split across threads.
#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>

#include "kernels/kernel_table.h"
#include "kernels/row_groups.h"
#include "kernels/ops/norm_rope.h"
#include "model/forward.h"
#include "model/forward_scratch.h"

namespace st {

// Rows per work item when experts multiply matrices of `n_rows` rows. The pool gives each
// thread a contiguous run of items (its own experts' rows, streamed in order) and lets a
// thread that finishes early steal items from the back of another's run, so items can be
// small enough for the threads to finish together (64 rows beat whole experts, which with
// 4 experts on 2 threads left one thread idle for up to an expert's time): whole groups.
int64_t Forward::item_rows(int64_t n_rows) const { return std::min<int64_t>(n_rows, 4 * kGroupRows); }

void Forward::moe_block(int il, int64_t n_tok) {
  const auto& c = config_;
  const LayerWeights& L = weights_.layers[static_cast<size_t>(il)];
  const int E = c.n_expert, K = c.n_expert_used;
  const int64_t H = c.n_embd, F = c.n_ff_exp;
  float* x = s_->x.data();
  float* h = s_->h.data();
  auto& S = *s_;

  pool_.parallel_for(n_tok, 8, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) ops::rmsnorm(x + t * H, L.ffn_norm.data(), h + t * H, H, c.rms_eps);
  });

  // Group (token, slot) assignments by expert: a counting sort keeps token order per expert.
  const int32_t* ids = S.topk_ids.data();
  grow(S.expert_count, static_cast<size_t>(E));
  grow(S.expert_begin, static_cast<size_t>(E + 1));
  std::fill(S.expert_count.begin(), S.expert_count.begin() + E, 0);
  for (int64_t i = 0; i < n_tok * K; ++i) S.expert_count[static_cast<size_t>(ids[i])]++;
  S.expert_begin[0] = 0;
  for (int e = 0; e < E; ++e) S.expert_begin[static_cast<size_t>(e + 1)] = S.expert_begin[static_cast<size_t>(e)] + S.expert_count[static_cast<size_t>(e)];
  int32_t* assign = grow(S.assign, static_cast<size_t>(n_tok * K));
  {
    std::vector<int32_t>& fill = S.expert_count;  // reused as write cursors
    for (int e = 0; e < E; ++e) fill[static_cast<size_t>(e)] = S.expert_begin[static_cast<size_t>(e)];
    for (int64_t i = 0; i < n_tok * K; ++i) assign[fill[static_cast<size_t>(ids[i])]++] = static_cast<int32_t>(i);
  }
  std::vector<int32_t> all_active;
  for (int e = 0; e < E; ++e)
    if (S.expert_begin[static_cast<size_t>(e + 1)] > S.expert_begin[static_cast<size_t>(e)]) all_active.push_back(e);

  // Experts are processed in chunks of what the source can hold at once (all of them when
  // weights are resident; under a small memory budget a long prompt may select more experts
  // in one layer than the cache has slots).
  const int64_t n_assign = n_tok * K;
  grow(S.gate, static_cast<size_t>(n_assign * F));
  grow(S.up, static_cast<size_t>(n_assign * F));
  grow(S.expert_out, static_cast<size_t>(n_assign * H));
  int64_t n_zero = 0;  // ReGLU neurons that were exactly zero (for the observer)
  const size_t cap = static_cast<size_t>(std::max(1, experts_.max_acquired()));
  for (size_t c0 = 0; c0 < all_active.size(); c0 += cap) {
    const std::span<const int32_t> active(all_active.data() + c0, std::min(cap, all_active.size() - c0));
    const size_t n0 = c0 + active.size();
    const std::span<const int32_t> next(all_active.data() + n0, std::min(cap, all_active.size() - n0));
    const bool first = c0 == 0;
    // Acquire the chunk's experts (blocks until a storage-backed source has them in RAM),
    // then start reading the next chunk's so that I/O overlaps this chunk's compute.
    std::vector<ExpertLease> leases;
    leases.reserve(active.size());
    for (int e : active) leases.emplace_back(experts_, il, e);
    if (!next.empty()) experts_.prefetch(il, next);

    // Each expert's tokens: their h2 rows quantized for the gate (and, if its dot type
    // differs, the up) matrix, gathered contiguously so each expert is one small gemm.
    if (S.expert_act.size() < static_cast<size_t>(E)) S.expert_act.resize(static_cast<size_t>(E));
    if (S.expert_act_up.size() < static_cast<size_t>(E)) S.expert_act_up.resize(static_cast<size_t>(E));
    const TensorType gate_type = leases.empty() ? TensorType::F32 : leases[0].view().gate.type;
    const TensorType up_type = leases.empty() ? TensorType::F32 : leases[0].view().up.type;
    const bool separate_up = kernel_table(gate_type).vec_dot_type != kernel_table(up_type).vec_dot_type;
    if (first) {
      quantize_acts(gate_type, h, n_tok, H, S.act, &pool_);
      if (separate_up) quantize_acts(up_type, h, n_tok, H, S.act_up, &pool_);
    }
    auto gather = [&](const QuantizedActs& src, QuantizedActs& dst, int e) {
      const int32_t b = S.expert_begin[static_cast<size_t>(e)], n = S.expert_begin[static_cast<size_t>(e + 1)] - b;
      dst.type = src.type;
      dst.n_cols = H;
      dst.n_tok = n;
      dst.row_bytes = src.row_bytes;
      grow(dst.bytes, dst.row_bytes * static_cast<size_t>(n));
      for (int32_t i = 0; i < n; ++i)
        std::copy_n(src.row(assign[b + i] / K), dst.row_bytes, dst.bytes.data() + static_cast<size_t>(i) * dst.row_bytes);
      if (src.type != TensorType::Q8_0) return;  // (a reused buffer may hold stale sums)
      const int64_t nb = H / 32;  // Q8_0 block sums travel with their rows
      grow(dst.block_sums, static_cast<size_t>(n * nb));
      for (int32_t i = 0; i < n; ++i)
        std::copy_n(src.block_sums.data() + (assign[b + i] / K) * nb, nb, dst.block_sums.data() + i * nb);
    };
    for (size_t a = 0; a < active.size(); ++a) {
      const ExpertView& ev = leases[a].view();
      if (ev.gate.type != gate_type || ev.up.type != up_type)
        throw std::runtime_error("layer " + std::to_string(il) + ": experts of one layer must share their tensor types");
      gather(S.act, S.expert_act[static_cast<size_t>(active[a])], active[a]);
      if (separate_up) gather(S.act_up, S.expert_act_up[static_cast<size_t>(active[a])], active[a]);
    }

    // Experts kept as neuron bundles (a sparse layer): gate products, then only the active
    // neurons' up products and down columns (moe_bundles.cpp).
    const bool bundled = leases.front().view().bundles[0] != nullptr;
    for (const auto& l : leases)
      if ((l.view().bundles[0] != nullptr) != bundled)
        throw std::logic_error("layer " + std::to_string(il) + ": experts disagree on their layout");
    if (bundled) {
      clock_.lap(Phase::moe_prep);
      n_zero += bundled_experts(il, active, leases, separate_up);
      continue;
    }

    // Phase 1, per (expert, chunk of neurons): gate products, then up products, then ReGLU
    // relu(gate) * up, all for the expert's tokens. Sparse ReGLU: the output is exactly 0
    // where gate <= 0, so up rows (neurons) needed by none of the expert's tokens are skipped.
    // Everything an item needs is its own rows, so the three steps share one hand-out.
    float* gate = S.gate.data();
    float* up = S.up.data();
    const int64_t row_chunk = item_rows(F);
    if (S.row_lists.size() < static_cast<size_t>(pool_.size())) S.row_lists.resize(static_cast<size_t>(pool_.size()));
    for (auto& l : S.row_lists) grow(l, static_cast<size_t>(row_chunk));
    const int64_t chunks_per_expert = (F + row_chunk - 1) / row_chunk;
    const int64_t n_items = static_cast<int64_t>(active.size()) * chunks_per_expert;
    auto tokens_of = [&](int e) {
      const int32_t b = S.expert_begin[static_cast<size_t>(e)];
      return std::pair<int64_t, int64_t>(b, S.expert_begin[static_cast<size_t>(e + 1)] - b);
    };
    // A source with neuron-sparse reads loads up rows only once the gate product says which
    // neurons the step needs: then gate products run first for the whole chunk, the needed
    // rows are requested and waited for, and the up products follow.
    bool up_on_request = false;
    for (const auto& l : leases) up_on_request = up_on_request || l.view().up_on_request;
    auto gate_item = [&](int64_t item) {
      const size_t a = static_cast<size_t>(item / chunks_per_expert);
      const int64_t r0 = (item % chunks_per_expert) * row_chunk, r1 = std::min(F, r0 + row_chunk);
      const int e = active[a];
      matmul_rows(weight_rows(leases[a].view().gate), r0, r1, S.expert_act[static_cast<size_t>(e)],
                  gate + tokens_of(e).first * F, F);
    };
    // (Local copies of the buffers' pointers throughout: captured by reference, they were
    // reloaded on every element, which made these scalar loops ~3% of decode.)
    auto needed_by = [g = gate, F, sparse = sparse_](int64_t b, int64_t n, int64_t r) {
      if (!sparse) return true;
      for (int64_t t = 0; t < n; ++t)
        if (g[(b + t) * F + r] > 0.0f) return true;
      return false;
    };
    // ReGLU in place: gate rows [r0, r1) of the expert's n tokens from row b become
    // relu(gate) * up; returns how many are exactly zero.
    auto reglu = [g = gate, u = static_cast<const float*>(up), F](int64_t b, int64_t n, int64_t r0, int64_t r1) {
      int64_t z = 0;
      for (int64_t t = b; t < b + n; ++t) {
        for (int64_t i = t * F + r0; i < t * F + r1; ++i) {
          const float v = g[i] > 0.0f ? g[i] * u[i] : 0.0f;
          g[i] = v;
          z += v == 0.0f;
        }
      }
      return z;
    };
    auto up_item = [&](int64_t item, int64_t& done, int64_t& zero, int thread) {
      const size_t a = static_cast<size_t>(item / chunks_per_expert);
      const int64_t r0 = (item % chunks_per_expert) * row_chunk, r1 = std::min(F, r0 + row_chunk);
      const int e = active[a];
      const auto [b, n] = tokens_of(e);
      const QuantizedActs& qa = (separate_up ? S.expert_act_up : S.expert_act)[static_cast<size_t>(e)];
      const WeightRows w = weight_rows(leases[a].view().up);
      auto needed = [&](int64_t r) { return needed_by(b, n, r); };
      int32_t* rows = S.row_lists[static_cast<size_t>(thread)].data();
      int n_rows = 0;
      for (int64_t r = r0; r < r1; ++r)
        if (needed(r)) rows[n_rows++] = static_cast<int32_t>(r);
      if (!w.row_groups && n <= kRowListMaxTokens && kernel_table(w.type).gemm_rows) {
        // Up in rows (a sparse layer): the row-list kernel reads only the needed rows, and is
        // as fast as any dense product on this layout when most rows are needed.
        matmul_row_list(w, std::span<const int32_t>(rows, static_cast<size_t>(n_rows)), qa, up + b * F, F);
        done += n_rows;
      } else if (static_cast<double>(n_rows) > kSparseUpMaxShare * static_cast<double>(r1 - r0)) {
        matmul_rows(w, r0, r1, qa, up + b * F, F);  // dense is faster here (see the constant)
        done += r1 - r0;
      } else if (n == 1) {  // decode: one gemv over the list of needed rows
        matmul_row_list(w, std::span<const int32_t>(rows, static_cast<size_t>(n_rows)), qa, up + b * F, F);
        if (!w.row_groups) {
          done += n_rows;
        } else {  // whole groups were computed
          for (int i = 0; i < n_rows; ++i) done += (i == 0 || rows[i] / kGroupRows != rows[i - 1] / kGroupRows) ? kGroupRows : 0;
        }
      } else {
        // Several tokens: runs of rows some token needs (of whole groups of 16 rows where the
        // matrix is in row-group layout: a group's rows are interleaved).
        const int64_t step = w.row_groups ? kGroupRows : 1;
        auto any_needed = [&](int64_t s) {
          for (int64_t i = s; i < std::min(r1, s + step); ++i)
            if (needed(i)) return true;
          return false;
        };
        for (int64_t r = r0; r < r1;) {
          if (!any_needed(r)) {
            r += step;
            continue;
          }
          int64_t end = r + step;
          while (end < r1 && any_needed(end)) end += step;
          end = std::min(end, r1);
          matmul_rows(w, r, end, qa, up + b * F, F);
          done += end - r;
          r = end;
        }
      }
      zero += reglu(b, n, r0, r1);
    };
    // Decode on re-laid weights: an expert's gate and up rows of the item read together as two
    // streams (matmul_rows_pair), every up row computed (in this layout 16 rows share each
    // cache line, so a dense layer's up rows are read whole anyway).
    auto gate_up_pair = [&](int64_t item, int64_t& done, int64_t& zero) {
      const size_t a = static_cast<size_t>(item / chunks_per_expert);
      const int e = active[a];
      const auto [b, n] = tokens_of(e);
      const WeightRows g = weight_rows(leases[a].view().gate), u = weight_rows(leases[a].view().up);
      if (n != 1 || up_on_request || separate_up || !g.row_groups || !u.row_groups) return false;
      const int64_t r0 = (item % chunks_per_expert) * row_chunk, r1 = std::min(F, r0 + row_chunk);
      matmul_rows_pair(g, r0, r1, gate + b * F, u, r0, r1, up + b * F, S.expert_act[static_cast<size_t>(e)]);
      done += r1 - r0;
      zero += reglu(b, n, r0, r1);
      return true;
    };
    std::atomic<int64_t> up_rows_done{0}, zeros{0};
    clock_.lap(Phase::moe_prep);
    if (up_on_request) {
      pool_.parallel_for(n_items, 1, [&](int64_t ib, int64_t ie, int) {
        for (int64_t item = ib; item < ie; ++item) gate_item(item);
      });
      int32_t* rows = grow(S.up_rows_needed, static_cast<size_t>(F));
      for (size_t a = 0; a < active.size(); ++a) {
        if (!leases[a].view().up_on_request) continue;
        const auto [b, n] = tokens_of(active[a]);
        size_t n_rows = 0;
        for (int64_t r = 0; r < F; ++r)
          if (needed_by(b, n, r)) rows[n_rows++] = static_cast<int32_t>(r);
        experts_.request_up_rows(il, active[a], std::span<const int32_t>(rows, n_rows));
      }
      experts_.wait_up_rows();
    }
    pool_.parallel_for(n_items, 1, [&](int64_t ib, int64_t ie, int thread) {
      int64_t done = 0, zero = 0;
      for (int64_t item = ib; item < ie; ++item) {
        if (gate_up_pair(item, done, zero)) continue;
        if (!up_on_request) gate_item(item);
        up_item(item, done, zero, thread);
      }
      up_rows_done += done;
      zeros += zero;
    });
    const int64_t up_rows_total = static_cast<int64_t>(active.size()) * F;
    const int64_t a0 = S.expert_begin[static_cast<size_t>(active.front())];
    const int64_t a1 = S.expert_begin[static_cast<size_t>(active.back() + 1)];
    relu_.up_rows += up_rows_total;
    relu_.up_rows_skipped += up_rows_total - up_rows_done.load();
    n_zero += zeros.load();
    relu_.neurons += (a1 - a0) * F;
    relu_.zero += zeros.load();
    sparsity_.observe(il, a1 - a0, zeros.load());
    clock_.lap(Phase::expert_gate_up);

    float* down = S.expert_out.data();
    const ExpertView& ev0 = leases.front().view();
    if (ev0.down_transposed) {
      down_transposed(active, leases, gate, down);
      clock_.lap(Phase::expert_down);
      continue;
    }
    for (size_t a = 0; a < active.size(); ++a) {
      const auto [b, n] = tokens_of(active[a]);
      quantize_acts(leases[a].view().down.type, gate + b * F, n, F, S.expert_act[static_cast<size_t>(active[a])],
                    n > 4 ? &pool_ : nullptr);
    }
    // Dense down products into per-(expert-grouped assignment) rows of H.
    const int64_t h_chunk = item_rows(H);
    const int64_t chunks_h = (H + h_chunk - 1) / h_chunk;
    if (n_tok == 1) {
      // Decode: an item is a pair of chunks, c and c + half of the expert's rows, read
      // together as two streams (matmul_rows_pair).
      const int64_t half = (chunks_h + 1) / 2;
      pool_.parallel_for(static_cast<int64_t>(active.size()) * half, 1, [&](int64_t ib, int64_t ie, int) {
        for (int64_t item = ib; item < ie; ++item) {
          const size_t a = static_cast<size_t>(item / half);
          const int64_t ch = item % half;
          const int e = active[a];
          const WeightRows w = weight_rows(leases[a].view().down);
          float* y = down + tokens_of(e).first * H;
          const int64_t r0 = ch * h_chunk, r1 = std::min(H, r0 + h_chunk);
          if (ch + half >= chunks_h) {
            matmul_rows(w, r0, r1, S.expert_act[static_cast<size_t>(e)], y, H);
            continue;
          }
          const int64_t q0 = (ch + half) * h_chunk, q1 = std::min(H, q0 + h_chunk);
          matmul_rows_pair(w, r0, r1, y, w, q0, q1, y, S.expert_act[static_cast<size_t>(e)]);
        }
      });
    } else {
      pool_.parallel_for(static_cast<int64_t>(active.size()) * chunks_h, 1, [&](int64_t ib, int64_t ie, int) {
        for (int64_t item = ib; item < ie; ++item) {
          const size_t a = static_cast<size_t>(item / chunks_h);
          const int64_t r0 = (item % chunks_h) * h_chunk, r1 = std::min(H, r0 + h_chunk);
          const int e = active[a];
          matmul_rows(weight_rows(leases[a].view().down), r0, r1, S.expert_act[static_cast<size_t>(e)],
                      down + tokens_of(e).first * H, H);
        }
      });
    }
    clock_.lap(Phase::expert_down);
  }
  if (observer_) observer_->on_reglu(il, n_assign, F, n_zero);
  // Once a layer has shown its sparsity, switch it to the sparse layouts (neuron bundles) if
  // it is sparse enough for those reads to win (model/sparsity_policy.h).
  if (sparse_ && sparsity_.should_switch(il, F) && experts_.use_sparse_layout(il)) ++relu_.bundle_layers;
  float* down = S.expert_out.data();

  // Weighted sum in top-K order per token, then the residual add.
  std::vector<int32_t>& where = S.expert_count;  // assignment index -> grouped row
  grow(where, static_cast<size_t>(n_assign));
  for (int64_t r = 0; r < n_assign; ++r) where[static_cast<size_t>(assign[r])] = static_cast<int32_t>(r);
  const float* w = S.topk_w.data();
  pool_.parallel_for(n_tok, 4, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) {
      float* xt = x + t * H;
      float* acc = s_->tmp.data() + t * H;
      std::fill(acc, acc + H, 0.0f);
      for (int j = 0; j < K; ++j) {
        const float wj = w[t * K + j];
        const float* d = down + static_cast<int64_t>(where[static_cast<size_t>(t * K + j)]) * H;
        for (int64_t i = 0; i < H; ++i) acc[i] += wj * d[i];
      }
      for (int64_t i = 0; i < H; ++i) xt[i] += acc[i];
    }
  });
  clock_.lap(Phase::moe_combine);
}

}  // namespace st

namespace st {

// Down projection for experts whose down matrix is stored one row per neuron: each token's
// output is the sum of its active neurons' rows scaled by their activation. Inactive (zero)
// ReGLU neurons are skipped, which is exact. Rows are dequantized to f32 and accumulated in
// f32, so results agree with the dot-product layout within float rounding.
void Forward::down_transposed(std::span<const int32_t> active, const std::vector<ExpertLease>& leases, const float* act,
                              float* down) {
  auto& S = *s_;
  const int64_t H = config_.n_embd, F = config_.n_ff_exp;
  if (S.row_buf.size() < static_cast<size_t>(pool_.size())) S.row_buf.resize(static_cast<size_t>(pool_.size()));
  for (auto& b : S.row_buf) grow(b, static_cast<size_t>(H));
  // Work item: one (expert, token) pair; rows are dequantized once per pair.
  std::vector<std::pair<size_t, int32_t>> items;
  for (size_t a = 0; a < active.size(); ++a) {
    const int e = active[a];
    for (int32_t r = S.expert_begin[static_cast<size_t>(e)]; r < S.expert_begin[static_cast<size_t>(e + 1)]; ++r) items.push_back({a, r});
  }
  pool_.parallel_for(static_cast<int64_t>(items.size()), 1, [&](int64_t ib, int64_t ie, int thread) {
    float* row = S.row_buf[static_cast<size_t>(thread)].data();
    for (int64_t it = ib; it < ie; ++it) {
      const auto [a, r] = items[static_cast<size_t>(it)];
      const TensorView& dv = leases[a].view().down;
      const KernelTable& kt = kernel_table(dv.type);
      const float* ar = act + static_cast<int64_t>(r) * F;
      float* out = down + static_cast<int64_t>(r) * H;
      std::fill(out, out + H, 0.0f);
      for (int64_t i = 0; i < F; ++i) {
        if (ar[i] == 0.0f) continue;
        kt.dequantize_row(dv.row(i), row, H);
        for (int64_t d = 0; d < H; ++d) out[d] += ar[i] * row[d];
      }
    }
  });
}

}  // namespace st
