"""numpy dequantization of ggml's grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M)
-- part of the independent oracle, written from the format description, not from the engine's code.

Every type cuts a 256-element super-block into 8 sub-blocks of 32 and those into groups of 8 elements;
a group is one point of a fixed grid (IQ3: two points of 4 elements).  Grid points are built here
from ggml's quantizer index lists (iq_grids.py): element k of point i is level (index[i] >> b*k) mod
2^b, and a level means:
    IQ2 grids (b=2): 8, 25, 43          IQ1 grid (b=2): -1, 0, 1
    IQ3_XXS (b=3): 4, 12, ..., 52, 62   IQ3_S (b=3): 1, 3, ..., 15
The engine carries the byte grids of ggml-common.h instead, so this is a second transcription.

Values (f32, in this operation order, as ggml's dequantize_row_*; d = the fp16 super-block scale):
    IQ2_*  : (d * (0.5 + s)) * 0.25 * g * sign     s 4-bit per group pair / sub-block
    IQ3_XXS: (d * (0.5 + s)) * 0.5  * g * sign
    IQ3_S  : (d * (1 + 2s)) * g * sign
    IQ1_*  : (d * (2s + 1)) * (g + delta)          delta = -1/8 if its sign bit is set, else +1/8
Signs of IQ2_XXS / IQ2_XS / IQ3_XXS are 7 stored bits per group; the 8th is their parity (an even
number of minus signs).  Byte layouts are described at each decoder.
"""
import numpy as np

import iq_grids

f32 = np.float32
IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ3_S, IQ2_S, IQ1_M = 16, 17, 18, 19, 21, 22, 29
TYPES = [IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M]


def _points(index, bits, n_el, levels):
    idx = np.array(index, np.int64)
    lv = (idx[:, None] >> (bits * np.arange(n_el))[None, :]) & ((1 << bits) - 1)
    return np.array(levels, np.int64)[lv]


_IQ2_LEVELS = [8, 25, 43, -1000]          # level 3 never occurs (would show up as garbage)
GRID_IQ2XXS = _points(iq_grids.IQ2XXS_INDEX, 2, 8, _IQ2_LEVELS)
GRID_IQ2XS = _points(iq_grids.IQ2XS_INDEX, 2, 8, _IQ2_LEVELS)
GRID_IQ2S = _points(iq_grids.IQ2S_INDEX, 2, 8, _IQ2_LEVELS)
GRID_IQ1S = _points(iq_grids.IQ1S_INDEX, 2, 8, [-1, 0, 1, -1000])
GRID_IQ3XXS = _points(iq_grids.IQ3XXS_INDEX, 3, 4, [4, 12, 20, 28, 36, 44, 52, 62])
GRID_IQ3S = _points(iq_grids.IQ3S_INDEX, 3, 4, [1, 3, 5, 7, 9, 11, 13, 15])
assert GRID_IQ2XXS.shape == (256, 8) and GRID_IQ2XS.shape == (512, 8) and GRID_IQ2S.shape == (1024, 8)
assert GRID_IQ1S.shape == (2048, 8) and GRID_IQ3XXS.shape == (256, 4) and GRID_IQ3S.shape == (512, 4)
for _g in (GRID_IQ2XXS, GRID_IQ2XS, GRID_IQ2S, GRID_IQ1S):
    assert (_g > -1000).all()


def _f16(b2):
    return np.ascontiguousarray(b2).view("<f2").reshape(-1).astype(f32)


def _u16(b):
    return np.ascontiguousarray(b).view("<u2").astype(np.int64)


def _u32(b):
    return np.ascontiguousarray(b).view("<u4").astype(np.int64)


def _sign_bits(byte):
    """(...) ints holding 8 sign bits -> (..., 8) of +1 / -1 (bit k set: element k negative)."""
    bit = (np.asarray(byte)[..., None] >> np.arange(8)) & 1
    return np.where(bit == 1, -1, 1)


def _parity_signs(seven):
    """7 stored sign bits -> 8 (the 8th bit is their parity)."""
    seven = np.asarray(seven) & 127
    par = np.zeros_like(seven)
    for k in range(7):
        par ^= (seven >> k) & 1
    return _sign_bits(seven | (par << 7))


