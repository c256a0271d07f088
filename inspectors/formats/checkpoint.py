"""The one seam through which checkpoint bytes are read, and the records it yields.

Every other module asks `open_reader(source)`; none calls TensorFlow's reader
directly, so a second backend (a pure-Python index parser, a Keras HDF5 file)
slots in here without touching callers.
"""

from __future__ import annotations

import glob
import math
import os


from inspectors.formats.bundle import BundleIndex, IndexEntry, read_index
from inspectors.formats.crc import masked_crc32c
from inspectors.errors import CorruptCheckpoint, SourceNotFound, UnsupportedSource
from inspectors.sources.paths import Source
# The seam re-exports its records: callers keep asking this module for them.
from inspectors.formats.records import (BOOKKEEPING, MODEL, OPTIMIZER, Reader,  # noqa: F401
                                        VariableInfo, dtype_itemsize, kind_of)


class BundleReader:
    """V1 and V2 checkpoints: the index parsed here (no TensorFlow needed to
    list), tensor values through TensorFlow's own reader, opened on first read."""

    def __init__(self, source: Source):
        self.source = source
        self._index: BundleIndex | None = None
        self._tf_reader = None
        self._data_sizes: _DataSizes | None = None
        try:
            self._index = read_index(source.format, source.path)
        except UnsupportedSource:
            self._index = None  # a table feature our parser lacks: TensorFlow lists it

    def variables(self) -> list[VariableInfo]:
        if self._index is None:
            return self._variables_from_tensorflow()
        return sorted((VariableInfo(name=e.name, dtype=e.dtype, shape=e.shape,
                                    kind=kind_of(e.name), partitions=max(1, len(e.slices)))
                       for e in self._index.entries.values()), key=lambda info: info.name)

    def entry(self, name: str) -> IndexEntry | None:
        """Where a variable's bytes are (shard, offset, size, crc32c); None if unknown."""
        return self._index.entries.get(name) if self._index else None

    def read(self, name: str) -> np.ndarray:
        entry = self.entry(name)
        if entry is not None:  # before any byte is read or any buffer allocated
            check_entry(entry, index=self._index, sizes=self._sizes(), prefix=self.source.path)
        if entry is not None and self._index.little_endian and raw_readable(entry, self.source.format):
            return read_raw(self.source.path, entry, num_shards=self._index.num_shards)
        if entry is not None and len(entry.slices) == 1 and not _covers(entry):
            return self._read_lone_slice(entry)
        if entry is not None and entry.dtype in ("variant", "resource"):
            # No values to show, and TensorFlow decodes whatever bytes are there
            # as one (a damaged dtype code made it allocate gigabytes here).
            raise UnsupportedSource(f"variable {name!r} in {self.source.given} is a "
                                    f"{entry.dtype} tensor, which holds no values to read")
        reader = self._tensorflow_reader()
        if not reader.has_tensor(name):
            raise SourceNotFound(f"no variable {name!r} in {self.source.given}")
        try:
            return reader.get_tensor(name)
        except Exception as error:  # TF raises several OpError subclasses for bad data
            raise CorruptCheckpoint(f"cannot read variable {name!r} from {self.source.given}: "
                                    f"{_first_line(error)}") from error

    def _read_lone_slice(self, entry: IndexEntry) -> np.ndarray:
        """The one stored slice of a variable that claims a larger shape.

        TF 1.x saved the slot of each partition under its own name with the full
        variable's shape (`x/part_1/Ftrl`); TensorFlow's get_tensor refuses it, but
        the stored part is that slot's whole value, so it is returned as it is.
        """
        self._tensorflow_reader()  # checks the data files against the index first
        tf = _tensorflow()
        spec = " ".join(str(d) for d in entry.shape) + " " + ":".join(
            "-" if length == -1 else f"{start},{length}" for start, length in entry.slices[0].extents)
        try:
            [value] = tf.raw_ops.RestoreV2(prefix=self.source.path, tensor_names=[entry.name],
                                           shape_and_slices=[spec], dtypes=[tf.as_dtype(entry.dtype)])
        except tf.errors.OpError as error:
            raise CorruptCheckpoint(f"cannot read variable {entry.name!r} from "
                                    f"{self.source.given}: {_first_line(error)}") from error
        return value.numpy()

    def _sizes(self) -> "_DataSizes":
        if self._data_sizes is None:
            self._data_sizes = _DataSizes(self._index, self.source.path)
        return self._data_sizes

    def _variables_from_tensorflow(self) -> list[VariableInfo]:
        reader = self._tensorflow_reader()
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
        return sorted((VariableInfo(name=name, dtype=dtypes[name].name,
                                    shape=tuple(shapes[name]), kind=kind_of(name))
                       for name in shapes), key=lambda info: info.name)

    def _tensorflow_reader(self):
        if self._tf_reader is None:
            if self._index is not None:
                check_data_files(self._index, self.source.path)
            self._tf_reader = _load_with_tensorflow(self.source)
        return self._tf_reader


