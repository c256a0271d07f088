"""A pure-Python reader of checkpoint indexes: the V2 `.index` (tensor bundle)
and the metadata entry of a V1 file, both stored as LevelDB-style tables.

Why: listing a checkpoint needs only its index, and TensorFlow costs ~5 s to
import; TensorFlow's list also hides how a variable was partitioned (the
slices) and where its bytes are (shard, offset, size, crc32c), which `ls`,
`diff` and `rename` use. Every offset and length is checked against the file
before it is used, so a truncated or damaged index is reported, not followed.

Formats (TensorFlow sources): `core/lib/io/format.h` (footer, block handles,
block trailer), `core/lib/io/block.cc` (prefix-compressed entries, restarts),
`core/protobuf/tensor_bundle.proto` (BundleHeaderProto, BundleEntryProto),
`core/util/saved_tensor_slice.proto` (V1 metadata under the empty key).
"""

from __future__ import annotations

import dataclasses
import glob
import struct
from dataclasses import dataclass
from typing import Iterator

from inspectors.errors import CorruptCheckpoint, UnsupportedSource
from inspectors.formats.wire import WireError, read_varint

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5  # 1 byte compression type + 4 bytes masked crc32c
NO_COMPRESSION, SNAPPY = 0, 1

# tensorflow/core/framework/types.proto, DataType enum.
DTYPES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8",
    7: "string", 8: "complex64", 9: "int64", 10: "bool", 11: "qint8", 12: "quint8",
    13: "qint32", 14: "bfloat16", 15: "qint16", 16: "quint16", 17: "uint16",
    18: "complex128", 19: "float16", 20: "resource", 21: "variant", 22: "uint32",
    23: "uint64", 24: "float8_e5m2", 25: "float8_e4m3fn",
}


@dataclass(frozen=True)
class Slice:
    """One partition of a variable: (start, length) per dimension; length -1 = whole dim."""

    extents: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class IndexEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int | None = None
    slices: tuple[Slice, ...] = ()
    ref_dtype: bool = False  # stored as a *_REF code (V1 graphs); a V2 bundle never holds one


@dataclass(frozen=True)
class BundleIndex:
    format: str  # "V1" | "V2"
    num_shards: int
    entries: dict[str, IndexEntry]
    little_endian: bool = True
    # V2 only: the stored parts of partitioned variables, by variable name (each
    # with the slice's own shape, dtype and bytes), checked before TensorFlow reads them.
    slice_entries: dict[str, tuple[IndexEntry, ...]] = dataclasses.field(default_factory=dict)


def read_v2_index(prefix: str) -> BundleIndex:
    """Parse `prefix.index`. Slice entries (keys starting with NUL) are not listed:
    their variable's entry carries the slice specs."""
    path = prefix + ".index"
    header, entries, parts = None, {}, {}
    for key, value in iter_table(path):
        if key == b"":
            header = _decode(value, path)
        elif not key.startswith(b"\x00"):
            name = _name(key, path)
            entries[name] = _bundle_entry(name, _decode(value, path), path)
        else:
            name = _name(slice_key_name(key, path), path)
            parts.setdefault(name, []).append(_bundle_entry(name, _decode(value, path), path))
    if header is None:
        raise CorruptCheckpoint(f"{path} has no bundle header: not a V2 checkpoint index")
    return BundleIndex(format="V2", num_shards=_int(header, 1, 1, path), entries=entries,
                       little_endian=_int(header, 2, 0, path) == 0,
                       slice_entries={name: tuple(found) for name, found in parts.items()})


def slice_key_name(key: bytes, path: str) -> bytes:
    """The variable name inside a slice entry's key.

    The key is TensorFlow's OrderedCode (core/lib/strings/ordered_code.cc) of
    (0, name, rank, start and length per dim): a 0x00 byte for the leading 0,
    then the name with 0x00 written as 00 ff and 0xff as ff 00, ended by 00 01.
    """
    name, position = bytearray(), 1
    while position + 1 < len(key):
        byte, following = key[position], key[position + 1]
        if byte == 0x00 and following == 0x01:
            return bytes(name)
        if byte in (0x00, 0xFF):
            name.append(byte)
            position += 2
            continue
        name.append(byte)
        position += 1
    raise CorruptCheckpoint(f"{path} is damaged: a slice entry's key is cut off")


def read_v1_meta(path: str) -> BundleIndex:
    """The variable list of a V1 file (or one shard of a V1 set)."""
    for key, value in iter_table(path):
        if key == b"":
            meta = _message(_decode(value, path), 1, path)
            entries = {}
            for raw in _decode(meta, path).get(1, []):
                entry = _v1_entry(_decode(raw, path), path)
                entries[entry.name] = entry
            return BundleIndex(format="V1", num_shards=1, entries=entries)
    raise CorruptCheckpoint(f"{path} has no V1 metadata entry: not a TensorFlow V1 checkpoint")


