// Mixture-of-experts block of one layer (spec section 2): RMSNorm -> for each expert the
// router chose, ReGLU (relu(gate h2) * up h2) -> down, weighted by the router -> residual add.
// Tokens are grouped per expert so each expert's weights are read once per batch. Expert
// outputs are kept per (token, slot) and summed in top-K order, as llama.cpp does, so the
// result does not depend on how work was split across threads.
// Where the expert layouts (model/expert_layout.h) differ, each has its own file: moe_dense.cpp
// (the file's rows or row groups), moe_down_transposed.cpp (PowerInfer's down), moe_bundles.cpp
// (neuron bundles).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/kernel_table.h"
#include "kernels/ops/norm_rope.h"
#include "model/forward.h"
#include "model/forward_scratch.h"

namespace st {

void Forward::moe_block(int il, int64_t n_tok) {
  const LayerWeights& L = weights_.layers[static_cast<size_t>(il)];
  auto& S = *s_;
  const int64_t H = config_.n_embd, F = config_.n_ff_exp, n_assign = n_tok * config_.n_expert_used;
  // h2 = RMSNorm(x), the experts' input.
  pool_.parallel_for(n_tok, 8, [&, x = S.x.data(), h = S.h.data()](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) ops::rmsnorm(x + t * H, L.ffn_norm.data(), h + t * H, H, config_.rms_eps);
  });
  // Group the batch's (token, slot) assignments by expert: each expert's weights are read once.
  group_by_expert(n_tok);
  grow(S.gate, static_cast<size_t>(n_assign * F));
  grow(S.up, static_cast<size_t>(n_assign * F));
  grow(S.expert_out, static_cast<size_t>(n_assign * H));

  // Experts are processed in chunks of what the source can hold at once (all of them when
  // weights are resident; under a small memory budget a long prompt may select more experts
  // in one layer than the cache has slots).
  const std::vector<int32_t>& active = S.active_experts;
  const size_t cap = static_cast<size_t>(std::max(1, hints_->max_acquired));
  int64_t n_zero = 0;  // ReGLU neurons that were exactly zero (for the observer)
  for (size_t c0 = 0; c0 < active.size(); c0 += cap) {
    const std::span<const int32_t> ids(active.data() + c0, std::min(cap, active.size() - c0));
    // Acquire the chunk's experts (blocks until a storage-backed source has them in RAM),
    // then start reading the next chunk's so that I/O overlaps this chunk's compute.
    std::vector<ExpertLease> leases;
    leases.reserve(ids.size());
    for (int e : ids) leases.emplace_back(experts_, il, e);
    const size_t next = c0 + ids.size();
    if (next < active.size()) experts_.prefetch(il, {active.data() + next, std::min(cap, active.size() - next)});

    // Gather each expert's tokens (h2 rows quantized for its gate and up), then gate and up
    // -> ReGLU -> down in the chunk's layout, into per-(token, slot) rows of S.expert_out.
    const ExpertChunk chunk = gather_expert_acts(il, ids, leases, n_tok, c0 == 0);
    clock_.lap(Phase::moe_prep);
    switch (chunk.layouts.down) {  // model/expert_layout.h
      case WeightLayout::bundle_part: n_zero += bundled_experts(il, chunk); break;
      case WeightLayout::transposed: n_zero += dense_gate_up(il, chunk); down_transposed(chunk); break;
      case WeightLayout::rows:
      case WeightLayout::row_groups:
      case WeightLayout::requested_rows: n_zero += dense_gate_up(il, chunk); dense_down(chunk, n_tok); break;
    }
  }
  if (observer_) observer_->on_reglu(il, n_assign, F, n_zero);
  // Once a layer has shown its sparsity, switch it to the sparse layouts (neuron bundles) if
  // it is sparse enough for those reads to win (model/sparsity_policy.h).
  if (sparse_ && sparsity_.should_switch(il, F) && hints_->use_sparse_layout(il)) ++relu_.bundle_layers;
  // x += each token's K expert outputs weighted by the router.
  combine_experts(n_tok);
}

// Groups the batch's (token, slot) assignments by expert: a counting sort keeps token order
// per expert. Fills S.expert_begin, S.assign and S.active_experts (ascending ids).
void Forward::group_by_expert(int64_t n_tok) {
  auto& S = *s_;
  const int E = config_.n_expert;
  const int64_t n_assign = n_tok * config_.n_expert_used;
  const int32_t* ids = S.topk_ids.data();
  grow(S.expert_count, static_cast<size_t>(E));
  grow(S.expert_begin, static_cast<size_t>(E + 1));
  std::fill(S.expert_count.begin(), S.expert_count.begin() + E, 0);
  for (int64_t i = 0; i < n_assign; ++i) S.expert_count[static_cast<size_t>(ids[i])]++;
  S.expert_begin[0] = 0;
  for (size_t e = 0; e < static_cast<size_t>(E); ++e) S.expert_begin[e + 1] = S.expert_begin[e] + S.expert_count[e];
  int32_t* assign = grow(S.assign, static_cast<size_t>(n_assign));
  std::vector<int32_t>& fill = S.expert_count;  // reused as write cursors
  std::copy_n(S.expert_begin.begin(), E, fill.begin());
  for (int64_t i = 0; i < n_assign; ++i) assign[fill[static_cast<size_t>(ids[i])]++] = static_cast<int32_t>(i);
  S.active_experts.clear();
  for (int e = 0; e < E; ++e)
    if (S.expert_rows(e).second > 0) S.active_experts.push_back(e);
}

