"""gguf.py - GGUF reading and writing for the project's offline Python tools.

The engine's own reader/writer is C (src/gguf.c). This module exists so that the
training export and the PyTorch reference generator can write and read the same
files without a third-party package: Debian ships none. Quantizers follow ggml's
reference rounding (Q8_0, Q4_0) so a tensor written here dequantizes in the
engine to exactly the values this module's dequantize() returns.
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
ALIGNMENT = 32

# value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
               FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}
_NP_OF = {UINT8: np.uint8, INT8: np.int8, UINT16: np.uint16, INT16: np.int16, UINT32: np.uint32,
          INT32: np.int32, FLOAT32: np.float32, BOOL: np.bool_, UINT64: np.uint64, INT64: np.int64,
          FLOAT64: np.float64}

# tensor types (ggml ids): name -> (id, block elems, block bytes)
TYPES = {"f32": (0, 1, 4), "f16": (1, 1, 2), "q4_0": (2, 32, 18), "q8_0": (8, 32, 34), "bf16": (30, 1, 2)}
TYPE_BY_ID = {v[0]: k for k, v in TYPES.items()}


def _round_away(x):
    """C's roundf: halves away from zero (numpy rounds them to even)."""
    t = np.trunc(x)
    return (t + np.where(np.abs(x - t) >= np.float32(0.5), np.sign(x), 0)).astype(np.float32)


def _f32_to_bf16(x):
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16  # round to nearest even
    nan = np.isnan(x)
    out = rounded.astype(np.uint16)
    out[nan] = ((bits[nan] >> 16) | 64).astype(np.uint16)
    return out


