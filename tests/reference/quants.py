"""numpy (de)quantization of ggml tensor formats -- part of the independent oracle.

Written from ggml's block layouts (ggml-common.h / ggml-quants.c dequantize_row_*), not from this
engine's code.  Everything is vectorised over blocks (no per-element Python loops).

Dequantization is computed in float32 with ggml's operation order, so the result is meant to be
bit-identical to ggml's scalar dequantize_row_*:
    F16   : exact fp16 -> fp32            BF16 : bits << 16
    Q4_0  : (q - 8) * d                   Q4_1 : q * d + m
    Q5_0  : (q - 16) * d                  Q5_1 : q * d + m
    Q8_0  : q * d
    Q4_K  : d1 = d * sc; m1 = dmin * m; y = d1 * q - m1        (sub-blocks of 32)
    Q5_K  : same as Q4_K with 5-bit q
    Q6_K  : y = (d * sc) * (q - 32)                            (sub-blocks of 16, int8 scales)
    Q2_K  : y = (d * (s & 15)) * q - dmin * (s >> 4)           (sub-blocks of 16, 2-bit q)
    Q3_K  : y = (d * (sc - 32)) * (q - 4)                      (sub-blocks of 16, 3-bit q, 6-bit sc)
    IQ4_NL: y = d * GRID[nibble]                               (blocks of 32)
    IQ4_XS: y = (d * (ls - 32)) * GRID[nibble]                 (sub-blocks of 32, 6-bit ls)
    IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M: grid codebooks, see iquants.py
(d, m, dmin are fp16 converted to f32 first; GRID is the IQ4_NL table of 16 int8 values.)  Note that in every format the products are exact in
float32 (fp16 has an 11-bit significand, quants and scales at most 8 bits), so the only rounding is
the final "+ m" / "- m1"; fused multiply-add therefore gives the same bits as the unfused form.

quantize(x, type) is a plain round-to-nearest quantizer used to build test models; it does not have
to match ggml's quantizer (only dequantization defines a file's values).
"""
import numpy as np

import iquants

# ggml type ids (GGUF on-disk numbering)
F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 = 0, 1, 2, 3, 6, 7, 8, 9
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K = 10, 11, 12, 13, 14, 15
I8, I16, I32, I64, F64, BF16 = 24, 25, 26, 27, 28, 30

# id -> (name, block elements, block bytes). Includes some types we cannot dequantize, so that the
# GGUF reader can still compute sizes/offsets of files that contain them.
TYPE_INFO = {
    F32: ("f32", 1, 4), F16: ("f16", 1, 2), BF16: ("bf16", 1, 2), F64: ("f64", 1, 8),
    I8: ("i8", 1, 1), I16: ("i16", 1, 2), I32: ("i32", 1, 4), I64: ("i64", 1, 8),
    Q4_0: ("q4_0", 32, 18), Q4_1: ("q4_1", 32, 20), Q5_0: ("q5_0", 32, 22), Q5_1: ("q5_1", 32, 24),
    Q8_0: ("q8_0", 32, 34), Q8_1: ("q8_1", 32, 36),
    Q2_K: ("q2_k", 256, 84), Q3_K: ("q3_k", 256, 110), Q4_K: ("q4_k", 256, 144),
    Q5_K: ("q5_k", 256, 176), Q6_K: ("q6_k", 256, 210), Q8_K: ("q8_k", 256, 292),
    16: ("iq2_xxs", 256, 66), 17: ("iq2_xs", 256, 74), 18: ("iq3_xxs", 256, 98),
    19: ("iq1_s", 256, 50), 20: ("iq4_nl", 32, 18), 21: ("iq3_s", 256, 110), 22: ("iq2_s", 256, 82),
    23: ("iq4_xs", 256, 136), 29: ("iq1_m", 256, 56),
    34: ("tq1_0", 256, 54), 35: ("tq2_0", 256, 66), 39: ("mxfp4", 32, 17),
}
NAME_TO_TYPE = {v[0]: k for k, v in TYPE_INFO.items()}

