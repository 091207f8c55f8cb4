"""Read a TensorFlow Saver V1 checkpoint without TensorFlow.

The V1 format (TF <= 1.x ``tf.train.Saver(write_version=V1)``, e.g. the authors' EnhanceNet-Code ``weights``) is
one LevelDB-style SSTable: data blocks of prefix-compressed key/value entries, each block followed by a compression
byte and a masked CRC32C, an index block, and a 48-byte footer ending in a magic number. The key ``""`` holds a
``SavedTensorSlices`` protocol buffer with the metadata (names, shapes, dtypes, slices); every other key holds one
slice's ``SavedSlice`` with a ``TensorProto``. Only a handful of protobuf fields are needed, so they are decoded
from the wire format here (the ``.proto`` classes ship only with TensorFlow).
"""

import struct
from dataclasses import dataclass
from pathlib import Path

import google_crc32c
import numpy as np

_MAGIC = 0xDB4775248B80FB57  # LevelDB / TF table footer magic
_FOOTER = 48
_CRC_MASK_DELTA = 0xA282EAD8
# TF DataType enum -> (numpy dtype, TensorProto field holding packed values); other dtypes are listed, not decoded.
_DTYPES = {1: (np.float32, 5), 2: (np.float64, 6), 3: (np.int32, 7), 9: (np.int64, 10)}
_DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 6: "int8", 7: "string", 9: "int64", 10: "bool"}


class TFCheckpointError(ValueError):
    """The file is not a readable TensorFlow V1 checkpoint; the message names the file and the problem."""


@dataclass(frozen=True)
class TFVariable:
    """One variable of a checkpoint: its name, full shape and dtype name (``"float32"``, ...)."""

    name: str
    shape: tuple[int, ...]
    dtype: str


# ---- protobuf wire format --------------------------------------------------------------------------------------
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise IndexError("varint runs past the end")
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: ints for varint fields, bytes for the others."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if i > len(buf):
            raise IndexError("field runs past the end")
        out.append((number, value))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _shape(buf: bytes) -> tuple[int, ...]:
    """TensorShapeProto: repeated Dim dim = 2 {int64 size = 1}."""
    dims = []
    for number, dim in _fields(buf):
        if number == 2:
            dims.append(next((_signed(v) for n, v in _fields(dim) if n == 1), 0))
    return tuple(dims)