def _covers(entry: IndexEntry) -> bool:
    """Does the entry's single slice span its whole declared shape?"""
    return all(length == -1 or (start == 0 and length == dim)
               for (start, length), dim in zip(entry.slices[0].extents, entry.shape))


def _tensorflow():
    from inspectors import tf_loader

    return tf_loader.tensorflow()


# Past this many elements a shape cannot be real: TensorFlow's TensorShape
# multiplies dimensions in int64 and aborts the process when that overflows.
MAX_ELEMENTS = 1 << 62


def check_data_files(index: BundleIndex, prefix: str) -> None:
    """Every entry's declared dtype, shape, slices and bytes must be possible
    given the files on disk, before TensorFlow opens the checkpoint.

    Why all of them: TensorFlow's CheckpointReader builds the shape of every
    entry when it opens a checkpoint and aborts the whole process (a failed
    CHECK, not an exception) on a negative or overflowing one; its reads then
    allocate whatever a shape declares and trust offsets into the data files.
    """
    sizes = _DataSizes(index, prefix)
    for entry in index.entries.values():
        check_entry(entry, index=index, sizes=sizes, prefix=prefix)


class _DataSizes:
    """Sizes of the data files, looked up once, only for the shards entries use."""

    def __init__(self, index: BundleIndex, prefix: str):
        self.index, self.prefix = index, prefix
        self._sizes: dict[int, int] = {}
        self._total: int | None = None

    def shard(self, shard_id: int) -> int:
        if shard_id not in self._sizes:
            self._sizes[shard_id] = _shard_size(self.prefix, shard_id, self.index.num_shards)
        return self._sizes[shard_id]

    def total(self) -> int:
        """All the bytes the tensors can be stored in (V1: the files themselves)."""
        if self._total is None:
            if self.index.format == "V2":
                self._total = sum(_existing_size(shard_name(self.prefix, i, self.index.num_shards))
                                  for i in range(min(self.index.num_shards, 1 << 16)))
            else:
                pattern = self.prefix
                files = sorted(glob.glob(pattern)) if "?" in pattern else [pattern]
                self._total = sum(_existing_size(f) for f in files)
        return self._total


def check_entry(entry: IndexEntry, *, index: BundleIndex, sizes: "_DataSizes",
                prefix: str, stored_part: bool = False) -> None:
    """One entry against the files: raise CorruptCheckpoint naming what is impossible."""
    where = f"variable {entry.name!r} in {_index_file(index, prefix)}"
    advice = "The index is damaged: copy the checkpoint again"
    if entry.dtype.startswith("dtype_"):
        raise CorruptCheckpoint(f"{where} has an unknown dtype (code {entry.dtype[6:]}). {advice}")
    if entry.ref_dtype and index.format == "V2":  # TensorFlow aborts making such a tensor
        raise CorruptCheckpoint(f"{where} has a reference dtype ({entry.dtype}_ref), which "
                                f"no checkpoint stores. {advice}")
    if any(dim < 0 for dim in entry.shape):
        raise CorruptCheckpoint(f"{where} has a negative dimension in its shape "
                                f"{list(entry.shape)}. {advice}")
    elements = _elements(entry.shape)
    if elements > MAX_ELEMENTS:
        raise CorruptCheckpoint(f"{where} declares an impossible shape {_shape_text(entry.shape)}. "
                                f"{advice}")
    for part in entry.slices:
        _check_slice(part, entry, where=where, advice=advice)
    for stored in () if stored_part else index.slice_entries.get(entry.name, ()):
        # TensorFlow copies each stored part into a tensor of the variable's dtype and
        # aborts the process on a mismatch.
        if stored.dtype != entry.dtype:
            raise CorruptCheckpoint(f"{where} is {entry.dtype} but a stored slice of it is "
                                    f"{stored.dtype}. {advice}")
        check_entry(stored, index=index, sizes=sizes, prefix=prefix, stored_part=True)
    if index.format == "V2" and not entry.slices:
        _check_stored_bytes(entry, elements, index=index, sizes=sizes, prefix=prefix,
                            where=where)
    elif elements > sizes.total() + 1024:
        # Slices and V1 tensors spend at least a byte per element in the files.
        raise CorruptCheckpoint(f"{where} declares {elements:,} elements, more than the "
                                f"checkpoint's {sizes.total():,} bytes of data can hold. {advice}")


def _check_stored_bytes(entry: IndexEntry, elements: int, *, index: BundleIndex,
                        sizes: "_DataSizes", prefix: str, where: str) -> None:
    if entry.shard_id >= index.num_shards:
        raise CorruptCheckpoint(f"{where} names data shard {entry.shard_id}, but the checkpoint "
                                f"has {index.num_shards}. The index is damaged: copy the "
                                f"checkpoint again")
    itemsize = dtype_itemsize(entry.dtype)
    if itemsize and entry.size != elements * itemsize:
        raise CorruptCheckpoint(f"{where} holds {entry.size} bytes but its shape "
                                f"{_shape_text(entry.shape)} of {entry.dtype} needs "
                                f"{elements * itemsize}. The index is damaged: copy the "
                                f"checkpoint again")
    if entry.dtype == "string" and elements > entry.size:
        raise CorruptCheckpoint(f"{where} declares {elements:,} strings in {entry.size} bytes. "
                                f"The index is damaged: copy the checkpoint again")
    if entry.size and entry.offset + entry.size > sizes.shard(entry.shard_id):
        raise CorruptCheckpoint(
            f"variable {entry.name!r} is cut off in "
            f"{shard_name(prefix, entry.shard_id, index.num_shards)} (it needs "
            f"{entry.offset + entry.size} bytes, the file has {sizes.shard(entry.shard_id)}: "
            f"the data file is truncated). Copy the checkpoint again")