def quantize(x, tname):
    """float32 array (rows, cols) -> bytes of the row-major tensor in type tname."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if tname == "f32":
        return x.tobytes()
    if tname == "f16":
        return x.astype(np.float16).tobytes()
    if tname == "bf16":
        return _f32_to_bf16(x).tobytes()
    blocks = x.reshape(-1, 32)
    if tname == "q8_0":
        amax = np.abs(blocks).max(axis=1)
        d = (amax / np.float32(127)).astype(np.float32)
        inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)
        q = _round_away(blocks * inv[:, None]).astype(np.int8)
        out = np.zeros(len(blocks), dtype=[("d", "<f2"), ("qs", "i1", 32)])
        out["d"] = d.astype(np.float16)
        out["qs"] = q
        return out.tobytes()
    if tname == "q4_0":
        idx = np.abs(blocks).argmax(axis=1)
        mx = blocks[np.arange(len(blocks)), idx]
        d = (mx / np.float32(-8)).astype(np.float32)
        inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)
        q = np.trunc(blocks * inv[:, None] + np.float32(8.5)).astype(np.int32)
        q = np.minimum(q, 15).astype(np.uint8)
        out = np.zeros(len(blocks), dtype=[("d", "<f2"), ("qs", "u1", 16)])
        out["d"] = d.astype(np.float16)
        out["qs"] = q[:, :16] | (q[:, 16:] << 4)
        return out.tobytes()
    raise ValueError("unsupported tensor type " + tname)


def dequantize(raw, tname, shape):
    """bytes of a tensor -> float32 array of shape (rows..., cols)."""
    n = int(np.prod(shape))
    if tname == "f32":
        return np.frombuffer(raw, dtype="<f4", count=n).reshape(shape).copy()
    if tname == "f16":
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32).reshape(shape)
    if tname == "bf16":
        b = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16
        return b.view(np.float32).reshape(shape)
    if tname == "q8_0":
        blk = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "i1", 32)], count=n // 32)
        v = blk["qs"].astype(np.float32) * blk["d"].astype(np.float32)[:, None]
        return v.reshape(shape)
    if tname == "q4_0":
        blk = np.frombuffer(raw, dtype=[("d", "<f2"), ("qs", "u1", 16)], count=n // 32)
        lo = (blk["qs"] & 15).astype(np.float32) - 8
        hi = (blk["qs"] >> 4).astype(np.float32) - 8
        v = np.concatenate([lo, hi], axis=1) * blk["d"].astype(np.float32)[:, None]
        return v.reshape(shape)
    raise ValueError("unsupported tensor type " + tname)


def _pack_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


class Writer:
    """Collects metadata and tensors; write() lays out a GGUF v3 file."""

    def __init__(self):
        self.kv = []       # (key, type, value, elem_type)
        self.tensors = []  # (name, ne list, type id, bytes)

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value, None))

    def add_array(self, key, elem_type, values):
        self.kv.append((key, ARRAY, list(values), elem_type))

    def add_tensor(self, name, array, tname="f32"):
        array = np.asarray(array, dtype=np.float32)
        ne = list(reversed(array.shape))
        self.tensors.append((name, ne, TYPES[tname][0], quantize(array, tname)))

    def _value(self, vtype, value):
        if vtype == STRING:
            return _pack_str(value)
        return struct.pack(_SCALAR_FMT[vtype], value)

    def write(self, path):
        out = bytearray()
        out += GGUF_MAGIC + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))
        for key, vtype, value, et in self.kv:
            out += _pack_str(key) + struct.pack("<I", vtype)
            if vtype == ARRAY:
                out += struct.pack("<IQ", et, len(value))
                if et == STRING:
                    for v in value:
                        out += _pack_str(v)
                else:
                    out += np.asarray(value, dtype=_NP_OF[et]).tobytes()
            else:
                out += self._value(vtype, value)
        offset = 0
        for name, ne, tid, raw in self.tensors:
            out += _pack_str(name) + struct.pack("<I", len(ne))
            out += struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", tid, offset)
            offset += (len(raw) + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
        out += b"\0" * (-len(out) % ALIGNMENT)
        for _, _, _, raw in self.tensors:
            out += raw + b"\0" * (-len(raw) % ALIGNMENT)
        with open(path, "wb") as f:
            f.write(out)


class Reader:
    """Reads a GGUF file: .kv (dict key -> python value) and tensor(name) -> float32 array."""

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        if self._take(4) != GGUF_MAGIC:
            raise ValueError(path + ": not a GGUF file")
        version, n_tensors, n_kv = struct.unpack("<IQQ", self._take(20))
        if version not in (2, 3):
            raise ValueError(path + ": unsupported GGUF version %d" % version)
        self.kv = {}
        for _ in range(n_kv):
            key = self._str()
            (vtype,) = struct.unpack("<I", self._take(4))
            self.kv[key] = self._read_value(vtype)
        self.infos = {}
        for _ in range(n_tensors):
            name = self._str()
            (nd,) = struct.unpack("<I", self._take(4))
            ne = struct.unpack("<%dQ" % nd, self._take(8 * nd))
            tid, off = struct.unpack("<IQ", self._take(12))
            self.infos[name] = (list(ne), TYPE_BY_ID[tid], off)
        align = self.kv.get("general.alignment", ALIGNMENT)
        self.data_start = (self.pos + align - 1) // align * align

    def _take(self, n):
        b = self.buf[self.pos:self.pos + n]
        if len(b) != n:
            raise ValueError("truncated GGUF")
        self.pos += n
        return b

    def _str(self):
        (n,) = struct.unpack("<Q", self._take(8))
        return self._take(n).decode("utf-8", errors="surrogateescape")

    def _read_value(self, vtype):
        if vtype == STRING:
            return self._str()
        if vtype == ARRAY:
            et, n = struct.unpack("<IQ", self._take(12))
            if et == STRING:
                return [self._str() for _ in range(n)]
            size = np.dtype(_NP_OF[et]).itemsize
            return np.frombuffer(self._take(size * n), dtype=_NP_OF[et]).copy()
        (v,) = struct.unpack(_SCALAR_FMT[vtype], self._take(struct.calcsize(_SCALAR_FMT[vtype])))
        return v

    def tensor(self, name):
        ne, tname, off = self.infos[name]
        _, be, bb = TYPES[tname]
        n = int(np.prod(ne))
        start = self.data_start + off
        raw = self.buf[start:start + n // be * bb]
        return dequantize(raw, tname, tuple(reversed(ne)))

    def tensor_type(self, name):
        return self.infos[name][1]
