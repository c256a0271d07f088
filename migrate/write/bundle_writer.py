"""A pure-Python writer of V2 tensor bundles (`prefix.index` + one data shard).

Why our own writer: renaming a checkpoint should copy tensor bytes from file to
file (`copy_file_range`) without them passing through Python or TensorFlow, and
the index must then be written by us. `inspectors/bundle.py` reads exactly what
this writes.

Format facts (TensorFlow sources, not copied): `core/util/tensor_bundle/tensor_bundle.cc`
(data file = tensors back to back; numeric tensors as little-endian bytes with a
masked crc32c of those bytes; strings as varint64 lengths, a masked crc32c of the
lengths taken as uint32 each, then the bytes; the index maps "" to a
BundleHeaderProto and each name to a BundleEntryProto, keys sorted bytewise),
`core/lib/io/table_builder.cc` + `block_builder.cc` (LevelDB table: prefix-compressed
entries with a restart point every 16 keys, each block followed by a type byte and
a masked crc32c of block + type, an index block whose keys bound each data block,
an empty metaindex block, a 48-byte footer ending in the table magic).
"""

from __future__ import annotations

import os
import struct
from typing import Iterable

from inspectors.formats.bundle import DTYPES, TABLE_MAGIC, IndexEntry
from inspectors.formats.checkpoint import shard_name
from inspectors.formats.crc import crc32c, mask, masked_crc32c
from inspectors.errors import MappingConflict, UnsupportedSource
from migrate.write.byte_ranges import copy_range, start_writeback

DTYPE_CODES = {name: code for code, name in DTYPES.items()}
STRING = "string"
BLOCK_SIZE = 256 * 1024  # TensorFlow's table::Options default
RESTART_INTERVAL = 16
BUNDLE_VERSION = 1  # kTensorBundleVersion


def dtype_name(array: np.ndarray) -> str:
    """The checkpoint dtype name of an array: numpy names, bool, bfloat16
    (`ml_dtypes.bfloat16`), and `string` for bytes/str/object arrays."""
    kind = array.dtype.kind
    if kind in "OSU":
        return STRING
    name = array.dtype.name
    if name not in DTYPE_CODES or name in ("resource", "variant"):
        raise UnsupportedSource(f"cannot store a tensor of numpy dtype {array.dtype} "
                                f"in a checkpoint")
    return name


def encode_string_tensor(array: np.ndarray) -> tuple[bytes, int]:
    """A string tensor's on-disk bytes and their masked crc32c (str encoded as UTF-8)."""
    import numpy as np

    items = [item if isinstance(item, bytes) else str(item).encode("utf-8")
             for item in np.asarray(array).reshape(-1).tolist()]
    lengths = bytearray()
    crc = 0
    for item in items:
        lengths += _varint(len(item))
        width = "<I" if len(item) <= 0xFFFFFFFF else "<Q"
        crc = crc32c(struct.pack(width, len(item)), crc)
    length_crc = struct.pack("<I", mask(crc))
    crc = crc32c(length_crc, crc)
    body = b"".join(items)
    crc = crc32c(body, crc)
    return bytes(lengths) + length_crc + body, mask(crc)


