"""Plan -> new V2 checkpoint, streamed, verified, committed atomically.

Owns writing checkpoints: `write_bundle` (arrays -> bundle), `verify_against`
(re-read a written bundle and compare bit for bit), and `rewrite` (a rename plan
-> `OUT_DIR/<name>.index`, `.data-00000-of-00001` and a `checkpoint` state file).

Tensors whose name is all that changes are copied from the source data file by
the kernel (`copy_file_range`) with their stored crc32c, so their bytes never
pass through Python. Everything else (V1 and HDF5 sources, casts, merged
partitions, folded biases) is read one variable at a time and encoded here.

dtypes: numpy numeric dtypes and bool as themselves; bfloat16 as
`ml_dtypes.bfloat16` arrays (what `inspectors.checkpoint` returns for them);
strings from `bytes`/`str`/object arrays (str stored as UTF-8; read back as bytes).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from inspectors.formats.bundle import IndexEntry, read_v2_index
from inspectors.formats.checkpoint import numpy_dtype, shard_name
from inspectors.formats.crc import mask, masked_crc32c
from inspectors.errors import CorruptCheckpoint, VerificationFailed
from inspectors.progress import Progress, tracked
from inspectors.formats.wire import read_varint
from migrate.write.bundle_writer import (STRING, BundleWriter, dtype_name,  # noqa: F401
                                         encode_string_tensor, write_bundle)
from migrate.write.byte_ranges import RangeMismatch, compare_ranges

COPY_THREADS = 2  # copy + check on both cores of the machines we target


def read_tensor(prefix: str, entry: IndexEntry, *, num_shards: int = 1,
                check: bool = True) -> np.ndarray:
    """One whole tensor of a V2 bundle, numeric or string, without TensorFlow;
    its crc32c is checked unless `check` is False."""
    import numpy as np

    path = shard_name(prefix, entry.shard_id, num_shards)
    with open(path, "rb") as handle:
        handle.seek(entry.offset)
        data = handle.read(entry.size)
    count = math.prod(entry.shape)
    if entry.dtype == STRING:  # its crc32c covers the lengths as uint32, not the varints
        value = decode_string_tensor(data, count, entry.name)
        if check and encode_string_tensor(value) != (data, entry.crc32c):
            raise VerificationFailed(f"string variable {entry.name!r} in {path} does not "
                                     f"match its index (checksum)")
        return value.reshape(entry.shape)
    if len(data) != entry.size or (check and masked_crc32c(data) != entry.crc32c):
        raise VerificationFailed(f"variable {entry.name!r} in {path} does not match its "
                                 f"index (size or checksum)")
    dtype = numpy_dtype(entry.dtype)
    if dtype is None or count * dtype.itemsize != len(data):
        raise CorruptCheckpoint(f"variable {entry.name!r} in {path} has dtype "
                                f"{entry.dtype} and {len(data)} bytes for shape {list(entry.shape)}")
    return np.frombuffer(data, dtype=dtype).reshape(entry.shape)


def decode_string_tensor(data: bytes, count: int, name: str) -> np.ndarray:
    """Inverse of the bundle's string encoding: varint lengths, 4-byte crc, bytes."""
    import numpy as np

    lengths, position = [], 0
    for _ in range(count):
        length, position = read_varint(data, position)
        lengths.append(length)
    position += 4
    items = []
    for length in lengths:
        items.append(data[position:position + length])
        position += length
    if position != len(data):
        raise CorruptCheckpoint(f"string variable {name!r} has {len(data) - position} "
                                f"bytes more or less than its lengths say")
    out = np.empty(count, dtype=object)
    out[:] = items
    return out


def same_bits(actual: np.ndarray, expected: np.ndarray) -> bool:
    """Equal dtype name, shape and bytes (strings element by element, str as UTF-8)."""
    import numpy as np

    expected = np.asarray(expected)
    if dtype_name(expected) != dtype_name(actual) or actual.shape != expected.shape:
        return False
    if dtype_name(expected) == STRING:
        as_bytes = lambda a: [x if isinstance(x, bytes) else str(x).encode("utf-8")  # noqa: E731
                              for x in np.asarray(a).reshape(-1).tolist()]
        return as_bytes(actual) == as_bytes(expected)
    return np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes()