def _slice(buf: bytes, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """TensorSliceProto: repeated Extent extent = 1 {int64 start = 1; int64 length = 2 (absent: whole dim)}."""
    extents = [dict(_fields(e)) for n, e in _fields(buf) if n == 1]
    if not extents:  # a full slice may list no extents
        return tuple(slice(None) for _ in shape)
    out = []
    for ext, size in zip(extents, shape, strict=True):
        start = _signed(ext.get(1, 0))
        out.append(slice(start, start + _signed(ext[2])) if 2 in ext else slice(0, size))
    return tuple(out)


# ---- SSTable ---------------------------------------------------------------------------------------------------
def _block(data: bytes, offset: int, size: int, path: Path) -> list[tuple[bytes, bytes]]:
    """The entries of the block at ``offset`` after checking its trailer's CRC32C."""
    end = offset + size + 5
    if offset < 0 or end > len(data) - _FOOTER:
        raise TFCheckpointError(f"{path} is truncated: a block at byte {offset} ends past the data")
    block, kind, stored = data[offset : offset + size], data[offset + size], data[offset + size + 1 : end]
    crc = google_crc32c.value(data[offset : offset + size + 1])
    masked = (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF
    if masked != struct.unpack("<I", stored)[0]:
        raise TFCheckpointError(
            f"{path} is corrupt: the block at byte {offset} fails its CRC32C check; get a fresh copy of the file"
        )
    if kind != 0:
        raise TFCheckpointError(f"{path}: block at byte {offset} is compressed (type {kind}); only raw blocks are read")
    num_restarts = struct.unpack("<I", block[-4:])[0]
    limit, i, key, entries = len(block) - 4 - 4 * num_restarts, 0, b"", []
    while i < limit:
        shared, i = _varint(block, i)
        unshared, i = _varint(block, i)
        length, i = _varint(block, i)
        key = key[:shared] + block[i : i + unshared]
        i += unshared
        entries.append((key, block[i : i + length]))
        i += length
    return entries


def _table(path: Path) -> list[tuple[bytes, bytes]]:
    """All key/value entries of the SSTable at ``path``, in key order."""
    data = path.read_bytes()
    if len(data) < _FOOTER or struct.unpack("<Q", data[-8:])[0] != _MAGIC:
        raise TFCheckpointError(
            f"{path} is not a TensorFlow V1 checkpoint (no SSTable footer: wrong file, or truncated); "
            f"pass the file named `weights` of EnhanceNet-Code"
        )
    footer = data[-_FOOTER:]
    _, i = _varint(footer, 0)  # metaindex offset
    _, i = _varint(footer, i)  # metaindex size
    index_offset, i = _varint(footer, i)
    index_size, _ = _varint(footer, i)
    entries = []
    for _, handle in _block(data, index_offset, index_size, path):
        offset, j = _varint(handle, 0)
        size, _ = _varint(handle, j)
        entries += _block(data, offset, size, path)
    return entries


# ---- checkpoint --------------------------------------------------------------------------------------------------
def read_tf_v1_checkpoint(path: str | Path) -> tuple[dict[str, TFVariable], dict[str, np.ndarray]]:
    """The variables of a TF Saver V1 checkpoint and their values.

    Every block's CRC32C is checked. Variables of dtypes other than float32/float64/int32/int64 are listed in
    the first dict but not decoded.

    Args:
        path: the checkpoint file (e.g. EnhanceNet-Code's ``weights``).

    Returns:
        ``(variables, arrays)``: name -> :class:`TFVariable`, and name -> numpy array of the variable's shape.

    Raises:
        FileNotFoundError: no such file.
        TFCheckpointError: not an SSTable, truncated, a failed CRC, or inconsistent contents.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass the checkpoint file in it (EnhanceNet-Code: `weights`)")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    try:
        entries = _table(path)
    except (IndexError, struct.error, ValueError) as err:
        if isinstance(err, TFCheckpointError):
            raise
        raise TFCheckpointError(f"{path} is not a readable TensorFlow V1 checkpoint ({err})") from err
    if not entries or entries[0][0] != b"":
        raise TFCheckpointError(f"{path} is an SSTable without checkpoint metadata: not a TensorFlow V1 checkpoint")
    try:
        return _decode(entries, path)
    except (IndexError, KeyError, ValueError, TypeError) as err:
        if isinstance(err, TFCheckpointError):
            raise
        raise TFCheckpointError(f"{path}: malformed checkpoint contents ({type(err).__name__}: {err})") from err


def _decode(entries: list[tuple[bytes, bytes]], path: Path) -> tuple[dict[str, TFVariable], dict[str, np.ndarray]]:
    meta = next((v for n, v in _fields(entries[0][1]) if n == 1), None)  # SavedTensorSlices.meta
    if isinstance(meta, int):  # BundleHeaderProto.num_shards: the .index file of a TF Saver V2 checkpoint
        raise TFCheckpointError(
            f"{path} is the index of a TensorFlow Saver V2 checkpoint (.index / .data files); only V1 files such as "
            f"EnhanceNet-Code's `weights` are read"
        )
    if meta is None:
        raise TFCheckpointError(f"{path}: metadata entry without SavedTensorSliceMeta: not a TF V1 checkpoint")
    variables, dtype_ids = {}, {}
    for number, value in _fields(meta):
        if number != 1:  # SavedTensorSliceMeta.tensor (2 = versions)
            continue
        f = _fields(value)  # SavedSliceMeta: name = 1, shape = 2, type = 3, slice = 4
        name = _name(f, path)
        shape = _shape(next((v for n, v in f if n == 2), b""))
        dtype = next((v for n, v in f if n == 3), 0)
        variables[name] = TFVariable(name, shape, _DTYPE_NAMES.get(dtype, f"dtype {dtype}"))
        dtype_ids[name] = dtype
    arrays: dict[str, np.ndarray] = {}
    covered: dict[str, np.ndarray] = {}  # which elements some slice has written
    for _, value in entries[1:]:
        data = next((v for n, v in _fields(value) if n == 2), None)  # SavedTensorSlices.data
        if data is None:
            continue
        f = _fields(data)  # SavedSlice: name = 1, slice = 2, data = 3
        name = _name(f, path)
        if name not in variables:
            raise TFCheckpointError(f"{path}: slice of {name!r}, a variable the metadata does not list")
        if dtype_ids[name] not in _DTYPES:
            continue
        np_dtype, field = _DTYPES[dtype_ids[name]]
        var = variables[name]
        index = _slice(next((v for n, v in f if n == 2), b""), var.shape)
        values = _values(next((v for n, v in f if n == 3), b""), np_dtype, field)
        target = arrays.setdefault(name, np.zeros(var.shape, np_dtype))
        mask = covered.setdefault(name, np.zeros(var.shape, bool))
        region = target[index]
        if values.size != region.size or mask[index].any():
            raise TFCheckpointError(
                f"{path}: a slice of {name} {var.shape} holds {values.size} values for a region of {region.size}, "
                f"or overlaps another slice: the file is corrupt; get a fresh copy"
            )
        target[index] = values.reshape(region.shape)
        mask[index] = True
    for name, var in variables.items():
        n = int(np.prod(var.shape, dtype=np.int64))
        stored = int(covered[name].sum()) if name in covered else 0
        if dtype_ids[name] in _DTYPES and stored != n:
            raise TFCheckpointError(
                f"{path}: variable {name} {var.shape} has {stored} of its {n} values stored: the file is "
                f"incomplete; get a fresh copy"
            )
    return variables, arrays


def _name(fields: list[tuple[int, int | bytes]], path: Path) -> str:
    """Field 1 (the tensor name) of a SavedSliceMeta / SavedSlice."""
    name = next((v for n, v in fields if n == 1), None)
    if not isinstance(name, bytes):
        raise TFCheckpointError(f"{path}: a tensor entry has no name: the file is corrupt; get a fresh copy")
    return name.decode()


def _values(tensor: bytes, np_dtype: type, field: int) -> np.ndarray:
    """The values of a TensorProto: packed (or repeated) ``*_val`` fields, or ``tensor_content`` (field 4)."""
    parts = [(n, v) for n, v in _fields(tensor) if n in (4, field)]
    if any(n == 4 for n, _ in parts):
        return np.frombuffer(b"".join(v for n, v in parts if n == 4), dtype=np.dtype(np_dtype).newbyteorder("<"))
    if np_dtype in (np.float32, np.float64):
        raw = b"".join(v for _, v in parts)  # packed bytes and single fixed-width values concatenate alike
        return np.frombuffer(raw, dtype=np.dtype(np_dtype).newbyteorder("<")).astype(np_dtype)
    ints: list[int] = []
    for _, v in parts:  # varint-encoded integers: packed bytes or single values
        if isinstance(v, int):
            ints.append(_signed(v))
            continue
        i = 0
        while i < len(v):
            x, i = _varint(v, i)
            ints.append(_signed(x))
    return np.array(ints, dtype=np_dtype)
