"""safetensors files, TF-free: a writer that streams one tensor at a time, and a reader.

The format (as the safetensors project documents it): 8 bytes, the little-endian
u64 length N of a UTF-8 JSON header; the header; then the tensors' bytes, each
C-ordered and little-endian, back to back. The header maps each name to
`{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}` (offsets from the
end of the header) and may hold `__metadata__`, a str -> str map. Because every
name, dtype and shape is known from the checkpoint's index before any value is
read, the header is written first and the values follow one by one: memory holds
one tensor, never the whole file. The `safetensors` package cannot do that (its
writers take every tensor at once), so the bytes are written here; its loader
(`safetensors.numpy.load_file`) is what the tests read them back with.

Our metadata: `tfckpt_format` ("tfckpt-weights"), `format_version`, `source`,
`source_format`, and `step` when the checkpoint has one. Names are the checkpoint's
(or what --preset/--map/--drop made of them). Strings have no safetensors dtype.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from inspectors.errors import CorruptCheckpoint, SourceNotFound, UnsupportedSource, VerificationFailed
from inspectors.formats.checkpoint import VariableInfo, kind_of, numpy_dtype

SAFETENSORS = "safetensors"
METADATA = "__metadata__"
FORMAT_TAG = "tfckpt-weights"
FORMAT_VERSION = 1
ALIGNMENT = 8  # the header is padded with spaces so that the data starts 8-aligned
MAX_HEADER = 100 * 1024 * 1024  # the safetensors loader refuses larger headers too

# checkpoint dtype names -> safetensors dtype codes
CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
         "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "int64": "I64", "int32": "I32",
         "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32", "uint16": "U16",
         "uint8": "U8", "bool": "BOOL", "complex64": "C64"}
DTYPES = {code: name for name, code in CODES.items()}


@dataclass(frozen=True)
class TensorSlot:
    """One tensor's place in the file."""

    name: str
    dtype: str  # checkpoint dtype name
    shape: tuple[int, ...]
    begin: int
    end: int

    def to_dict(self) -> dict:
        return {"dtype": CODES[self.dtype], "shape": list(self.shape),
                "data_offsets": [self.begin, self.end]}


def refuse_unwritable(tensors: Sequence[tuple[str, str, tuple[int, ...]]]) -> None:
    """One line naming the first tensor whose dtype safetensors cannot hold, and how many."""
    bad = [(name, dtype) for name, dtype, _shape in tensors if dtype not in CODES]
    if not bad:
        return
    name, dtype = bad[0]
    what = "strings" if dtype == "string" else f"dtype {dtype}"
    raise UnsupportedSource(f"safetensors cannot hold {what}: {len(bad)} variable(s) such as "
                            f"{name!r}. Drop them with --drop REGEX, or export to .h5 or .npz")


def layout(tensors: Sequence[tuple[str, str, tuple[int, ...]]]) -> list[TensorSlot]:
    """Consecutive byte ranges, in the order given."""
    slots, offset = [], 0
    for name, dtype, shape in tensors:
        size = int(np.prod(shape, dtype=np.int64)) * numpy_dtype(dtype).itemsize
        slots.append(TensorSlot(name=name, dtype=dtype, shape=tuple(shape), begin=offset,
                                end=offset + size))
        offset += size
    return slots


def header_bytes(slots: Sequence[TensorSlot], metadata: dict[str, str]) -> bytes:
    """The length prefix and the JSON header, padded so the data starts aligned."""
    document = {METADATA: dict(metadata), **{slot.name: slot.to_dict() for slot in slots}}
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % ALIGNMENT)
    return struct.pack("<Q", len(text)) + text


class SafetensorsWriter:
    """Header first, then `add` each tensor in the order the header lists them."""

    def __init__(self, path: str, tensors: Sequence[tuple[str, str, tuple[int, ...]]],
                 metadata: dict[str, str]):
        refuse_unwritable(tensors)
        self.slots = layout(tensors)
        self._next = 0
        self._file = open(path, "wb")
        self._file.write(header_bytes(self.slots, metadata))

    def add(self, name: str, value: Any) -> None:
        slot = self.slots[self._next]
        array = little_endian(np.asarray(value))
        if name != slot.name or array.shape != slot.shape or array.dtype != numpy_dtype(slot.dtype):
            raise VerificationFailed(f"variable {name!r} is {array.dtype}{list(array.shape)}, not "
                                     f"the {slot.dtype}{list(slot.shape)} the header announced "
                                     f"for {slot.name!r}; nothing was kept")
        self._file.write(array.reshape(-1).view(np.uint8).data)  # no copy: its buffer
        self._next += 1

    def close(self) -> None:
        self._file.close()