def verify_against(prefix: str, expected: Iterable[tuple[str, np.ndarray]]) -> int:
    """Re-read the bundle at `prefix` and check each (name, array) bit for bit, and
    that the bundle holds no other names. Returns the number of tensors checked;
    raises VerificationFailed naming the first mismatch."""
    index = read_v2_index(prefix)
    seen = set()
    for name, array in expected:
        entry = index.entries.get(name)
        if entry is None:
            raise VerificationFailed(f"written checkpoint {prefix} lacks variable {name!r}")
        actual = read_tensor(prefix, entry, num_shards=index.num_shards)
        if not same_bits(actual, array):
            raise VerificationFailed(f"variable {name!r} in {prefix} differs from what was "
                                     f"meant to be written (dtype, shape or bytes)")
        seen.add(name)
    extra = sorted(set(index.entries) - seen)
    if extra:
        raise VerificationFailed(f"written checkpoint {prefix} holds {len(extra)} unexpected "
                                 f"variable(s), first {extra[0]!r}")
    return len(seen)


def verify_copy(prefix: str, entry: IndexEntry, *, source: IndexEntry, source_shard: str) -> None:
    """A copied tensor equals its source range byte for byte and matches the stored crc."""
    path = shard_name(prefix, entry.shard_id, 1)
    if entry.size != source.size:
        raise VerificationFailed(f"variable {entry.name!r} in {path} has {entry.size} bytes, "
                                 f"its source {source.name!r} {source.size}")
    try:
        crc = compare_ranges(path, entry.offset, source_shard, source.offset, entry.size)
    except RangeMismatch as error:
        raise VerificationFailed(f"variable {entry.name!r} came out of the copy different from "
                                 f"its source {source.name!r} in {source_shard} ({error})") from None
    # A string tensor's crc32c covers its lengths as uint32s, not its stored bytes.
    stored_crc = encode_string_tensor(read_tensor(prefix, entry, check=False))[1] \
        if entry.dtype == STRING else mask(crc)
    if stored_crc != source.crc32c:
        raise VerificationFailed(f"variable {entry.name!r} copied from {source_shard} does not "
                                 f"match the source's checksum: the source data is damaged")


def write_state_file(directory: str, basename: str) -> str:
    """The `checkpoint` text file that makes `directory` a loadable checkpoint dir."""
    path = os.path.join(directory, "checkpoint")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f'model_checkpoint_path: "{basename}"\n'
                     f'all_model_checkpoint_paths: "{basename}"\n')
    return path


# --- plan -> checkpoint ----------------------------------------------------------

@dataclass(frozen=True)
class RewriteResult:
    """What `rewrite` wrote: the output dir, the checkpoint prefix inside it, counts."""

    output: str
    prefix: str
    written: int
    copied: int
    encoded: int
    nbytes: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def output_basename(source) -> str:
    """The name of the written checkpoint: the source prefix's basename
    (V1 shard suffix and .h5 extension removed)."""
    base = os.path.basename(source.path)
    base = re.sub(r"-(?:\?{5}|\d{5})-of-\d{5}$", "", base)
    if source.format == "keras-h5":
        base = os.path.splitext(base)[0]
    return base or "model.ckpt"


def rewrite(plan, output: str, *, force: bool = False, progress: Progress = None) -> RewriteResult:
    """Write the plan's output checkpoint into the directory `output`, verified, atomically;
    `progress` (see inspectors.progress) follows the tensors as they are written."""
    from inspectors.formats.checkpoint import open_reader
    from inspectors.sources.paths import resolve
    from migrate.write.staged import Staged, check_output, fsync_tree

    source = resolve(plan.source)
    inputs = [p for p in (source.given, source.path, source.model_dir) if p]
    check_output(output, inputs, force=force)
    reader = open_reader(source)
    index = _copyable_index(source)
    _refuse_partial_slices(plan)
    basename = output_basename(source)
    with Staged(output, force=force, is_dir=True) as staged:
        prefix = os.path.join(staged.path, basename)
        copied, written = _write(plan, prefix, reader=reader, index=index, source=source,
                                 progress=progress)
        _verify(plan, prefix, reader=reader, index=index, written=written)
        write_state_file(staged.path, basename)
        fsync_tree(staged.path)
        staged.commit()
    nbytes = sum(entry.size for entry in written.values())
    return RewriteResult(output=output, prefix=os.path.join(output, basename),
                         written=len(written), copied=copied,
                         encoded=len(written) - copied, nbytes=nbytes)


def _copyable_index(source):
    """The source's V2 index when its bytes may be copied as they are, else None."""
    if source.format != "V2":
        return None
    from inspectors.formats.checkpoint import check_data_files

    try:
        index = read_v2_index(source.path)
    except Exception:  # a table feature our parser lacks: fall back to reading tensors
        return None
    if not index.little_endian:
        return None
    check_data_files(index, source.path)
    return index


def _refuse_partial_slices(plan) -> None:
    from inspectors.errors import UnsupportedSource

    for entry in plan.written:
        if entry.note.startswith("holds one slice"):
            raise UnsupportedSource(f"variable {entry.old!r} holds one slice of a larger "
                                    f"tensor. Add --preset merge-partitions to assemble its "
                                    f"parts, or --drop it")


