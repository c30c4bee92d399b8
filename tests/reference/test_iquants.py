#!/usr/bin/python3
"""The oracle's i-quant dequantizer (iquants.py) against values worked out by hand from the format
description, before test_dequant.py holds the engine to it bit for bit.

Each check builds one super-block byte by byte and states the expected values directly: the grid
points used are ones whose values the format description spells out (ggml-common.h's byte grids:
iq2xxs_grid[0] = eight 0x08, iq2xxs_grid[1] = 0x2b then seven 0x08, iq3xxs_grid[0] = four 0x04,
iq3s_grid[0] = four 0x01, iq1s_grid[0] = eight -1, iq1s_grid[2047] = eight +1), so a wrong level map
or a misplaced field shows up here with a readable message.  Also: the parity rule of the 7-bit sign
fields, every grid's size and value set, and whole-row dequantization being blockwise.
"""
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import iquants as iq  # noqa: E402
import quants  # noqa: E402


def h(x):
    return struct.pack("<e", x)


def deq(t, blk):
    return quants.dequantize(bytes(blk), t, 256)


def check_grids(res):
    iq2 = np.concatenate([iq.GRID_IQ2XXS, iq.GRID_IQ2XS, iq.GRID_IQ2S])
    res.check("iq2 grid value sets", set(np.unique(iq2)) == {8, 25, 43})
    res.check("iq1 grid values", set(np.unique(iq.GRID_IQ1S)) == {-1, 0, 1})
    res.check("iq3_xxs grid values", set(np.unique(iq.GRID_IQ3XXS)) <= {4, 12, 20, 28, 36, 44, 52, 62})
    res.check("iq3_s grid values", set(np.unique(iq.GRID_IQ3S)) <= set(range(1, 16, 2)))
    for name, g in [("iq2_xxs", iq.GRID_IQ2XXS), ("iq2_xs", iq.GRID_IQ2XS), ("iq2_s", iq.GRID_IQ2S),
                    ("iq1_s", iq.GRID_IQ1S), ("iq3_xxs", iq.GRID_IQ3XXS), ("iq3_s", iq.GRID_IQ3S)]:
        res.check("%s grid points are distinct" % name, len({tuple(r) for r in g}) == len(g), "%d points" % len(g))
    res.check("known grid points", list(iq.GRID_IQ2XXS[0]) == [8] * 8 and list(iq.GRID_IQ2XXS[1]) == [43] + [8] * 7
              and list(iq.GRID_IQ3XXS[0]) == [4] * 4 and list(iq.GRID_IQ3S[0]) == [1] * 4
              and list(iq.GRID_IQ1S[0]) == [-1] * 8 and list(iq.GRID_IQ1S[2047]) == [1] * 8)
    s = iq._parity_signs(np.arange(128))
    res.check("7-bit sign fields: even number of minus signs", bool(((s < 0).sum(axis=1) % 2 == 0).all()))
    res.check("sign field 1 -> elements 0 and 7 negative", list(s[1]) == [-1, 1, 1, 1, 1, 1, 1, -1])


def check_iq2(res):
    # IQ2_XXS, d = 1: sub-block 0 points (1, 0, 0, 0), sign field 1 on group 0, scale 15 -> 3.875 per unit
    blk = bytearray(66)
    blk[0:2] = h(1.0)
    blk[2] = 1
    blk[6:10] = struct.pack("<I", 1 | (15 << 28))
    y = deq(iq.IQ2_XXS, blk)
    want = np.full(256, 8 * 0.125, np.float32)           # scale 0: (0.5) * 0.25 = 0.125
    want[0:32] = 8 * 3.875
    want[0] = -43 * 3.875
    want[7] = -8 * 3.875
    res.check("iq2_xxs hand block", np.array_equal(y, want), "first %s" % y[:8])
    # IQ2_XS, d = 2: group 5 (sub-block 1, first half: low nibble) point 1 with sign field 2;
    # scales[1] = 0x30 scales the second half (groups 6-7) by 3.5
    blk = bytearray(74)
    blk[0:2] = h(2.0)
    blk[2 + 2 * 5:4 + 2 * 5] = struct.pack("<H", 1 | (2 << 9))
    blk[66 + 1] = 0x30
    y = deq(iq.IQ2_XS, blk)
    want = np.full(256, 8 * 0.25, np.float32)            # 2 * 0.5 * 0.25
    want[48:64] = 8 * 2 * 3.5 * 0.25
    want[40] = 43 * 0.25
    want[41] = -8 * 0.25
    want[47] = -8 * 0.25                                 # parity bit of field 2
    res.check("iq2_xs hand block", np.array_equal(y, want), "group 5: %s" % y[40:48])
    # IQ2_S, d = 1: group 6 index 256 + 1 (qh[1] bits 4-5 = 1), low byte 1; sign byte 0x81; scale nibble 1
    blk = bytearray(82)
    blk[0:2] = h(1.0)
    blk[2 + 6] = 1
    blk[34 + 6] = 0x81
    blk[66 + 1] = 1 << 4
    blk[74 + 1] = 0x10
    y = deq(iq.IQ2_S, blk)
    want = np.float32(1.5 * 0.25) * iq.GRID_IQ2S[257].astype(np.float32)
    want[0] *= -1
    want[7] *= -1
    res.check("iq2_s hand block", np.array_equal(y[48:56], want) and np.all(y[:48] == 1.0), "group 6: %s" % y[48:56])


