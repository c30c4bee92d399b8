#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "kernels/kernel_table.h"
#include "kernels/ops/norm_rope.h"
#include "model/forward_scratch.h"

namespace st {

namespace {

// The K highest of E router logits into order[0..K), highest first; equal logits keep the
// lower expert id first (deterministic ties). order must hold E entries.
void top_k(const float* logits, int E, int K, int32_t* order) {
  std::iota(order, order + E, 0);
  std::partial_sort(order, order + K, order + E, [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
}

}  // namespace

WeightRows weight_rows(const TensorView& v) {
  return {v.type, v.n_cols, v.n_rows, v.row_bytes, v.data, v.layout == WeightLayout::row_groups};
}

Forward::Forward(const ModelConfig& config, const ModelWeights& weights, ExpertSource& experts, ThreadPool& pool)
    : config_(config), weights_(weights), experts_(experts),
      hints_(experts.hints() ? experts.hints() : &plain_hints_), pool_(pool),
      sparsity_(config.n_layer), s_(std::make_unique<ForwardScratch>()) {}

Forward::~Forward() = default;

void Forward::embed(std::span<const int32_t> tokens, float* x) {
  const TensorView& e = weights_.token_embd;
  const KernelTable& kt = kernel_table(e.type);
  for (size_t t = 0; t < tokens.size(); ++t) {
    const int32_t id = tokens[t];
    if (id < 0 || id >= e.n_rows)
      throw std::out_of_range("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(e.n_rows) + ")");
    const uint8_t* row = e.data ? e.row(id) : nullptr;
    if (!row) {
      if (!embedding_reader_) throw std::logic_error("token embeddings are not resident and no reader is set");
      s_->embd_row.resize(e.row_bytes);
      embedding_reader_->read_row(id, s_->embd_row.data());
      row = s_->embd_row.data();
    }
    kt.dequantize_row(row, x + static_cast<int64_t>(t) * config_.n_embd, config_.n_embd);
  }
}

// Router: logits on the RAW residual entering the layer (before any norm), top-K per token,
// weights by softmax over the K logits (21B) or sigmoid normalised over the K (4B).
void Forward::route(int il, int64_t n_tok) {
  const auto& c = config_;
  const int E = c.n_expert, K = c.n_expert_used;
  float* logits = grow(s_->router_logits, static_cast<size_t>(n_tok * E));
  quantize_acts(weights_.layers[static_cast<size_t>(il)].router.type, s_->x.data(), n_tok, c.n_embd, s_->act, &pool_);
  matmul(weight_rows(weights_.layers[static_cast<size_t>(il)].router), s_->act, logits, E, pool_);

  int32_t* ids = grow(s_->topk_ids, static_cast<size_t>(n_tok * K));
  float* w = grow(s_->topk_w, static_cast<size_t>(n_tok * K));
  int32_t order[1024];
  for (int64_t t = 0; t < n_tok; ++t) {
    const float* lt = logits + t * E;
    top_k(lt, E, K, order);
    double sum = 0;
    for (int j = 0; j < K; ++j) {
      const double l = lt[order[j]];
      const double v = c.gating == GatingFunc::softmax ? std::exp(l - lt[order[0]]) : 1.0 / (1.0 + std::exp(-l));
      w[t * K + j] = static_cast<float>(v);
      sum += v;
      ids[t * K + j] = order[j];
    }
    for (int j = 0; j < K; ++j) w[t * K + j] = static_cast<float>(w[t * K + j] / sum);
  }
  if (observer_) observer_->on_routing(il, n_tok, K, ids, w);
}

// Look-ahead (decode): the residual after layer l's attention is close to what layer l+1's
// router will see (only layer l's FFN output is still to be added), so applying layer l+1's
// router to it now guesses l+1's experts one whole FFN earlier. The source may start reads
// for the guess; the real routing corrects it when layer l+1 starts.
void Forward::lookahead(int il) {
  const auto& c = config_;
  const int E = c.n_expert, K = c.n_expert_used;
  const TensorView& router = weights_.layers[static_cast<size_t>(il)].router;
  float* logits = grow(s_->lookahead_logits, static_cast<size_t>(E));
  quantize_acts(router.type, s_->x.data(), 1, c.n_embd, s_->act2, nullptr);
  matmul(weight_rows(router), s_->act2, logits, E, pool_);
  int32_t order[1024];
  top_k(logits, E, K, order);
  std::sort(order, order + K);
  hints_->speculate(il, std::span<const int32_t>(order, static_cast<size_t>(K)));
}

std::span<const float> Forward::run(std::span<const SeqChunk> chunks) {
  const auto& c = config_;
  int64_t n_tok = 0, n_out = 0;
  for (const auto& ch : chunks) {
    if (ch.tokens.empty()) throw std::invalid_argument("forward: empty token chunk");
    if (ch.kv->n_past() + static_cast<int64_t>(ch.tokens.size()) > ch.kv->n_ctx())
      throw std::length_error("context full: " + std::to_string(ch.kv->n_past()) + " + " +
                              std::to_string(ch.tokens.size()) + " tokens exceed the context size " +
                              std::to_string(ch.kv->n_ctx()) + " (raise -c)");
    n_tok += static_cast<int64_t>(ch.tokens.size());
    n_out += ch.all_logits ? static_cast<int64_t>(ch.tokens.size()) : 1;
  }
  const size_t H = static_cast<size_t>(c.n_embd);
  float* x = grow(s_->x, static_cast<size_t>(n_tok) * H);
  grow(s_->h, static_cast<size_t>(n_tok) * H);
  grow(s_->tmp, static_cast<size_t>(n_tok) * H);
  int64_t* pos = grow(s_->pos, static_cast<size_t>(n_tok));
  clock_.start();
  {
    int64_t t = 0;
    for (const auto& ch : chunks) {
      embed(ch.tokens, x + t * c.n_embd);
      for (size_t i = 0; i < ch.tokens.size(); ++i) pos[t++] = ch.kv->n_past() + static_cast<int64_t>(i);
    }
  }
  clock_.lap(Phase::embed);

  for (int il = 0; il < c.n_layer; ++il) {
    route(il, n_tok);
    // The routing is known before attention: let the expert source start its reads now.
    {
      std::vector<int32_t>& uniq = s_->assign;  // reused as scratch; rebuilt by moe_block
      uniq.assign(s_->topk_ids.begin(), s_->topk_ids.begin() + n_tok * c.n_expert_used);
      std::sort(uniq.begin(), uniq.end());
      uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
      experts_.prefetch(il, uniq);
    }
    clock_.lap(Phase::route);
    attention_block(il, chunks, n_tok);
    if (n_tok == 1 && il + 1 < c.n_layer && hints_->wants_lookahead) {
      lookahead(il + 1);
      clock_.lap(Phase::route);
    }
    moe_block(il, n_tok);
  }
  for (const auto& ch : chunks) ch.kv->set_n_past(ch.kv->n_past() + static_cast<int64_t>(ch.tokens.size()));

  // Final norm and lm_head, only for the rows the caller wants (prompt processing usually
  // needs just the last token: lm_head is the largest single matrix).
  float* fh = grow(s_->final_h, static_cast<size_t>(n_out) * H);
  {
    int64_t t = 0, o = 0;
    for (const auto& ch : chunks) {
      const int64_t n = static_cast<int64_t>(ch.tokens.size());
      for (int64_t i = ch.all_logits ? 0 : n - 1; i < n; ++i, ++o)
        ops::rmsnorm(x + (t + i) * c.n_embd, weights_.output_norm.data(), fh + o * c.n_embd, c.n_embd, c.rms_eps);
      t += n;
    }
  }
  float* logits = grow(s_->logits, static_cast<size_t>(n_out * c.n_vocab));
  quantize_acts(weights_.output.type, fh, n_out, c.n_embd, s_->act, &pool_);
  matmul(weight_rows(weights_.output), s_->act, logits, c.n_vocab, pool_);
  clock_.lap(Phase::lm_head);
  return {logits, static_cast<size_t>(n_out * c.n_vocab)};
}

}  // namespace st
