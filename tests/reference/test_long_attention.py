#!/usr/bin/python3
"""Attention deep into the context (issue 19 item 2) vs the independent numpy oracle.

A decode step over more than 512 keys takes the split-K path (the context cut into chunks attended
separately, merged like an online softmax) and a prefill batch the query x key tiles; both only show
on long sequences.  Two tiny-head models with the GQA ratios of the real ones:
  * gqa6: 4b-style (every layer global + RoPE), 12 query heads on 2 KV heads;
  * gqa7: 21b-style (NoPE global layers, sliding window WINDOW on the others), 14 on 2;
over T_SEQ tokens (past the window, odd), each KV type for K and V, run as one batch and token by
token (`--batch 1 -t 2`: every step from 513 keys on is a split decode; the windowed layers' rings
wrap and their windows start inside key chunks). For q8_0 also with one thread, which must write
the same bits.  (ops::attention itself is checked at 5000 positions with a window of 4096 in
tests/kernels/attention_test.cpp; the whole model at that depth takes the oracle too long here.)

The oracle is reference.Model's own vectorised attention, applied to blocks of queries (the whole
T x T score matrix of 5000 tokens would need gigabytes); the formula is unchanged.

TOLERANCES (those of test_kv_types.py, whose TOLERANCES section justifies them):
* engine vs the oracle with the same KV rounding (emulated): the 'half' class of test_forward.py
  (median <= 0.02, 90% within 0.05, top-1 >= 90%);
* engine vs the exact float64 math: median error within 1.5x of the emulated oracle's own error, top-1
  agreement at least the emulation's minus 0.01: the cache and the long context cost what the
  format costs, nothing more.
* threads: `--batch 1 -t 1` and `-t 2` write bit-identical logits (q8_0).  The split into key chunks is fixed
  (never derived from the thread count) and every other kernel splits output rows, so the
  arithmetic is the same whichever thread does it.
Environment: ST_BIN (missing -> failure, not a skip).
"""
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import make_model  # noqa: E402
import reference  # noqa: E402
from test_forward import engine_logits, evaluate, fmt, per_position_error  # noqa: E402

T_SEQ = 1601
WINDOW = 1000
QUERY_BLOCK = 256
EXACT_RATIO = 1.5
TOP1_SLACK = 0.01
PAIRS = [("f16", "f16"), ("bf16", "bf16"), ("q8_0", "q8_0"), ("q4_0", "q4_0")]
MODELS = [
    ("gqa6", "4b", dict(n_head=12, n_head_kv=2, hd=32, L=3)),
    ("gqa7", "21b", dict(n_head=14, n_head_kv=2, hd=32, L=4, window=WINDOW)),
]


class BlockedModel(reference.Model):
    """reference.Model with its attention evaluated QUERY_BLOCK queries at a time (same formula)."""

    def attention(self, il, q, k, v, qpos, kpos):
        out = np.empty((q.shape[0], q.shape[1], v.shape[2]), dtype=np.result_type(q, v))
        for i in range(0, q.shape[0], QUERY_BLOCK):
            j = min(q.shape[0], i + QUERY_BLOCK)
            visible = kpos <= qpos[j - 1]
            out[i:j] = super().attention(il, q[i:j], k[visible], v[visible], qpos[i:j], kpos[visible])
        return out


def check_model(res, st, name, path, tmp):
    model = BlockedModel(path)
    print("--- %s: %s" % (name, model.cfg), flush=True)
    toks = np.random.default_rng(19).integers(0, model.n_vocab, T_SEQ)
    exact = model.forward(toks)
    V = model.n_vocab
    for k_type, v_type in PAIRS:
        label = "%s -ctk %s -ctv %s" % (name, k_type, v_type)
        emulated = model.forward(toks, kv_types=(k_type, v_type))
        emu_exact = float(np.median(per_position_error(emulated, exact)))
        emu_top1 = float(np.mean(emulated.argmax(1) == exact.argmax(1)))
        kv = ["-ctk", k_type, "-ctv", v_type]
        one_thread = None
        runs = [("batch", []), ("batch1 -t 2", ["--batch", "1", "-t", "2"])]
        if k_type == "q8_0":
            runs.insert(1, ("batch1 -t 1", ["--batch", "1", "-t", "1"]))
        for run, extra in runs:
            got, err = engine_logits(st, path, toks, V, kv + extra, tmp)
            if not res.check("%s %s: engine ran" % (label, run), got is not None, err):
                continue
            ok, m, _ = evaluate(got, emulated, "half")
            ok = ok and bool(np.all(np.isfinite(got)))
            res.check("%s %s: vs emulated oracle (half class)" % (label, run), ok, fmt(m))
            e_exact = per_position_error(got, exact)
            med = float(np.median(e_exact))
            late = float(np.median(e_exact[WINDOW:]))  # past the window and deep into the split path
            top1 = float(np.mean(got.argmax(1) == exact.argmax(1)))
            res.check("%s %s: error vs exact within %.1fx of the format's own" % (label, run, EXACT_RATIO),
                      med <= EXACT_RATIO * emu_exact and late <= EXACT_RATIO * emu_exact
                      and top1 >= emu_top1 - TOP1_SLACK,
                      "median e: engine %.2e (positions >= %d: %.2e), emulated %.2e; top-1 vs exact: engine %.3f, "
                      "emulated %.3f" % (med, WINDOW, late, emu_exact, top1, emu_top1))
            if run == "batch1 -t 1":
                one_thread = got
            elif run == "batch1 -t 2" and one_thread is not None:
                res.check("%s: token by token, 1 and 2 threads bit-identical" % label,
                          np.array_equal(one_thread, got),
                          "max |diff| %.3e" % float(np.max(np.abs(one_thread - got))))


def main():
    res = harness.Results("attention deep into the context vs oracle")
    st = harness.st_bin(res)
    if st is None:
        res.finish()
    tmp = harness.tmpdir()
    for i, (name, variant, over) in enumerate(MODELS):
        path = os.path.join(tmp, name + ".gguf")
        t0 = time.time()
        make_model.make_tiny_model(path, variant, "f32", seed=1900 + i, **over)
        res.run(name, check_model, res, st, name, path, tmp=tmp)
        print("    (%.1fs)" % (time.time() - t0), flush=True)
    res.finish()


if __name__ == "__main__":
    main()
