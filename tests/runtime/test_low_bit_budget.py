"""Models whose every matrix is Q2_K, Q3_K, IQ4_NL or IQ4_XS (the published low-bit files' types)
run from outside the process: `logits` under a memory budget well below the file size (the
expert store reading and caching experts of that type) gives logits bit-identical to the
in-RAM run, greedy `run` under the budget equals the in-RAM tokens, and `bench` completes.
The models are synthesized in the type itself (synth quantizes its random weights with the
engine's quantizer), so every expert, attention and lm_head matrix has the type.
"""
import os
import re
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import BUDGET_TEST_TOKENS, check, run, summary  # noqa: E402

ST_BIN = os.environ.get("ST_BIN")


def one_type(tmp, t):
    model = os.path.join(tmp, "%s.gguf" % t)
    r = run([ST_BIN, "synth", "-o", model, "--preset", "tiny-swa", "--type", t, "--layers", "6", "--experts", "64",
             "--experts-used", "4", "--ff", "256", "--window", "8", "--seed", "7"])
    check(r.returncode == 0, "%s: synth%s" % (t, "" if r.returncode == 0 else ": " + r.stderr[-1000:]))
    if r.returncode:
        return
    size = os.path.getsize(model)
    tokens = BUDGET_TEST_TOKENS
    ref = os.path.join(tmp, "%s_ref.f32" % t)
    r = run([ST_BIN, "logits", "-m", model, "--tokens", tokens, "-o", ref, "-c", "64", "-b", "16"])
    check(r.returncode == 0, "%s: in-RAM logits%s" % (t, "" if r.returncode == 0 else ": " + r.stderr[-1000:]))
    if r.returncode:
        return
    a = np.fromfile(ref, dtype=np.float32)
    check(a.size > 0 and np.all(np.isfinite(a)) and float(np.std(a)) > 0, "%s: finite, non-constant logits" % t)
    # The smallest budget the engine accepts for this model (its refusal names it), plus a third
    # of the rest: the expert cache then holds a small part of the experts and evicts.
    r = run([ST_BIN, "logits", "-m", model, "--tokens", tokens, "-o", os.path.join(tmp, "x.f32"), "-c", "64",
             "-b", "16", "--memory", "1MiB"])
    m = re.search(r"minimum of ([\d.]+) MiB", r.stderr)
    check(r.returncode != 0 and m is not None, "%s: a 1 MiB budget is refused naming the minimum" % t)
    if m is None:
        return
    minimum = float(m.group(1)) * 2**20
    budget = int(minimum + (size - minimum) / 3)
    check(minimum < budget < size, "%s: budget %.1f MB between the minimum %.1f MB and the file %.1f MB"
          % (t, budget / 2**20, minimum / 2**20, size / 2**20))
    out = os.path.join(tmp, "%s_budget.f32" % t)
    r = run([ST_BIN, "logits", "-m", model, "--tokens", tokens, "-o", out, "-c", "64", "-b", "16",
             "--memory", str(budget)])
    ok = r.returncode == 0 and "expert cache" in r.stderr
    check(ok, "%s: budgeted run (%.1f of %.1f MB) uses the expert cache%s"
          % (t, budget / 2**20, size / 2**20, "" if ok else ": " + r.stderr[-1500:]))
    if r.returncode == 0:
        b = np.fromfile(out, dtype=np.float32)
        check(a.shape == b.shape and np.array_equal(a, b), "%s: budgeted logits bit-identical to in-RAM" % t)
    gen = [ST_BIN, "run", "-m", model, "--tokens", tokens[:40], "-n", "12", "--temp", "0", "-c", "96", "-b", "16"]
    r0, r1 = run(gen), run(gen + ["--memory", str(budget)])
    check(r0.returncode == 0 and r1.returncode == 0 and r0.stdout == r1.stdout and r0.stdout.strip() != "",
          "%s: greedy decode under the budget equals the in-RAM tokens" % t)
    r = run([ST_BIN, "bench", "-m", model, "-p", "32", "-n", "8", "-r", "1", "--no-roofline"])
    check(r.returncode == 0, "%s: bench runs%s" % (t, "" if r.returncode == 0 else ": " + r.stderr[-1000:]))


def main():
    if not ST_BIN or not os.path.exists(ST_BIN):
        print("FAIL: ST_BIN is not set to the smallthinker binary")
        return 1
    tmp = tempfile.mkdtemp(prefix="st_lowbit_")
    for t in ("q3_k", "q2_k", "iq4_nl", "iq4_xs"):
        one_type(tmp, t)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
