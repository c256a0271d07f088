"""Checkpoint weights to and from HDF5, npz and safetensors files, one tensor in memory
at a time.

Owns the HDF5 and npz layouts tfckpt writes, the reader for them (and for plain
npz files), and the export / import operations with their verification for all
three (the safetensors format itself: `safetensors_file`). A safetensors export
goes through a rename plan (`--preset`, `--map`, `--drop`, ... as for `rename`).

HDF5 layout (`.h5`, `.hdf5`): groups follow the variable's scopes and the dataset is
the last name component plus `:0`, as Keras 2 names its datasets, so a variable can
sit beside the scope of its slots (`w:0` beside the group `w/` holding `w/Adam`).
Root attributes: `tfckpt_format` = "tfckpt-weights", `format_version`, `source`,
`source_format`, `step` (-1 when unknown). Each dataset's attributes: `name` (the
checkpoint key), `dtype` (the checkpoint dtype), `shape`, `declared_shape`, `kind`,
`partitions`, `stored_as`, `source`, `step`. Partitioned variables are stored whole
(`partitions` says how many slices the checkpoint held). `declared_shape` differs from
`shape` only for the slot of one partition that TF 1.x saved under its own name with
the whole variable's shape: the stored slice is what is kept.

npz layout: one `.npy` member per variable, keyed by its checkpoint name, plus the
member `__tfckpt__`: a uint8 array holding UTF-8 JSON `{"tfckpt_format",
"format_version", "source", "source_format", "step", "variables": {name: {dtype,
shape, declared_shape, kind, partitions, stored_as}}}`. Read it with
`json.loads(np.load(f)["__tfckpt__"].tobytes())`.

`stored_as` says how a value that numpy or HDF5 cannot hold as it is was stored:
`raw` (as it is), `bits` (bfloat16 / float8 as unsigned integers of the same width:
view them back), `bytes` (strings; HDF5: variable-length uint8 arrays, one per
element, shaped like the tensor; npz: the concatenated bytes under the name, the
lengths under `<name>:lengths`). Both keep every byte, embedded NULs included.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from inspectors.sources import paths
from inspectors.formats.checkpoint import VariableInfo, kind_of, numpy_dtype, open_reader
from inspectors.formats.records import BOOKKEEPING
from inspectors.errors import (CorruptCheckpoint, SourceNotFound, UnsafeOutput, UnsupportedSource,
                              VerificationFailed)
from inspectors.progress import Progress, tracked
from migrate.write.staged import Staged, check_output, fsync_tree
from migrate.write import safetensors_file
from migrate.write.safetensors_file import SAFETENSORS

FORMAT_TAG = "tfckpt-weights"
FORMAT_VERSION = 1
META_KEY = "__tfckpt__"
LENGTHS_SUFFIX = ":lengths"
HDF5, NPZ = "hdf5", "npz"
EXTENSIONS = {".h5": HDF5, ".hdf5": HDF5, ".npz": NPZ, ".safetensors": SAFETENSORS}
RAW, BITS, BYTES = "raw", "bits", "bytes"
CHECKPOINT_NAME = "model.ckpt"


@dataclass(frozen=True)
class Header:
    """Where the weights came from."""

    source: str
    source_format: str
    step: int | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class WeightsReport:
    """What an export or import wrote."""

    operation: str  # "export" | "import"
    source: str
    source_format: str  # V1, V2, keras-h5, hdf5/npz/safetensors (ours), npz/safetensors (plain)
    output: str
    output_format: str  # hdf5, npz, safetensors, V2
    step: int | None
    variables: int
    nbytes: int
    verified: bool
    checkpoint: str | None = None  # import: the written prefix inside the output dir
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record["notes"] = list(self.notes)
        return record


# ---------------------------------------------------------------------------------------
# Values numpy / HDF5 cannot hold as they are
# ---------------------------------------------------------------------------------------

def storage_of(dtype: str) -> str:
    if dtype == "string":
        return BYTES
    if dtype == "bfloat16" or dtype.startswith("float8"):
        return BITS
    return RAW


def to_bits(value: np.ndarray) -> np.ndarray:
    """bfloat16 / float8 as unsigned integers of the same width (bit pattern kept)."""
    return value.view(np.dtype(f"uint{value.dtype.itemsize * 8}"))


def from_bits(stored: np.ndarray, dtype: str) -> np.ndarray:
    target = numpy_dtype(dtype)
    if target is None:
        raise UnsupportedSource(f"cannot restore dtype {dtype}: the ml_dtypes package is "
                                f"missing. Install it (pip install ml_dtypes)")
    return _c_order(stored).view(target)


def _c_order(array: np.ndarray) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    array = np.asarray(array)
    return array if array.flags.c_contiguous else array.copy(order="C")


def as_bytes_array(value: np.ndarray) -> np.ndarray:
    """A string tensor as an object array of bytes (TensorFlow returns bytes already)."""
    flat = [item if isinstance(item, bytes) else str(item).encode("utf-8")
            for item in np.asarray(value, dtype=object).ravel()]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(np.shape(value))


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes (NaNs with the same payload count as equal)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype == object or b.dtype == object:
        return as_bytes_array(a).ravel().tolist() == as_bytes_array(b).ravel().tolist()
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()  # tobytes is C order


def dtype_of(value: np.ndarray) -> str:
    if value.dtype == object or value.dtype.kind in "SU":
        return "string"
    return value.dtype.name


# ---------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------

class H5Writer:
    def __init__(self, path: str, header: Header):
        import h5py

        self._h5py = h5py
        self.header = header
        self.file = h5py.File(path, "w")
        self.file.attrs.update(tfckpt_format=FORMAT_TAG, format_version=FORMAT_VERSION,
                               source=header.source, source_format=header.source_format,
                               step=_step_attr(header.step))

    def add(self, info: VariableInfo, value: np.ndarray) -> None:
        stored_as = storage_of(info.dtype)
        path = dataset_path(info.name)
        if stored_as == BYTES:
            dataset = self._add_strings(path, value)
        else:
            data = to_bits(value) if stored_as == BITS else value
            dataset = self.file.create_dataset(path, data=data)
        dataset.attrs.update(name=info.name, dtype=info.dtype, shape=list(np.shape(value)),
                             declared_shape=list(info.shape), kind=info.kind,
                             partitions=info.partitions, stored_as=stored_as,
                             source=self.header.source, step=_step_attr(self.header.step))

    def _add_strings(self, path: str, value: np.ndarray):
        items = as_bytes_array(value)
        dataset = self.file.create_dataset(path, shape=items.shape,
                                           dtype=self._h5py.vlen_dtype(np.uint8))
        for index, item in np.ndenumerate(items):
            dataset[index] = np.frombuffer(item, dtype=np.uint8)
        return dataset

    def close(self) -> None:
        self.file.close()


class NpzWriter:
    """np.savez needs every array at once; this writes the same zip member by member."""

    def __init__(self, path: str, header: Header):
        self.header = header
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self.meta: dict[str, dict] = {}

    def add(self, info: VariableInfo, value: np.ndarray) -> None:
        if info.name == META_KEY or info.name.endswith(LENGTHS_SUFFIX):
            raise UnsupportedSource(f"variable {info.name!r} clashes with the npz layout's "
                                    f"reserved names. Export to .h5 instead")
        stored_as = storage_of(info.dtype)
        if stored_as == BYTES:
            items = as_bytes_array(value).ravel()
            self._member(info.name, np.frombuffer(b"".join(items), dtype=np.uint8))
            self._member(info.name + LENGTHS_SUFFIX,
                         np.array([len(item) for item in items], dtype=np.int64))
        else:
            self._member(info.name, to_bits(value) if stored_as == BITS else np.asarray(value))
        self.meta[info.name] = {"dtype": info.dtype, "shape": list(np.shape(value)),
                                "declared_shape": list(info.shape), "kind": info.kind,
                                "partitions": info.partitions,
                                "stored_as": stored_as}

    def _member(self, key: str, array: np.ndarray) -> None:
        with self.zip.open(key + ".npy", "w", force_zip64=True) as handle:
            np.lib.format.write_array(handle, _c_order(array), allow_pickle=False)

    def close(self) -> None:
        document = {"tfckpt_format": FORMAT_TAG, "format_version": FORMAT_VERSION,
                    **self.header.to_dict(), "variables": self.meta}
        text = json.dumps(document, sort_keys=True).encode("utf-8")
        self._member(META_KEY, np.frombuffer(text, dtype=np.uint8))
        self.zip.close()


def dataset_path(name: str) -> str:
    """`a/b/w` -> `a/b/w:0`: groups are scopes, the leaf carries TensorFlow's `:0`."""
    parts = name.split("/")
    if any(part in ("", ".") for part in parts):
        raise UnsupportedSource(f"variable name {name!r} has an empty or '.' scope and cannot "
                                f"be an HDF5 path. Export to .npz instead")
    return name + ":0"


