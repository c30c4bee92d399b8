#!/usr/bin/python3
"""KV cache types (-ctk/-ctv: f16, bf16, q8_0, q4_0) vs the independent numpy oracle.

Models: the oracle's own tiny F32 GGUFs (make_model.py), 4b-style (every layer global + RoPE) and
21b-style (NoPE global layers, sliding window 8 on the others), with sequences of T_SEQ tokens: far
past the window, so the windowed layers' ring buffers wrap many times.  F32 weights keep the engine's
activations in f32, so the only rounding left is the KV cache's.

Per K/V type pair the engine (one batch, and token by token with one thread) is compared with
  * the oracle with the same KV rounding (reference.round_kv: ggml's block rules, written from the
    format's definition, not from the engine's code) -- "emulated";
  * the oracle's exact float64 math -- "exact".
Per position e_p = ||engine_p - ref_p|| / ||ref_p|| as in test_forward.py.

TOLERANCES
* engine vs emulated: the 'half' class of test_forward.py (median <= 0.02, 90% within 0.05, top-1 >=
  90%) and, tighter, median e <= EMU_REL_MEDIAN * (median error of the emulated oracle vs exact) -- the
  engine may differ from the emulation only where f32 vs float64 arithmetic puts a value on the other
  side of one of the type's rounding boundaries (one step of that type on that element), so it must be
  far closer to the emulation than the emulation is to the exact math.  Measured: 0.03-0.2x for the
  quantized types, ~0.5-1x for f16 (where the f16 step is itself near f32 noise times the depth).
* engine vs exact, per type: median e within 1.5x of the emulated oracle's own error vs exact, and
  top-1 agreement with the exact math at least the emulation's minus TOP1_SLACK: the cache costs
  what the format costs, nothing more.
  Issue 19 also asks, of q8_0 against f16, for an error within 2x and a top-1 agreement >= 0.99x.
  Both are properties of the formats, which the emulation shows equally, so they are printed here,
  not asserted: a q8_0 step of max|block|/127 against f16's 2^-11 relative is ~25x the rms error per
  element (measured on the logits: 25x on 4b, 9x on 21b), and on these random-weight models, whose
  logits are nearly flat, top-1 agreement is 0.99x f16's on 4b but 0.95x on 21b, where the emulated
  q8_0 oracle loses the same positions.
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
from test_forward import CLASSES, engine_logits, evaluate, fmt, per_position_error, pick_tokens  # noqa: E402

T_SEQ = 256
EMU_REL_MEDIAN = 0.5
EXACT_RATIO = 1.5
TOP1_SLACK = 0.01
PAIRS = [("f16", "f16"), ("bf16", "bf16"), ("q8_0", "q8_0"), ("q4_0", "q4_0"), ("q8_0", "f16"), ("f16", "q4_0")]


def check_model(res, st, name, path, seed, tmp):
    model = reference.Model(path)
    print("--- %s: %s" % (name, model.cfg), flush=True)
    toks, exact, _ = pick_tokens(model, T_SEQ, seed)
    res.check("%s: sequence longer than the window" % name,
              model.cfg.window == 0 or T_SEQ > 8 * model.cfg.window, "T=%d window=%d" % (T_SEQ, model.cfg.window))
    V = model.n_vocab
    summary = {}
    for k_type, v_type in PAIRS:
        label = "%s -ctk %s -ctv %s" % (name, k_type, v_type)
        emulated = model.forward(toks, kv_types=(k_type, v_type))
        emu_exact = float(np.median(per_position_error(emulated, exact)))
        emu_top1 = float(np.mean(emulated.argmax(1) == exact.argmax(1)))
        for run, extra in (("batch", []), ("batch1", ["--batch", "1", "-t", "1"])):
            got, err = engine_logits(st, path, toks, V, ["-ctk", k_type, "-ctv", v_type] + extra, tmp)
            if not res.check("%s %s: engine ran" % (label, run), got is not None, err):
                continue
            ok, m, _ = evaluate(got, emulated, "half")
            ok = ok and bool(np.all(np.isfinite(got)))
            res.check("%s %s: vs emulated oracle (half class)" % (label, run), ok, fmt(m))
            tight = m["median"] <= EMU_REL_MEDIAN * emu_exact
            res.check("%s %s: closer to the emulation than the emulation is to the exact math" % (label, run), tight,
                      "median e vs emulated %.2e, emulated vs exact %.2e (limit %.1fx)"
                      % (m["median"], emu_exact, EMU_REL_MEDIAN))
            e_exact = per_position_error(got, exact)
            med = float(np.median(e_exact))
            top1 = float(np.mean(got.argmax(1) == exact.argmax(1)))
            res.check("%s %s: error vs exact within %.1fx of the format's own" % (label, run, EXACT_RATIO),
                      med <= EXACT_RATIO * emu_exact and top1 >= emu_top1 - TOP1_SLACK,
                      "median e: engine %.2e, emulated %.2e; top-1 vs exact: engine %.3f, emulated %.3f"
                      % (med, emu_exact, top1, emu_top1))
            if run == "batch":
                summary[(k_type, v_type)] = (med, top1)
    f16, q8 = summary.get(("f16", "f16")), summary.get(("q8_0", "q8_0"))
    if f16 and q8:
        print("INFO %s: q8_0 vs f16 (issue 19's criteria, not asserted; see TOLERANCES): top-1 vs exact %.3f vs "
              "%.3f (%.3fx); median error vs exact %.2e vs %.2e (%.1fx)"
              % (name, q8[1], f16[1], q8[1] / max(f16[1], 1e-30), q8[0], f16[0], q8[0] / max(f16[0], 1e-30)), flush=True)


def main():
    res = harness.Results("KV cache types vs oracle")
    st = harness.st_bin(res)
    if st is None:
        res.finish()
    tmp = harness.tmpdir()
    for i, variant in enumerate(("4b", "21b")):
        name = "kv-%s-f32" % variant
        path = os.path.join(tmp, name + ".gguf")
        t0 = time.time()
        make_model.make_tiny_model(path, variant, "f32", seed=700 + i)
        res.run(name, check_model, res, st, name, path, seed=70 + i, tmp=tmp)
        print("    (%.1fs)" % (time.time() - t0), flush=True)
    # A bad name is refused with the valid ones listed.
    rc, log = harness.run_engine([st, "logits", "-m", path, "--tokens", "1,2", "-o", os.path.join(tmp, "x.f32"),
                                  "-ctk", "q5_1"], timeout=60)
    res.check("-ctk q5_1 refused naming the valid types", rc != 0 and "q8_0" in log and "q4_0" in log, log.strip()[-300:])
    res.finish()


if __name__ == "__main__":
    main()
