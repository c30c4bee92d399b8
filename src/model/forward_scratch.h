// Buffers of one Forward, reused across calls (they only grow). Private to model/.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include <span>
#include <utility>

#include "kernels/matmul.h"
#include "kernels/row_groups.h"
#include "model/expert_source.h"

namespace st {

struct ForwardScratch {
  std::vector<float> x;              // [n_tok, n_embd]   residual stream
  std::vector<float> h;              // [n_tok, n_embd]   normed input of a block
  std::vector<float> tmp;            // [n_tok, n_embd]   block output before the residual add
  std::vector<float> router_logits;  // [n_tok, n_expert]
  std::vector<float> lookahead_logits;  // [n_expert] next layer's router on the post-attention state
  std::vector<int32_t> topk_ids;     // [n_tok, K]
  std::vector<float> topk_w;         // [n_tok, K]
  std::vector<float> q;              // [n_tok, q_width]
  std::vector<float> k;              // [n_tok, kv_width]
  std::vector<float> v;              // [n_tok, kv_width]
  std::vector<float> attn;           // [n_tok, q_width]
  std::vector<uint8_t> kv_round;      // fresh K/V rounded through the cache type
  std::vector<int64_t> pos;          // [n_tok] absolute position of each token
  QuantizedActs act;                 // activations quantized for the current matmul
  QuantizedActs act2;

  // Mixture of experts: tokens grouped per expert.
  std::vector<int32_t> expert_count;   // [n_expert] assignments per expert
  std::vector<int32_t> expert_begin;   // [n_expert + 1] offsets into `assign`
  std::vector<int32_t> assign;         // [n_tok * K] (token * K + slot), grouped by expert
  std::vector<int32_t> active_experts; // ids of the experts with tokens, ascending
  std::vector<float> gate;             // [n_tok * K, n_ff]   gate then ReGLU activation
  std::vector<float> up;               // [n_tok * K, n_ff]
  std::vector<float> expert_out;       // [n_tok * K, n_embd] down output per (token, slot)
  std::vector<float> expert_out2;      // the same for neuron bundles' part 1 (added to expert_out)
  std::vector<QuantizedActs> expert_act;     // per expert: its tokens' h2 rows (gate type), then activations
  std::vector<QuantizedActs> expert_act_up;  // per expert: h2 rows for up, when its dot type differs from gate's
  QuantizedActs act_up;
  std::vector<std::vector<int32_t>> row_lists;  // per thread: one item's needed up rows
  std::vector<int32_t> up_rows_needed; // [n_ff] one expert's up rows for neuron-sparse reads
  std::vector<std::vector<float>> row_buf;   // per thread: one dequantized row (transposed down)

  std::vector<uint8_t> embd_row;       // one token embedding row read from storage
  std::vector<float> logits;           // [n_out, n_vocab]
  std::vector<float> final_h;          // [n_out, n_embd]

  // Expert e's (token, slot) rows in the grouped buffers: first row and count.
  std::pair<int64_t, int64_t> expert_rows(int e) const {
    const int32_t b = expert_begin[static_cast<size_t>(e)];
    return {b, expert_begin[static_cast<size_t>(e) + 1] - b};
  }
};

// Experts of one layer acquired together, and how their bytes are laid out (the first
// expert's layouts; every expert of a layer is computed on the same path).
struct ExpertChunk {
  std::span<const int32_t> ids;              // expert ids, ascending
  const std::vector<ExpertLease>* leases;    // [ids.size()]
  bool separate_up;  // up's activations differ in type from gate's (ForwardScratch::expert_act_up)
  ExpertLayouts layouts;
  const ExpertView& view(size_t a) const { return (*leases)[a].view(); }
};

// Rows per work item when experts multiply matrices of `n_rows` rows. The pool gives each
// thread a contiguous run of items (its own experts' rows, streamed in order) and lets a
// thread that finishes early steal items from the back of another's run, so items can be
// small enough for the threads to finish together (64 rows beat whole experts, which with
// 4 experts on 2 threads left one thread idle for up to an expert's time): whole groups.
inline int64_t item_rows(int64_t n_rows) { return std::min<int64_t>(n_rows, 4 * kGroupRows); }

template <class T>
inline T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace st