def _step_attr(step: int | None) -> int:
    return -1 if step is None else int(step)


# ---------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------

class WeightsFileReader:
    """Our HDF5 / npz files and plain npz files, with the checkpoint reader interface."""

    def __init__(self, path: str, *, given: str | None = None):
        self.path = path
        self.given = given or path
        self.kind = file_kind(path, self.given)
        self._records: dict[str, dict] = {}
        self.header = Header(source=self.given, source_format=self.kind, step=None)
        self.ours = False
        if self.kind == HDF5:
            self._open_h5()
        else:
            self._open_npz()

    @property
    def label(self) -> str:
        return f"{self.kind} ({'tfckpt' if self.ours else 'plain'})"

    def variables(self) -> list[VariableInfo]:
        return sorted((VariableInfo(name=name, dtype=record["dtype"],
                                    shape=tuple(record["shape"]),
                                    kind=record.get("kind") or kind_of(name),
                                    partitions=int(record.get("partitions", 1)))
                       for name, record in self._records.items()), key=lambda info: info.name)

    def read(self, name: str) -> np.ndarray:
        if name not in self._records:
            raise SourceNotFound(f"no variable {name!r} in {self.given}")
        record = self._records[name]
        try:
            stored = self._stored(name, record)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise CorruptCheckpoint(f"cannot read {name!r} from {self.given}: {error}") from error
        if record["stored_as"] == BITS:
            return from_bits(stored, record["dtype"])
        if record["stored_as"] == BYTES:
            return stored
        return stored

    def close(self) -> None:
        if self.kind == HDF5:
            self._file.close()
        else:
            self._zip.close()

    # -- HDF5 --------------------------------------------------------------------------

    def _open_h5(self) -> None:
        import h5py

        try:
            self._file = h5py.File(self.path, "r")
        except OSError as error:
            raise CorruptCheckpoint(f"cannot open HDF5 file {self.given}: {error}") from error
        if _text(self._file.attrs.get("tfckpt_format")) != FORMAT_TAG:
            self._file.close()
            raise UnsupportedSource(f"{self.given} is an HDF5 file but not one tfckpt wrote "
                                    f"(no tfckpt_format attribute)")
        self.ours = True
        attrs = self._file.attrs
        self.header = Header(source=_text(attrs.get("source")),
                             source_format=_text(attrs.get("source_format")),
                             step=_step_value(attrs.get("step")))

        def visit(path: str, obj) -> None:
            if isinstance(obj, h5py.Dataset) and "name" in obj.attrs:
                self._records[_text(obj.attrs["name"])] = {
                    "dtype": _text(obj.attrs["dtype"]),
                    "shape": [int(d) for d in obj.attrs["shape"]],
                    "kind": _text(obj.attrs.get("kind")), "path": obj.name,
                    "partitions": int(obj.attrs.get("partitions", 1)),
                    "stored_as": _text(obj.attrs.get("stored_as", RAW))}

        self._file.visititems(visit)

    # -- npz ---------------------------------------------------------------------------

    def _open_npz(self) -> None:
        try:
            self._zip = zipfile.ZipFile(self.path, "r")
            members = {name[:-4] for name in self._zip.namelist() if name.endswith(".npy")}
        except (OSError, zipfile.BadZipFile) as error:
            raise CorruptCheckpoint(f"cannot open npz file {self.given}: {error}") from error
        if META_KEY in members:
            self._read_npz_meta()
        else:
            self._records = {name: self._plain_record(name) for name in sorted(members)}

    def _read_npz_meta(self) -> None:
        try:
            document = json.loads(self._array(META_KEY).tobytes())
        except (ValueError, KeyError) as error:
            raise CorruptCheckpoint(f"the {META_KEY} member of {self.given} is not valid "
                                    f"JSON ({error}). Export the checkpoint again") from error
        if document.get("tfckpt_format") != FORMAT_TAG:
            raise UnsupportedSource(f"{self.given} has a {META_KEY} member of another format")
        self.ours = True
        self.header = Header(source=document.get("source", ""),
                             source_format=document.get("source_format", ""),
                             step=document.get("step"))
        self._records = document["variables"]

    def _plain_record(self, name: str) -> dict:
        """A plain npz member: its dtype and shape come from the .npy header alone."""
        with self._zip.open(name + ".npy") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                shape, _order, dtype = np.lib.format._read_array_header(handle, version)
            except ValueError as error:
                raise CorruptCheckpoint(f"member {name!r} of {self.given} is not a .npy "
                                        f"array ({error})") from error
        if dtype.hasobject:
            raise UnsupportedSource(f"member {name!r} of {self.given} holds Python objects "
                                    f"(pickled). Save it as a numeric or fixed-width array")
        return {"dtype": dtype_of(np.empty(0, dtype)), "shape": list(shape), "kind": None,
                "partitions": 1, "stored_as": RAW}

    def _array(self, key: str) -> np.ndarray:
        with self._zip.open(key + ".npy") as handle:
            return np.lib.format.read_array(handle, allow_pickle=False)

    def _stored(self, name: str, record: dict) -> np.ndarray:
        if self.kind == HDF5:
            dataset = self._file[record["path"]]
            if record["stored_as"] == BYTES:
                return _bytes_from_vlen(dataset, tuple(record["shape"]))
            return np.asarray(dataset[()])
        if record["stored_as"] == BYTES:
            data = self._array(name).tobytes()
            lengths = self._array(name + LENGTHS_SUFFIX)
            return _split_bytes(data, lengths, tuple(record["shape"]))
        value = self._array(name)
        if value.dtype.kind in "SU":
            value = as_bytes_array(value)  # plain npz strings: fixed width -> bytes
        return value


