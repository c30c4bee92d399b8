"""SmallThinker-Nano (models/smallthinker-nano.gguf, trained by train/) run by the engine:
logits agree with the independent PyTorch model loaded from the same GGUF to within 1e-3
relative (the engine multiplies f16 weights with f16-rounded activations: ~5e-4 measured),
held-out perplexities agree, and two-digit additions asked through the chat format are
answered correctly (>= 90%; 99.5% measured on all 200 held-out questions)."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.environ.get("ST_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ST_BIN = os.environ.get("ST_BIN")


def main():
    if not ST_BIN or not os.path.exists(ST_BIN):
        print("FAIL: ST_BIN is not set to the smallthinker binary")
        return 1
    out = tempfile.mktemp(suffix=".json")
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "train", "engine_eval.py"), "--engine", ST_BIN,
                        "--windows", "8", "--questions", "60", "-o", out], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        print(r.stdout[-3000:], r.stderr[-3000:])
        print("0 passed, 1 failed")
        return 1
    res = json.load(open(out))
    checks = []
    worst = max(x["max_rel_diff"] for x in res["logits"])
    checks.append((worst <= 1e-3, "engine vs PyTorch logits: max relative difference %.2e (limit 1e-3)" % worst))
    agree = min(x["argmax_agreement"] for x in res["logits"])
    checks.append((agree == 1.0, "same top token at every position (%.3f)" % agree))
    k = res["heldout_kjv"]
    rel = abs(k["perplexity_engine"] - k["perplexity_pytorch"]) / k["perplexity_pytorch"]
    checks.append((rel < 1e-3, "held-out perplexity engine %.3f vs PyTorch %.3f" % (k["perplexity_engine"], k["perplexity_pytorch"])))
    for key in ("addition_with_system_prompt", "addition_without_system_prompt"):
        acc = res[key]["accuracy"]
        checks.append((acc >= 0.9, "%s: %.1f%% of %d" % (key, 100 * acc, res[key]["n"])))
    passed = sum(ok for ok, _ in checks)
    for ok, what in checks:
        print(("PASS " if ok else "FAIL ") + what)
    print("%d passed, %d failed" % (passed, len(checks) - passed))
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
