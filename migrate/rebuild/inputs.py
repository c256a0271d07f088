"""Model inputs: read from the user's file (npz, csv, json) or generated from the
feature specs, always as one batch array per feature, `[rows, *shape]`.

Generated inputs are deterministic (a seed), and categorical features take the
values of their vocabularies plus one word outside it, so verification covers
the out-of-vocabulary path the way real traffic does.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from inspectors.errors import SourceNotFound, TfckptError
from inspectors.render import bytes_of
from migrate.rebuild.inference import FeatureSpec

DEFAULT_ROWS = 32
OOV_WORD = "__tfckpt_oov__"
INPUT_PREFIX = "x:"  # the fixtures' predictions.npz keys inputs as `x:<feature>`


class BadInput(TfckptError):
    """An input file that is missing features, has the wrong shape or cannot be parsed."""


def generate(features: tuple[FeatureSpec, ...], *, rows: int = DEFAULT_ROWS,
             seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(seed)
    return {spec.name: _generated(spec, rows, rng) for spec in features}


def _generated(spec: FeatureSpec, rows: int, rng: np.random.RandomState) -> np.ndarray:
    shape = (rows, *[dim if dim > 0 else 1 for dim in spec.shape])
    if spec.dtype == "string":
        words = list(spec.vocabulary) + [OOV_WORD] if spec.vocabulary else None
        if words:
            picks = rng.randint(0, len(words), size=shape)
            return as_bytes(np.array(words, dtype=object)[picks])
        return np.char.add(b"value_", rng.randint(0, 1000, size=shape).astype("S"))
    if spec.dtype == "bool":
        return rng.randint(0, 2, size=shape).astype(bool)
    if spec.dtype.startswith(("int", "uint")):
        top = len(spec.vocabulary) + 1 if spec.vocabulary else 10
        if spec.int_high is not None:  # an index into a table: out of range is not an input
            top = min(top, spec.int_high) if spec.vocabulary else spec.int_high
        return rng.randint(0, top, size=shape).astype(spec.dtype)
    if len(spec.shape) >= 2:  # an image or a sequence of vectors: pixel-like values
        return rng.uniform(0.0, 1.0, size=shape).astype(spec.dtype)
    return (rng.normal(0.0, 2.0, size=shape)).astype(spec.dtype)


def read(path: str, features: tuple[FeatureSpec, ...]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(features by key, the file's other columns) from an npz, csv or json file."""
    columns = _read_columns(path)
    wanted = {spec.name: spec for spec in features}
    missing = sorted(set(wanted) - set(columns))
    if missing:
        raise BadInput(f"{path} has no column for feature(s) {', '.join(missing)} "
                       f"(it has: {', '.join(sorted(columns)) or 'nothing'})")
    feeds = {name: _shaped(columns[name], spec, path) for name, spec in wanted.items()}
    rows = {len(array) for array in feeds.values()}
    if len(rows) > 1:
        raise BadInput(f"{path}: features have different row counts {sorted(rows)}")
    extra = {name: np.asarray(value) for name, value in columns.items() if name not in wanted}
    return feeds, extra


def _read_columns(path: str) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise SourceNotFound(f"no such input file: {path}")
    suffix = os.path.splitext(path)[1].lower()
    readers = {".npz": _read_npz, ".csv": _read_csv, ".json": _read_json}
    if suffix not in readers:
        raise BadInput(f"{path}: input files are .npz, .csv or .json")
    try:
        return readers[suffix](path)
    except (ValueError, OSError, KeyError, json.JSONDecodeError, csv.Error) as error:
        raise BadInput(f"{path} cannot be read as {suffix[1:]}: {error}") from None


def _read_npz(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        columns = {}
        for key in data.files:
            name = key[len(INPUT_PREFIX):] if key.startswith(INPUT_PREFIX) else key
            columns.setdefault(name, data[key])
        return columns


def _read_csv(path: str) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError("no rows after the header")
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def _read_json(path: str) -> dict[str, np.ndarray]:
    """Either {"feature": [values...]} or [{"feature": value, ...}, ...]."""
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if isinstance(document, dict):
        return {name: np.asarray(values) for name, values in document.items()}
    if isinstance(document, list) and document and all(isinstance(r, dict) for r in document):
        return {name: np.asarray([record.get(name) for record in document]) for name in document[0]}
    raise ValueError("expected an object of columns or a list of records")


def as_bytes(values: np.ndarray) -> np.ndarray:
    """Strings as the bytes a string tensor takes: text as UTF-8 (words from graphs
    keep their non-UTF-8 bytes, see render.text_of), numbers as their text."""
    values = np.asarray(values)
    if values.dtype.kind == "S":
        return values
    encoded = [item if isinstance(item, bytes) else bytes_of(str(item))
               for item in values.reshape(-1).tolist()]
    return np.array(encoded, dtype=object).reshape(values.shape).astype(bytes)


def _shaped(values: np.ndarray, spec: FeatureSpec, path: str) -> np.ndarray:
    values = np.asarray(values)
    try:
        if spec.dtype == "string":
            values = as_bytes(values)
        elif spec.dtype == "bool" and values.dtype.kind in "US":
            values = np.isin(np.char.lower(values.astype(str)), ("1", "true", "yes"))
        else:
            values = values.astype(spec.dtype)
    except (ValueError, TypeError) as error:
        raise BadInput(f"{path}: column {spec.name} is not {spec.dtype}: {error}") from None
    known = all(dim > 0 for dim in spec.shape)
    if known and values.shape[1:] != tuple(spec.shape):
        if values.size % max(1, int(np.prod(spec.shape))) or values.ndim < 1:
            raise BadInput(f"{path}: column {spec.name} has shape {list(values.shape)}, "
                           f"the model takes [rows, {', '.join(map(str, spec.shape))}]")
        values = values.reshape((len(values), *spec.shape))
    return values