def _bytes_from_vlen(dataset, shape: tuple[int, ...]) -> np.ndarray:
    # A scalar vlen dataset reads as its one uint8 array, a shaped one as an object array.
    items = [dataset[()]] if dataset.shape == () else dataset[()].ravel()
    flat = [np.asarray(item, dtype=np.uint8).tobytes() for item in items]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


def _split_bytes(data: bytes, lengths: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if int(lengths.sum()) != len(data):
        raise CorruptCheckpoint("string lengths do not add up to the stored bytes")
    ends = np.cumsum(lengths)
    flat = [data[end - length:end] for end, length in zip(ends.tolist(), lengths.tolist())]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return "" if value is None else str(value)


def _step_value(value: Any) -> int | None:
    if value is None or int(value) < 0:
        return None
    return int(value)


def file_kind(path: str, given: str) -> str:
    """hdf5 or npz, from the file's first bytes (extensions lie)."""
    if not os.path.exists(path):
        raise SourceNotFound(f"no such file: {given}. Pass an .h5, .npz or .safetensors weights file")
    if os.path.isdir(path):
        raise UnsupportedSource(f"{given} is a directory, not an .h5, .npz or .safetensors "
                                f"weights file")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == paths.HDF5_MAGIC:
        return HDF5
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return NPZ
    with open(path, "rb") as handle:
        if safetensors_file.looks_like_safetensors(handle.read(9)):
            return SAFETENSORS
    raise UnsupportedSource(f"{given} is not an .h5, .npz or .safetensors weights file (found "
                            f"{paths.sniff(path)}). Pass a file written by export-weights "
                            f"or a Keras .h5")


def output_kind(output: str) -> str:
    ext = os.path.splitext(output)[1].lower()
    if ext not in EXTENSIONS:
        raise UnsupportedSource(f"cannot tell the format of {output} from its extension "
                                f"{ext or '(none)'}. Name it *.h5, *.hdf5, *.npz or *.safetensors")
    return EXTENSIONS[ext]


# ---------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------

def source_inputs(source: paths.Source) -> list[str]:
    """Every path an output must keep away from."""
    found = [source.given, source.path]
    found += [p for p in (source.model_dir, source.saved_model) if p]
    return [p for p in found if "?" not in p] + [p.split("-?????")[0] for p in found if "?" in p]


def export_weights(src: str, output: str, *, force: bool = False, progress: Progress = None,
                   steps: Sequence = ()) -> WeightsReport:
    """Write every variable of SRC to an HDF5, npz or safetensors file, verified before it
    appears. `steps` (rename StepSpecs) rename or drop variables on the way (safetensors)."""
    kind = output_kind(output)
    if kind == SAFETENSORS:
        return export_safetensors(src, output, force=force, progress=progress, steps=steps)
    if steps:
        raise UnsupportedSource(f"--preset, --map, --drop and the other rename options apply to "
                                f".safetensors outputs. Rename first (tfckpt rename), then export")
    source = paths.resolve(src)
    check_output(output, source_inputs(source), force=force)
    reader = open_reader(source)
    infos = reader.variables()
    header = Header(source=source.path, source_format=source.format, step=source.step)
    notes = list(source.notes)
    with Staged(output, force=force, is_dir=False) as staged:
        writer = (H5Writer if kind == HDF5 else NpzWriter)(staged.path, header)
        try:
            nbytes = _copy(infos, reader.read, writer, progress, notes)
        finally:
            writer.close()
        _verify(WeightsFileReader(staged.path, given=output), reader.read, infos, what=output)
        fsync_tree(staged.path)
        staged.commit()
    return WeightsReport(operation="export", source=src, source_format=source.format,
                         output=output, output_format=kind, step=source.step,
                         variables=len(infos), nbytes=nbytes, verified=True,
                         notes=tuple(notes))


def _copy(infos: list[VariableInfo], read, writer, progress: Progress, notes: list[str]) -> int:
    nbytes, lone = 0, []
    for info in tracked(infos, len(infos), progress):
        value = read(info.name)
        if tuple(np.shape(value)) != info.shape:
            lone.append(info.name)
        writer.add(info, value)
        nbytes += np.asarray(value).nbytes if info.dtype != "string" else 0
    if lone:
        # TF 1.x saves a partition's slot under its own name with the whole variable's
        # shape but only that partition's slice stored: the slice is the slot's value.
        notes.append(f"{len(lone)} variable(s) store one slice of a larger declared shape "
                     f"(slots of partitions, e.g. {lone[0]}); exported as stored, the declared "
                     f"shape kept in the declared_shape attribute")
    return nbytes


def _verify(written, read_source, infos: list[VariableInfo], *, what: str) -> None:
    """Re-read every written tensor and compare it with the source, one pair at a time."""
    try:
        names = {info.name for info in written.variables()}
        expected = {info.name for info in infos}
        if names != expected:
            lost = sorted(expected - names)[:3]
            raise VerificationFailed(f"{what} lacks {len(expected - names)} variable(s) "
                                     f"after writing (e.g. {', '.join(lost)}); nothing was kept")
        for info in infos:
            if not same_bits(written.read(info.name), read_source(info.name)):
                raise VerificationFailed(f"variable {info.name!r} differs in {what} after "
                                         f"writing; nothing was kept")
    finally:
        close = getattr(written, "close", None)
        if close:
            close()


def export_safetensors(src: str, output: str, *, force: bool = False, progress: Progress = None,
                       steps: Sequence = ()) -> WeightsReport:
    """SRC's variables, named after the rename plan `steps` make, as a safetensors file:
    the header from the plan, then each value as it is read; re-read and compared bit for
    bit before it appears."""
    from migrate.names.plan import plan_for_reader, resolve_steps
    from migrate.write.rewrite import materialize

    source = paths.resolve(src)
    check_output(output, source_inputs(source), force=force)
    reader = open_reader(source)
    plan = plan_for_reader(reader, resolve_steps(steps))
    entries, left_out = _holdable(plan.written)
    tensors = [(entry.new, entry.new_dtype, stored_shape(entry, reader)) for entry in entries]
    safetensors_file.refuse_unwritable(tensors)
    metadata = {"tfckpt_format": FORMAT_TAG, "format_version": str(FORMAT_VERSION),
                "source": source.path, "source_format": source.format,
                **({} if source.step is None else {"step": str(source.step)})}
    notes = [*source.notes, *plan.warnings]
    if left_out:
        notes.append(f"left out {len(left_out)} bookkeeping string(s) safetensors cannot hold "
                     f"(e.g. {left_out[0].old}): not weights")
    with Staged(output, force=force, is_dir=False) as staged:
        writer = safetensors_file.SafetensorsWriter(staged.path, tensors, metadata)
        try:
            for entry in tracked(entries, len(entries), progress):
                writer.add(entry.new, materialize(entry, reader))
        finally:
            writer.close()
        written = safetensors_file.SafetensorsReader(staged.path, given=output)
        _verify_planned(written, entries, reader, metadata, what=output)
        fsync_tree(staged.path)
        staged.commit()
    nbytes = sum(slot.end - slot.begin for slot in written.slots.values())
    return WeightsReport(operation="export", source=src, source_format=source.format,
                         output=output, output_format=SAFETENSORS, step=source.step,
                         variables=len(entries), nbytes=nbytes, verified=True,
                         notes=tuple(notes))


def _holdable(entries) -> tuple[list, list]:
    """(entries to write, bookkeeping strings left out). A string that is bookkeeping (TF2's
    object graph) is no weight, so it is left out with a note; any other string is refused."""
    left_out = [entry for entry in entries
                if entry.new_dtype == "string" and kind_of(entry.old) == BOOKKEEPING]
    return [entry for entry in entries if entry not in left_out], left_out


def stored_shape(entry, reader) -> tuple[int, ...]:
    """The shape the entry's value has: the plan's, except for a key TF 1.x saved holding
    one slice of a larger declared shape (a partition's slot), whose slice is its value."""
    stored = reader.entry(entry.old) if entry.is_copy and hasattr(reader, "entry") else None
    if stored is None or len(stored.slices) != 1:
        return tuple(entry.new_shape)
    return tuple(dim if length == -1 else length
                 for (_start, length), dim in zip(stored.slices[0].extents, stored.shape))


def _verify_planned(written, entries, reader, metadata: dict[str, str], *, what: str) -> None:
    from migrate.write.rewrite import materialize

    if written.metadata != metadata or set(written.slots) != {entry.new for entry in entries}:
        raise VerificationFailed(f"{what} does not hold exactly the planned variables and "
                                 f"metadata after writing; nothing was kept")
    for entry in entries:
        if not same_bits(written.read(entry.new), materialize(entry, reader)):
            raise VerificationFailed(f"variable {entry.new!r} differs in {what} after "
                                     f"writing; nothing was kept")


# ---------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------

def open_weights(given: str):
    """A reader for IN: our .h5/.npz, a plain .npz, a .safetensors file, or a Keras 1/2 .h5;
    its format label and header."""
    path = os.path.expanduser(given)
    kind = file_kind(path, given)
    if kind == SAFETENSORS:
        reader = safetensors_file.SafetensorsReader(path, given=given)
        meta = reader.metadata
        return reader, reader.label, Header(source=meta.get("source", given),
                                            source_format=meta.get("source_format", SAFETENSORS),
                                            step=reader.step)
    if kind == HDF5 and not _is_ours_h5(path):
        source = paths.Source(given=given, format="keras-h5", path=path)
        return open_reader(source), "keras-h5", Header(given, "keras-h5", None)
    reader = WeightsFileReader(path, given=given)
    return reader, reader.label, reader.header


def _is_ours_h5(path: str) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return _text(handle.attrs.get("tfckpt_format")) == FORMAT_TAG
    except OSError as error:
        raise CorruptCheckpoint(f"cannot open HDF5 file {path}: {error}") from error


def _refuse_overlap(output: str, given: str) -> None:
    """IN is one file, not a checkpoint prefix: only the same path or a parent dir overlaps
    (`out/` beside `out.h5` is fine, unlike beside a prefix that owns `out.index`)."""
    target, source = os.path.realpath(output), os.path.realpath(given)
    if target == source or source.startswith(target.rstrip(os.sep) + os.sep):
        raise UnsafeOutput(f"output {output} overlaps the input {given}. "
                           f"Choose an output path outside the input")


def checkpoint_prefix(output_dir: str, step: int | None) -> str:
    name = CHECKPOINT_NAME if step is None else f"{CHECKPOINT_NAME}-{step}"
    return os.path.join(output_dir, name)


def write_state_file(directory: str, prefix_name: str) -> None:
    """The `checkpoint` state file, with a relative path so the dir can move."""
    quoted = json.dumps(prefix_name)
    with open(os.path.join(directory, paths.STATE_FILE), "w", encoding="utf-8") as handle:
        handle.write(f"model_checkpoint_path: {quoted}\nall_model_checkpoint_paths: {quoted}\n")


def import_weights(given: str, output: str, *, force: bool = False, step: int | None = None,
                   progress: Progress = None) -> WeightsReport:
    """Write the weights of IN as a new V2 checkpoint in the directory OUTPUT."""
    reader, label, header = open_weights(given)
    try:
        check_output(output, [], force=force)
        _refuse_overlap(output, given)
        infos = reader.variables()
        step = header.step if step is None else step
        with Staged(output, force=force, is_dir=True) as staged:
            prefix = checkpoint_prefix(staged.path, step)
            nbytes = write_checkpoint(prefix, _tensors(infos, reader.read, progress))
            write_state_file(staged.path, os.path.basename(prefix))
            written = open_reader(paths.resolve(prefix))
            _verify(written, reader.read, infos, what=output)
            fsync_tree(staged.path)
            staged.commit()
    finally:
        close = getattr(reader, "close", None)
        if close:
            close()
    return WeightsReport(operation="import", source=given, source_format=label, output=output,
                         output_format="V2", step=step, variables=len(infos), nbytes=nbytes,
                         verified=True, checkpoint=checkpoint_prefix(output, step),
                         notes=tuple(_import_notes(label, header)))


def _import_notes(label: str, header: Header) -> list[str]:
    if label.startswith(("hdf5 (tfckpt", "npz (tfckpt", "safetensors (tfckpt")):
        return [f"exported from {header.source} ({header.source_format})"]
    return []


def _tensors(infos: list[VariableInfo], read, progress: Progress) -> Iterator[tuple[str, np.ndarray]]:
    for info in tracked(infos, len(infos), progress):
        yield info.name, read(info.name)


def write_checkpoint(prefix: str, tensors: Iterable[tuple[str, np.ndarray]]) -> int:
    """Write a V2 checkpoint from (name, value) pairs; returns the tensor bytes written."""
    from migrate.write.rewrite import write_bundle

    counted = _counting(tensors)
    write_bundle(prefix, counted)
    return counted.nbytes


class _counting:
    """Pass (name, value) pairs through, adding up their bytes."""

    def __init__(self, pairs: Iterable[tuple[str, np.ndarray]]):
        self.pairs = pairs
        self.nbytes = 0

    def __iter__(self):
        for name, value in self.pairs:
            value = np.asarray(value)
            if value.dtype != object:
                self.nbytes += value.nbytes
            yield name, value
