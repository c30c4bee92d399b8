#!/usr/bin/python3
"""Builds tiny random SmallThinker GGUF models in the llama.cpp schema (spec section 3), with this
oracle's own writer, so the reference tests do not depend on the engine's `synth` command.

    /usr/bin/python3 make_model.py --variant 4b|4b-tied|21b --type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k|mix
                                   -o PATH [--seed S] [--window N] [--alignment A] [--gguf-version 2|3]

Variants (types whose rows need 256-element super-blocks -- q4_k, q5_k, q6_k, mix -- get the
"K geometry": hidden 256 and FFN 256, since ggml rows must be whole blocks):
  4b      : sigmoid gating (2), every layer global + RoPE, untied output.weight, head_dim*heads == hidden
  4b-tied : the same without output.weight (lm_head = token_embd)
  21b     : softmax gating (1), attention.sliding_window = 8: layers il%4==0 global NoPE, others windowed
            RoPE; head_dim * heads != hidden (as in the real 21B)
Weight scales: embeddings N(0,1); projections N(0, 1/fan_in); router N(0, 1/hidden) so router logits
are O(1) (spec: sigmoid saturation ties otherwise); norms 1 + 0.1 N(0,1).  Norms and the router stay
F32 (llama.cpp never quantizes ffn_gate_inp); all other matrices get the requested type.
'mix' gives each matrix a different type (rotating per layer), like a Q4_K_M file but wider.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402
import iquants  # noqa: E402
import quants  # noqa: E402

VARIANTS = {
    "4b": dict(H=128, n_head=4, n_head_kv=2, hd=32, E=8, K=4, F=64, L=4, V=320, gating=2, window=0,
               theta=1.5e6, tied=False),
    "4b-tied": dict(H=128, n_head=4, n_head_kv=2, hd=32, E=8, K=4, F=64, L=4, V=320, gating=2, window=0,
                    theta=1.5e6, tied=True),
    "21b": dict(H=96, n_head=6, n_head_kv=2, hd=32, E=8, K=2, F=64, L=8, V=300, gating=1, window=8,
                theta=1e4, tied=False),
}
K_GEOMETRY = {
    "4b": dict(H=256, n_head=8, n_head_kv=2, hd=32, F=256),
    "4b-tied": dict(H=256, n_head=8, n_head_kv=2, hd=32, F=256),
    "21b": dict(H=256, n_head=4, n_head_kv=2, hd=128, F=256, L=5),
}
TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "mix",
         "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"]
# i-quant matrices get random codes at the intended scale (iquants.random_weights), not a quantizer
IQ_TYPES = set(TYPES[-7:])
MIX = ["q4_k", "q5_k", "q6_k", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16", "bf16"]


def variant_params(variant, type_name, window=None, **over):
    p = dict(VARIANTS[variant])
    if type_name in ("q4_k", "q5_k", "q6_k", "mix") or type_name in IQ_TYPES:
        p.update(K_GEOMETRY[variant])
    if window is not None:
        p["window"] = window
    p.update(over)
    return p


def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def add_tokenizer(w, V):
    """A small but well-formed byte-level BPE vocabulary: 256 byte tokens, merges of letter pairs,
    and 3 specials at the end (<|endoftext|> = bos, <|im_start|>, <|im_end|> = eos)."""
    b2u = _bytes_to_unicode()
    toks = [b2u[b] for b in range(256)]
    merges = []
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    n_merge = V - 3 - 256
    for i in range(n_merge):
        a, b = letters[i // 26 % 26], letters[i % 26]
        toks.append(a + b)
        merges.append(a + " " + b)
    toks += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    types = [1] * (V - 3) + [3, 3, 3]
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "qwen2")
    w.add("tokenizer.ggml.tokens", toks, gguf.ARRAY, gguf.STRING)
    w.add("tokenizer.ggml.token_type", types, gguf.ARRAY, gguf.INT32)
    w.add("tokenizer.ggml.merges", merges, gguf.ARRAY, gguf.STRING)
    w.add("tokenizer.ggml.bos_token_id", V - 3, gguf.UINT32)
    w.add("tokenizer.ggml.eos_token_id", V - 1, gguf.UINT32)
    w.add("tokenizer.ggml.add_bos_token", False, gguf.BOOL)


def make_tiny_model(path, variant="4b", type_name="f32", seed=0, window=None, alignment=None,
                    gguf_version=3, tokenizer=True, extra_kv=None, type_overrides=None,
                    down_transposed=False, **over):
    """Writes a random SmallThinker GGUF; returns the parameter dict used.
    type_overrides: {tensor kind: type}, kind = 'token_embd', 'output', 'attn_q', 'attn_k', 'attn_v',
    'attn_output', 'ffn_gate_inp', 'ffn_gate_exps', 'ffn_up_exps', 'ffn_down_exps' (e.g. Q4_K_M-like
    files: {'attn_v': 'q6_k', 'ffn_down_exps': 'q6_k', 'output': 'q6_k'}).
    down_transposed: store ffn_down_exps as ne {H, F, E} like some PowerInfer files (spec section 3)."""
    type_name = type_name.lower()
    if type_name not in TYPES:
        raise ValueError("type must be one of %s" % TYPES)
    p = variant_params(variant, type_name, window, **over)
    rng = np.random.default_rng(seed)
    H, nH, nKV, hd, E, K, F, L, V = (p[k] for k in ("H", "n_head", "n_head_kv", "hd", "E", "K", "F", "L", "V"))
    w = gguf.GGUFWriter(version=gguf_version, alignment=alignment)
    a = "smallthinker."
    w.add("general.architecture", "smallthinker")
    w.add("general.name", "tiny-%s-%s" % (variant, type_name))
    w.add(a + "block_count", L, gguf.UINT32)
    w.add(a + "context_length", 4096, gguf.UINT32)
    w.add(a + "embedding_length", H, gguf.UINT32)
    w.add(a + "feed_forward_length", F, gguf.UINT32)
    w.add(a + "expert_feed_forward_length", F, gguf.UINT32)
    w.add(a + "attention.head_count", nH, gguf.UINT32)
    w.add(a + "attention.head_count_kv", nKV, gguf.UINT32)
    w.add(a + "attention.key_length", hd, gguf.UINT32)
    w.add(a + "attention.value_length", hd, gguf.UINT32)
    w.add(a + "rope.freq_base", float(p["theta"]), gguf.FLOAT32)
    w.add(a + "attention.layer_norm_rms_epsilon", 1e-6, gguf.FLOAT32)
    w.add(a + "expert_count", E, gguf.UINT32)
    w.add(a + "expert_used_count", K, gguf.UINT32)
    w.add(a + "expert_gating_func", p["gating"], gguf.UINT32)
    if p["window"]:
        w.add(a + "attention.sliding_window", p["window"], gguf.UINT32)
    for k, v in (extra_kv or {}).items():
        if isinstance(v, tuple):
            w.add(k, *v)
        else:
            w.add(k, v)
    if tokenizer:
        add_tokenizer(w, V)

    counter = [0]
    type_overrides = dict(type_overrides or {})

    def add(name, arr, t):
        kind = name.split(".")[-2] if name.startswith("blk.") else name.split(".")[0]
        t = type_overrides.get(kind, t)
        if t in IQ_TYPES:
            rms = float(np.sqrt(np.mean(arr.astype(np.float64) ** 2)))
            gt = quants.type_from_name(t)
            w.add_tensor(name, tuple(reversed(arr.shape)), gt, iquants.random_weights(rng, arr.shape, rms, gt))
            return
        w.add_array(name, arr, t)

    def ty(layer=0):
        if type_name != "mix":
            return type_name
        t = MIX[(counter[0] + 3 * layer) % len(MIX)]
        counter[0] += 1
        return t

    def randn(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    add("token_embd.weight", randn(V, H), ty())
    add("output_norm.weight", norm(H), "f32")
    if not p["tied"]:
        add("output.weight", randn(V, H, scale=H ** -0.5), ty())
    for il in range(L):
        b = "blk.%d." % il
        add(b + "attn_norm.weight", norm(H), "f32")
        add(b + "attn_q.weight", randn(nH * hd, H, scale=H ** -0.5), ty(il))
        add(b + "attn_k.weight", randn(nKV * hd, H, scale=H ** -0.5), ty(il))
        add(b + "attn_v.weight", randn(nKV * hd, H, scale=H ** -0.5), ty(il))
        add(b + "attn_output.weight", randn(H, nH * hd, scale=(nH * hd) ** -0.5), ty(il))
        add(b + "ffn_norm.weight", norm(H), "f32")
        add(b + "ffn_gate_inp.weight", randn(E, H, scale=H ** -0.5), "f32")
        add(b + "ffn_gate_exps.weight", randn(E, F, H, scale=H ** -0.5), ty(il))
        add(b + "ffn_up_exps.weight", randn(E, F, H, scale=H ** -0.5), ty(il))
        down = randn(E, H, F, scale=F ** -0.5)
        if down_transposed:
            down = np.ascontiguousarray(down.transpose(0, 2, 1))
        add(b + "ffn_down_exps.weight", down, ty(il))
    w.write(path)
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=sorted(VARIANTS), default="4b")
    ap.add_argument("--type", default="f32", choices=TYPES)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int)
    ap.add_argument("--alignment", type=int)
    ap.add_argument("--gguf-version", type=int, default=3, choices=[2, 3])
    ap.add_argument("--no-tokenizer", action="store_true")
    a = ap.parse_args(argv)
    p = make_tiny_model(a.output, a.variant, a.type, a.seed, a.window, a.alignment, a.gguf_version,
                        not a.no_tokenizer)
    print("wrote %s (%s)" % (a.output, ", ".join("%s=%s" % kv for kv in sorted(p.items()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
