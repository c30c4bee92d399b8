#!/usr/bin/python3
"""Independent numpy reference forward pass of SmallThinker (the oracle the engine is tested against).

Written from /work/shared/smallthinker-spec.md section 2 only.  Weights are dequantized exactly
(quants.py, bit-identical to ggml) and then everything is computed in float64: the oracle's own
rounding error (~1e-15 relative) is then negligible against the engine's float32 (~1e-6), so any
measurable difference is the engine's.  (dtype=np.float32 is available to estimate what an honest
f32 implementation should deviate by.)

    x = embed[tokens]
    per layer: r = x; router_logits = r @ Wr^T (raw residual, BEFORE attention and before any norm)
               h = rmsnorm(r); q,k,v; RoPE (NeoX, pairs (d, d+hd/2)) unless NoPE layer; causal mask,
               sliding window: query p sees keys p-window+1..p; softmax(q k^T/sqrt(hd)) v; x = r + a Wo^T
               h2 = rmsnorm(x); top-K of router_logits; weights softmax over the K (gating 1) or
               sigmoid / sum over the K (gating 2); x += sum_j w_j down(relu(gate h2) * up h2)
    logits = rmsnorm(x, output_norm) @ W_out^T   (W_out = output.weight, else token_embd.weight)

Layer layout (from GGUF metadata, prefix smallthinker.):
  * attention.sliding_window present and > 0: layers with il % P == 0 are global NoPE, others are
    windowed RoPE, P = attention.sliding_window_pattern (default 4).  If sliding_window_pattern is an
    array it is taken as per-layer "windowed" flags (RoPE on windowed layers, NoPE on the others).
  * otherwise every layer is global with RoPE.
  * explicit per-layer arrays smallthinker.rope_layout (1 = RoPE) and
    smallthinker.attention.sliding_window_layout (1 = windowed) override the rule.
  * windowed RoPE layers use rope.freq_base_swa if present, else rope.freq_base.

CLI:  /usr/bin/python3 reference.py MODEL.gguf --tokens 1,2,3 -o OUT.f32
      writes the logits of every position as raw little-endian float32 [n_tokens x n_vocab].
"""
import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import quants  # noqa: E402

ARCH = "smallthinker"


