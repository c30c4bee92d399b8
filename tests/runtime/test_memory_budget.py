"""The memory budget, checked from outside the process: a model several times larger than its
budget runs inside a cgroup-v1 memory limit of that budget and produces logits bit-identical to
the unlimited in-RAM run, with memory.failcnt == 0 (the kernel never had to refuse a charge).

Needs root and a writable cgroup v1 memory controller (as on the development machine and CI);
where that is missing the budgeted run is still compared with the in-RAM run, and the cgroup
part is reported as skipped."""
import os
import re
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import (BUDGET_TEST_TOKENS, cgroup_counter, check, make_cgroup, run, summary,  # noqa: E402
                        synth_budget_test_model)

ST_BIN = os.environ.get("ST_BIN")


def main():
    if not ST_BIN or not os.path.exists(ST_BIN):
        print("FAIL: ST_BIN is not set to the smallthinker binary")
        return 1
    tmp = tempfile.mkdtemp(prefix="st_budget_")
    model = os.path.join(tmp, "m.gguf")
    r = synth_budget_test_model(ST_BIN, model)
    check(r.returncode == 0, "synth a %d MB model" % (os.path.getsize(model) >> 20 if r.returncode == 0 else -1))
    if r.returncode:
        print(r.stderr)
        return 1
    size = os.path.getsize(model)
    tokens = BUDGET_TEST_TOKENS
    ref = os.path.join(tmp, "ref.f32")
    r = run([ST_BIN, "logits", "-m", model, "--tokens", tokens, "-o", ref, "-c", "64", "-b", "16"])
    check(r.returncode == 0, "in-RAM logits")
    m = re.search(r"(\d+) layers in neuron bundles", r.stderr)
    check(m is not None and int(m.group(1)) > 0, "the in-RAM run uses neuron bundles: %s" % (m.group(0) if m else r.stderr[-300:]))
    budget = 24 << 20
    assert budget < size / 1.5, "the budget must be well below the file size"

    for policy in ("lru", "lfu"):
        out = os.path.join(tmp, "budget_%s.f32" % policy)
        cmd = [ST_BIN, "logits", "-m", model, "--tokens", tokens, "-o", out, "-c", "64", "-b", "16",
               "--memory", str(budget), "--cache-policy", policy]
        cg = make_cgroup("budget_" + policy, budget)
        r = run(cmd, cg)
        check(r.returncode == 0, "%s: budgeted run exits 0%s" % (policy, "" if r.returncode == 0 else ": " + r.stderr[-2000:]))
        if cg:
            failcnt = cgroup_counter(cg, "memory.failcnt")
            peak = cgroup_counter(cg, "memory.max_usage_in_bytes")
            check(failcnt == 0, "%s: memory.failcnt == 0 (was %d), peak %.1f MB of %.1f MB limit, file %.1f MB"
                  % (policy, failcnt, peak / 2**20, budget / 2**20, size / 2**20))
            os.rmdir(cg)
        if r.returncode == 0:
            m = re.search(r"(\d+) layers in neuron bundles", r.stderr)
            check(m is not None and int(m.group(1)) > 0, "%s: the budgeted run converts slots to neuron bundles" % policy)
            a, b = np.fromfile(ref, dtype=np.float32), np.fromfile(out, dtype=np.float32)
            check(a.shape == b.shape and np.array_equal(a, b), "%s: logits bit-identical to the in-RAM run" % policy)
        if policy == "lru":
            check("memory plan" in r.stderr and "expert cache" in r.stderr, "the plan is printed")

    # Decode (one token per step) exercises the look-ahead reads: greedy generation under the
    # budget must produce exactly the in-RAM tokens, with and without look-ahead.
    gen = [ST_BIN, "run", "-m", model, "--tokens", tokens[:40], "-n", "24", "--temp", "0", "-c", "96", "-b", "16"]
    r0 = run(gen)
    for extra in ([], ["--no-lookahead"]):
        r = run(gen + ["--memory", str(budget)] + extra)
        check(r0.returncode == 0 and r.returncode == 0 and r.stdout == r0.stdout,
              "greedy decode under the budget%s equals the in-RAM tokens" % (" without look-ahead" if extra else ""))

    # A budget below the minimum is refused with a message naming the minimum.
    r = run([ST_BIN, "logits", "-m", model, "--tokens", tokens, "-o", os.path.join(tmp, "x.f32"), "--memory", "1MiB"])
    check(r.returncode != 0 and "minimum" in r.stderr, "a too-small budget is refused naming the minimum")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
