"""GGUF v2/v3 reader and writer (little-endian) -- part of the independent numpy oracle.

Layout: magic "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv x (string key, u32 type, value);
n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset); padding to
`general.alignment` (default 32); the data section.  Tensor offsets are relative to the data section.
Strings are u64 length + bytes (no terminator).  ggml order: ne[0] is the fastest dimension, so a
tensor with ne {H, V} is the numpy array of shape (V, H).

The writer takes raw tensor bytes (so tests can write arbitrary, even malformed or adversarial data)
or numpy arrays plus a target type (quantized with quants.quantize).
"""
import struct

import numpy as np

import quants

GGUF_MAGIC = b"GGUF"
# metadata value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
           FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
_NP = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2", UINT32: "<u4", INT32: "<i4",
       FLOAT32: "<f4", BOOL: "<u1", UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}
DEFAULT_ALIGNMENT = 32


class GGUFError(Exception):
    pass


class TensorInfo:
    def __init__(self, name, ne, ggml_type, offset):
        self.name, self.ne, self.type, self.offset = name, tuple(int(x) for x in ne), int(ggml_type), int(offset)

    @property
    def n_elements(self):
        n = 1
        for x in self.ne:
            n *= x
        return n

    @property
    def nbytes(self):
        return quants.nbytes(self.type, self.n_elements)

    @property
    def shape(self):
        """numpy shape (slowest first)."""
        return tuple(reversed(self.ne))

    def __repr__(self):
        return "TensorInfo(%s, ne=%s, %s, off=%d)" % (self.name, self.ne, quants.type_name(self.type), self.offset)