class Config:
    def __init__(self, md, gating_override=None):
        arch = md.get("general.architecture", ARCH)
        if arch != ARCH:
            warnings.warn("general.architecture is %r, reading %s.* keys anyway" % (arch, ARCH))
        p = ARCH + "."

        def req(k):
            if p + k not in md:
                raise KeyError("missing metadata %s%s" % (p, k))
            return md[p + k]

        self.n_layer = int(req("block_count"))
        self.n_embd = int(req("embedding_length"))
        self.n_head = int(req("attention.head_count"))
        self.n_head_kv = int(md.get(p + "attention.head_count_kv", self.n_head))
        if p + "attention.key_length" in md:
            self.head_dim = int(md[p + "attention.key_length"])
        else:
            warnings.warn("attention.key_length missing: assuming embedding_length / head_count")
            self.head_dim = self.n_embd // self.n_head
        self.head_dim_v = int(md.get(p + "attention.value_length", self.head_dim))
        self.n_expert = int(req("expert_count"))
        self.n_expert_used = int(req("expert_used_count"))
        self.n_ff_exp = int(md.get(p + "expert_feed_forward_length", md.get(p + "feed_forward_length", 0)))
        self.eps = float(md.get(p + "attention.layer_norm_rms_epsilon", 1e-6))
        self.rope_base = float(md.get(p + "rope.freq_base", 10000.0))
        self.rope_base_swa = float(md.get(p + "rope.freq_base_swa", self.rope_base))
        g = gating_override if gating_override is not None else md.get(p + "expert_gating_func")
        if g is None:
            warnings.warn("expert_gating_func missing: assuming softmax (1)")
            g = 1
        if int(g) not in (1, 2):
            raise ValueError("unsupported expert_gating_func %r" % g)
        self.gating = int(g)
        self.window = int(md.get(p + "attention.sliding_window", 0) or 0)
        L = self.n_layer
        pat = md.get(p + "attention.sliding_window_pattern", 4)
        if self.window > 0:
            if isinstance(pat, list):
                swa = [bool(x) for x in pat]
                if len(swa) != L:
                    raise ValueError("sliding_window_pattern array has %d entries for %d layers" % (len(swa), L))
            else:
                pat = int(pat)
                if pat <= 0:
                    raise ValueError("bad sliding_window_pattern %d" % pat)
                swa = [il % pat != 0 for il in range(L)]
            rope = list(swa)
        else:
            swa = [False] * L
            rope = [True] * L
        if p + "rope_layout" in md:
            rope = [bool(x) for x in md[p + "rope_layout"]]
        if p + "attention.sliding_window_layout" in md:
            swa = [bool(x) for x in md[p + "attention.sliding_window_layout"]]
        if len(rope) != L or len(swa) != L:
            raise ValueError("layer layout arrays must have %d entries" % L)
        if any(swa) and self.window <= 0:
            raise ValueError("windowed layers but attention.sliding_window is not > 0")
        self.layer_rope, self.layer_swa = rope, swa
        if self.n_head % self.n_head_kv:
            raise ValueError("head_count not a multiple of head_count_kv")

    def __repr__(self):
        return ("Config(L=%d H=%d heads=%d/%d hd=%d E=%d K=%d F=%d gating=%s window=%d rope=%s swa=%s)" % (
            self.n_layer, self.n_embd, self.n_head, self.n_head_kv, self.head_dim, self.n_expert,
            self.n_expert_used, self.n_ff_exp, {1: "softmax", 2: "sigmoid"}[self.gating], self.window,
            "".join("R" if x else "n" for x in self.layer_rope), "".join("W" if x else "g" for x in self.layer_swa)))