def little_endian(array: np.ndarray) -> np.ndarray:
    """C-ordered and little-endian, as the format stores every tensor."""
    if _swapped(array.dtype):
        array = array.byteswap().view(array.dtype.newbyteorder("="))
    return array if array.flags.c_contiguous else np.ascontiguousarray(array).reshape(array.shape)


def _swapped(dtype: np.dtype) -> bool:
    """Are this dtype's bytes in the other order than the file's (little-endian)?"""
    if dtype.itemsize == 1 or dtype.byteorder == "|":
        return False
    return dtype.byteorder == ">" or (dtype.byteorder in "=" and not np.little_endian)


class SafetensorsReader:
    """A safetensors file (ours or anyone's) with the checkpoint reader interface."""

    def __init__(self, path: str, *, given: str | None = None):
        self.path = path
        self.given = given or path
        with open(path, "rb") as handle:
            self.slots, self.metadata, self.data_start = _parse_header(handle, self.given)
        self.ours = self.metadata.get("tfckpt_format") == FORMAT_TAG
        self.label = f"{SAFETENSORS} ({'tfckpt' if self.ours else 'plain'})"

    @property
    def step(self) -> int | None:
        text = self.metadata.get("step", "")
        return int(text) if text.lstrip("-").isdigit() and int(text) >= 0 else None

    def variables(self) -> list[VariableInfo]:
        return sorted((VariableInfo(name=slot.name, dtype=slot.dtype, shape=slot.shape,
                                    kind=kind_of(slot.name)) for slot in self.slots.values()),
                      key=lambda info: info.name)

    def read(self, name: str) -> np.ndarray:
        slot = self.slots.get(name)
        if slot is None:
            raise SourceNotFound(f"no variable {name!r} in {self.given}")
        with open(self.path, "rb") as handle:
            handle.seek(self.data_start + slot.begin)
            data = handle.read(slot.end - slot.begin)
        if len(data) != slot.end - slot.begin:
            raise CorruptCheckpoint(f"{self.given} ends inside variable {name!r}. "
                                    f"Export it again")
        value = np.frombuffer(data, dtype=numpy_dtype(slot.dtype)).reshape(slot.shape)
        return value.byteswap() if _swapped(value.dtype) else value

    def close(self) -> None:
        pass


def looks_like_safetensors(head: bytes) -> bool:
    """The first 9 bytes: a plausible header length, then the header's `{`."""
    if len(head) < 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 2 <= length <= MAX_HEADER and head[8:9] == b"{"


def _parse_header(handle, given: str) -> tuple[dict[str, TensorSlot], dict[str, str], int]:
    head = handle.read(8)
    if len(head) < 8:
        raise CorruptCheckpoint(f"{given} is too short to be a safetensors file")
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER:
        raise CorruptCheckpoint(f"{given} announces a {length}-byte header; not a safetensors file")
    try:
        document = json.loads(handle.read(length).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CorruptCheckpoint(f"the header of {given} is not valid JSON ({error})") from None
    metadata = document.pop(METADATA, None) or {}
    slots = {name: _slot(name, record, given) for name, record in document.items()}
    size = os.fstat(handle.fileno()).st_size - 8 - length
    ranges = sorted((slot.begin, slot.end) for slot in slots.values())
    if ranges and (ranges[0][0] != 0 or ranges[-1][1] != size
                   or any(a[1] != b[0] for a, b in zip(ranges, ranges[1:]))):
        raise CorruptCheckpoint(f"the tensors of {given} do not tile its {size} data bytes. "
                                f"The file is truncated or damaged")
    return slots, {str(k): str(v) for k, v in metadata.items()}, 8 + length


def _slot(name: str, record: Any, given: str) -> TensorSlot:
    try:
        code, shape, (begin, end) = record["dtype"], record["shape"], record["data_offsets"]
    except (TypeError, KeyError, ValueError):
        raise CorruptCheckpoint(f"{given}: the header entry of {name!r} lacks dtype, shape or "
                                f"data_offsets") from None
    dtype = DTYPES.get(code)
    if dtype is None or numpy_dtype(dtype) is None:
        raise UnsupportedSource(f"{given}: variable {name!r} has safetensors dtype {code}, which "
                                f"a TensorFlow checkpoint cannot hold")
    slot = TensorSlot(name=name, dtype=dtype, shape=tuple(int(d) for d in shape),
                      begin=int(begin), end=int(end))
    if slot.end - slot.begin != int(np.prod(slot.shape, dtype=np.int64)) * numpy_dtype(dtype).itemsize:
        raise CorruptCheckpoint(f"{given}: variable {name!r} has {slot.end - slot.begin} bytes "
                                f"for {code}{list(slot.shape)}")
    return slot