class GGUFReader:
    def __init__(self, path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        if self.buf.size < 24 or bytes(self.buf[:4]) != GGUF_MAGIC:
            raise GGUFError("%s: not a GGUF file" % path)
        self.pos = 4
        self.version = self._u("<I")
        if self.version not in (2, 3):
            raise GGUFError("unsupported GGUF version %d" % self.version)
        n_tensors = self._u("<Q")
        n_kv = self._u("<Q")
        self.metadata = {}
        self.metadata_types = {}
        for _ in range(n_kv):
            key = self._str()
            vt = self._u("<I")
            val, et = self._value(vt)
            self.metadata[key] = val
            self.metadata_types[key] = (vt, et)
        self.tensors = {}
        self.tensor_order = []
        for _ in range(n_tensors):
            name = self._str()
            nd = self._u("<I")
            ne = [self._u("<Q") for _ in range(nd)]
            tt = self._u("<I")
            off = self._u("<Q")
            if name in self.tensors:
                raise GGUFError("duplicate tensor %s" % name)
            self.tensors[name] = TensorInfo(name, ne, tt, off)
            self.tensor_order.append(name)
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        self.data_offset = (self.pos + self.alignment - 1) // self.alignment * self.alignment

    # -- low level
    def _take(self, n):
        if self.pos + n > self.buf.size:
            raise GGUFError("truncated file")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def _u(self, fmt):
        return struct.unpack(fmt, bytes(self._take(struct.calcsize(fmt))))[0]

    def _str(self):
        n = self._u("<Q")
        return bytes(self._take(n)).decode("utf-8", errors="surrogateescape")

    def _value(self, vt):
        if vt in _SCALAR:
            return self._u(_SCALAR[vt]), None
        if vt == STRING:
            return self._str(), None
        if vt == ARRAY:
            et = self._u("<I")
            n = self._u("<Q")
            if et == STRING:
                return [self._str() for _ in range(n)], et
            if et == ARRAY:
                return [self._value(ARRAY)[0] for _ in range(n)], et
            if et not in _NP:
                raise GGUFError("bad array element type %d" % et)
            a = np.frombuffer(bytes(self._take(n * np.dtype(_NP[et]).itemsize)), dtype=_NP[et])
            return (a.astype(bool) if et == BOOL else a).tolist(), et
        raise GGUFError("bad metadata type %d" % vt)

    # -- tensors
    def raw(self, name):
        ti = self.tensors[name]
        start = self.data_offset + ti.offset
        end = start + ti.nbytes
        if end > self.buf.size:
            raise GGUFError("tensor %s data out of file" % name)
        return self.buf[start:end]

    def tensor(self, name):
        """dequantized float32 numpy array, shape reversed(ne)."""
        ti = self.tensors[name]
        return quants.dequantize(self.raw(name), ti.type, ti.n_elements).reshape(ti.shape)

    def get(self, key, default=None):
        return self.metadata.get(key, default)


# --------------------------------------------------------------------------------------------------

def _infer_type(v):
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return BOOL
    if isinstance(v, (int, np.integer)):
        return UINT32 if 0 <= v < 2 ** 32 else (INT32 if -2 ** 31 <= v < 2 ** 31 else INT64)
    if isinstance(v, (float, np.floating)):
        return FLOAT32
    if isinstance(v, str):
        return STRING
    if isinstance(v, (list, tuple, np.ndarray)):
        return ARRAY
    raise TypeError("cannot infer GGUF type of %r" % (v,))


def _pack_str(s):
    b = s.encode("utf-8", errors="surrogateescape") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _pack_value(vt, v, et=None):
    if vt in _SCALAR:
        return struct.pack(_SCALAR[vt], v)
    if vt == STRING:
        return _pack_str(v)
    if vt == ARRAY:
        v = list(v)
        if et is None:
            et = _infer_type(v[0]) if v else INT32
            if et == UINT32 and any(x < 0 for x in v):
                et = INT32
        out = struct.pack("<IQ", et, len(v))
        if et in _NP:
            return out + np.asarray(v).astype(_NP[et]).tobytes()
        return out + b"".join(_pack_value(et, x) for x in v)
    raise TypeError("bad type %d" % vt)


class GGUFWriter:
    """kv = GGUFWriter(); kv.add("key", value[, vtype, elem_type]); kv.add_tensor(...); kv.write(path)."""

    def __init__(self, version=3, alignment=None):
        self.version = version
        self.kv = []                 # (key, vtype, value, elem_type)
        self.tensors = []            # (name, ne, type, bytes, explicit offset or None)
        self.alignment = alignment
        if alignment is not None:
            self.add("general.alignment", int(alignment), UINT32)

    def add(self, key, value, vtype=None, elem_type=None):
        self.kv.append((key, _infer_type(value) if vtype is None else vtype, value, elem_type))

    def add_tensor(self, name, ne, ggml_type, data, offset=None, check=True):
        """data: raw bytes, or a float numpy array (shape reversed(ne)) to quantize to ggml_type."""
        t = quants.type_from_name(ggml_type)
        ne = tuple(int(x) for x in ne)
        if isinstance(data, np.ndarray) and data.dtype != np.uint8:
            n = int(np.prod(ne))
            if data.size != n:
                raise ValueError("%s: %d elements for ne %s" % (name, data.size, ne))
            data = quants.quantize(data.reshape(-1), t)
        data = bytes(data)
        if check and len(data) != quants.nbytes(t, int(np.prod(ne))):
            raise ValueError("%s: %d bytes, expected %d" % (name, len(data), quants.nbytes(t, int(np.prod(ne)))))
        self.tensors.append((name, ne, t, data, offset))

    def add_array(self, name, arr, ggml_type):
        """numpy array (slowest dim first) -> tensor with ne = reversed(shape)."""
        self.add_tensor(name, tuple(reversed(arr.shape)), ggml_type, np.asarray(arr, np.float32))

    def to_bytes(self):
        align = self.alignment or DEFAULT_ALIGNMENT
        head = [GGUF_MAGIC, struct.pack("<IQQ", self.version, len(self.tensors), len(self.kv))]
        for key, vt, v, et in self.kv:
            head.append(_pack_str(key) + struct.pack("<I", vt) + _pack_value(vt, v, et))
        offsets, off = [], 0
        for name, ne, t, data, eoff in self.tensors:
            if eoff is None:
                off = (off + align - 1) // align * align
                offsets.append(off)
                off += len(data)
            else:
                offsets.append(eoff)
        for (name, ne, t, data, eoff), o in zip(self.tensors, offsets):
            head.append(_pack_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
                        + struct.pack("<IQ", t, o))
        h = b"".join(head)
        h += b"\0" * ((-len(h)) % align)
        end = max([o + len(d) for (_, _, _, d, _), o in zip(self.tensors, offsets)] + [0])
        body = bytearray(end)
        for (name, ne, t, data, eoff), o in zip(self.tensors, offsets):
            body[o:o + len(data)] = data
        return h + bytes(body)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())
