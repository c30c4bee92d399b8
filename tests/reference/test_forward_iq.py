#!/usr/bin/python3
"""End-to-end logits of the engine vs the numpy oracle for models whose matrices are grid i-quants
(IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M), both model variants (4b-style and 21b-style).

The models are tiny random SmallThinker GGUFs from make_model.py with random i-quant codes scaled to
the usual weight magnitudes (iquants.random_weights); the oracle runs on the exactly dequantized
weights (iquants.py), so what remains is the engine's arithmetic: Q8_K activation rounding (blocks of
256, f32 scales) and the f16 KV cache.  Tolerances are test_forward.py's int8 classes, justified
there by simulation; the simulated baseline (the oracle with q8/q8k activations) is printed next to
each result, and i-quant rows behave like the K-quants' there (same activation format).
Environment: ST_BIN (missing -> failure, not a skip); ST_REF_CASES filters cases by name.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import make_model  # noqa: E402
import test_forward  # noqa: E402

IQ_TYPES = ["iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"]


def main():
    res = harness.Results("i-quant forward vs oracle")
    st = harness.st_bin(res)
    if st is None:
        res.finish()
    tmp = harness.tmpdir()
    only = os.environ.get("ST_REF_CASES")
    i = 0
    for t in IQ_TYPES:
        for v in ("4b", "21b"):
            name = "%s-%s" % (v, t)
            i += 1
            if only and name not in only.split(","):
                continue
            path = os.path.join(tmp, name + ".gguf")
            t0 = time.time()
            make_model.make_tiny_model(path, v, t, seed=300 + i)
            res.run(name, test_forward.run_case, res, name, st, path, test_forward.tolerance_class(t, v), t,
                    seed=50 + i, tmp=tmp)
            print("    (%.1fs)" % (time.time() - t0), flush=True)
    res.finish()


if __name__ == "__main__":
    main()