class Model:
    """Loads a SmallThinker GGUF; weights dequantized exactly to f32, then held in `dtype`."""

    def __init__(self, path, dtype=np.float64, gating_override=None):
        self.path = path
        self.dtype = dtype
        r = gguf.GGUFReader(path)
        self.reader = r
        self.cfg = c = Config(r.metadata, gating_override)
        self.types = {n: ti.type for n, ti in r.tensors.items()}

        def get(name, ne=None, optional=False):
            if name not in r.tensors:
                if optional:
                    return None
                raise KeyError("missing tensor " + name)
            ti = r.tensors[name]
            if ne is not None and tuple(ti.ne) != tuple(ne):
                raise ValueError("%s: ne %s, expected %s" % (name, ti.ne, tuple(ne)))
            return r.tensor(name).astype(dtype)

        H, E = c.n_embd, c.n_expert
        self.embd = get("token_embd.weight")
        if self.embd.shape[1] != H:
            raise ValueError("token_embd width %d != embedding_length %d" % (self.embd.shape[1], H))
        self.n_vocab = self.embd.shape[0]
        self.out_norm = get("output_norm.weight", (H,))
        out = get("output.weight", optional=True)
        self.tied = out is None
        self.out = self.embd if out is None else out
        if self.out.shape[1] != H:
            raise ValueError("output.weight width mismatch")
        self.n_vocab = self.out.shape[0]
        if c.n_ff_exp == 0:
            c.n_ff_exp = r.tensors["blk.0.ffn_gate_exps.weight"].ne[1]
        F, hd, hdv = c.n_ff_exp, c.head_dim, c.head_dim_v
        self.layers = []
        for il in range(c.n_layer):
            b = "blk.%d." % il
            self.layers.append(dict(
                attn_norm=get(b + "attn_norm.weight", (H,)),
                wq=get(b + "attn_q.weight", (H, hd * c.n_head)),
                wk=get(b + "attn_k.weight", (H, hd * c.n_head_kv)),
                wv=get(b + "attn_v.weight", (H, hdv * c.n_head_kv)),
                wo=get(b + "attn_output.weight", (hdv * c.n_head, H)),
                ffn_norm=get(b + "ffn_norm.weight", (H,)),
                router=get(b + "ffn_gate_inp.weight", (H, E)),
                gate=get(b + "ffn_gate_exps.weight", (H, F, E)),     # (E, F, H)
                up=get(b + "ffn_up_exps.weight", (H, F, E)),         # (E, F, H)
                down=self._down(get, b, F, H, E),                     # (E, H, F)
            ))
        self.router_log = []
        self.act_quant = None

    def _down(self, get, b, F, H, E):
        """ffn_down_exps is ne {F, H, E}; PowerInfer files may store it transposed ({H, F, E}),
        which is detected by shape (only possible when F != H)."""
        ti = self.reader.tensors[b + "ffn_down_exps.weight"]
        if tuple(ti.ne) == (H, F, E) and F != H:
            if not getattr(self, "_warned_down", False):
                warnings.warn("ffn_down_exps stored transposed (ne %s): using its transpose" % (ti.ne,))
                self._warned_down = True
            return np.ascontiguousarray(get(b + "ffn_down_exps.weight").transpose(0, 2, 1))
        return get(b + "ffn_down_exps.weight", (F, H, E))

    # ---------------------------------------------------------------------------------------------
    def rmsnorm(self, v, w):
        return v / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + self.cfg.eps) * w

    def rope(self, x, pos, base):
        """NeoX rotate-half over the full head dim. x: [T, nh, hd]; pos: [T]."""
        hd = x.shape[-1]
        half = hd // 2
        inv = base ** (-np.arange(half, dtype=np.float64) * 2.0 / hd)
        ang = pos.astype(np.float64)[:, None] * inv[None, :]                # [T, half]
        cos = np.cos(ang)[:, None, :].astype(x.dtype)
        sin = np.sin(ang)[:, None, :].astype(x.dtype)
        x0, x1 = x[..., :half], x[..., half:]
        return np.concatenate([x0 * cos - x1 * sin, x0 * sin + x1 * cos], axis=-1)

    def route(self, rl):
        """rl: [T, E] router logits -> idx [T, K] (descending logit, ties: lower index), w [T, K], margin [T]."""
        K = self.cfg.n_expert_used
        order = np.argsort(-rl, axis=1, kind="stable")
        idx = order[:, :K]
        sel = np.take_along_axis(rl, idx, axis=1)
        w = self.route_weights(sel)
        if K < rl.shape[1]:
            margin = sel[:, -1] - np.take_along_axis(rl, order[:, K:K + 1], axis=1)[:, 0]
        else:
            margin = np.full(rl.shape[0], np.inf)
        return idx, w, margin

    def route_weights(self, sel):
        """gating over the K selected logits: softmax (1) or sigmoid normalised by its sum (2)."""
        if self.cfg.gating == 1:
            e = np.exp(sel - sel.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        s = 1.0 / (1.0 + np.exp(-sel))
        return s / s.sum(axis=1, keepdims=True)

    def moe(self, L, h2, idx, w):
        """sum over j in top-K order of w_j * down_e(relu(gate_e h2) * up_e h2)."""
        T, K = idx.shape
        Y = np.zeros((T, K, h2.shape[1]), dtype=h2.dtype)
        for e in np.unique(idx):
            t, j = np.nonzero(idx == e)
            hs = h2[t]
            g = hs @ L["gate"][e].T
            u = hs @ L["up"][e].T
            Y[t, j] = (np.maximum(g, 0) * u) @ L["down"][e].T
        out = np.zeros_like(h2)
        for j in range(K):
            out = out + w[:, j:j + 1] * Y[:, j]
        return out

    def attention(self, il, q, k, v, qpos, kpos):
        """q: [Tq, nH, hd], k/v: [Tk, nKV, hd]; positions absolute. Vectorised."""
        c = self.cfg
        g = c.n_head // c.n_head_kv
        kk = np.repeat(k, g, axis=1)                    # q head i uses kv head i // g
        vv = np.repeat(v, g, axis=1)
        s = np.einsum("qhd,khd->hqk", q, kk) / np.sqrt(c.head_dim)
        allowed = kpos[None, :] <= qpos[:, None]
        if c.layer_swa[il]:
            allowed &= kpos[None, :] > qpos[:, None] - c.window
        s = np.where(allowed[None], s, -np.inf)
        s = s - s.max(axis=2, keepdims=True)
        p = np.exp(s)
        p = p / p.sum(axis=2, keepdims=True)
        return np.einsum("hqk,khd->qhd", p, vv)

    def attention_naive(self, il, q, k, v, qpos, kpos):
        """Same as attention() with explicit loops (a second, independent implementation)."""
        c = self.cfg
        g = c.n_head // c.n_head_kv
        out = np.zeros((q.shape[0], c.n_head, v.shape[2]), dtype=q.dtype)
        for i in range(q.shape[0]):
            for h in range(c.n_head):
                kv = h // g
                keys = [j for j in range(k.shape[0]) if kpos[j] <= qpos[i]
                        and (not c.layer_swa[il] or kpos[j] > qpos[i] - c.window)]
                sc = np.array([float(np.dot(q[i, h], k[j, kv])) for j in keys]) / np.sqrt(c.head_dim)
                pr = np.exp(sc - sc.max())
                pr /= pr.sum()
                for pj, j in zip(pr, keys):
                    out[i, h] += pj * v[j, kv]
        return out

    def _mm(self, x, w, name_type=None):
        if self.act_quant and name_type is not None:
            x = simulate_q8_activations(x, self._aq(name_type))
        return x @ w.T

    # ---------------------------------------------------------------------------------------------
    def forward(self, tokens, start_pos=0, cache=None, naive_attention=False, act_quant=None, force_routes=None,
                kv_f16=False, kv_types=None):
        """Logits [T, V] for `tokens` at positions start_pos.. . With `cache` (dict from new_cache()),
        keys/values of earlier calls are used and extended (incremental decoding).
        act_quant='q8' | 'q8k' simulates an engine that rounds matmul inputs to 8 bits (blocks of 32 /
        256) for quantized weights, and to f16 / bf16 for f16 / bf16 weights (see
        simulate_q8_activations): only used to justify and report test tolerances.
        kv_f16=True rounds cached keys (after RoPE) and values to fp16, as an f16 KV cache does;
        kv_types=(k_type, v_type) rounds them as a KV cache of those types does (round_kv)."""
        if kv_f16:
            kv_types = ("f16", "f16")
        c = self.cfg
        self.act_quant = act_quant
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.min() < 0 or tokens.max() >= self.embd.shape[0]:
            raise ValueError("token id out of range")
        T = len(tokens)
        pos = np.arange(start_pos, start_pos + T)
        x = self.embd[tokens].astype(self.dtype)
        self.router_log = []
        tt = self.types
        for il, L in enumerate(self.layers):
            b = "blk.%d." % il
            r = x
            rl = self._mm(r, L["router"], tt[b + "ffn_gate_inp.weight"])    # router on the raw residual
            h = self.rmsnorm(r, L["attn_norm"])
            q = self._mm(h, L["wq"], tt[b + "attn_q.weight"]).reshape(T, c.n_head, c.head_dim)
            k = self._mm(h, L["wk"], tt[b + "attn_k.weight"]).reshape(T, c.n_head_kv, c.head_dim)
            v = self._mm(h, L["wv"], tt[b + "attn_v.weight"]).reshape(T, c.n_head_kv, c.head_dim_v)
            if c.layer_rope[il]:
                base = c.rope_base_swa if c.layer_swa[il] else c.rope_base
                q = self.rope(q, pos, base)
                k = self.rope(k, pos, base)
            if kv_types is not None:
                k = round_kv(k, kv_types[0])
                v = round_kv(v, kv_types[1])
            if cache is not None:
                lc = cache["layers"][il]
                lc["k"] = k if lc["k"] is None else np.concatenate([lc["k"], k])
                lc["v"] = v if lc["v"] is None else np.concatenate([lc["v"], v])
                k, v = lc["k"], lc["v"]
                kpos = np.arange(k.shape[0])
            else:
                kpos = pos
            att = (self.attention_naive if naive_attention else self.attention)(il, q, k, v, pos, kpos)
            x = r + self._mm(att.reshape(T, -1), L["wo"], tt[b + "attn_output.weight"])
            h2 = self.rmsnorm(x, L["ffn_norm"])
            idx, w, margin = self.route(rl)
            if force_routes is not None:     # analysis only: impose another run's expert choices
                idx = force_routes[il]
                w = self.route_weights(np.take_along_axis(rl, idx, axis=1))
            self.router_log.append(dict(idx=idx, weights=w, logits=rl, margin=margin))
            et = tt[b + "ffn_gate_exps.weight"]
            if self.act_quant and et != quants.F32:
                out = self.moe_q(L, simulate_q8_activations(h2, self._aq(et)), idx, w, self._aq(tt[b + "ffn_down_exps.weight"]))
            else:
                out = self.moe(L, h2, idx, w)
            x = x + out
        if cache is not None:
            cache["n"] = start_pos + T
        xn = self.rmsnorm(x, self.out_norm)
        out_name = "token_embd.weight" if self.tied else "output.weight"
        return self._mm(xn, self.out, tt[out_name])

    def _aq(self, t):
        """activation rounding mode simulated for weights of type t"""
        if t == quants.F32:
            return None
        if t in (quants.F16, quants.BF16):
            return quants.type_name(t)
        return self.act_quant

    def moe_q(self, L, h2q, idx, w, down_mode):
        # act-quant simulation: the down projection's input is rounded as well
        T, K = idx.shape
        Y = np.zeros((T, K, h2q.shape[1]), dtype=h2q.dtype)
        for e in np.unique(idx):
            t, j = np.nonzero(idx == e)
            hs = h2q[t]
            a = np.maximum(hs @ L["gate"][e].T, 0) * (hs @ L["up"][e].T)
            Y[t, j] = simulate_q8_activations(a, down_mode) @ L["down"][e].T
        out = np.zeros_like(h2q)
        for j in range(K):
            out = out + w[:, j:j + 1] * Y[:, j]
        return out

    def new_cache(self):
        return dict(n=0, layers=[dict(k=None, v=None) for _ in range(self.cfg.n_layer)])

    def forward_incremental(self, tokens, naive_attention=True):
        """Token by token with a KV cache (a second code path for self-consistency checks).
        Returns logits [T, V] and the per-token router logs."""
        cache = self.new_cache()
        rows, logs = [], []
        for i, t in enumerate(tokens):
            rows.append(self.forward([t], start_pos=i, cache=cache, naive_attention=naive_attention)[0])
            logs.append(self.router_log)
        return np.stack(rows), logs

    def router_choices(self, tokens):
        """[n_layer] list of dicts: idx [T,K] top-K experts, weights [T,K], logits [T,E], margin [T]
        (gap between the K-th and (K+1)-th router logit: small margins are fragile positions)."""
        self.forward(tokens)
        return self.router_log

    def weights(self):
        """dequantized weights: dict name -> array (numpy shape reversed(ne))."""
        return {n: self.reader.tensor(n) for n in self.reader.tensor_order}


def round_kv(x, kv_type):
    """x as a KV cache of kv_type gives it back (rows along the last axis, i.e. one head):
    'f32' / 'f16' / 'bf16': the value rounded to nearest (even) in that format;
    'q8_0': ggml's blocks of 32: d = max|x| / 127 in f32, codes round(x / d) half away from zero,
            value code * fp16(d);
    'q4_0': ggml's blocks of 32: m = the element of largest magnitude (its sign kept), d = m / -8,
            codes min(15, trunc(x / d + 8.5)) in 0..15, value (code - 8) * fp16(d).
    Codes come from the f32 scale, values from its fp16 rounding, in f32 arithmetic (as ggml's
    reference quantizers compute them)."""
    if kv_type == "f32":
        return x.astype(np.float32).astype(x.dtype)
    if kv_type in ("f16", "bf16"):
        return simulate_q8_activations(x.astype(np.float32), kv_type).astype(x.dtype)
    shp = x.shape
    b = x.astype(np.float32).reshape(-1, 32)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kv_type == "q8_0":
            d = (np.abs(b).max(axis=1) / np.float32(127)).astype(np.float32)
            inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)
            y = b * inv[:, None]
            codes = np.sign(y) * np.floor(np.abs(y) + np.float32(0.5))
        elif kv_type == "q4_0":
            m = b[np.arange(b.shape[0]), np.argmax(np.abs(b), axis=1)]
            d = (m / np.float32(-8)).astype(np.float32)
            inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)
            codes = np.minimum(15, np.trunc(b * inv[:, None] + np.float32(8.5))) - 8
        else:
            raise ValueError("unknown KV cache type %r" % kv_type)
    scale = d.astype(np.float16).astype(np.float32)
    return (codes.astype(np.float32) * scale[:, None]).reshape(shp).astype(x.dtype)