def _copy_source(entry, index):
    """The source IndexEntry to copy bytes from, or None when the entry must be encoded."""
    if index is None or not entry.is_copy or entry.new_dtype != entry.dtype:
        return None
    stored = index.entries.get(entry.sources[0])
    if stored is None or stored.slices or stored.crc32c is None:
        return None
    return stored


def _write(plan, prefix: str, *, reader, index, source, progress: Progress) -> tuple[int, dict]:
    """Copy what can be copied, each tensor checked right after its copy, on two
    threads, while this one encodes the rest. Returns (number copied, written entries)."""
    copies, encodes = [], []
    for entry in plan.written:
        stored = _copy_source(entry, index)
        (copies if stored is not None else encodes).append((entry, stored))
    copies.sort(key=lambda pair: (pair[1].shard_id, pair[1].offset))  # sequential reads
    with BundleWriter(prefix) as writer, _Workers(COPY_THREADS) as workers:
        for entry, stored in copies:
            shard = shard_name(source.path, stored.shard_id, index.num_shards)
            workers.submit(_copy_and_check, writer, writer.reserve(entry.new, source=stored),
                           stored, shard)
        encoded = (writer.add_array(entry.new, materialize(entry, reader)) for entry, _ in encodes)
        for _ in tracked(itertools.chain(encoded, workers.finished()), len(plan.written), progress):
            pass
        return len(copies), writer.finish()


def _copy_and_check(writer: BundleWriter, written: IndexEntry, stored: IndexEntry,
                    shard: str) -> None:
    writer.copy_into(written, source=stored, shard_path=shard)
    verify_copy(writer.prefix, written, source=stored, source_shard=shard)


class _Workers:
    """Threads that run tasks; `finished` re-raises the first failure. Copies are kernel
    work and checks mostly libc memcmp and crc32c, all outside the GIL, so two
    threads keep two cores busy."""

    def __init__(self, threads: int):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tfckpt-copy")
        self._pending = []

    def __enter__(self) -> "_Workers":
        return self

    def __exit__(self, *exc_info) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, task, *args) -> None:
        self._pending.append(self._pool.submit(task, *args))

    def finished(self) -> Iterator[None]:
        """Wait for the tasks in the order given, one step per task; the first
        failure is raised."""
        for future in self._pending:
            future.result()
            yield None


def _verify(plan, prefix: str, *, reader, index, written: dict) -> None:
    """The index holds exactly the planned names; encoded tensors read back equal to
    their planned values (copies were checked as they were made)."""
    if set(read_v2_index(prefix).entries) != {e.new for e in plan.written}:
        raise VerificationFailed(f"written checkpoint {prefix} does not hold exactly the "
                                 f"planned variables")
    for entry in plan.written:
        if _copy_source(entry, index) is not None:
            continue
        actual = read_tensor(prefix, written[entry.new])
        if not same_bits(actual, materialize(entry, reader)):
            raise VerificationFailed(f"variable {entry.new!r} in {prefix} differs from its "
                                     f"source {entry.old!r} after writing")


def materialize(entry, reader) -> np.ndarray:
    """The value a plan entry writes: its source read and transformed (merge, fold, cast...)."""
    import numpy as np

    ops = [t.op for t in entry.transforms]
    if "merge-slices" in ops and len(entry.sources) > 1:
        value = _assemble_slices(entry, reader)
    elif "concat" in ops:
        axis = next(t.axis for t in entry.transforms if t.op == "concat")
        value = np.concatenate([reader.read(name) for name in entry.sources], axis=axis)
    elif "add" in ops:
        value = np.asarray(reader.read(entry.sources[0]))
        for name in entry.sources[1:]:
            value = value + np.asarray(reader.read(name)).astype(value.dtype)
    else:
        value = np.asarray(reader.read(entry.sources[0]))
    for transform in entry.transforms:
        if transform.op == "iterations":
            value = np.array(transform.value, dtype=np.int64)
        elif transform.op == "cast":
            value = np.asarray(value).astype(numpy_dtype(transform.dtype))
    return np.asarray(value)


def _assemble_slices(entry, reader) -> np.ndarray:
    """Whole tensor from keys that each hold one stored slice (their extents in the index)."""
    import numpy as np

    first = reader.entry(entry.sources[0])
    out = np.zeros(first.shape, dtype=numpy_dtype(first.dtype))
    for name in entry.sources:
        extents = reader.entry(name).slices[0].extents
        index = tuple(slice(None) if length == -1 else slice(start, start + length)
                      for start, length in extents)
        out[index] = reader.read(name)
    return out
