"""Keras 1/2 HDF5 files (`model.save` and `save_weights`) as a checkpoint backend.

A variable is named by its dataset path below the weights root with Keras's
`:0` dropped: `dense_1/dense_1_W` (Keras 1), `dense_1/dense_1/kernel` (Keras 2),
and `optimizer_weights/...` for the optimizer state of a full-model file.
The order and membership come from the `layer_names` / `weight_names`
attributes, which are what Keras itself loads by.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from inspectors.formats.records import MODEL, OPTIMIZER, VariableInfo, kind_of
from inspectors.errors import CorruptCheckpoint, SourceNotFound, UnsupportedSource
from inspectors.sources.paths import Source

OPTIMIZER_GROUP = "optimizer_weights"


# h5py reports a damaged file as whichever of these its C library hit first.
_H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)
# A dataset may declare more than its bytes on disk (chunks never written read
# as fill values); past this, declared sizes are checked against the file.
_DECLARED_SLACK = 64 << 20


# Seconds libhdf5 may take to walk a file's groups and attributes; a damaged
# file can make it loop forever (tests/fuzz found one).
STRUCTURE_TIMEOUT = 20.0


class KerasH5Reader:
    def __init__(self, source: Source):
        from inspectors.formats.isolate import run_isolated

        self.source = source
        self._file = None
        # The walk runs in a forked child; tensor data is read here afterwards,
        # along the paths the child walked without trouble.
        self._paths, self._infos = run_isolated(self._survey, timeout=STRUCTURE_TIMEOUT,
                                                what=f"HDF5 file {source.given}")

    def _open(self):
        if self._file is None:
            import h5py

            try:
                self._file = h5py.File(self.source.path, "r")
            except _H5_ERRORS as error:
                raise CorruptCheckpoint(f"cannot open HDF5 file {self.source.given}: "
                                        f"{_first_line(error)}") from error
        return self._file

    def _survey(self) -> tuple[dict[str, str], list[VariableInfo]]:
        self._open()
        infos = []
        with self._damaged():
            paths = self._index()
            for name, path in paths.items():
                dataset = self._dataset(path)
                kind = kind_of(name)
                if kind == MODEL and path.startswith(OPTIMIZER_GROUP + "/"):
                    kind = OPTIMIZER
                infos.append(VariableInfo(name=name, dtype=_dtype_name(dataset.dtype),
                                          shape=tuple(int(d) for d in dataset.shape), kind=kind))
        return paths, sorted(infos, key=lambda info: info.name)

    def variables(self) -> list[VariableInfo]:
        return list(self._infos)

    def read(self, name: str) -> np.ndarray:
        if name not in self._paths:
            raise SourceNotFound(f"no variable {name!r} in {self.source.given}")
        with self._damaged(name):
            dataset = self._dataset(self._paths[name])
            self._check_declared_size(name, dataset)
            return np.asarray(dataset[()])

    @contextlib.contextmanager
    def _damaged(self, name: str | None = None) -> Iterator[None]:
        """h5py's errors on a damaged or foreign file as one CorruptCheckpoint."""
        try:
            yield
        except _H5_ERRORS as error:
            what = f"cannot read {name!r} from {self.source.given}" if name else \
                f"cannot read HDF5 file {self.source.given}"
            raise CorruptCheckpoint(f"{what}: {_first_line(error)}. The file is damaged or not "
                                    f"a Keras weights file") from error

    def _dataset(self, path: str):
        import h5py

        item = self._open().get(path)
        if not isinstance(item, h5py.Dataset):
            raise CorruptCheckpoint(f"{self.source.given} names the weight {path!r}, but "
                                    f"{'nothing' if item is None else 'a group'} is there. "
                                    f"The file is damaged or not a Keras weights file")
        if item.dtype.kind not in "biufcSUO":
            raise UnsupportedSource(f"weight {path!r} in {self.source.given} has the dtype "
                                    f"{item.dtype}, which is not a tensor type")
        return item

    def _check_declared_size(self, name: str, dataset) -> None:
        """Refuse a dataset that declares far more bytes than the file holds before
        h5py allocates them (an unwritten 2**40-element dataset reads as zeros)."""
        import os

        declared = int(dataset.size) * dataset.dtype.itemsize
        if declared > os.path.getsize(self.source.path) * 64 + _DECLARED_SLACK:
            raise CorruptCheckpoint(f"weight {name!r} in {self.source.given} declares "
                                    f"{declared:,} bytes ({list(dataset.shape)}), far more than "
                                    f"the file holds. The file is damaged")

    def _index(self) -> dict[str, str]:
        """variable name -> dataset path, for model and optimizer weights."""
        import h5py

        handle = self._open()
        root = handle["model_weights"] if "model_weights" in handle else handle
        if not isinstance(root, h5py.Group) or "layer_names" not in root.attrs:
            raise UnsupportedSource(f"{self.source.given} is an HDF5 file but not a Keras weights "
                                    f"file (no layer_names attribute). Pass a file written by "
                                    f"Keras model.save or save_weights")
        paths = {}
        for layer in self._names(root.attrs["layer_names"], "layer_names"):
            group = root.get(layer)
            if not isinstance(group, h5py.Group):
                raise CorruptCheckpoint(f"{self.source.given} lists the layer {layer!r}, but no "
                                        f"group of that name is there. The file is damaged")
            for weight in self._names(group.attrs.get("weight_names", []), "weight_names"):
                paths[_strip_index(f"{layer}/{weight}")] = f"{group.name}/{weight}".lstrip("/")
        group = handle.get(OPTIMIZER_GROUP)
        if isinstance(group, h5py.Group):
            for dataset in _datasets(group):
                relative = dataset[len(group.name) + 1:]
                paths[_strip_index(f"{OPTIMIZER_GROUP}/{relative}")] = dataset.lstrip("/")
        return paths

    def _names(self, values, attribute: str) -> list[str]:
        array = np.asarray(values)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "SUO"):
            raise UnsupportedSource(f"{self.source.given} has a {attribute} attribute that is not "
                                    f"a list of names: not a Keras weights file")
        return _names(array)


def _datasets(group) -> list[str]:
    import h5py

    found = []
    group.visititems(lambda name, obj: found.append(obj.name)
                     if isinstance(obj, h5py.Dataset) else None)
    return sorted(found)


def _names(values) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _strip_index(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.kind in "SOU":
        return "string"
    return dtype.name


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
