"""Routing traces: the engine records, for every token and layer, the experts its router chose
(--routing-trace); the recorded choices must be exactly those of the independent numpy
reference (tests/reference) on the same model and tokens, and `replay` must replay them
through every cache policy."""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import reference  # noqa: E402

ST_BIN = os.environ.get("ST_BIN")
passed = failed = 0


def check(ok, what):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    passed, failed = passed + bool(ok), failed + (not ok)


def main():
    if not ST_BIN or not os.path.exists(ST_BIN):
        print("FAIL: ST_BIN is not set to the smallthinker binary")
        return 1
    tmp = tempfile.mkdtemp(prefix="st_trace_")
    model, trace = os.path.join(tmp, "m.gguf"), os.path.join(tmp, "t.trace")
    subprocess.run([ST_BIN, "synth", "-o", model, "--preset", "tiny-swa", "--type", "f32", "--experts", "16",
                    "--experts-used", "4", "--seed", "3"], check=True, capture_output=True)
    ids = [(i * 53 + 7) % 450 for i in range(40)]
    r = subprocess.run([ST_BIN, "logits", "-m", model, "--tokens", ",".join(map(str, ids)), "-o",
                        os.path.join(tmp, "l.f32"), "-b", "16", "--kv-f32", "--routing-trace", trace],
                       capture_output=True, text=True)
    check(r.returncode == 0 and os.path.exists(trace), "logits --routing-trace writes a trace")
    raw = open(trace, "rb").read()
    magic, version, n_layer, n_expert, k, n_tok = struct.unpack("<4sIIIIQ", raw[:28])
    check(magic == b"STRT" and (n_layer, n_expert, k, n_tok) == (5, 16, 4, len(ids)),
          "header: %s v%d, %d layers, %d experts, top-%d, %d tokens" % (magic, version, n_layer, n_expert, k, n_tok))
    got = np.frombuffer(raw[28:], dtype="<i4").reshape(n_tok, n_layer, k)

    m = reference.Model(model)
    log = m.router_choices(ids)
    agree = total = 0
    for layer, entry in enumerate(log):
        want = np.sort(np.asarray(entry["idx"]), axis=1)
        have = np.sort(got[:, layer, :], axis=1)
        # Positions whose K-th and (K+1)-th router logits are nearly tied may legitimately differ.
        clear = np.asarray(entry["margin"]) > 1e-4
        agree += int(np.all(want[clear] == have[clear], axis=1).sum())
        total += int(clear.sum())
    check(total > 0.9 * n_tok * n_layer and agree == total,
          "recorded experts equal the reference router's choices at %d/%d clear positions" % (agree, total))

    r = subprocess.run([ST_BIN, "replay", trace, "--shares", "0.25,0.5"], capture_output=True, text=True)
    rows = [l.split() for l in r.stdout.splitlines()[1:] if l.strip()]
    rates = [float(x[3]) for x in rows]
    check(r.returncode == 0 and len(rows) == 6 and all(0 <= v <= 1 for v in rates),
          "replay prints a hit rate per policy and size: %s" % rates)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