def _check_slice(part, entry: IndexEntry, *, where: str, advice: str) -> None:
    if len(part.extents) not in (0, len(entry.shape)):
        raise CorruptCheckpoint(f"{where} has a slice of rank {len(part.extents)} for a shape "
                                f"of rank {len(entry.shape)}. {advice}")
    for (start, length), dim in zip(part.extents, entry.shape):
        if start < 0 or start > dim or (length != -1 and (length < 0 or start + length > dim)):
            raise CorruptCheckpoint(f"{where} has a slice outside its shape "
                                    f"{_shape_text(entry.shape)}. {advice}")


def _elements(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
        if count > MAX_ELEMENTS:  # stop before a 64-dim shape makes a huge integer
            return count
    return count


def _shape_text(shape: tuple[int, ...]) -> str:
    text = str(list(shape[:8]))
    return text if len(shape) <= 8 else text[:-1] + f", ... ({len(shape)} dims)]"


def _index_file(index: BundleIndex, prefix: str) -> str:
    return prefix + ".index" if index.format == "V2" else prefix


def _existing_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def raw_readable(entry: IndexEntry, checkpoint_format: str) -> bool:
    """Whole numeric V2 tensors are plain little-endian bytes: no TensorFlow needed."""
    return (checkpoint_format == "V2" and not entry.slices and entry.crc32c is not None
            and numpy_dtype(entry.dtype) is not None)


def read_raw(prefix: str, entry: IndexEntry, *, num_shards: int) -> np.ndarray:
    """Read one tensor's bytes from its shard, check their crc32c, view them as an array."""
    path = shard_name(prefix, entry.shard_id, num_shards)
    try:
        with open(path, "rb") as handle:
            handle.seek(entry.offset)
            data = handle.read(entry.size)
    except OSError as error:
        raise CorruptCheckpoint(f"cannot read variable {entry.name!r} from {path}: "
                                f"{error.strerror}") from error
    if len(data) != entry.size:
        raise CorruptCheckpoint(f"variable {entry.name!r} is cut off in {path} (the data file "
                                f"is truncated). Copy the checkpoint again")
    if masked_crc32c(data) != entry.crc32c:
        raise CorruptCheckpoint(f"variable {entry.name!r} is corrupted in {path} (checksum "
                                f"mismatch). Copy the checkpoint again from a good source")
    import numpy as np

    dtype = numpy_dtype(entry.dtype)
    expected = math.prod(entry.shape) * dtype.itemsize
    if expected != entry.size:
        raise CorruptCheckpoint(f"variable {entry.name!r} in {path} holds {entry.size} bytes "
                                f"but its shape {list(entry.shape)} needs {expected}")
    return np.frombuffer(data, dtype=dtype).reshape(entry.shape)


def numpy_dtype(dtype: str) -> np.dtype | None:
    """The numpy dtype for a checkpoint dtype name; None for strings, variants, quantized."""
    import numpy as np

    if dtype == "bfloat16" or dtype.startswith("float8"):
        try:
            import ml_dtypes
        except ImportError:
            return None
        return np.dtype(getattr(ml_dtypes, dtype)) if hasattr(ml_dtypes, dtype) else None
    if dtype in ("string", "resource", "variant") or dtype.startswith(("q", "dtype_")):
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        return None


def shard_name(prefix: str, shard_id: int, num_shards: int) -> str:
    return f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}"


def _shard_size(prefix: str, shard_id: int, num_shards: int) -> int:
    path = shard_name(prefix, shard_id, num_shards)
    try:
        return os.path.getsize(path)
    except OSError as error:
        raise CorruptCheckpoint(f"data shard {path} is missing ({error.strerror}). "
                                f"Copy every .data-*-of-{num_shards:05d} file of the "
                                f"checkpoint") from error


def _load_with_tensorflow(source: Source):
    tf = _tensorflow()
    try:
        return tf.train.load_checkpoint(source.path)
    except (tf.errors.OpError, ValueError) as error:
        raise CorruptCheckpoint(f"cannot read checkpoint {source.given}: "
                                f"{_first_line(error)}. Check that all its files are "
                                f"complete (.index and every .data shard)") from error


def open_reader(source: Source) -> Reader:
    """The reader for a resolved source."""
    if source.format == "keras-h5":
        from inspectors.formats.keras_h5 import KerasH5Reader

        return KerasH5Reader(source)
    return BundleReader(source)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
