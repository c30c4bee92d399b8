// Attention block of one layer: RMSNorm -> Q/K/V projections -> RoPE (unless NoPE) ->
// causal (optionally sliding-window) GQA attention over cache + batch -> output projection
// -> residual add. New keys are cached as computed: NoPE layers cache K unrotated.
#include <algorithm>

#include "kernels/kernel_table.h"
#include "kernels/ops/attention.h"
#include "kernels/ops/norm_rope.h"
#include "model/forward.h"
#include "model/forward_scratch.h"

namespace st {
namespace {

// The cached past of one sequence as contiguous slot runs (a ring splits where it wraps).
void cached_segments(const KvLayerStore& st, int64_t n_past, std::vector<ops::KvSegment>& out) {
  const int64_t first = st.ring ? std::max<int64_t>(0, n_past - st.n_slots) : 0;
  int64_t p = first;
  while (p < n_past) {
    const int64_t slot = st.ring ? p % st.n_slots : p;
    const int64_t run = std::min(n_past - p, st.n_slots - slot);
    ops::KvSegment seg;
    seg.first_pos = p;
    seg.n_pos = run;
    seg.k_type = st.k_type;
    seg.v_type = st.v_type;
    seg.k = st.k + static_cast<size_t>(slot) * st.k_row_bytes;
    seg.v = st.v + static_cast<size_t>(slot) * st.v_row_bytes;
    seg.k_row_bytes = st.k_row_bytes;
    seg.v_row_bytes = st.v_row_bytes;
    out.push_back(seg);
    p += run;
  }
}

// Appends positions [p0, p0 + n) (rows of kv_width floats) to the cache; a ring keeps the last n_slots.
void store_kv(const KvLayerStore& st, int64_t p0, int64_t n, const float* k, const float* v, int64_t kv_width) {
  const KernelTable& kt = kernel_table(st.k_type);
  const KernelTable& vt = kernel_table(st.v_type);
  const int64_t skip = st.ring ? std::max<int64_t>(0, n - st.n_slots) : 0;
  for (int64_t i = skip; i < n; ++i) {
    const int64_t p = p0 + i;
    const int64_t slot = st.ring ? p % st.n_slots : p;
    kt.quantize_row(k + i * kv_width, st.k + static_cast<size_t>(slot) * st.k_row_bytes, kv_width);
    vt.quantize_row(v + i * kv_width, st.v + static_cast<size_t>(slot) * st.v_row_bytes, kv_width);
  }
}

// x (n values, whole rows of kv_width) becomes what the cache would give back: quantized to
// `type` and dequantized (block types quantize each row's blocks of 32, as store_kv does).
void round_to_cache_type(TensorType type, float* x, int64_t n, std::vector<uint8_t>& tmp) {
  if (type == TensorType::F32) return;
  const KernelTable& kt = kernel_table(type);
  tmp.resize(row_bytes(type, n));
  kt.quantize_row(x, tmp.data(), n);
  kt.dequantize_row(tmp.data(), x, n);
}

}  // namespace

void Forward::attention_block(int il, std::span<const SeqChunk> chunks, int64_t n_tok) {
  const auto& c = config_;
  const LayerConfig& lc = c.layers[static_cast<size_t>(il)];
  const LayerWeights& L = weights_.layers[static_cast<size_t>(il)];
  const int64_t H = c.n_embd, QW = c.q_width(), KVW = c.kv_width();
  float* x = s_->x.data();
  float* h = s_->h.data();

  pool_.parallel_for(n_tok, 8, [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) ops::rmsnorm(x + t * H, L.attn_norm.data(), h + t * H, H, c.rms_eps);
  });

  float* q = grow(s_->q, static_cast<size_t>(n_tok * QW));
  float* k = grow(s_->k, static_cast<size_t>(n_tok * KVW));
  float* v = grow(s_->v, static_cast<size_t>(n_tok * KVW));
  // One quantization of h serves every projection stored in the same type, and those
  // projections share one parallel loop.
  const TensorView* proj[3] = {&L.wq, &L.wk, &L.wv};
  float* outs[3] = {q, k, v};
  const int64_t widths[3] = {QW, KVW, KVW};
  for (int i = 0; i < 3;) {
    quantize_acts(proj[i]->type, h, n_tok, H, s_->act, &pool_);
    MatmulPart parts[3];
    size_t n = 0;
    for (; i < 3 && kernel_table(proj[i]->type).vec_dot_type == s_->act.type; ++i)
      parts[n++] = {weight_rows(*proj[i]), outs[i], widths[i]};
    matmul_parts(std::span<const MatmulPart>(parts, n), s_->act, pool_);
  }

  if (lc.use_rope) {
    const ops::Rope rope(c.head_dim, lc.rope_theta);
    const int64_t* pos = s_->pos.data();
    pool_.parallel_for(n_tok, 4, [&](int64_t b, int64_t e, int) {
      for (int64_t t = b; t < e; ++t) {
        rope.apply(q + t * QW, c.n_head, pos[t]);
        rope.apply(k + t * KVW, c.n_head_kv, pos[t]);
      }
    });
  }

  clock_.lap(Phase::attn_proj);
  float* attn = grow(s_->attn, static_cast<size_t>(n_tok * QW));
  const ops::AttentionShape shape{c.n_head, c.n_head_kv, c.head_dim, lc.window};
  std::vector<ops::KvSegment> segments;
  int64_t t0 = 0;
  for (const SeqChunk& ch : chunks) {
    const int64_t n = static_cast<int64_t>(ch.tokens.size());
    const int64_t p0 = ch.kv->n_past();
    const KvLayerStore store = ch.kv->layer(il);
    // The batch's own keys and values are used in f32 below; round them to the cache's
    // precision first, so a token sees exactly the values it would read back from the cache
    // and results do not depend on how a prompt is split into batches.
    round_to_cache_type(store.k_type, k + t0 * KVW, n * KVW, s_->kv_round);
    round_to_cache_type(store.v_type, v + t0 * KVW, n * KVW, s_->kv_round);
    segments.clear();
    cached_segments(store, p0, segments);
    ops::KvSegment fresh;  // this chunk's own keys, still in f32
    fresh.first_pos = p0;
    fresh.n_pos = n;
    fresh.k = reinterpret_cast<const uint8_t*>(k + t0 * KVW);
    fresh.v = reinterpret_cast<const uint8_t*>(v + t0 * KVW);
    fresh.k_row_bytes = fresh.v_row_bytes = static_cast<size_t>(KVW) * sizeof(float);
    segments.push_back(fresh);
    ops::attention(shape, q + t0 * QW, s_->pos.data() + t0, n, segments, attn + t0 * QW, pool_);
    store_kv(store, p0, n, k + t0 * KVW, v + t0 * KVW, KVW);
    t0 += n;
  }

  clock_.lap(Phase::attn_core);
  quantize_acts(L.wo.type, attn, n_tok, QW, s_->act, &pool_);
  float* o = s_->tmp.data();
  matmul(weight_rows(L.wo), s_->act, o, H, pool_);
  for (int64_t i = 0; i < n_tok * H; ++i) x[i] += o[i];
  clock_.lap(Phase::attn_proj);
}

}  // namespace st
