"""`smallthinker stats`: routing and ReGLU activity statistics with pictures.

Runs the command on a tiny synthetic model with skewed routing and on SmallThinker-Nano, then
checks the output against independent computations:
  * the routing it recorded (routing.trace) equals the numpy reference router's top-K on the same
    tokens (tests/reference/reference.py), and the ReGLU zero fractions equal the reference's own
    count of exactly-zero relu(gate) * up neurons;
  * expert frequencies, reuse-distance histogram and the LRU hit-rate curve recomputed here in
    Python from that routing (the hit rate at 100% from compulsory misses alone, for every policy);
  * the SVG pictures parse as XML and hold one heatmap row and one bar per layer, one bar per
    reuse bin and one polyline per cache policy.
"""
import csv
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import OrderedDict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("ST_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import reference  # noqa: E402
from harness import Results, st_bin  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
POLICIES = ["lru", "lfu", "lfu_cyclic"]
PROMPTS = [
    "In the beginning God created the heaven and the earth.",
    "What is 23 + 45? The answer is 68.",
    "def add(a, b):",
    "And God said, Let there be light: and there was light.",
]


class CountingModel(reference.Model):
    """The reference forward pass, also counting exactly-zero ReGLU neurons per layer."""

    def __init__(self, path):
        super().__init__(path)
        self.zero = np.zeros(self.cfg.n_layer, dtype=np.int64)
        self.total = np.zeros(self.cfg.n_layer, dtype=np.int64)

    def moe(self, L, h2, idx, w):
        il = next(i for i, x in enumerate(self.layers) if x is L)
        for e in np.unique(idx):
            t, _ = np.nonzero(idx == e)
            g = h2[t] @ L["gate"][e].T
            u = h2[t] @ L["up"][e].T
            act = np.maximum(g, 0) * u
            self.zero[il] += int((act == 0).sum())
            self.total[il] += act.size
        return super().moe(L, h2, idx, w)


def read_trace(path):
    raw = open(path, "rb").read()
    magic, _version, n_layer, n_expert, k, n_tok = struct.unpack("<4sIIIIQ", raw[:28])
    assert magic == b"STRT", magic
    return np.frombuffer(raw[28:], dtype="<i4").reshape(n_tok, n_layer, k), n_expert


def svg_root(path):
    return ET.parse(path).getroot()


def by_class(root, tag, cls):
    return [e for e in root.iter(SVG + tag) if cls in (e.get("class") or "").split()]


def lru_hit_rate(trace, slots):
    """Plain LRU over the access sequence (token, layer, top-K order). With slots >= K the
    engine's pinning of a layer's experts changes nothing: they are the most recent ones."""
    cache, hits, n = OrderedDict(), 0, 0
    for t in range(trace.shape[0]):
        for l in range(trace.shape[1]):
            for e in trace[t, l]:
                key = (l, int(e))
                n += 1
                if key in cache:
                    hits += 1
                    cache.move_to_end(key)
                else:
                    if len(cache) >= slots:
                        cache.popitem(last=False)
                    cache[key] = True
    return hits / n


def reuse_histogram(trace):
    last, bins, first = {}, {}, 0
    for t in range(trace.shape[0]):
        for l in range(trace.shape[1]):
            for e in trace[t, l]:
                key = (l, int(e))
                if key in last:
                    d = t - last[key]
                    b = 0 if d == 1 else (d - 1).bit_length()
                    bins[b] = bins.get(b, 0) + 1
                else:
                    first += 1
                last[key] = t
    return bins, first


def check_run(res, name, binary, model, prompts_file, out, extra, zero_tol):
    cmd = [binary, "stats", model, prompts_file, "-o", out, "-t", "2"] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if not res.check(name + ": stats exits 0", r.returncode == 0, r.stderr[-2000:]):
        return None
    files = ["stats.json", "expert_frequency.csv", "zero_fraction.csv", "reuse_distance.csv", "cache_hit_rate.csv",
             "routing.trace", "expert_frequency.svg", "zero_fraction.svg", "reuse_distance.svg", "cache_hit_rate.svg"]
    missing = [f for f in files if not os.path.isfile(os.path.join(out, f))]
    res.check(name + ": every output file written", not missing, "missing %s" % missing)
    js = json.load(open(os.path.join(out, "stats.json")))
    L, E, K = js["n_layer"], js["n_expert"], js["n_expert_used"]
    T = js["n_tokens"]
    res.check(name + ": token count = tokens of the prompts", T == sum(len(p) for p in js["prompt_tokens"]) and T > 0,
              "%d tokens" % T)

    # Routing: the recorded trace against the reference router on the same tokens.
    trace, n_expert = read_trace(os.path.join(out, "routing.trace"))
    res.check(name + ": trace shape", trace.shape == (T, L, K) and n_expert == E, str(trace.shape))
    ref = CountingModel(model)
    agree = clear = 0
    row = 0
    for toks in js["prompt_tokens"]:
        ref.forward(toks)
        for il, entry in enumerate(ref.router_log):
            want = np.sort(np.asarray(entry["idx"]), axis=1)
            have = np.sort(trace[row:row + len(toks), il, :], axis=1)
            ok = np.asarray(entry["margin"]) > 1e-4  # near-ties may legitimately differ
            agree += int(np.all(want[ok] == have[ok], axis=1).sum())
            clear += int(ok.sum())
        row += len(toks)
    res.check(name + ": recorded experts = reference router's top-K",
              clear > 0.9 * T * L and agree == clear, "%d/%d clear positions agree" % (agree, clear))

    # Expert frequencies: rows sum to K; counts match the trace; CSV matches the JSON.
    freq = np.asarray(js["expert_frequency"])
    counts = np.zeros((L, E), dtype=np.int64)
    for l in range(L):
        counts[l] = np.bincount(trace[:, l, :].reshape(-1), minlength=E)
    res.check(name + ": frequencies sum to K per layer", np.allclose(freq.sum(axis=1), K, atol=1e-9),
              str(freq.sum(axis=1)))
    res.check(name + ": frequencies = counts in the trace / tokens", np.allclose(freq, counts / T, atol=1e-12))
    rows = list(csv.reader(open(os.path.join(out, "expert_frequency.csv"))))
    res.check(name + ": expert_frequency.csv is layers x experts",
              len(rows) == L + 1 and all(len(r) == E + 1 for r in rows) and
              np.allclose(np.array(rows[1:], dtype=float)[:, 1:], freq, atol=1e-5))

    # ReGLU zero fractions against the reference's count.
    zf = np.asarray(js["reglu"]["zero_fraction"])
    ref_zf = ref.zero / ref.total
    res.check(name + ": neurons per layer = tokens x K x n_ff",
              all(t == T * K * js["n_ff"] for t in js["reglu"]["total"]), str(js["reglu"]["total"][:3]))
    worst = float(np.abs(zf - ref_zf).max())
    res.check(name + ": zero fractions match the reference (max diff %.2e, limit %.0e)" % (worst, zero_tol),
              worst <= zero_tol, "engine %s reference %s" % (np.round(zf, 4).tolist(), np.round(ref_zf, 4).tolist()))

    # Reuse distance histogram recomputed from the trace.
    bins, first = reuse_histogram(trace)
    got = {i: b["count"] for i, b in enumerate(js["reuse_distance"]["bins"]) if b["count"]}
    want_bins = [{"lo": 1 if i == 0 else 2 ** (i - 1) + 1, "hi": 2 ** i} for i in range(len(js["reuse_distance"]["bins"]))]
    res.check(name + ": reuse-distance histogram recomputed",
              got == bins and first == js["reuse_distance"]["first_uses"] and
              all(b["lo"] == w["lo"] and b["hi"] == w["hi"] for b, w in zip(js["reuse_distance"]["bins"], want_bins)),
              "engine %s, here %s" % (got, bins))

    # Hit-rate curves: LRU simulated here; at 100% every policy misses only on first uses.
    curves = {c["policy"]: c["points"] for c in js["cache_hit_rate"]}
    res.check(name + ": one curve per policy", sorted(curves) == sorted(POLICIES), str(sorted(curves)))
    lru_diff = max(abs(p["hit_rate"] - lru_hit_rate(trace, p["slots"])) for p in curves["lru"][::3])
    res.check(name + ": LRU hit rates = a plain LRU simulation", lru_diff < 1e-9, "max diff %.2e" % lru_diff)
    distinct = sum(len(np.unique(trace[:, l, :])) for l in range(L))
    full = 1 - distinct / (T * L * K)
    res.check(name + ": at 100% every policy's hit rate = 1 - first uses / uses",
              all(abs(curves[p][-1]["hit_rate"] - full) < 1e-9 and curves[p][-1]["slots"] == L * E for p in POLICIES),
              "%.4f" % full)
    res.check(name + ": cache bytes = slots x expert bytes",
              all(p["cache_bytes"] == p["slots"] * js["expert_slot_bytes"] for c in curves.values() for p in c) and
              js["expert_slot_bytes"] > 0)

    # Pictures.
    heat = svg_root(os.path.join(out, "expert_frequency.svg"))
    hrows = by_class(heat, "g", "heatmap-row")
    cells_ok = all(len(by_class(g, "rect", "cell")) == E for g in hrows)
    vals = np.array([[float(c.get("data-frequency")) for c in by_class(g, "rect", "cell")] for g in hrows])
    res.check(name + ": heatmap has one row per layer, one cell per expert",
              len(hrows) == L and cells_ok and np.allclose(vals, freq, atol=1e-5), "%d rows" % len(hrows))
    res.check(name + ": heatmap has a colour-scale legend", len(by_class(heat, "rect", "legend")) == 1 and
              heat.find(SVG + "defs/" + SVG + "linearGradient") is not None)
    bars = svg_root(os.path.join(out, "zero_fraction.svg"))
    bar_vals = [float(b.get("data-value")) for b in by_class(bars, "rect", "bar")]
    res.check(name + ": zero-fraction picture has one bar per layer",
              len(bar_vals) == L and np.allclose(bar_vals, zf, atol=1e-5), "%d bars" % len(bar_vals))
    reuse = svg_root(os.path.join(out, "reuse_distance.svg"))
    res.check(name + ": reuse picture has one bar per bin",
              len(by_class(reuse, "rect", "bar")) == len(js["reuse_distance"]["bins"]) > 0)
    hit = svg_root(os.path.join(out, "cache_hit_rate.svg"))
    series = by_class(hit, "polyline", "series")
    res.check(name + ": hit-rate picture has one polyline per policy",
              sorted(s.get("data-policy") for s in series) == sorted(POLICIES) and
              len(list(hit.iter(SVG + "polyline"))) == len(POLICIES) and
              all(len(s.get("points").split()) == len(curves["lru"]) for s in series))
    labels = [t.text or "" for t in hit.iter(SVG + "text")]
    res.check(name + ": hit-rate x axis also labelled in bytes",
              any(x.endswith("KiB") or x.endswith("MiB") or x.endswith("GiB") for x in labels))
    return js


def main():
    res = Results("stats")
    binary = st_bin(res)
    if not binary:
        res.finish()
    tmp = tempfile.mkdtemp(prefix="st_stats_")
    prompts = os.path.join(tmp, "prompts.txt")
    with open(prompts, "w") as f:
        f.write("\n".join(PROMPTS) + "\n")

    # A tiny synthetic model with a hot quarter of experts and mostly-zero ReGLU neurons.
    synth = os.path.join(tmp, "tiny.gguf")
    subprocess.run([binary, "synth", "-o", synth, "--preset", "tiny-swa", "--type", "f32", "--experts", "16",
                    "--experts-used", "4", "--routing-skew", "2.5", "--reglu-zero", "0.7", "--seed", "5"],
                   check=True, capture_output=True)
    js = check_run(res, "tiny", binary, synth, prompts, os.path.join(tmp, "tiny"), ["--kv-f32", "-b", "16"], 2e-3)
    if js:
        freq = np.asarray(js["expert_frequency"])
        uniform = js["n_expert_used"] / js["n_expert"]
        res.check("tiny: skewed routing shows in the frequencies (hottest expert %.2f vs uniform %.2f)" %
                  (freq.max(), uniform), freq.max() > 1.5 * uniform)

    # The trained nano model, generating a few tokens after each prompt (decode-time routing).
    nano = os.path.join(ROOT, "models", "smallthinker-nano.gguf")
    if res.check("nano model present", os.path.isfile(nano), nano):
        # f16 weights with f16-rounded activations: a few near-zero gate values change sign.
        js = check_run(res, "nano", binary, nano, prompts, os.path.join(tmp, "nano"), ["-n", "8"], 5e-3)
        if js:
            res.check("nano: -n 8 generated tokens are part of the run",
                      all(len(p) >= 8 for p in js["prompt_tokens"]))

    # Paragraph mode: blank-line-separated prompts, lines joined with a newline.
    para = os.path.join(tmp, "paragraphs.txt")
    with open(para, "w") as f:
        f.write("first line\nsecond line\n\nanother prompt\n")
    out = os.path.join(tmp, "para")
    r = subprocess.run([binary, "stats", "-m", synth, para, "-o", out], capture_output=True, text=True, timeout=120)
    if res.check("paragraph prompts file runs (with -m MODEL)", r.returncode == 0, r.stderr[-1000:]):
        got = json.load(open(os.path.join(out, "stats.json")))["prompt_tokens"]
        want = []
        for text in ["first line\nsecond line", "another prompt"]:
            t = subprocess.run([binary, "tokenize", "-m", synth, "-p", text, "--ids", "--no-special"],
                               capture_output=True, text=True, check=True)
            want.append(json.loads(t.stdout))
        res.check("paragraphs become prompts (2, lines joined by a newline)", got == want, "%s vs %s" % (got, want))

    # Bad input: clear errors, no crash.
    r = subprocess.run([binary, "stats", synth, os.path.join(tmp, "missing.txt"), "-o", out], capture_output=True, text=True)
    res.check("missing prompts file: error naming it", r.returncode == 1 and "missing.txt" in r.stderr, r.stderr.strip())
    r = subprocess.run([binary, "stats", synth, "-o", out], capture_output=True, text=True)
    res.check("missing PROMPTS argument: usage error", r.returncode != 0 and "usage" in r.stderr.lower(), r.stderr.strip())
    res.finish()


if __name__ == "__main__":
    main()
