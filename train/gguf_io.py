"""Minimal GGUF v3 writer and reader (own implementation, F32/F16 tensors only)."""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
GGML_F32, GGML_F16 = 0, 1
_SCALAR_FMT = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i",
               T_F32: "<f", T_BOOL: "<?", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class GGUFWriter:
    def __init__(self, alignment=32):
        self.kv = []        # (key, type, value, elem_type)
        self.tensors = []   # (name, np.ndarray (already in storage dtype), ggml_type)
        self.alignment = alignment

    def add(self, key, vtype, value, elem_type=None):
        self.kv.append((key, vtype, value, elem_type))

    def add_str(self, k, v): self.add(k, T_STR, v)
    def add_u32(self, k, v): self.add(k, T_U32, int(v))
    def add_i32(self, k, v): self.add(k, T_I32, int(v))
    def add_f32(self, k, v): self.add(k, T_F32, float(v))
    def add_bool(self, k, v): self.add(k, T_BOOL, bool(v))
    def add_arr(self, k, etype, vals): self.add(k, T_ARR, list(vals), etype)

    def add_tensor(self, name, arr, ggml_type):
        """arr: numpy array in torch (row-major) shape; ggml ne = reversed shape."""
        dt = np.float32 if ggml_type == GGML_F32 else np.float16
        self.tensors.append((name, np.ascontiguousarray(arr, dtype=dt), ggml_type))

    def _val(self, vtype, v, etype=None):
        if vtype == T_STR:
            return _str(v)
        if vtype == T_ARR:
            out = struct.pack("<IQ", etype, len(v))
            if etype == T_STR:
                return out + b"".join(_str(x) for x in v)
            return out + np.asarray(v, dtype=np.dtype(_SCALAR_FMT[etype])).tobytes()
        return struct.pack(_SCALAR_FMT[vtype], v)

    def write(self, path):
        al = self.alignment
        pad = lambda n: (al - n % al) % al
        head = bytearray(GGUF_MAGIC + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
        for k, t, v, et in self.kv:
            head += _str(k) + struct.pack("<I", t) + self._val(t, v, et)
        offs, off = [], 0
        for name, arr, gt in self.tensors:
            offs.append(off)
            off += arr.nbytes + pad(arr.nbytes)
        for (name, arr, gt), o in zip(self.tensors, offs):
            ne = list(reversed(arr.shape))
            head += _str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
            head += struct.pack("<IQ", gt, o)
        head += b"\0" * pad(len(head))
        with open(path, "wb") as f:
            f.write(head)
            for name, arr, gt in self.tensors:
                f.write(arr.tobytes())
                f.write(b"\0" * pad(arr.nbytes))


def read_gguf(path):
    """Returns (metadata dict, {name: np.ndarray float32 in torch shape})."""
    data = open(path, "rb").read()
    pos = 0

    def rd(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def rstr():
        nonlocal pos
        n = rd("<Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def rval(t):
        if t == T_STR:
            return rstr()
        if t == T_ARR:
            et, n = rd("<IQ")
            return [rval(et) for _ in range(n)]
        return rd(_SCALAR_FMT[t])

    assert data[:4] == GGUF_MAGIC, "not a GGUF file"
    pos = 4
    ver, n_t, n_kv = rd("<IQQ")
    assert ver in (2, 3)
    meta = {}
    for _ in range(n_kv):
        k = rstr()
        meta[k] = rval(rd("<I"))
    infos = []
    for _ in range(n_t):
        name = rstr()
        nd = rd("<I")
        ne = [rd("<Q") for _ in range(nd)]
        gt, off = rd("<IQ")
        infos.append((name, ne, gt, off))
    al = meta.get("general.alignment", 32)
    base = pos + (al - pos % al) % al
    tensors = {}
    for name, ne, gt, off in infos:
        n = int(np.prod(ne))
        if gt == GGML_F32:
            a = np.frombuffer(data, np.float32, n, base + off)
        elif gt == GGML_F16:
            a = np.frombuffer(data, np.float16, n, base + off)
        else:
            raise ValueError(f"{name}: unsupported ggml type {gt}")
        tensors[name] = a.astype(np.float32).reshape(list(reversed(ne)))
    return meta, tensors
