#!/usr/bin/python3
"""`smallthinker convert` end to end: HF checkpoint (safetensors) -> GGUF -> engine logits, checked
against the numpy oracle reading the safetensors directly (tests/reference/safetensors_ref.py; no
GGUF involved on the oracle side).

Checkpoints (tests/tools/make_hf_checkpoint.py, bf16, Gaussian weights, 2 shards + index):
  4b-style : tiny-4b shape, sigmoid gating (moe_primary_router_apply_softmax absent/false), every
             layer global + RoPE (llama.cpp's rule holds: no layout arrays needed)
  21b-style: tiny-21b shape, softmax gating, head_dim * heads != hidden, window 8 (shorter than the
             40-token sequences) and a layout llama.cpp's rule cannot express:
             rope_layout [1,0,1,1,0], sliding_window_layout [0,0,1,1,1]
             (global RoPE, global NoPE, 2x windowed RoPE, windowed NoPE) -> explicit arrays in GGUF.
  4b-tied  : as 4b-style with tie_word_embeddings (no lm_head.weight): token_embd is the lm_head
             (f32 and q4_0 only, where token_embd must get lm_head's Q6_K).
Types: f32 f16 bf16 q8_0 q4_0 q4_k_m.

CHECKS AND TOLERANCES
* Weights (every GGUF tensor, dequantized by the oracle's own GGUF reader tests/reference/gguf.py +
  quants.py, against the safetensors values, stacked per expert by the test): f32 and bf16 must be
  bit-exact (the checkpoint is bf16, both types hold bf16 values exactly); f16 rel rms <= 5e-4 (only
  values below f16's normal range lose bits); quantized types within the per-type bounds of
  docs/QUANTIZE.md (q8_0 0.01, q4_0 / q4_k 0.12, q6_k 0.03, derived there from the block formats).
  The rel_rms the tool reports for each tensor must agree with the independently computed one
  (|diff| <= 1e-3 + 2%), and each tensor's type must follow the documented rules.
* Logits, f32: max|engine - oracle| <= 1e-4 * max|oracle| over all positions with --kv-f32 (the
  oracle is float64; an honest f32 forward is ~1e-6 relative off).  Token sequences are chosen so
  that every router decision has a margin >= 1e-3, far above f32 error (no near ties).
* Logits, f16/bf16: the weights are exact (above), but the engine rounds activations to f16/bf16 for
  those dot products and keeps an f16 KV cache: the 'half' class of tests/reference/test_forward.py
  (per-position relative L2 error: median <= 0.02, 90% of positions <= 0.05, top-1 agreement >= 90%).
* Logits, quantized: (a) the engine against the oracle run on the converted GGUF's exactly
  dequantized weights, with test_forward.py's int8 classes (int8 activation rounding and router
  tie flips; thresholds justified there), and (b) that oracle against the safetensors oracle:
  the conversion's own loss, median per-position relative error <= 0.05 (q8_0), 0.5 (q4_0, q4_k_m).
  Derivation of (b): the weight error eps (0.0054 for q8_0, 0.07-0.09 for the 4-bit types, rows
  above) enters every matmul, the embeddings included; on these random 4-5 layer models the logit
  error measured ~3-4x eps (q8_0 0.015-0.019, q4_0 0.31-0.33, q4_k_m 0.26-0.30), plus router flips
  at near-tied positions; the bounds allow ~1.5-3x that.  A mis-stacked expert or a transposed
  matrix is caught by the weight check above (rel error ~1.4), which is the sharp test of the
  conversion; (b) confirms the loss is what the weight errors predict.
* Tokenizer: the GGUF's tokenizer encodes text exactly as the tokenizer.json written by the test
  says by construction (byte ids, merges by rank, special tokens), and carries the chat template.
Environment: ST_BIN.  Runs in ~20-40 s.
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(os.path.dirname(HERE), "reference")
sys.path.insert(0, HERE)
sys.path.insert(0, REF)
import gguf  # noqa: E402
import harness  # noqa: E402
import make_hf_checkpoint as mk  # noqa: E402
import quants  # noqa: E402
import reference  # noqa: E402
import safetensors_ref  # noqa: E402
from test_forward import CLASSES  # noqa: E402

TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m"]
WEIGHT_BOUND = {"f32": 0.0, "bf16": 0.0, "f16": 5e-4, "q8_0": 0.01, "q6_k": 0.03, "q5_0": 0.06, "q4_0": 0.12,
                "q4_k": 0.12}
CONVERSION_BOUND = {"q8_0": 0.05, "q4_0": 0.5, "q4_k_m": 0.5}
T = 40
REPORT_RE = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]\s+(\S+)\s+(\S+) -> (\S+)\s+.*rel_rms (\S+)$")

VARIANTS = {
    "4b": dict(shape=mk.SHAPES["tiny-4b"], rope=None, swa=None, seed=11),
    "21b": dict(shape=mk.SHAPES["tiny-21b"], rope=[1, 0, 1, 1, 0], swa=[0, 0, 1, 1, 1], seed=12),
    # tie_word_embeddings: no lm_head.weight, no output.weight; token_embd is the lm_head.
    "4b-tied": dict(shape=mk.SHAPES["tiny-4b"], rope=None, swa=None, seed=13, tied=True, types=["f32", "q4_0"]),
}


def parse_report(text):
    rows = {}
    for line in text.splitlines():
        m = REPORT_RE.match(line.strip())
        if m:
            rows[m.group(3)] = dict(type_in=m.group(4), type_out=m.group(5), rel=float(m.group(6)))
    return rows


def hf_source(hf, name, n_layer, n_expert):
    """The float32 values a GGUF tensor must hold, from the HF tensors (numpy order = reversed ne)."""
    if name == "token_embd.weight":
        return hf["model.embed_tokens.weight"]
    if name == "output.weight":
        return hf["lm_head.weight"]
    if name == "output_norm.weight":
        return hf["model.norm.weight"]
    m = re.match(r"blk\.(\d+)\.(.+)$", name)
    il, rest = int(m.group(1)), m.group(2)
    p = "model.layers.%d." % il
    simple = {"attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
              "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
              "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
              "ffn_gate_inp.weight": "block_sparse_moe.primary_router.weight"}
    if rest in simple:
        return hf[p + simple[rest]]
    which = {"ffn_gate_exps.weight": "gate", "ffn_up_exps.weight": "up", "ffn_down_exps.weight": "down"}[rest]
    return np.stack([hf[p + "block_sparse_moe.experts.%d.%s.weight" % (e, which)] for e in range(n_expert)])


def expected_type(name, scheme, n_layer, tied=False):
    """docs/QUANTIZE.md, restated independently."""
    if name.endswith("norm.weight") or name.endswith("ffn_gate_inp.weight"):
        return "f32"
    if scheme in ("f32", "f16", "bf16", "q8_0"):
        return scheme
    if name == "output.weight" or (tied and name == "token_embd.weight"):
        return "q6_k"
    base = {"q4_0": "q4_0", "q4_k_m": "q4_k"}[scheme]
    m = re.match(r"blk\.(\d+)\.(attn_v|ffn_down_exps)\.weight$", name)
    if scheme == "q4_k_m" and m:
        il = int(m.group(1))
        if il < n_layer // 8 or il >= 7 * n_layer // 8 or (il - n_layer // 8) % 3 == 2:
            return "q6_k"
    return base


def pick_tokens(model, vocab, rng, min_margin=1e-3, tries=40):
    """A token sequence whose router decisions all have margin >= min_margin in the oracle."""
    best, best_m = None, -1.0
    for _ in range(tries):
        toks = [int(t) for t in rng.integers(0, vocab, size=T)]
        model.forward(toks)
        m = min(float(r["margin"].min()) for r in model.router_log)
        if m > best_m:
            best, best_m = toks, m
        if m >= min_margin:
            break
    return best, best_m


def rel_l2_per_position(a, b):
    return np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-30)


def check_class(res, name, eng, ref, cls):
    c = CLASSES[cls]
    e = rel_l2_per_position(eng, ref)
    med, share = float(np.median(e)), float(np.mean(e <= c["within"]))
    top1 = float(np.mean(eng.argmax(1) == ref.argmax(1)))
    res.check(name, med <= c["median"] and share >= c["share"] and top1 >= c["top1"],
              "[%s] median %.4f (<= %g), share<=%g %.2f (>= %g), top-1 %.2f (>= %g)" % (
                  cls, med, c["median"], c["within"], share, c["share"], top1, c["top1"]))


def run_variant(res, st_bin, tmp, vname, v):
    hf_dir = os.path.join(tmp, "hf-" + vname)
    tied = v.get("tied", False)
    kept = mk.write_checkpoint(hf_dir, v["shape"], seed=v["seed"], n_shards=2, rope=v["rope"], swa=v["swa"], tied=tied,
                               keep=True)
    res.check("%s: checkpoint has 2 shards + index" % vname,
              os.path.exists(os.path.join(hf_dir, "model.safetensors.index.json")) and
              os.path.exists(os.path.join(hf_dir, "model-00002-of-00002.safetensors")))
    oracle = safetensors_ref.load_hf(hf_dir)
    # The independent reader must return exactly the values the writer produced.
    _, hf = safetensors_ref.read_checkpoint(hf_dir)
    res.check("%s: oracle reads the safetensors back exactly" % vname,
              all(np.array_equal(hf[k], kept[k]) for k in kept))
    rng = np.random.default_rng(v["seed"])
    toks, margin = pick_tokens(oracle, v["shape"]["vocab"], rng)
    ref_st = oracle.forward(toks)
    res.check("%s: tokens with clear router margins" % vname, margin >= 1e-3, "min margin %.2e" % margin)
    tok_arg = ",".join(map(str, toks))
    n_layer, n_expert = v["shape"]["layers"], v["shape"]["experts"]
    for t in v.get("types", TYPES):
        case = "%s/%s" % (vname, t)
        out = os.path.join(tmp, "%s-%s.gguf" % (vname, t))
        p = subprocess.run([st_bin, "convert", hf_dir, "-o", out, "--type", t, "-t", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        if not res.check("%s: convert exits 0" % case, p.returncode == 0, p.stderr.decode()[-400:] if p.returncode else ""):
            continue
        report = parse_report(p.stdout.decode())
        r = gguf.GGUFReader(out)
        names = list(r.tensor_order)
        res.check("%s: one report line per tensor" % case, sorted(report) == sorted(names),
                  "%d lines, %d tensors" % (len(report), len(names)))
        wrong_type, worst, bad_report, exact_fail = [], {}, [], []
        for n in names:
            got_type = quants.type_name(r.tensors[n].type)
            want_type = expected_type(n, t, n_layer, tied)
            if got_type != want_type:
                wrong_type.append("%s %s != %s" % (n, got_type, want_type))
            x = hf_source(hf, n, n_layer, n_expert).astype(np.float64)
            q = r.tensor(n).astype(np.float64).reshape(x.shape)
            rel = float(np.sqrt(((q - x) ** 2).sum() / (x ** 2).sum()))
            worst[got_type] = max(worst.get(got_type, 0.0), rel)
            if WEIGHT_BOUND.get(got_type, 0.0) == 0.0 and not np.array_equal(q, x):
                exact_fail.append(n)
            rep = report.get(n)
            if rep is None or abs(rep["rel"] - rel) > 1e-3 + 0.02 * rel or rep["type_out"] != got_type:
                bad_report.append("%s reported %s, computed %.6f" % (n, rep, rel))
        res.check("%s: tensor types follow docs/QUANTIZE.md" % case, not wrong_type, "; ".join(wrong_type[:4]))
        res.check("%s: float types exact" % case, not exact_fail, ", ".join(exact_fail[:4]))
        res.check("%s: weight errors within bounds" % case,
                  all(worst[k] <= WEIGHT_BOUND[k] for k in worst),
                  ", ".join("%s %.5f (<= %g)" % (k, worst[k], WEIGHT_BOUND[k]) for k in sorted(worst)))
        res.check("%s: reported rel_rms matches the oracle's" % case, not bad_report, "; ".join(bad_report[:3]))
        res.check("%s: output.weight present iff untied" % case, ("output.weight" in names) != tied)
        if vname == "21b":
            md = r.metadata
            res.check("%s: explicit layout arrays written" % case,
                      list(md.get("smallthinker.rope_layout", [])) == v["rope"] and
                      list(md.get("smallthinker.attention.sliding_window_layout", [])) == v["swa"] and
                      md.get("smallthinker.expert_gating_func") == 1)
        else:
            res.check("%s: sigmoid gating, no layout arrays" % case,
                      r.metadata.get("smallthinker.expert_gating_func") == 2 and
                      "smallthinker.rope_layout" not in r.metadata and
                      "smallthinker.attention.sliding_window" not in r.metadata)

        lg = os.path.join(tmp, "%s-%s.f32" % (vname, t))
        args = [st_bin, "logits", "-m", out, "--tokens", tok_arg, "-o", lg]
        if t == "f32":
            args.append("--kv-f32")
        rc, text = harness.run_engine(args)
        if not res.check("%s: engine logits run" % case, rc == 0, text[-300:]):
            continue
        eng = np.fromfile(lg, dtype="<f4").astype(np.float64).reshape(ref_st.shape)
        if t == "f32":
            d = float(np.abs(eng - ref_st).max() / np.abs(ref_st).max())
            res.check("%s: logits == safetensors oracle (strict)" % case, d <= 1e-4, "max rel %.2e (<= 1e-4)" % d)
        elif t in ("f16", "bf16"):
            check_class(res, "%s: logits vs safetensors oracle" % case, eng, ref_st, "half")
        else:
            ref_q = reference.Model(out).forward(toks)
            check_class(res, "%s: logits vs oracle on the GGUF's weights" % case, eng, ref_q,
                        "int8-21b" if vname == "21b" else "int8-4b")
            if t not in CONVERSION_BOUND:
                continue
            e = rel_l2_per_position(ref_q, ref_st)
            res.check("%s: conversion loss (GGUF oracle vs safetensors oracle)" % case,
                      float(np.median(e)) <= CONVERSION_BOUND[t],
                      "median %.4f (<= %g), max %.3f" % (float(np.median(e)), CONVERSION_BOUND[t], float(e.max())))
        if t == "f32":
            rc, text = harness.run_engine([st_bin, "tokenize", "-m", out, "-p", "the the<|im_end|>", "--ids"])
            # ids by construction of the test's tokenizer.json: bytes are ids 0..255, merges 'h e' -> 257,
            # 'Ġ t' -> 256, 'Ġt he' -> 258, specials from 261.
            res.check("%s: tokenizer carried over" % case, rc == 0 and text.strip().splitlines()[-1] == "[116,257,258,263]",
                      text.strip()[-80:])
            res.check("%s: chat template carried over" % case,
                      r.metadata.get("tokenizer.chat_template") == mk.CHATML)


def main():
    res = harness.Results("test_convert")
    st_bin = harness.st_bin(res)
    if st_bin and harness.has_subcommand(st_bin, "convert"):
        tmp = harness.tmpdir()
        try:
            for vname, v in VARIANTS.items():
                res.run(vname, run_variant, res, st_bin, tmp, vname, v)
            # Clear errors for broken input.
            bad = os.path.join(tmp, "bad")
            shutil.copytree(os.path.join(tmp, "hf-4b"), bad)
            os.remove(os.path.join(bad, "model-00002-of-00002.safetensors"))
            rc, text = harness.run_engine([st_bin, "convert", bad, "-o", os.path.join(tmp, "bad.gguf")])
            res.check("missing shard: clear error", rc != 0 and "model-00002-of-00002.safetensors" in text, text[-200:])
            with open(os.path.join(bad, "model-00002-of-00002.safetensors"), "wb") as f:
                f.write(b"\xff" * 64)
            rc, text = harness.run_engine([st_bin, "convert", bad, "-o", os.path.join(tmp, "bad.gguf")])
            res.check("corrupt shard: clear error", rc != 0 and "header length" in text, text[-200:])
            res.check("no partial output", not os.path.exists(os.path.join(tmp, "bad.gguf")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        res.check("convert subcommand present", False)
    res.finish()


if __name__ == "__main__":
    main()
