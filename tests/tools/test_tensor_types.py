#!/usr/bin/python3
"""Files with tensor types the engine cannot compute with still open, and say so by name.

A GGUF written by the oracle's own writer (tests/reference/gguf.py) holds tensors of a supported
low-bit type (q3_k), of an i-quant that runs (iq2_xxs), of types with a known layout but no kernels (tq1_0, mxfp4), of
ggml's removed Q4_2 (id 4) and of an id no ggml ever had (99).
CHECKS
* `inspect` prints the metadata and the whole tensor table: each tensor's type name (or
  "type 99 (unknown)"), shape, byte size computed from the layout (independently here, from
  quants.TYPE_INFO; "?" where there is no layout) and absolute data offset.
* `dequant` of an unsupported tensor fails with a message naming the tensor, its type and the
  supported types; of the q3_k tensor it works.
* A runnable model (made by `synth`) with one expert tensor swapped for tq1_0 bytes by the
  Python writer: `logits` fails naming that tensor, tq1_0, and the supported weight types.
Environment: ST_BIN.
"""
import os
import re
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "reference"))
import gguf  # noqa: E402
import harness  # noqa: E402
import quants  # noqa: E402

# name -> (ggml type id, ne, expected label in the table)
TENSORS = {
    "a.q3k": (11, (512, 2), "q3_k"),
    "b.iq2xxs": (16, (256, 3), "iq2_xxs"),
    "c.tq1": (34, (256,), "tq1_0"),
    "d.mxfp4": (39, (64, 2), "mxfp4"),
    "e.removed": (4, (16,), "q4_2 (removed from ggml)"),
    "f.unknown": (99, (8,), "type 99 (unknown)"),
}


def write_mixed(path, rng):
    w = gguf.GGUFWriter()
    w.add("general.architecture", "smallthinker")
    w.add("general.name", "mixed types")
    for name, (t, ne, _) in TENSORS.items():
        n = int(np.prod(ne))
        size = quants.nbytes(t, n) if t in quants.TYPE_INFO else 32  # no layout: any bytes
        raw = quants.random_blocks(rng, t, n) if t == quants.Q3_K else rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        w.add_tensor(name, ne, t, raw, check=t in quants.TYPE_INFO)
    w.write(path)


def check_inspect(res, st, path):
    rc, text = harness.run_engine([st, "inspect", path])
    r = gguf.GGUFReader(path)
    res.check("inspect prints the metadata", 'general.name' in text and '"mixed types"' in text, text[-500:])
    res.check("inspect lists every tensor", "tensors (%d):" % len(TENSORS) in text, text[-500:])
    for name, (t, ne, label) in TENSORS.items():
        ti = r.tensors[name]
        size = str(quants.nbytes(t, int(np.prod(ne)))) if t in quants.TYPE_INFO else "?"
        shape = "{" + ", ".join(str(x) for x in ne) + "}"
        line = re.search(r"^\s+%s\s+(.+?)\s+(\{[^}]*\})\s+(\S+)\s+(\d+)\s*$" % re.escape(name), text, re.M)
        ok = (line is not None and line.group(1) == label and line.group(2) == shape and line.group(3) == size
              and int(line.group(4)) == r.data_offset + ti.offset)
        res.check("inspect row %s: %s %s %s bytes at %d" % (name, label, shape, size, r.data_offset + ti.offset), ok,
                  line.group(0) if line else "no row")


def check_dequant(res, st, path, tmp):
    out = os.path.join(tmp, "x.f32")
    for name in ("c.tq1", "d.mxfp4", "e.removed", "f.unknown"):
        label = TENSORS[name][2]
        rc, text = harness.run_engine([st, "dequant", "-m", path, "--tensor", name, "-o", out])
        res.check("dequant %s refused naming tensor, type and the supported ones" % name,
                  rc > 0 and name in text and label in text and "q3_k" in text and "iq4_xs" in text
                  and "Segmentation" not in text, text[-300:])
    rc, text = harness.run_engine([st, "dequant", "-m", path, "--tensor", "a.q3k", "-o", out])
    want = gguf.GGUFReader(path).tensor("a.q3k").reshape(-1)
    got = np.fromfile(out, "<f4") if rc == 0 else None
    res.check("dequant of the q3_k tensor works", got is not None and np.array_equal(got.view(np.uint32),
                                                                                     want.view(np.uint32)), text[-300:])


def check_model_load(res, st, tmp):
    """A synthetic model with one expert tensor re-typed to tq1_0 (same shape, right size: 54 bytes
    per 256 elements), a type the engine has no kernels for."""
    src = os.path.join(tmp, "m.gguf")
    rc, text = harness.run_engine([st, "synth", "-o", src, "--preset", "tiny", "--type", "q4_k"])
    if not res.check("synth a model", rc == 0, text[-300:]):
        return
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter()
    for k in r.metadata:
        vt, et = r.metadata_types[k]
        w.add(k, r.metadata[k], vt, et)
    victim = "blk.1.ffn_up_exps.weight"
    for n in r.tensor_order:
        ti = r.tensors[n]
        if n == victim:
            raw = np.random.default_rng(3).integers(0, 256, ti.n_elements // 256 * 54, dtype=np.uint8).tobytes()
            w.add_tensor(n, ti.ne, 34, raw, check=False)
        else:
            w.add_tensor(n, ti.ne, ti.type, r.raw(n).tobytes())
    bad = os.path.join(tmp, "bad.gguf")
    w.write(bad)
    rc, text = harness.run_engine([st, "logits", "-m", bad, "--tokens", "1,2,3", "-o", os.path.join(tmp, "l.f32")])
    res.check("loading a model with a tq1_0 expert tensor fails naming tensor, type and the supported types",
              rc > 0 and victim in text and "tq1_0" in text and "q3_k" in text and "Segmentation" not in text,
              text[-400:])


def main():
    res = harness.Results("tensor types")
    st = harness.st_bin(res)
    if st is None:
        res.finish()
    tmp = harness.tmpdir()
    try:
        path = os.path.join(tmp, "mixed.gguf")
        write_mixed(path, np.random.default_rng(11))
        res.run("inspect", check_inspect, res, st, path)
        res.run("dequant", check_dequant, res, st, path, tmp)
        res.run("model load", check_model_load, res, st, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.finish()


if __name__ == "__main__":
    main()