def check_iq3(res):
    # IQ3_XXS, d = 1: all points 0 (four 4s), sub-block 2 scale 3 and sign field 1 on its group 0
    blk = bytearray(98)
    blk[0:2] = h(1.0)
    blk[66 + 8:66 + 12] = struct.pack("<I", 1 | (3 << 28))
    y = deq(iq.IQ3_XXS, blk)
    want = np.full(256, 4 * 0.25, np.float32)
    want[64:96] = 4 * 3.5 * 0.5
    want[64] *= -1
    want[71] *= -1
    res.check("iq3_xxs hand block", np.array_equal(y, want), "sub-block 2: %s" % y[64:72])
    # IQ3_S, d = 0.5: point 9 (sub-block 1, k = 1) index 256 + 0 via qh[1] bit 1; sign byte of group 4 = 0x20;
    # scales[0] high nibble 2 -> sub-block 1 multiplier 0.5 * 5
    blk = bytearray(110)
    blk[0:2] = h(0.5)
    blk[66 + 1] = 2
    blk[74 + 4] = 0x20
    blk[106] = 0x20
    y = deq(iq.IQ3_S, blk)
    want = np.full(256, 0.5, np.float32)
    want[32:64] = 2.5
    want[36:40] = 2.5 * iq.GRID_IQ3S[256].astype(np.float32)
    want[37] *= -1
    res.check("iq3_s hand block", np.array_equal(y, want), "sub-block 1: %s" % y[32:40])


def check_iq1(res):
    # IQ1_S, d = 1: sub-block 3 = point 2047 (+1s) for group 0, scale 2, negative delta
    blk = bytearray(50)
    blk[0:2] = h(1.0)
    blk[2 + 12] = 0xFF
    blk[34 + 6:34 + 8] = struct.pack("<H", 7 | (2 << 12) | 0x8000)
    y = deq(iq.IQ1_S, blk)
    want = np.full(256, -1 + 0.125, np.float32)
    want[96:128] = 5 * (-1 - 0.125)
    want[96:104] = 5 * (1 - 0.125)
    res.check("iq1_s hand block", np.array_equal(y, want), "sub-block 3: %s" % y[96:104])
    # IQ1_M: d = 2 spread over the scale words' top nibbles (0x4000 -> 0, 0, 0, 4); sub-block 1's
    # groups 2-3 scale 3 (word 0 bits 9-11); group 6's nibble = 0xF (index high bits 7, negative delta)
    blk = bytearray(56)
    blk[6] = 0xFF
    blk[32 + 3] = 0x0F
    w = [3 << 9, 0, 0, 0x4000]
    blk[48:56] = struct.pack("<4H", *w)
    y = deq(iq.IQ1_M, blk)
    want = np.full(256, 2 * (-1 + 0.125), np.float32)
    want[48:64] = 14 * (-1 + 0.125)
    want[48:56] = 14 * (1 - 0.125)
    res.check("iq1_m hand block", np.array_equal(y, want), "sub-block 1: %s" % y[32:64])


def check_blockwise(res):
    rng = np.random.default_rng(5)
    for t in iq.TYPES:
        raw = quants.random_blocks(rng, t, 256 * 5)
        y = quants.dequantize(raw, t, 256 * 5)
        bb = quants.TYPE_INFO[t][2]
        parts = np.concatenate([quants.dequantize(raw[i * bb:(i + 1) * bb], t, 256) for i in range(5)])
        res.check("%s row == its blocks" % quants.type_name(t), np.array_equal(y, parts) and np.isfinite(y).all())


def main():
    res = harness.Results("i-quant oracle")
    for fn in (check_grids, check_iq2, check_iq3, check_iq1, check_blockwise):
        res.run(fn.__name__, fn, res)
    res.finish()


if __name__ == "__main__":
    main()