class BundleWriter:
    """Streams tensors into `prefix.data-00000-of-00001`; `finish()` writes `prefix.index`.

    Tensors may arrive in any order (the index is sorted at the end); only the
    small index records are kept in memory.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.data_path = shard_name(prefix, 0, 1)
        self._data = open(self.data_path, "wb")
        self._offset = 0
        self._entries: dict[str, IndexEntry] = {}

    def __enter__(self) -> "BundleWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._data.closed:
            self._data.close()

    def add_array(self, name: str, array: np.ndarray) -> IndexEntry:
        """Encode one tensor and append it."""
        import numpy as np

        array = np.asarray(array)
        dtype = dtype_name(array)
        if dtype == STRING:
            data, crc = encode_string_tensor(array)
        else:
            little = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
            data = np.ascontiguousarray(array, dtype=little).reshape(-1).view(np.uint8)
            crc = masked_crc32c(data)
        self._data.write(data)
        return self._record(name, dtype, array.shape, size=len(data), crc=crc)

    def reserve(self, name: str, *, source: IndexEntry) -> IndexEntry:
        """Claim the next bytes of the data file for a copy of the stored tensor
        `source` (made by `copy_into`); later tensors go after it."""
        self._data.flush()
        entry = self._record(name, source.dtype, source.shape, size=source.size, crc=source.crc32c)
        self._data.seek(self._offset)
        return entry

    def copy_into(self, entry: IndexEntry, *, source: IndexEntry, shard_path: str) -> None:
        """Copy a stored tensor's bytes from its shard into the range reserved for it,
        and start writing them to disk. Safe from several threads at once: every
        copy names its own offsets."""
        with open(shard_path, "rb") as handle:
            copy_range(handle.fileno(), self._data.fileno(), source.offset, source.size,
                       dst_offset=entry.offset)
        start_writeback(self._data.fileno(), entry.offset, entry.size)

    def _record(self, name: str, dtype: str, shape, *, size: int, crc: int) -> IndexEntry:
        if name in self._entries or name == "":
            raise MappingConflict(f"variable name {name!r} is written twice (or is empty). "
                                  f"Give each tensor its own name")
        entry = IndexEntry(name=name, dtype=dtype, shape=tuple(int(d) for d in shape),
                           offset=self._offset, size=size, crc32c=crc)
        self._entries[name] = entry
        self._offset += size
        return entry

    def finish(self) -> dict[str, IndexEntry]:
        """Close the data file and write the sorted index."""
        self._data.flush()
        os.fsync(self._data.fileno())
        self._data.close()
        records = [(b"", _header())]
        records += [(name.encode("utf-8"), _entry_proto(entry))
                    for name, entry in sorted(self._entries.items(),
                                              key=lambda item: item[0].encode("utf-8"))]
        with open(self.prefix + ".index", "wb") as handle:
            handle.write(build_table(records))
            handle.flush()
            os.fsync(handle.fileno())
        return dict(self._entries)


# --- protobuf encoding (only the fields the bundle uses) -------------------

def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 negatives as ten-byte two's complement
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _field_bytes(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _header() -> bytes:
    version = _field_varint(1, BUNDLE_VERSION)
    return _field_varint(1, 1) + _field_bytes(3, version)  # num_shards 1, little endian


def _shape_proto(shape: tuple[int, ...]) -> bytes:
    return b"".join(_field_bytes(2, _field_varint(1, dim)) for dim in shape)


def _entry_proto(entry: IndexEntry) -> bytes:
    return (_field_varint(1, DTYPE_CODES[entry.dtype]) + _field_bytes(2, _shape_proto(entry.shape))
            + _field_varint(4, entry.offset) + _field_varint(5, entry.size)
            + _varint(6 << 3 | 5) + struct.pack("<I", entry.crc32c or 0))


# --- LevelDB table ------------------------------------------------------------

def _block(records: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for count, (key, value) in enumerate(records):
        shared = 0
        if count % restart_interval == 0:
            restarts.append(len(out))
        else:
            limit = min(len(key), len(previous))
            while shared < limit and key[shared] == previous[shared]:
                shared += 1
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value))
        out += key[shared:] + value
        previous = key
    restarts = restarts or [0]
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def _with_trailer(block: bytes) -> bytes:
    return block + b"\x00" + struct.pack("<I", mask(crc32c(block + b"\x00")))


def _handle(offset: int, size: int) -> bytes:
    return _varint(offset) + _varint(size)


def build_table(records: list[tuple[bytes, bytes]]) -> bytes:
    """A LevelDB-format table of sorted (key, value) records, uncompressed."""
    out, index, pending, pending_size = bytearray(), [], [], 0
    for key, value in records:
        pending.append((key, value))
        pending_size += len(key) + len(value) + 8
        if pending_size >= BLOCK_SIZE:
            index.append(_flush(out, pending))
            pending, pending_size = [], 0
    if pending or not index:
        index.append(_flush(out, pending))
    meta_offset = len(out)
    out += _with_trailer(_block([], RESTART_INTERVAL))
    meta_handle = _handle(meta_offset, len(out) - meta_offset - 5)
    index_offset = len(out)
    out += _with_trailer(_block(index, 1))
    footer = meta_handle + _handle(index_offset, len(out) - index_offset - 5)
    out += footer.ljust(40, b"\x00") + struct.pack("<Q", TABLE_MAGIC)
    return bytes(out)


def _flush(out: bytearray, pending: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes]:
    """Append one data block; its index record is (its last key, its handle)."""
    offset = len(out)
    block = _block(pending, RESTART_INTERVAL)
    out += _with_trailer(block)
    return (pending[-1][0] if pending else b""), _handle(offset, len(block))


def write_bundle(prefix: str, tensors: Iterable[tuple[str, np.ndarray]]) -> dict[str, IndexEntry]:
    """Write `prefix.index` + `prefix.data-00000-of-00001` from (name, array) pairs."""
    with BundleWriter(prefix) as writer:
        for name, array in tensors:
            writer.add_array(name, array)
        return writer.finish()