def simulate_q8_activations(x, mode="q8"):
    """Rounds each row of x as an engine might before an integer dot product:
    'q8'  : q8_0-like blocks of 32, fp16 scale amax/127, int8 values (default)
    'q8k' : q8_K-like blocks of 256, f32 scale amax/127
    'f16' / 'bf16': rounding to half / bfloat16 (engines that convert activations for f16/bf16 dots)."""
    if mode is None:
        return x
    if mode == "f16":
        return x.astype(np.float16).astype(x.dtype)
    if mode == "bf16":
        u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
        u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
        return u.astype(np.uint32).view(np.float32).astype(x.dtype)
    bs = 256 if mode == "q8k" else 32
    shp = x.shape
    n = shp[-1]
    if n % bs:
        return x
    v = x.reshape(-1, bs).astype(np.float64)
    d = np.abs(v).max(axis=1) / 127
    d = d.astype(np.float16).astype(np.float64) if mode == "q8" else d.astype(np.float32).astype(np.float64)
    inv = np.where(d > 0, 1 / np.where(d > 0, d, 1), 0)
    q = np.clip(np.rint(v * inv[:, None]), -127, 127)
    return (q * d[:, None]).reshape(shp).astype(x.dtype)


_cache = {}


def load(model_path, dtype=np.float64):
    key = (os.path.abspath(model_path), os.path.getmtime(model_path), dtype)
    if key not in _cache:
        _cache.clear()
        _cache[key] = Model(model_path, dtype=dtype)
    return _cache[key]