IQ4_NL, IQ4_XS = 20, 23

# the weight formats this oracle dequantizes (and the engine must support)
SUPPORTED = [F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS] + iquants.TYPES

# the non-linear 4-bit grid of IQ4_NL / IQ4_XS (ggml-common.h kvalues_iq4nl)
IQ4_GRID = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113], np.int8)


def type_from_name(name):
    if isinstance(name, (int, np.integer)):
        return int(name)
    n = name.lower()
    if n not in NAME_TO_TYPE:
        raise ValueError("unknown ggml type %r" % name)
    return NAME_TO_TYPE[n]


def type_name(t):
    return TYPE_INFO[t][0] if t in TYPE_INFO else "type%d" % t


def block_size(t):
    return TYPE_INFO[t][1]


def nbytes(t, n_elements):
    bs, bb = TYPE_INFO[t][1], TYPE_INFO[t][2]
    if n_elements % bs:
        raise ValueError("%d elements is not a whole number of %s blocks" % (n_elements, type_name(t)))
    return n_elements // bs * bb


def is_quantized(t):
    return t not in (F32, F16, BF16, F64)


# --------------------------------------------------------------------------------------------------
# helpers

def _f16(b2):
    """(n, 2) uint8 -> (n,) float32, exact fp16 -> fp32 (subnormals included)."""
    return np.ascontiguousarray(b2).view("<f2").reshape(-1).astype(np.float32)


def _blocks(raw, t, n_elements):
    raw = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) else raw.reshape(-1)
    if raw.dtype != np.uint8:
        raw = raw.view(np.uint8)
    need = nbytes(t, n_elements)
    if raw.size < need:
        raise ValueError("need %d bytes for %d %s elements, got %d" % (need, n_elements, type_name(t), raw.size))
    return raw[:need].reshape(-1, TYPE_INFO[t][2])


