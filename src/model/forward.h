// The SmallThinker forward pass (spec section 2), one function per block:
//   per layer: router on the raw residual -> prefetch experts -> RMSNorm -> attention
//   (GQA, RoPE or NoPE, global or sliding window) -> residual -> RMSNorm -> ReGLU experts
//   weighted by the router -> residual;  then final RMSNorm and lm_head.
// Prompt processing (many tokens) and decode (one token) share this one code path; a batch
// may also hold several sequences, each with its own KV cache (the server's slots).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/thread_pool.h"
#include "model/config.h"
#include "model/expert_source.h"
#include "model/kv_store.h"
#include "model/phase_clock.h"
#include "model/sparsity_policy.h"
#include "model/weights.h"

namespace st {

// One sequence's tokens in a batch: positions kv.n_past() .. + tokens.size().
struct SeqChunk {
  KvStore* kv = nullptr;
  std::span<const int32_t> tokens;
  bool all_logits = false;  // logits for every token, or only the last
};

// Observes routing and expert activity (statistics, traces); all calls on the calling thread.
struct ForwardObserver {
  virtual ~ForwardObserver() = default;
  // Top-K experts of each token of the batch for `layer`: [n_tok, K] ids and weights.
  virtual void on_routing(int layer, int64_t n_tok, int k, const int32_t* experts, const float* weights) = 0;
  // ReGLU activity of `layer`: over its n_rows (token, expert) pairs of n_ff_exp neurons each,
  // how many neurons were exactly zero (gate <= 0), i.e. could be skipped.
  virtual void on_reglu(int /*layer*/, int64_t /*n_rows*/, int64_t /*n_ff*/, int64_t /*n_zero*/) {}
};

// What sparse ReGLU saved: ReGLU outputs (token x expert x neuron) and how many were exactly
// zero (their up rows and down columns are skipped where the source keeps neuron bundles); up rows needed
// by no token of their expert are not computed at all.
struct ReluCounters {
  int64_t neurons = 0, zero = 0;
  int64_t up_rows = 0, up_rows_skipped = 0;
  int bundle_layers = 0;  // layers the expert source now serves as neuron bundles
};

// Reusable buffers so that steady-state decode allocates nothing.
struct ForwardScratch;
// Experts of one layer acquired together (forward_scratch.h).
struct ExpertChunk;

class Forward {
 public:
  Forward(const ModelConfig& config, const ModelWeights& weights, ExpertSource& experts, ThreadPool& pool);
  ~Forward();

  // Runs the batch; returns logits rows in order: for each chunk, every token's row if
  // all_logits else its last token's row. Each row has n_vocab floats. Advances every kv.
  std::span<const float> run(std::span<const SeqChunk> chunks);

  void set_observer(ForwardObserver* observer) { observer_ = observer; }
  // Token embeddings come from `reader` when weights.token_embd is not resident (data == nullptr).
  void set_embedding_reader(RowReader* reader) { embedding_reader_ = reader; }
  const ModelConfig& config() const { return config_; }
  // Sparse ReGLU (default on): skip up rows whose gate is <= 0 for every token of the expert.
  // Off computes every row (for measuring what sparsity buys); results are identical.
  void set_sparse(bool on) { sparse_ = on; }
  // When layers switch to the sparse layouts (tests force one way or the other).
  void set_sparsity_thresholds(SparsityPolicy::Thresholds t) { sparsity_.set_thresholds(t); }
  const ReluCounters& relu_counters() const { return relu_; }
  // Wall time per phase over every run so far (bench prints where decode time goes).
  const PhaseClock& phase_clock() const { return clock_; }
  void reset_phase_clock() { clock_.reset(); }

 private:
  void embed(std::span<const int32_t> tokens, float* x);
  void route(int il, int64_t n_tok);
  void attention_block(int il, std::span<const SeqChunk> chunks, int64_t n_tok);
  // The MoE block (moe_block.cpp) and, where the expert layouts differ, one file each:
  // moe_dense.cpp, moe_down_transposed.cpp, moe_bundles.cpp.
  void moe_block(int il, int64_t n_tok);
  void group_by_expert(int64_t n_tok);
  ExpertChunk gather_expert_acts(int il, std::span<const int32_t> ids, const std::vector<ExpertLease>& leases,
                                 int64_t n_tok, bool first);
  ExpertChunk describe_chunk(int il, std::span<const int32_t> ids, const std::vector<ExpertLease>& leases) const;
  int64_t dense_gate_up(int il, const ExpertChunk& chunk);  // returns the zero ReGLU activations
  void request_up_rows(int il, const ExpertChunk& chunk);
  void dense_down(const ExpertChunk& chunk, int64_t n_tok);
  void down_transposed(const ExpertChunk& chunk);
  int64_t bundled_experts(int il, const ExpertChunk& chunk);  // returns the zero ReGLU activations
  void count_reglu(int il, const ExpertChunk& chunk, int64_t up_rows_done, int64_t zeros);
  void combine_experts(int64_t n_tok);
  void lookahead(int il);

  const ModelConfig& config_;
  const ModelWeights& weights_;
  ExpertSource& experts_;
  ExpertSourceHints* hints_;  // experts_.hints(), or plain_hints_
  ExpertSourceHints plain_hints_;
  ThreadPool& pool_;
  ForwardObserver* observer_ = nullptr;
  RowReader* embedding_reader_ = nullptr;
  bool sparse_ = true;
  ReluCounters relu_;
  PhaseClock clock_;
  SparsityPolicy sparsity_;
  std::unique_ptr<ForwardScratch> s_;
};

WeightRows weight_rows(const TensorView& v);

}  // namespace st
