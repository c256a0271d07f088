"""Rewrite checkpoint index tables with edited entries, for the fuzz mutators.

Reads a LevelDB-style table with the project's own parser (`inspectors.bundle
.iter_table`) and writes one back uncompressed: one data block, one index
block, an empty metaindex block and the 48-byte footer, each block with the
masked crc32c trailer TensorFlow checks (core/lib/io/format.cc). Entry values
are edited as real protos (BundleEntryProto, SavedTensorSlices), so the file
stays a valid table whose *contents* lie: shapes larger than the data, wrong
dtypes, offsets past the shard.
"""

from __future__ import annotations

import struct
from pathlib import Path

from inspectors.formats.bundle import TABLE_MAGIC, iter_table
from inspectors.formats.crc import masked_crc32c


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    return body + struct.pack("<II", 0, 1)  # one restart point at offset 0


def _with_trailer(block: bytes) -> bytes:
    return block + b"\x00" + struct.pack("<I", masked_crc32c(block + b"\x00"))


def write_table(path: Path, entries: list[tuple[bytes, bytes]]) -> None:
    """A table holding `entries` (sorted here by key, as LevelDB requires)."""
    entries = sorted(entries)
    data = _block(entries)
    meta_index = _block([])
    last_key = entries[-1][0] if entries else b""
    out = bytearray(_with_trailer(data))
    meta_offset = len(out)
    out += _with_trailer(meta_index)
    index_offset = len(out)
    handle = _varint(0) + _varint(len(data))
    index = _block([(last_key, handle)])
    out += _with_trailer(index)
    footer = (_varint(meta_offset) + _varint(len(meta_index))
              + _varint(index_offset) + _varint(len(index)))
    out += footer.ljust(40, b"\x00") + struct.pack("<Q", TABLE_MAGIC)
    path.write_bytes(bytes(out))


def read_entries(path: Path) -> list[tuple[bytes, bytes]]:
    return list(iter_table(str(path)))


def protos():
    """The generated proto modules (TensorFlow imported quietly first)."""
    from inspectors.tf_loader import tensorflow

    tensorflow()
    from tensorflow.core.protobuf import tensor_bundle_pb2
    from tensorflow.core.util import saved_tensor_slice_pb2

    return tensor_bundle_pb2, saved_tensor_slice_pb2


def edit_v2_entry(path: Path, rng, edit) -> str:
    """Apply `edit(entry_proto, rng) -> str` to one random variable entry of a V2 index."""
    bundle, _ = protos()
    entries = read_entries(path)
    names = [i for i, (key, _) in enumerate(entries) if key and not key.startswith(b"\x00")]
    if not names:
        return "no entry to edit"
    pick = rng.choice(names)
    key, value = entries[pick]
    proto = bundle.BundleEntryProto()
    proto.ParseFromString(value)
    what = edit(proto, rng)
    entries[pick] = (key, proto.SerializeToString())
    write_table(path, entries)
    return f"{key.decode(errors='replace')}: {what}"


def edit_v2_header(path: Path, rng) -> str:
    bundle, _ = protos()
    entries = read_entries(path)
    for i, (key, value) in enumerate(entries):
        if key == b"":
            header = bundle.BundleHeaderProto()
            header.ParseFromString(value)
            choice = rng.choice(("num_shards", "endianness", "version"))
            if choice == "num_shards":
                header.num_shards = rng.choice((0, 2, 7, 1 << 20, (1 << 31) - 1))
            elif choice == "endianness":
                header.endianness = 1
            else:
                header.version.producer = rng.choice((0, 1 << 30))
                header.version.min_consumer = rng.choice((0, 1 << 30))
            entries[i] = (key, header.SerializeToString())
            write_table(path, entries)
            return f"header {choice}: {getattr(header, choice)}".replace("\n", " ")
    return "no header"


def edit_v1_meta(path: Path, rng, edit) -> str:
    """Apply `edit(SavedSliceMeta, rng) -> str` to one tensor of a V1 file's metadata."""
    _, slices = protos()
    entries = read_entries(path)
    for i, (key, value) in enumerate(entries):
        if key != b"":
            continue
        saved = slices.SavedTensorSlices()
        saved.ParseFromString(value)
        tensors = saved.meta.tensor
        if not tensors:
            return "no tensor in the metadata"
        tensor = tensors[rng.randrange(len(tensors))]
        what = edit(tensor, rng)
        entries[i] = (key, saved.SerializeToString())
        write_table(path, entries)
        return f"{tensor.name}: {what}"
    return "no metadata entry"
