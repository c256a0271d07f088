"""Keras 1/2 HDF5 files (`model.save` and `save_weights`) as a checkpoint backend.

A variable is named by its dataset path below the weights root with Keras's
`:0` dropped: `dense_1/dense_1_W` (Keras 1), `dense_1/dense_1/kernel` (Keras 2),
and `optimizer_weights/...` for the optimizer state of a full-model file.
The order and membership come from the `layer_names` / `weight_names`
attributes, which are what Keras itself loads by.
"""

from __future__ import annotations

import numpy as np

from inspectors.checkpoint import MODEL, OPTIMIZER, VariableInfo, kind_of
from inspectors.errors import CorruptCheckpoint, SourceNotFound, UnsupportedSource
from inspectors.paths import Source

OPTIMIZER_GROUP = "optimizer_weights"


class KerasH5Reader:
    def __init__(self, source: Source):
        import h5py

        self.source = source
        try:
            self._file = h5py.File(source.path, "r")
        except OSError as error:
            raise CorruptCheckpoint(f"cannot open HDF5 file {source.given}: {error}") from error
        self._paths = self._index()

    def variables(self) -> list[VariableInfo]:
        infos = []
        for name, path in self._paths.items():
            dataset = self._file[path]
            kind = kind_of(name)
            if kind == MODEL and path.startswith(OPTIMIZER_GROUP + "/"):
                kind = OPTIMIZER
            infos.append(VariableInfo(name=name, dtype=_dtype_name(dataset.dtype),
                                      shape=tuple(int(d) for d in dataset.shape), kind=kind))
        return sorted(infos, key=lambda info: info.name)

    def read(self, name: str) -> np.ndarray:
        if name not in self._paths:
            raise SourceNotFound(f"no variable {name!r} in {self.source.given}")
        try:
            return np.asarray(self._file[self._paths[name]][()])
        except OSError as error:
            raise CorruptCheckpoint(f"cannot read {name!r} from {self.source.given}: "
                                    f"{error}") from error

    def _index(self) -> dict[str, str]:
        """variable name -> dataset path, for model and optimizer weights."""
        root = self._file["model_weights"] if "model_weights" in self._file else self._file
        if "layer_names" not in root.attrs:
            raise UnsupportedSource(f"{self.source.given} is an HDF5 file but not a Keras weights "
                                    f"file (no layer_names attribute). Pass a file written by "
                                    f"Keras model.save or save_weights")
        paths = {}
        for layer in _names(root.attrs["layer_names"]):
            group = root[layer]
            for weight in _names(group.attrs.get("weight_names", [])):
                paths[_strip_index(f"{layer}/{weight}")] = f"{group.name}/{weight}".lstrip("/")
        if OPTIMIZER_GROUP in self._file:
            group = self._file[OPTIMIZER_GROUP]
            for dataset in _datasets(group):
                relative = dataset[len(group.name) + 1:]
                paths[_strip_index(f"{OPTIMIZER_GROUP}/{relative}")] = dataset.lstrip("/")
        return paths


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