// Each expert's tokens: their h2 rows quantized for the gate (and, if its dot type differs,
// the up) matrix, gathered contiguously so each expert is one small gemm. The batch is
// quantized once, with the first chunk of experts.
ExpertChunk Forward::gather_expert_acts(int il, std::span<const int32_t> ids, const std::vector<ExpertLease>& leases,
                                        int64_t n_tok, bool first) {
  auto& S = *s_;
  const int K = config_.n_expert_used;
  const ExpertChunk chunk = describe_chunk(il, ids, leases);
  if (S.expert_act.size() < static_cast<size_t>(config_.n_expert)) S.expert_act.resize(static_cast<size_t>(config_.n_expert));
  if (S.expert_act_up.size() < S.expert_act.size()) S.expert_act_up.resize(S.expert_act.size());
  if (first) {
    quantize_acts(chunk.view(0).gate.type, S.h.data(), n_tok, config_.n_embd, S.act, &pool_);
    if (chunk.separate_up) quantize_acts(chunk.view(0).up.type, S.h.data(), n_tok, config_.n_embd, S.act_up, &pool_);
  }
  auto gather = [&](const QuantizedActs& src, QuantizedActs& dst, int e) {
    const auto [b, n] = S.expert_rows(e);
    dst.type = src.type;
    dst.n_cols = src.n_cols;
    dst.n_tok = n;
    dst.row_bytes = src.row_bytes;
    grow(dst.bytes, dst.row_bytes * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(src.row(S.assign[static_cast<size_t>(b + i)] / K), dst.row_bytes,
                  dst.bytes.data() + static_cast<size_t>(i) * dst.row_bytes);
    if (src.type != TensorType::Q8_0) return;  // (a reused buffer may hold stale sums)
    const int64_t nb = src.n_cols / 32;  // Q8_0 block sums travel with their rows
    grow(dst.block_sums, static_cast<size_t>(n * nb));
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(src.block_sums.data() + (S.assign[static_cast<size_t>(b + i)] / K) * nb, nb, dst.block_sums.data() + i * nb);
  };
  for (int e : ids) {
    gather(S.act, S.expert_act[static_cast<size_t>(e)], e);
    if (chunk.separate_up) gather(S.act_up, S.expert_act_up[static_cast<size_t>(e)], e);
  }
  return chunk;
}

namespace {
// Down's layout names the path an expert is computed on (moe_block's switch).
WeightLayout moe_path(WeightLayout down) {
  return down == WeightLayout::bundle_part || down == WeightLayout::transposed ? down : WeightLayout::rows;
}
}  // namespace

// The chunk's layouts and activation types, which every expert of a layer shares.
ExpertChunk Forward::describe_chunk(int il, std::span<const int32_t> ids, const std::vector<ExpertLease>& leases) const {
  const ExpertView& v0 = leases.front().view();
  for (const auto& l : leases) {
    const ExpertView& v = l.view();
    if (v.gate.type != v0.gate.type || v.up.type != v0.up.type)
      throw std::runtime_error("layer " + std::to_string(il) + ": experts of one layer must share their tensor types");
    if (moe_path(v.down.layout) != moe_path(v0.down.layout))
      throw std::logic_error("layer " + std::to_string(il) + ": experts disagree on their layout");
  }
  const bool separate_up = kernel_table(v0.gate.type).vec_dot_type != kernel_table(v0.up.type).vec_dot_type;
  return {ids, &leases, separate_up, v0.layouts()};
}

// Weighted sum of each token's K expert outputs in top-K order, then the residual add.
void Forward::combine_experts(int64_t n_tok) {
  auto& S = *s_;
  const int K = config_.n_expert_used;
  const int64_t H = config_.n_embd, n_assign = n_tok * K;
  std::vector<int32_t>& where = S.expert_count;  // assignment index -> grouped row
  grow(where, static_cast<size_t>(n_assign));
  for (int64_t r = 0; r < n_assign; ++r) where[static_cast<size_t>(S.assign[static_cast<size_t>(r)])] = static_cast<int32_t>(r);
  const float* w = S.topk_w.data();
  const float* down = S.expert_out.data();
  pool_.parallel_for(n_tok, 4, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) {
      float* xt = S.x.data() + t * H;
      float* acc = S.tmp.data() + t * H;
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

// ReGLU counters of one chunk: its experts' up rows (of which up_rows_done computed), its
// (token, expert) rows and their zero neurons; the sparsity policy sees the same.
void Forward::count_reglu(int il, const ExpertChunk& chunk, int64_t up_rows_done, int64_t zeros) {
  const int64_t F = config_.n_ff_exp;
  const int64_t rows = s_->expert_begin[static_cast<size_t>(chunk.ids.back() + 1)] -
                       s_->expert_begin[static_cast<size_t>(chunk.ids.front())];
  const int64_t up_rows_total = static_cast<int64_t>(chunk.ids.size()) * F;
  relu_.up_rows += up_rows_total;
  relu_.up_rows_skipped += up_rows_total - up_rows_done;
  relu_.neurons += rows * F;
  relu_.zero += zeros;
  sparsity_.observe(il, rows, zeros);
}

}  // namespace st