def _k_scales(sc12):
    """ggml get_scale_min_k4 for j = 0..7 over (n, 12) uint8 -> sc (n, 8), m (n, 8) as uint8."""
    sc = np.empty((sc12.shape[0], 8), np.uint8)
    mn = np.empty((sc12.shape[0], 8), np.uint8)
    sc[:, :4] = sc12[:, 0:4] & 63
    mn[:, :4] = sc12[:, 4:8] & 63
    sc[:, 4:] = (sc12[:, 8:12] & 0xF) | ((sc12[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (sc12[:, 8:12] >> 4) | ((sc12[:, 4:8] >> 6) << 4)
    return sc, mn


# --------------------------------------------------------------------------------------------------
# dequantization

def dequantize(raw, t, n_elements):
    """raw bytes (bytes / uint8 array) of n_elements of ggml type t -> float32 array (n_elements,)."""
    t = type_from_name(t)
    b = _blocks(raw, t, n_elements)
    if t == F32:
        return np.ascontiguousarray(b).view("<f4").reshape(-1).astype(np.float32)
    n = b.shape[0]
    f32 = np.float32
    if t == F16:
        return np.ascontiguousarray(b).view("<f2").reshape(-1).astype(f32)
    if t == BF16:
        u = np.ascontiguousarray(b).view("<u2").reshape(-1).astype(np.uint32) << 16
        return u.view(f32)
    if t == F64:
        return np.ascontiguousarray(b).view("<f8").reshape(-1).astype(f32)
    if t == Q4_0:
        d = _f16(b[:, 0:2])
        qs = b[:, 2:18]
        q = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.int32) - 8
        return (q.astype(f32) * d[:, None]).reshape(-1)
    if t == Q4_1:
        d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        qs = b[:, 4:20]
        q = np.concatenate([qs & 0xF, qs >> 4], axis=1)
        return (q.astype(f32) * d[:, None] + m[:, None]).reshape(-1)
    if t in (Q5_0, Q5_1):
        if t == Q5_0:
            d = _f16(b[:, 0:2]); o = 2
        else:
            d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4]); o = 4
        qh = np.ascontiguousarray(b[:, o:o + 4]).view("<u4").reshape(-1, 1)
        qs = b[:, o + 4:o + 20]
        bits = (qh >> np.arange(32, dtype=np.uint32)[None, :]) & 1          # bit j -> element j
        q = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(np.int32) | (bits.astype(np.int32) << 4)
        if t == Q5_0:
            return ((q - 16).astype(f32) * d[:, None]).reshape(-1)
        return (q.astype(f32) * d[:, None] + m[:, None]).reshape(-1)
    if t == Q8_0:
        d = _f16(b[:, 0:2])
        q = np.ascontiguousarray(b[:, 2:34]).view(np.int8)
        return (q.astype(f32) * d[:, None]).reshape(-1)
    if t in (Q4_K, Q5_K):
        d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
        sc, mn = _k_scales(b[:, 4:16])
        d1 = d[:, None] * sc.astype(f32)            # (n, 8): d * sc, rounded to f32 (exact)
        m1 = dmin[:, None] * mn.astype(f32)         # (n, 8): dmin * m
        if t == Q4_K:
            qs = b[:, 16:144].reshape(n, 4, 1, 32)
            q = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(n, 8, 32).astype(np.int32)
        else:
            qh = b[:, 16:48].reshape(n, 1, 32)
            qs = b[:, 48:176].reshape(n, 4, 1, 32)
            q = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(n, 8, 32).astype(np.int32)
            hb = (qh >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1    # sub-block s uses bit s
            q = q + (hb.astype(np.int32) << 4)
        y = d1[:, :, None] * q.astype(f32) - m1[:, :, None]
        return y.reshape(-1)
    if t == Q6_K:
        ql = b[:, 0:128].reshape(n, 2, 64)
        qh = b[:, 128:192].reshape(n, 2, 32)
        sc = np.ascontiguousarray(b[:, 192:208]).view(np.int8).reshape(n, 16)
        d = _f16(b[:, 208:210])
        lo, hi = ql[:, :, 0:32], ql[:, :, 32:64]
        q1 = (lo & 0xF) | (((qh >> 0) & 3) << 4)
        q2 = (hi & 0xF) | (((qh >> 2) & 3) << 4)
        q3 = (lo >> 4) | (((qh >> 4) & 3) << 4)
        q4 = (hi >> 4) | (((qh >> 6) & 3) << 4)
        q = np.stack([q1, q2, q3, q4], axis=2).reshape(n, 16, 16).astype(np.int32) - 32
        dsc = d[:, None] * sc.astype(f32)           # (n, 16): d * sc first, as ggml
        return (dsc[:, :, None] * q.astype(f32)).reshape(-1)
    if t in (Q2_K, Q3_K):
        # 2-bit fields: byte l of a 128-element half carries elements 32k + l in bits 2k..2k+1
        qs = b[:, 16:80] if t == Q2_K else b[:, 32:96]
        shifts = np.array([0, 2, 4, 6], np.uint8).reshape(1, 1, 4, 1)
        low = ((qs.reshape(n, 2, 1, 32) >> shifts) & 3).reshape(n, 256).astype(np.int32)
        if t == Q2_K:
            s16 = b[:, 0:16]
            d, dmin = _f16(b[:, 80:82]), _f16(b[:, 82:84])
            dl = d[:, None] * (s16 & 0xF).astype(f32)
            ml = dmin[:, None] * (s16 >> 4).astype(f32)
            return (dl[:, :, None] * low.reshape(n, 16, 16).astype(f32) - ml[:, :, None]).reshape(-1)
        # Q3_K: the third bit of element e is bit e // 32 of hmask[e % 32]
        hm = b[:, 0:32]
        hbit = ((hm[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1).reshape(n, 256)
        q = low + 4 * hbit.astype(np.int32) - 4
        s12 = b[:, 96:108]
        lo4 = np.concatenate([s12[:, 0:8] & 0xF, s12[:, 0:8] >> 4], axis=1)                  # j < 8, j >= 8
        hi2 = ((s12[:, None, 8:12] >> (2 * np.arange(4, dtype=np.uint8))[None, :, None]) & 3).reshape(n, 16)
        sc = (lo4 | (hi2 << 4)).astype(np.int32) - 32
        dl = _f16(b[:, 108:110])[:, None] * sc.astype(f32)
        return (dl[:, :, None] * q.reshape(n, 16, 16).astype(f32)).reshape(-1)
    if t == IQ4_NL:
        d = _f16(b[:, 0:2])
        qs = b[:, 2:18]
        idx = np.concatenate([qs & 0xF, qs >> 4], axis=1)
        return (d[:, None] * IQ4_GRID[idx].astype(f32)).reshape(-1)
    if t == IQ4_XS:
        d = _f16(b[:, 0:2])
        sh = np.ascontiguousarray(b[:, 2:4]).view("<u2").reshape(n, 1).astype(np.int32)
        j = np.arange(8)
        lo = (b[:, 4 + j // 2] >> (4 * (j % 2)).astype(np.uint8)) & 0xF
        ls = (lo.astype(np.int32) | (((sh >> (2 * j)) & 3) << 4)) - 32
        qs = b[:, 8:136].reshape(n, 8, 16)
        idx = np.concatenate([qs & 0xF, qs >> 4], axis=2)
        dl = d[:, None] * ls.astype(f32)
        return (dl[:, :, None] * IQ4_GRID[idx].astype(f32)).reshape(-1)
    if t in iquants.TYPES:
        return iquants.dequantize(b, t)
    raise NotImplementedError("dequantize: type %s" % type_name(t))


# --------------------------------------------------------------------------------------------------
# quantization (round to nearest; for building test models)

def _to_f16(x):
    return np.asarray(x, np.float32).astype(np.float16)


def _f16bytes(h):
    return np.ascontiguousarray(h.astype("<f2")).view(np.uint8).reshape(-1, 2)


def _signed_absmax(v):
    """per row: the value with the largest magnitude (sign kept), as ggml's q4_0/q5_0 quantizers."""
    i = np.argmax(np.abs(v), axis=1)
    return v[np.arange(v.shape[0]), i]


def _safe_inv(d):
    d = d.astype(np.float32)
    return np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)


def quantize(x, t):
    """float array (any shape; rows along the last axis, total size a multiple of the block) -> bytes."""
    t = type_from_name(t)
    x = np.asarray(x, np.float32).reshape(-1)
    if t == F32:
        return x.astype("<f4").tobytes()
    if t == F16:
        return x.astype("<f2").tobytes()
    if t == BF16:
        u = x.view(np.uint32).astype(np.uint64)
        r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")   # round to nearest even
        return r.tobytes()
    bs = block_size(t)
    if x.size % bs:
        raise ValueError("size %d not a multiple of %d" % (x.size, bs))
    v = x.reshape(-1, bs)
    n = v.shape[0]
    if t in (Q4_0, Q5_0):
        half = 8 if t == Q4_0 else 16
        top = 2 * half - 1
        d = _to_f16(_signed_absmax(v) / -half)
        q = np.clip(np.rint(v * _safe_inv(d.astype(np.float32))[:, None]) + half, 0, top).astype(np.uint8)
        nib = (q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)
        if t == Q4_0:
            return np.concatenate([_f16bytes(d), nib], axis=1).tobytes()
        qh = ((q >> 4).astype(np.uint32) << np.arange(32, dtype=np.uint32)).sum(axis=1).astype("<u4")
        return np.concatenate([_f16bytes(d), qh.view(np.uint8).reshape(n, 4), nib], axis=1).tobytes()
    if t in (Q4_1, Q5_1):
        top = 15 if t == Q4_1 else 31
        mn, mx = v.min(axis=1), v.max(axis=1)
        d = _to_f16((mx - mn) / top)
        m = _to_f16(mn)
        q = np.clip(np.rint((v - m.astype(np.float32)[:, None]) * _safe_inv(d.astype(np.float32))[:, None]), 0, top).astype(np.uint8)
        nib = (q[:, :16] & 0xF) | ((q[:, 16:] & 0xF) << 4)
        if t == Q4_1:
            return np.concatenate([_f16bytes(d), _f16bytes(m), nib], axis=1).tobytes()
        qh = ((q >> 4).astype(np.uint32) << np.arange(32, dtype=np.uint32)).sum(axis=1).astype("<u4")
        return np.concatenate([_f16bytes(d), _f16bytes(m), qh.view(np.uint8).reshape(n, 4), nib], axis=1).tobytes()
    if t == Q8_0:
        d = _to_f16(np.abs(v).max(axis=1) / 127)
        q = np.clip(np.rint(v * _safe_inv(d.astype(np.float32))[:, None]), -127, 127).astype(np.int8)
        return np.concatenate([_f16bytes(d), q.view(np.uint8)], axis=1).tobytes()
    if t in (Q4_K, Q5_K):
        top = 15 if t == Q4_K else 31
        s = v.reshape(n, 8, 32)
        mins = np.minimum(s.min(axis=2), 0)                 # offsets are >= 0: y = d*sc*q - dmin*m
        scale = (s.max(axis=2) - mins) / top
        d = _to_f16(scale.max(axis=1) / 63)
        dmin = _to_f16((-mins).max(axis=1) / 63)
        sc = np.clip(np.rint(scale * _safe_inv(d.astype(np.float32))[:, None]), 0, 63).astype(np.uint8)
        m = np.clip(np.rint(-mins * _safe_inv(dmin.astype(np.float32))[:, None]), 0, 63).astype(np.uint8)
        d1 = d.astype(np.float32)[:, None] * sc
        m1 = dmin.astype(np.float32)[:, None] * m
        q = np.clip(np.rint((s + m1[:, :, None]) * _safe_inv(d1)[:, :, None]), 0, top).astype(np.uint8)
        sc12 = np.empty((n, 12), np.uint8)
        sc12[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
        sc12[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
        sc12[:, 8:12] = (sc[:, 4:8] & 0xF) | ((m[:, 4:8] & 0xF) << 4)
        q4 = q.reshape(n, 4, 2, 32)
        qs = ((q4[:, :, 0, :] & 0xF) | ((q4[:, :, 1, :] & 0xF) << 4)).reshape(n, 128)
        head = [_f16bytes(d), _f16bytes(dmin), sc12]
        if t == Q4_K:
            return np.concatenate(head + [qs], axis=1).tobytes()
        hb = (q >> 4).reshape(n, 8, 32).astype(np.uint8)    # sub-block s -> bit s of qh[l]
        qh = (hb << np.arange(8, dtype=np.uint8)[None, :, None]).sum(axis=1).astype(np.uint8)
        return np.concatenate(head + [qh, qs], axis=1).tobytes()
    if t == Q6_K:
        s = v.reshape(n, 16, 16)
        scale = _signed_absmax(s.reshape(n * 16, 16)).reshape(n, 16) / -32
        amax_i = np.argmax(np.abs(scale), axis=1)
        d = _to_f16(scale[np.arange(n), amax_i] / -128)
        sc = np.clip(np.rint(scale * _safe_inv(d.astype(np.float32))[:, None]), -128, 127).astype(np.int8)
        dsc = d.astype(np.float32)[:, None] * sc
        q = (np.clip(np.rint(s * _safe_inv(dsc)[:, :, None]), -32, 31) + 32).astype(np.uint8)
        q = q.reshape(n, 2, 4, 32)                          # half, quarter (q1..q4), l
        ql = np.empty((n, 2, 64), np.uint8)
        ql[:, :, 0:32] = (q[:, :, 0] & 0xF) | ((q[:, :, 2] & 0xF) << 4)
        ql[:, :, 32:64] = (q[:, :, 1] & 0xF) | ((q[:, :, 3] & 0xF) << 4)
        qh = ((q[:, :, 0] >> 4) | ((q[:, :, 1] >> 4) << 2) | ((q[:, :, 2] >> 4) << 4) | ((q[:, :, 3] >> 4) << 6))
        return np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64).astype(np.uint8),
                               sc.view(np.uint8), _f16bytes(d)], axis=1).tobytes()
    if t == Q2_K:
        sb = v.reshape(n, 16, 16)
        mins = np.minimum(sb.min(axis=2), 0)
        scale = (sb.max(axis=2) - mins) / 3
        d = _to_f16(scale.max(axis=1) / 15)
        dmin = _to_f16((-mins).max(axis=1) / 15)
        sc = np.clip(np.rint(scale * _safe_inv(d.astype(np.float32))[:, None]), 0, 15).astype(np.uint8)
        m = np.clip(np.rint(-mins * _safe_inv(dmin.astype(np.float32))[:, None]), 0, 15).astype(np.uint8)
        d1 = d.astype(np.float32)[:, None] * sc
        m1 = dmin.astype(np.float32)[:, None] * m
        q = np.clip(np.rint((sb + m1[:, :, None]) * _safe_inv(d1)[:, :, None]), 0, 3).astype(np.uint8)
        return np.concatenate([sc | (m << 4), _pack2(q.reshape(n, 256)), _f16bytes(d), _f16bytes(dmin)], axis=1).tobytes()
    if t == Q3_K:
        sb = v.reshape(n, 16, 16)
        scale = _signed_absmax(sb.reshape(n * 16, 16)).reshape(n, 16) / -4
        d = _to_f16(_signed_absmax(scale) / -32)
        sc = np.clip(np.rint(scale * _safe_inv(d.astype(np.float32))[:, None]), -32, 31).astype(np.int32)
        dsc = d.astype(np.float32)[:, None] * sc
        q = (np.clip(np.rint(sb * _safe_inv(dsc)[:, :, None]), -4, 3) + 4).astype(np.uint8).reshape(n, 256)
        hm = ((q >> 2).reshape(n, 8, 32) << np.arange(8, dtype=np.uint8)[None, :, None]).sum(axis=1).astype(np.uint8)
        u = (sc + 32).astype(np.uint8)
        s12 = np.empty((n, 12), np.uint8)
        s12[:, 0:8] = (u[:, 0:8] & 0xF) | ((u[:, 8:16] & 0xF) << 4)
        hi = (u >> 4).reshape(n, 4, 4)                               # [j // 4][j % 4]
        s12[:, 8:12] = hi[:, 0] | (hi[:, 1] << 2) | (hi[:, 2] << 4) | (hi[:, 3] << 6)
        return np.concatenate([hm, _pack2(q & 3), s12, _f16bytes(d)], axis=1).tobytes()
    if t in (IQ4_NL, IQ4_XS):
        sb = v.reshape(-1, 32)
        scale = _signed_absmax(sb) / -127.0                           # largest |x| on the grid's -127
        if t == IQ4_NL:
            d = _to_f16(scale)
            dl = d.astype(np.float32)
        else:
            scale = scale.reshape(n, 8)
            d = _to_f16(_signed_absmax(scale) / -32)
            ls = np.clip(np.rint(scale * _safe_inv(d.astype(np.float32))[:, None]), -32, 31).astype(np.int32)
            dl = (d.astype(np.float32)[:, None] * ls).reshape(-1)
        grid = IQ4_GRID.astype(np.float32)
        idx = np.argmin(np.abs(sb[:, :, None] * _safe_inv(dl)[:, None, None] - grid[None, None, :]), axis=2)
        idx = idx.astype(np.uint8)
        nib = (idx[:, :16] | (idx[:, 16:] << 4)).astype(np.uint8)
        if t == IQ4_NL:
            return np.concatenate([_f16bytes(d), nib], axis=1).tobytes()
        u = (ls + 32).astype(np.uint32)
        sh = ((u >> 4) << (2 * np.arange(8, dtype=np.uint32))).sum(axis=1).astype("<u2")
        sl = ((u[:, 0::2] & 0xF) | ((u[:, 1::2] & 0xF) << 4)).astype(np.uint8)
        return np.concatenate([_f16bytes(d), sh.view(np.uint8).reshape(n, 2), sl, nib.reshape(n, 128)], axis=1).tobytes()
    raise NotImplementedError("quantize: type %s" % type_name(t))


def _pack2(q):
    """(n, 256) 2-bit codes -> (n, 64) bytes: element 128h + 32k + l in bits 2k..2k+1 of byte 32h + l."""
    q = q.reshape(-1, 2, 4, 32).astype(np.uint8) & 3
    return (q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)).reshape(-1, 64)


# --------------------------------------------------------------------------------------------------
# random raw blocks (for bit-exactness tests of a dequantizer)

def random_fp16_scales(rng, n, lo=1e-3, hi=8.0, subnormal_share=0.02):
    """n finite fp16 values: log-uniform magnitudes in [lo, hi], random sign, a few subnormals/zeros."""
    mag = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    v = (mag * rng.choice([-1.0, 1.0], n)).astype(np.float16)
    k = rng.random(n) < subnormal_share
    sub = rng.integers(0, 0x400, n).astype(np.uint16) | (rng.integers(0, 2, n).astype(np.uint16) << 15)
    v = np.where(k, sub.view(np.float16), v)
    return v.astype("<f2")


def random_blocks(rng, t, n_elements):
    """Random raw bytes for n_elements of type t: random quant bytes, finite random fp16 scales
    (either sign, a few subnormals). F16/BF16: random finite bit patterns (incl. subnormals)."""
    t = type_from_name(t)
    if t == F32:
        return rng.standard_normal(n_elements).astype("<f4").tobytes()
    if t == F16:
        u = rng.integers(0, 1 << 16, n_elements).astype(np.uint16)
        u = np.where((u & 0x7C00) == 0x7C00, u & 0xBFFF, u)      # no inf/nan: clear top exponent bit
        return u.astype("<u2").tobytes()
    if t == BF16:
        u = rng.integers(0, 1 << 16, n_elements).astype(np.uint16)
        u = np.where((u & 0x7F80) == 0x7F80, u & 0xBFFF, u)
        return u.astype("<u2").tobytes()
    bs, bb = TYPE_INFO[t][1], TYPE_INFO[t][2]
    n = n_elements // bs
    b = rng.integers(0, 256, (n, bb), dtype=np.uint8)
    def put(off):
        b[:, off:off + 2] = random_fp16_scales(rng, n).view(np.uint8).reshape(n, 2)
    if t in (Q4_0, Q5_0, Q8_0):
        put(0)
    elif t in (Q4_1, Q5_1, Q4_K, Q5_K):
        put(0); put(2)
    elif t == Q6_K:
        put(208)
    elif t == Q2_K:
        put(80); put(82)
    elif t == Q3_K:
        put(108)
    elif t in (IQ4_NL, IQ4_XS):
        put(0)
    elif t in iquants.TYPES:
        return iquants.random_blocks(rng, t, n, random_fp16_scales(rng, n)).tobytes()
    else:
        raise NotImplementedError(type_name(t))
    return b.tobytes()
