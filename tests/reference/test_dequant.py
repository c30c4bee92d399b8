#!/usr/bin/python3
"""Engine dequantization vs the numpy oracle, bit for bit.

For every supported type, a GGUF written by this oracle's own writer holds tensors of RANDOM block
bytes (random quant bytes; fp16 scales drawn log-uniformly from [1e-3, 8] with random sign plus ~2%
fp16 subnormals; F16/BF16 random finite bit patterns incl. subnormals) in a few shapes (1-D, 2-D,
3-D).  `$ST_BIN dequant -m FILE --tensor NAME -o OUT.f32` must write the tensor as raw float32 equal
to quants.dequantize bit for bit (every product in ggml's dequantizers is exact in f32, so there is
no legitimate rounding freedom; the only tolerated difference is the sign of a zero).
Also: a file with tensors of several types at alignment 64, and clean (non-crashing) failure for a
missing tensor and for a file truncated inside the tensor data.
Environment: ST_BIN = the smallthinker binary (missing -> failure, not a skip).
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf  # noqa: E402
import harness  # noqa: E402
import quants  # noqa: E402

SHAPES = {1: [(7,), (33, 5), (16, 3, 2)], 32: [(32,), (96, 7), (64, 3, 2)], 256: [(256,), (512, 3), (256, 2, 3)]}


def compare(res, name, got, want):
    if got is None or got.size != want.size:
        return res.check(name, False, "size %s, expected %d floats" % (None if got is None else got.size, want.size))
    gb, wb = got.view(np.uint32), want.view(np.uint32)
    diff = gb != wb
    zero_sign_only = diff & (got == 0) & (want == 0)
    bad = diff & ~zero_sign_only
    detail = "%d elements" % want.size
    if zero_sign_only.any():
        detail += ", %d differ only in the sign of zero (tolerated)" % int(zero_sign_only.sum())
    if bad.any():
        i = int(np.argmax(bad))
        detail += ", %d mismatches, first at %d: got %r want %r" % (int(bad.sum()), i, float(got[i]), float(want[i]))
    return res.check(name, not bad.any(), detail)


def engine_dequant(res, st, path, tensor, tmp):
    out = os.path.join(tmp, "out.f32")
    if os.path.exists(out):
        os.remove(out)
    rc, log = harness.run_engine([st, "dequant", "-m", path, "--tensor", tensor, "-o", out], timeout=120)
    if rc != 0 or not os.path.exists(out):
        print(log[-2000:])
        res.check("dequant %s runs" % tensor, False, "exit %d" % rc)
        return None
    return np.fromfile(out, "<f4")


def main():
    res = harness.Results("dequant vs oracle")
    st = harness.st_bin(res)
    if st is None:
        res.finish()
    tmp = harness.tmpdir()
    rng = np.random.default_rng(20240601)
    mixed = gguf.GGUFWriter(alignment=64)
    mixed_want = {}
    for t in quants.SUPPORTED:
        tn = quants.type_name(t)
        w = gguf.GGUFWriter()
        w.add("general.architecture", "smallthinker")
        want = {}
        for i, ne in enumerate(SHAPES[quants.block_size(t)]):
            n = int(np.prod(ne))
            raw = quants.random_blocks(rng, t, n)
            name = "%s.rand%d" % (tn, i)
            w.add_tensor(name, ne, t, raw)
            want[name] = quants.dequantize(raw, t, n)
            if i == 1:
                mixed.add_tensor(name, ne, t, raw)
                mixed_want[name] = want[name]
        path = os.path.join(tmp, "%s.gguf" % tn)
        w.write(path)
        # the oracle's reader must see the same values (writer/reader/dequant consistency)
        r = gguf.GGUFReader(path)
        for name, v in want.items():
            assert np.array_equal(r.tensor(name).reshape(-1).view(np.uint32), v.view(np.uint32))
        for name, v in want.items():
            compare(res, "dequant %s %s" % (name, r.tensors[name].ne), engine_dequant(res, st, path, name, tmp), v)
    path = os.path.join(tmp, "mixed.gguf")
    mixed.write(path)
    for name, v in mixed_want.items():
        compare(res, "mixed-file(align 64) %s" % name, engine_dequant(res, st, path, name, tmp), v)

    # clean failures
    rc, log = harness.run_engine([st, "dequant", "-m", path, "--tensor", "no.such.tensor", "-o",
                                  os.path.join(tmp, "x.f32")], timeout=60)
    res.check("missing tensor -> clean error", rc > 0, "exit %d" % rc)
    data = open(path, "rb").read()
    trunc = os.path.join(tmp, "trunc.gguf")
    with open(trunc, "wb") as f:
        f.write(data[:len(data) - 100])
    last = list(mixed_want)[-1]
    rc, log = harness.run_engine([st, "dequant", "-m", trunc, "--tensor", last, "-o", os.path.join(tmp, "x.f32")], timeout=60)
    res.check("tensor data past end of file -> clean error", rc > 0, "exit %d" % rc)
    res.finish()


if __name__ == "__main__":
    main()