def _scaled(d, s, rule):
    """Per-group multiplier (n, 32) in f32 from d (n,) and scale fields s (n, 32), ggml's order."""
    d = d[:, None]
    if rule == "quarter":
        return (d * (f32(0.5) + s.astype(f32))) * f32(0.25)
    if rule == "half":
        return (d * (f32(0.5) + s.astype(f32))) * f32(0.5)
    return d * (2 * s + 1).astype(f32)


def _signed(d, s, rule, g, signs):
    """g (n, 32, 8) magnitudes, signs (n, 32, 8) of +-1 -> values (n*256,)."""
    dl = _scaled(d, s, rule)[:, :, None]
    return ((dl * g.astype(f32)) * signs.astype(f32)).reshape(-1)


def _iq1(d, s, g, neg):
    dl = _scaled(d, s, "odd")[:, :, None]
    delta = np.where(neg, f32(-0.125), f32(0.125)).astype(f32)[:, :, None]
    return (dl * (g.astype(f32) + delta)).reshape(-1)


def _group_of(sub, per):
    """(n, 8) per-sub-block values -> (n, 32) per group (4 groups per sub-block)."""
    return np.repeat(sub, 4, axis=1) if per == "sub" else sub


def dequantize(b, t):
    """b: (n, block bytes) uint8 blocks of type t -> float32 (n * 256,)."""
    n = b.shape[0]
    if t == IQ2_XXS:
        # d | per sub-block: 4 grid-index bytes, then u32 = four 7-bit sign fields | scale << 28
        d = _f16(b[:, 0:2])
        q = b[:, 2:66].reshape(n, 8, 8)
        idx = q[:, :, 0:4].reshape(n, 32).astype(np.int64)
        aux = _u32(q[:, :, 4:8]).reshape(n, 8)
        seven = (aux[:, :, None] >> (7 * np.arange(4))) & 127
        s = np.repeat(aux >> 28, 4, axis=1)
        return _signed(d, s, "quarter", GRID_IQ2XXS[idx], _parity_signs(seven.reshape(n, 32)))
    if t == IQ2_XS:
        # d | 32 x u16 (9-bit grid index | 7-bit signs << 9) | 8 scale bytes (nibble per group pair)
        d = _f16(b[:, 0:2])
        qs = _u16(b[:, 2:66]).reshape(n, 32)
        sc = b[:, 66:74].astype(np.int64)
        g = np.arange(32)
        s = (sc[:, g // 4] >> (4 * ((g % 4) // 2))) & 15
        return _signed(d, s, "quarter", GRID_IQ2XS[qs & 511], _parity_signs(qs >> 9))
    if t == IQ2_S:
        # d | 32 low index bytes | 32 sign bytes | qh: 2 high index bits per group | scales as IQ2_XS
        d = _f16(b[:, 0:2])
        lo = b[:, 2:34].astype(np.int64)
        sg = b[:, 34:66].astype(np.int64)
        qh = b[:, 66:74].astype(np.int64)
        sc = b[:, 74:82].astype(np.int64)
        g = np.arange(32)
        idx = lo | (((qh[:, g // 4] >> (2 * (g % 4))) & 3) << 8)
        s = (sc[:, g // 4] >> (4 * ((g % 4) // 2))) & 15
        return _signed(d, s, "quarter", GRID_IQ2S[idx], _sign_bits(sg))
    if t == IQ3_XXS:
        # d | 64 grid-index bytes (4 elements each) | 8 x u32 = four 7-bit sign fields | scale << 28
        d = _f16(b[:, 0:2])
        pts = GRID_IQ3XXS[b[:, 2:66].astype(np.int64)].reshape(n, 32, 8)
        aux = _u32(b[:, 66:98]).reshape(n, 8)
        seven = ((aux[:, :, None] >> (7 * np.arange(4))) & 127).reshape(n, 32)
        s = np.repeat(aux >> 28, 4, axis=1)
        return _signed(d, s, "half", pts, _parity_signs(seven))
    if t == IQ3_S:
        # d | 64 low index bytes | qh: bit k of byte ib = index bit 8 of point 8ib+k | 32 sign bytes | 4 scale bytes
        d = _f16(b[:, 0:2])
        lo = b[:, 2:66].astype(np.int64)
        qh = b[:, 66:74].astype(np.int64)
        p = np.arange(64)
        idx = lo | (((qh[:, p // 8] >> (p % 8)) & 1) << 8)
        pts = GRID_IQ3S[idx].reshape(n, 32, 8)
        sg = b[:, 74:106].astype(np.int64)
        sc = b[:, 106:110].astype(np.int64)
        ib = np.arange(8)
        s = np.repeat((sc[:, ib // 2] >> (4 * (ib % 2))) & 15, 4, axis=1)
        return _signed(d, s, "odd", pts, _sign_bits(sg))
    if t == IQ1_S:
        # d | 32 low index bytes | 8 x u16: 3 high index bits per group, scale bits 12-14, delta sign bit 15
        d = _f16(b[:, 0:2])
        lo = b[:, 2:34].astype(np.int64)
        qh = _u16(b[:, 34:50]).reshape(n, 8)
        g = np.arange(32)
        h = qh[:, g // 4]
        idx = lo | (((h >> (3 * (g % 4))) & 7) << 8)
        return _iq1(d, (h >> 12) & 7, GRID_IQ1S[idx], (h & 0x8000) != 0)
    if t == IQ1_M:
        # 32 low index bytes | 16 qh bytes: a nibble per group (3 index bits, delta sign) | 4 x u16 scale words
        lo = b[:, 0:32].astype(np.int64)
        qh = b[:, 32:48].astype(np.int64)
        w = _u16(b[:, 48:56]).reshape(n, 4)
        dbits = (w[:, 0] >> 12) | ((w[:, 1] >> 8) & 0xF0) | ((w[:, 2] >> 4) & 0xF00) | (w[:, 3] & 0xF000)
        d = dbits.astype("<u2").view("<f2").astype(f32)
        g = np.arange(32)
        ib, l = g // 4, g % 4
        nib = (qh[:, 2 * ib + l // 2] >> (4 * (l % 2))) & 15
        idx = lo | ((nib & 7) << 8)
        s = (w[:, ib // 2] >> (6 * (ib % 2) + 3 * (l // 2))) & 7
        return _iq1(d, s, GRID_IQ1S[idx], (nib & 8) != 0)
    raise NotImplementedError(t)


BLOCK_BYTES = {IQ2_XXS: 66, IQ2_XS: 74, IQ2_S: 82, IQ3_XXS: 98, IQ3_S: 110, IQ1_S: 50, IQ1_M: 56}


def random_blocks(rng, t, n, scales, extremes=True):
    """n random blocks of type t (uint8 (n, bytes)); `scales` (n,) finite fp16 super-block scales.
    With `extremes`, block 0 has every code bit set and block 1 none (the extreme grid indices,
    signs and scales)."""
    b = rng.integers(0, 256, (n, BLOCK_BYTES[t]), dtype=np.uint8)
    if extremes:
        b[0, :] = 0xFF
        if n > 1:
            b[1, :] = 0
    set_scales(b, t, scales)
    return b


def set_scales(b, t, scales):
    n = b.shape[0]
    h = np.asarray(scales, "<f2").view("<u2").astype(np.int64)
    if t == IQ1_M:
        w = _u16(b[:, 48:56]).reshape(n, 4) & 0x0FFF
        for k in range(4):
            w[:, k] |= ((h >> (4 * k)) & 15) << 12
        b[:, 48:56] = w.astype("<u2").view(np.uint8).reshape(n, 8)
    else:
        b[:, 0:2] = h.astype("<u2").view(np.uint8).reshape(n, 2)
    return b


def random_weights(rng, shape, rms, t):
    """Raw bytes of a tensor of type t and numpy shape (slowest first) with random codes, each
    super-block's scale set so that its values have root mean square `rms`.  This oracle has no
    i-quant quantizer; for random test models random codes are as good as quantized noise."""
    n = int(np.prod(shape)) // 256
    b = random_blocks(rng, t, n, np.ones(n, np.float16), extremes=False)
    unit = dequantize(b, t).reshape(n, 256)
    r = np.sqrt(np.mean(unit.astype(np.float64) ** 2, axis=1))
    set_scales(b, t, (rms / np.maximum(r, 1e-12)).astype(np.float16))
    return b.tobytes()