def logits(model_path, token_ids, dtype=np.float64):
    """np.array [n_tokens, n_vocab] of logits at every position (float64)."""
    return load(model_path, dtype).forward(list(token_ids))


def router_choices(model_path, token_ids):
    return load(model_path).router_choices(list(token_ids))


def main(argv=None):
    ap = argparse.ArgumentParser(description="numpy reference forward pass of a SmallThinker GGUF")
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("-o", "--output", required=True, help="raw little-endian float32 [n_tokens x n_vocab]")
    ap.add_argument("--float32", action="store_true", help="compute in float32 instead of float64")
    ap.add_argument("--gating", type=int, choices=[1, 2], help="override expert_gating_func")
    ap.add_argument("--router", action="store_true", help="print per-layer top-K choices and margins")
    a = ap.parse_args(argv)
    toks = [int(t) for t in a.tokens.replace(" ", "").split(",") if t != ""]
    m = Model(a.model, dtype=np.float32 if a.float32 else np.float64, gating_override=a.gating)
    print(m.cfg, file=sys.stderr)
    lg = m.forward(toks)
    lg.astype("<f4").tofile(a.output)
    if a.router:
        for il, rlog in enumerate(m.router_log):
            print("layer %d: experts %s  min margin %.3g" % (il, rlog["idx"].tolist(), rlog["margin"].min()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