def iter_table(path: str) -> Iterator[tuple[bytes, bytes]]:
    """Every (key, value) of a LevelDB-style table, in key order."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise CorruptCheckpoint(f"cannot read {path}: {error.strerror}") from error
    if len(data) < FOOTER_SIZE or struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise CorruptCheckpoint(f"{path} is truncated or not a checkpoint index "
                                f"(its last bytes are not the table magic number)")
    footer = memoryview(data)[len(data) - FOOTER_SIZE:]
    _, position = _block_handle(footer, 0, path)  # metaindex block: unused by TensorFlow
    index_offset, index_size = _block_handle(footer, position, path)[0]
    for _, handle_bytes in _block_entries(_block(data, index_offset, index_size, path), path):
        (offset, size), _ = _block_handle(handle_bytes, 0, path)
        yield from _block_entries(_block(data, offset, size, path), path)


def _block(data: bytes, offset: int, size: int, path: str) -> memoryview:
    end = offset + size + BLOCK_TRAILER_SIZE
    if size < 1 or end > len(data):
        raise CorruptCheckpoint(f"{path} is damaged: a block points past the end of the file")
    block, compression = memoryview(data)[offset:offset + size], data[offset + size]
    if compression == SNAPPY:  # SavedModel variables indexes are snappy-compressed
        block = memoryview(snappy_decompress(block, path))
    elif compression != NO_COMPRESSION:
        raise UnsupportedSource(f"{path} uses table compression {compression}, "
                                f"which this reader does not decode")
    if len(block) < 4:
        raise CorruptCheckpoint(f"{path} is damaged: a block is too short")
    return block


def snappy_decompress(raw, path: str) -> bytes:
    """Decode one raw Snappy block (format_description.txt of the Snappy project)."""
    expected, position = _varint(raw, 0, path)
    out = bytearray()
    while position < len(raw):
        tag = raw[position]
        position += 1
        if tag & 3 == 0:  # literal
            length = tag >> 2
            if length >= 60:
                width = length - 59
                length = int.from_bytes(raw[position:position + width], "little")
                position += width
            length += 1
            if position + length > len(raw):
                raise CorruptCheckpoint(f"{path} is damaged: a compressed block is cut off")
            out += raw[position:position + length]
            position += length
            continue
        length, offset, position = _snappy_copy(raw, tag, position, path)
        if offset == 0 or offset > len(out):
            raise CorruptCheckpoint(f"{path} is damaged: a compressed block refers outside itself")
        for _ in range(length):  # byte by byte: a copy may overlap what it writes
            out.append(out[-offset])
    if len(out) != expected:
        raise CorruptCheckpoint(f"{path} is damaged: a compressed block has the wrong length")
    return bytes(out)


def _snappy_copy(raw, tag: int, position: int, path: str) -> tuple[int, int, int]:
    kind = tag & 3
    width = {1: 1, 2: 2, 3: 4}[kind]
    if position + width > len(raw):
        raise CorruptCheckpoint(f"{path} is damaged: a compressed block is cut off")
    if kind == 1:
        length, offset = 4 + ((tag >> 2) & 7), ((tag >> 5) << 8) | raw[position]
    else:
        length = (tag >> 2) + 1
        offset = int.from_bytes(raw[position:position + width], "little")
    return length, offset, position + width


def _block_entries(block: memoryview, path: str) -> Iterator[tuple[bytes, bytes]]:
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise CorruptCheckpoint(f"{path} is damaged: a block's restart array is too long")
    position, key = 0, b""
    while position < limit:
        shared, position = _varint(block, position, path)
        unshared, position = _varint(block, position, path)
        value_length, position = _varint(block, position, path)
        end = position + unshared + value_length
        if shared > len(key) or end > limit:
            raise CorruptCheckpoint(f"{path} is damaged: an entry runs past its block")
        key = key[:shared] + bytes(block[position:position + unshared])
        yield key, bytes(block[position + unshared:end])
        position = end


def _block_handle(buffer, position: int, path: str) -> tuple[tuple[int, int], int]:
    offset, position = _varint(buffer, position, path)
    size, position = _varint(buffer, position, path)
    return (offset, size), position


def _varint(buffer, position: int, path: str) -> tuple[int, int]:
    try:
        return read_varint(buffer, position)
    except WireError as error:
        raise CorruptCheckpoint(f"{path} is damaged: a number is cut off or too long") from error


def _decode(message: bytes, path: str) -> dict[int, list]:
    """A protobuf message as {field number: [values]}: ints for varint/fixed, bytes for nested."""
    if not isinstance(message, (bytes, bytearray, memoryview)):
        raise CorruptCheckpoint(f"{path} is damaged: a nested record holds a number")
    fields: dict[int, list] = {}
    position = 0
    while position < len(message):
        tag, position = _varint(message, position, path)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, position = _varint(message, position, path)
        elif wire == 1:
            value, position = _fixed(message, position, 8, path)
        elif wire == 5:
            value, position = _fixed(message, position, 4, path)
        elif wire == 2:
            length, position = _varint(message, position, path)
            if position + length > len(message):
                raise CorruptCheckpoint(f"{path} is damaged: a record is cut off")
            value, position = bytes(message[position:position + length]), position + length
        else:
            raise CorruptCheckpoint(f"{path} is damaged: unknown protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _fixed(message: bytes, position: int, width: int, path: str) -> tuple[int, int]:
    if position + width > len(message):
        raise CorruptCheckpoint(f"{path} is damaged: a record is cut off")
    return int.from_bytes(message[position:position + width], "little"), position + width


def _bundle_entry(name: str, fields: dict[int, list], path: str) -> IndexEntry:
    crc = fields.get(6)
    code = _int(fields, 1, 0, path)
    return IndexEntry(
        name=name, dtype=_dtype(code, name, path), ref_dtype=code > 100,
        shape=_shape(fields.get(2, [b""])[-1], path),
        shard_id=_int(fields, 3, 0, path), offset=_int(fields, 4, 0, path),
        size=_int(fields, 5, 0, path),
        crc32c=crc[-1] if crc else None,
        slices=tuple(_slice(raw, path) for raw in fields.get(7, [])))


def _v1_entry(fields: dict[int, list], path: str) -> IndexEntry:
    name = _name(fields.get(1, [b""])[-1], path)
    return IndexEntry(name=name, dtype=_dtype(_int(fields, 3, 0, path), name, path),
                      shape=_shape(fields.get(2, [b""])[-1], path),
                      slices=tuple(_slice(raw, path) for raw in fields.get(4, [])))


def _shape(raw: bytes, path: str) -> tuple[int, ...]:
    dims = []
    for dim in _decode(raw, path).get(2, []):
        size = _int(_decode(dim, path), 1, 0, path)
        dims.append(size - (1 << 64) if size >= 1 << 63 else size)  # int64: -1 = unknown
    return tuple(dims)


def _slice(raw: bytes, path: str) -> Slice:
    extents = []
    for extent in _decode(raw, path).get(1, []):
        fields = _decode(extent, path)
        extents.append((_int(fields, 1, 0, path), _int(fields, 2, -1, path)))
    return Slice(extents=tuple(extents))


def _message(fields: dict[int, list], number: int, path: str) -> bytes:
    if number not in fields:
        raise CorruptCheckpoint(f"{path} is damaged: a required record is missing")
    return fields[number][-1]


def _int(fields: dict[int, list], number: int, default: int, path: str) -> int:
    values = fields.get(number)
    if not values:
        return default
    if not isinstance(values[-1], int):  # a bit flip can turn a number into a record
        raise CorruptCheckpoint(f"{path} is damaged: a number field holds other data")
    return values[-1]


def _dtype(code: int, name: str, path: str) -> str:
    if code in DTYPES:
        return DTYPES[code]
    if code > 100 and code - 100 in DTYPES:  # *_REF types of V1 graphs
        return DTYPES[code - 100]
    return f"dtype_{code}"


def _name(key: bytes, path: str) -> str:
    if not isinstance(key, bytes):
        raise CorruptCheckpoint(f"{path} is damaged: a variable name is not text")
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorruptCheckpoint(f"{path} is damaged: a variable name is not text") from error


def read_index(checkpoint_format: str, path: str) -> BundleIndex:
    """The index of a V2 prefix, a V1 file, or a V1 shard pattern (all shards merged)."""
    if checkpoint_format == "V2":
        return read_v2_index(path)
    shards = sorted(glob.glob(path)) if "?" in path else [path]
    if not shards:
        raise CorruptCheckpoint(f"no shard of {path} is there")
    merged: dict[str, IndexEntry] = {}
    for shard in shards:
        for name, entry in read_v1_meta(shard).entries.items():
            known = merged.get(name)
            if known is not None:
                entry = dataclasses.replace(known, slices=known.slices + entry.slices)
            merged[name] = entry
    return BundleIndex(format="V1", num_shards=len(shards), entries=merged)
