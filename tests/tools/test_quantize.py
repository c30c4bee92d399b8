#!/usr/bin/python3
"""`smallthinker quantize` round trips: every output type loads and runs, every tensor gets the type
docs/QUANTIZE.md gives it, and the per-tensor errors the tool reports are right and within the
documented bounds.

Input: a small 21b-style model (softmax, window 8 with llama.cpp's NoPE/RoPE rule) whose weights are
Gaussian float32 (tests/tools/make_hf_checkpoint.py --dtype f32, then `convert --type f32`), with
8 heads of 40: attn_output rows are 320 long, not a multiple of 256, so the K types must fall back
(Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K / Q3_K / IQ4_XS -> IQ4_NL) there.

CHECKS
* each line of the report: type in -> out as documented; rel_rms <= the bound of the output type
  (docs/QUANTIZE.md: f16 5e-4, bf16 4e-3, q8_0 0.01, q6_k 0.03, q5_* 0.06, q4_* 0.12, iq4_* 0.10,
  q3_k 0.20, q2_k 0.40; derived there
  from the block formats for Gaussian weights); and the reported value equals the oracle's own
  computation (tests/reference/gguf.py + quants.py dequantize input and output independently)
  within 1e-3 + 2%.
* the output loads: `$ST_BIN logits` runs, and its logits match the numpy oracle run on the
  quantized file's dequantized weights with tests/reference/test_forward.py's classes ('half' for
  f16/bf16, 'int8-21b' for the rest; justified there).  `run` generates from the q4_k_m file.
* --pure: every matrix but the routers gets the one type; re-quantizing a quantized file works;
  an unknown type is refused with the list of types.
Environment: ST_BIN.  Runs in ~20-40 s.
"""
import os
import re
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import gguf  # noqa: E402
import harness  # noqa: E402
import make_hf_checkpoint as mk  # noqa: E402
import quants  # noqa: E402
import reference  # noqa: E402
from test_convert import REPORT_RE, check_class  # noqa: E402

BOUND = {"f32": 0.0, "f16": 5e-4, "bf16": 4e-3, "q8_0": 0.01, "q6_k": 0.03, "q5_0": 0.06, "q5_1": 0.06,
         "q5_k": 0.06, "q4_0": 0.12, "q4_1": 0.12, "q4_k": 0.12, "iq4_nl": 0.10, "iq4_xs": 0.10, "q3_k": 0.20,
         "q2_k": 0.40}
SCHEMES = ["f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m",
           "q4_k_s", "q3_k_s", "q3_k_m", "q3_k_l", "q2_k", "iq4_nl", "iq4_xs"]
FALLBACK = {"q4_k": "q5_0", "q5_k": "q5_1", "q6_k": "q8_0", "q2_k": "iq4_nl", "q3_k": "iq4_nl", "iq4_xs": "iq4_nl"}
BASE = {"q4_k_m": "q4_k", "q5_k_m": "q5_k", "q4_k_s": "q4_k", "q3_k_s": "q3_k", "q3_k_m": "q3_k", "q3_k_l": "q3_k"}


def mixture_type(scheme, role, il, n_layer, t):
    """The low-bit and _M schemes' per-role departures (docs/QUANTIZE.md's table)."""
    more = il < n_layer // 8 or il >= 7 * n_layer // 8 or (il - n_layer // 8) % 3 == 2
    if scheme in ("q4_k_m", "q5_k_m") and role in ("attn_v", "ffn_down_exps") and more:
        return "q6_k"
    if scheme == "q4_k_s" and role in ("attn_v", "ffn_down_exps") and il < max(1, n_layer // 8):
        return "q5_k"
    if scheme == "q3_k_m":
        return {"attn_v": "q5_k", "attn_output": "q4_k"}.get(role, "q4_k" if role == "ffn_down_exps" and more else t)
    if scheme == "q3_k_l" and role in ("attn_v", "attn_output", "ffn_down_exps"):
        return "q5_k"
    if scheme == "q2_k":
        return {"attn_v": "q4_k", "ffn_down_exps": "q3_k", "attn_output": "q3_k", "attn_q": "q3_k",
                "attn_k": "q3_k"}.get(role, t)
    return t
SHAPE = dict(mk.SHAPES["tiny-21b"], heads=8, head_dim=40)
TOKENS = [3, 77, 140, 9, 200, 31, 45, 260, 12, 99, 101, 7, 66, 180, 250, 5, 33, 120, 88, 17, 230, 61, 2, 150]


def expected_type(name, ne0, scheme, pure, n_layer):
    """docs/QUANTIZE.md, restated independently."""
    if name.endswith("norm.weight") or name.endswith("ffn_gate_inp.weight"):
        return "f32"
    base = BASE.get(scheme, scheme)
    t = base
    if not pure and scheme not in ("f16", "bf16"):
        m = re.match(r"blk\.(\d+)\.(\w+)\.weight$", name)
        if name == "output.weight" and base not in ("q8_0", "q6_k"):
            t = "q6_k"
        elif m:
            t = mixture_type(scheme, m.group(2), int(m.group(1)), n_layer, t)
    if t in FALLBACK and ne0 % 256:
        t = FALLBACK[t]
    return t


def parse_report(text):
    rows = {}
    for line in text.splitlines():
        m = REPORT_RE.match(line.strip())
        if m:
            rows[m.group(3)] = dict(type_in=m.group(4), type_out=m.group(5), rel=float(m.group(6)))
    return rows


def check_file(res, st_bin, base, out, scheme, pure, tmp):
    case = scheme + (" --pure" if pure else "")
    args = [st_bin, "quantize", base, out, scheme, "-t", "2"] + (["--pure"] if pure else [])
    rc, text = harness.run_engine(args)
    if not res.check("%s: quantize exits 0" % case, rc == 0, text[-300:] if rc else ""):
        return
    report = parse_report(text)
    ri, ro = gguf.GGUFReader(base), gguf.GGUFReader(out)
    n_layer = int(ro.metadata["smallthinker.block_count"])
    res.check("%s: one report line per tensor" % case, sorted(report) == sorted(ro.tensor_order),
              "%d lines for %d tensors" % (len(report), len(ro.tensor_order)))
    wrong, over, mismatch, worst = [], [], [], {}
    for n in ro.tensor_order:
        got = quants.type_name(ro.tensors[n].type)
        want = expected_type(n, ro.tensors[n].ne[0], scheme, pure, n_layer)
        if got != want:
            wrong.append("%s %s != %s" % (n, got, want))
        x = ri.tensor(n).astype(np.float64)
        q = ro.tensor(n).astype(np.float64)
        rel = float(np.sqrt(((q - x) ** 2).sum() / (x ** 2).sum()))
        worst[got] = max(worst.get(got, 0.0), rel)
        rep = report.get(n, {})
        if rep.get("rel", -1) > BOUND[got]:
            over.append("%s %s %.4f > %g" % (n, got, rep["rel"], BOUND[got]))
        if not rep or rep["type_out"] != got or rep["type_in"] != "f32" or abs(rep["rel"] - rel) > 1e-3 + 0.02 * rel:
            mismatch.append("%s: reported %s, oracle %s %.6f" % (n, rep, got, rel))
    res.check("%s: types as documented" % case, not wrong, "; ".join(wrong[:4]))
    res.check("%s: reported errors within bounds" % case, not over,
              "; ".join(over[:4]) or ", ".join("%s <= %.5f" % (k, worst[k]) for k in sorted(worst)))
    res.check("%s: reported errors match the oracle's" % case, not mismatch, "; ".join(mismatch[:3]))
    lg = os.path.join(tmp, "q.f32")
    rc, text = harness.run_engine([st_bin, "logits", "-m", out, "--tokens", ",".join(map(str, TOKENS)), "-o", lg])
    if not res.check("%s: loads and runs" % case, rc == 0, text[-300:]):
        return
    ref = reference.Model(out).forward(TOKENS)
    eng = np.fromfile(lg, dtype="<f4").astype(np.float64).reshape(ref.shape)
    check_class(res, "%s: logits vs oracle on its weights" % case, eng, ref,
                "half" if scheme in ("f16", "bf16") else "int8-21b")


def check_inspect(res, st_bin, path):
    """`inspect` counts parameters as documented (docs/QUANTIZE.md), computed here from the tensor
    shapes the oracle's GGUF reader sees; the tensor table and the memory plan are printed."""
    rc, text = harness.run_engine([st_bin, "inspect", path, "--memory", "64MiB", "-c", "256"])
    if not res.check("inspect runs", rc == 0, text[-300:] if rc else ""):
        return
    r = gguf.GGUFReader(path)
    md = r.metadata
    n = {k: int(np.prod(ti.ne)) for k, ti in r.tensors.items()}
    experts = sum(v for k, v in n.items() if "_exps." in k)
    lm_head = n.get("output.weight", n["token_embd.weight"])
    dense = sum(v for k, v in n.items() if "_exps." not in k and k not in ("token_embd.weight", "output.weight"))
    E, K = int(md["smallthinker.expert_count"]), int(md["smallthinker.expert_used_count"])
    active = dense + experts // E * K + lm_head + int(md["smallthinker.embedding_length"])
    total = re.search(r"^\s+total\s+\S+\s+\((\d+)\)", text, re.M)
    act = re.search(r"^\s+active per token\s+\S+\s+\((\d+):", text, re.M)
    res.check("inspect: total parameters", total is not None and int(total.group(1)) == sum(n.values()),
              "%s vs %d" % (total and total.group(1), sum(n.values())))
    res.check("inspect: active parameters", act is not None and int(act.group(1)) == active,
              "%s vs %d" % (act and act.group(1), active))
    res.check("inspect: tensor table", "tensors (%d):" % len(n) in text and
              all(re.search(r"^\s+%s\s+%s\s" % (re.escape(k), quants.type_name(ti.type)), text, re.M)
                  for k, ti in r.tensors.items()))
    res.check("inspect: long arrays abbreviated", "(384 items)" in text)
    res.check("inspect: memory plan", "memory plan for a budget of 64.0 MiB" in text and " experts (" in text,
              text[-400:])


def main():
    res = harness.Results("test_quantize")
    st_bin = harness.st_bin(res)
    if not (st_bin and harness.has_subcommand(st_bin, "quantize")):
        res.check("quantize subcommand present", False)
        res.finish()
    tmp = harness.tmpdir()
    try:
        hf = os.path.join(tmp, "hf")
        mk.write_checkpoint(hf, SHAPE, seed=5, n_shards=1, dtype="f32")
        base = os.path.join(tmp, "base-f32.gguf")
        rc, text = harness.run_engine([st_bin, "convert", hf, "-o", base, "--type", "f32"])
        if res.check("f32 base model converted", rc == 0, text[-300:] if rc else ""):
            for scheme in SCHEMES:
                res.run(scheme, check_file, res, st_bin, base, os.path.join(tmp, scheme + ".gguf"), scheme, False, tmp)
            res.run("pure", check_file, res, st_bin, base, os.path.join(tmp, "pure.gguf"), "q4_k_m", True, tmp)
            rc, text = harness.run_engine([st_bin, "run", "-m", os.path.join(tmp, "q4_k_m.gguf"), "-p", "the the",
                                           "-n", "4", "--temp", "0"])
            res.check("q4_k_m: run generates", rc == 0, text[-200:])
            rc, text = harness.run_engine([st_bin, "quantize", os.path.join(tmp, "q8_0.gguf"), os.path.join(tmp, "re.gguf"),
                                           "q4_0"])
            rep = parse_report(text)
            res.check("re-quantize q8_0 -> q4_0", rc == 0 and rep.get("blk.0.attn_q.weight", {}).get("type_in") == "q8_0"
                      and rep["blk.0.attn_q.weight"]["rel"] <= BOUND["q4_0"], text[-200:])
            res.run("inspect", check_inspect, res, st_bin, os.path.join(tmp, "q4_k_m.gguf"))
            rc, text = harness.run_engine([st_bin, "quantize", base, os.path.join(tmp, "x.gguf"), "q3_x"])
            res.check("unknown type refused with the list", rc != 0 and "q4_k_m" in text and "q3_x" in text, text[-200:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.finish()


if __name__ == "__main__":
    main()
