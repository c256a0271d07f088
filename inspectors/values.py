"""`tfckpt show`: tensor values and statistics, one variable at a time.

Statistics are computed in float64 over fixed-size chunks, so their memory is
the tensor itself plus a few MB whatever its size; NaN and Inf are counted,
not allowed to poison min, max, mean and std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from inspectors import names as names_lib
from inspectors.checkpoint import Reader, VariableInfo, open_reader
from inspectors.paths import Source, resolve

CHUNK = 1 << 20  # elements per chunk for statistics


@dataclass(frozen=True)
class Stats:
    name: str
    dtype: str
    shape: tuple[int, ...]
    size: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    l2: float | None
    zeros_pct: float | None
    nan: int
    inf: int

    def to_dict(self) -> dict:
        record = dict(self.__dict__)
        record["shape"] = list(self.shape)
        return record


@dataclass(frozen=True)
class Value:
    name: str
    dtype: str
    shape: tuple[int, ...]
    array: np.ndarray

    def to_dict(self, *, full: bool, limit: int) -> dict:
        complete = full or self.array.size <= limit
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "values": to_plain(self.array) if complete else None,
                "truncated": not complete}


def open_source(given: str) -> tuple[Source, Reader, dict[str, VariableInfo]]:
    source = resolve(given)
    reader = open_reader(source)
    return source, reader, {v.name: v for v in reader.variables()}


def pick(requested: Sequence[str], infos: dict[str, VariableInfo], source: Source) -> list[str]:
    if not requested:
        return sorted(infos)
    return names_lib.select(requested, infos, where=source.given)


def iter_values(reader: Reader, infos: dict[str, VariableInfo],
                chosen: Sequence[str]) -> Iterator[Value]:
    for name in chosen:
        info = infos[name]
        yield Value(name=name, dtype=info.dtype, shape=info.shape, array=reader.read(name))


def iter_stats(reader: Reader, infos: dict[str, VariableInfo],
               chosen: Sequence[str]) -> Iterator[Stats]:
    for name in chosen:
        info = infos[name]
        yield statistics(name, info.dtype, reader.read(name))


def statistics(name: str, dtype: str, array: np.ndarray) -> Stats:
    """Statistics of one tensor; numeric fields are None for strings."""
    array = np.asarray(array)
    base = dict(name=name, dtype=dtype, shape=tuple(array.shape), size=int(array.size))
    if array.dtype.kind in "SUO" or array.size == 0:
        return Stats(**base, min=None, max=None, mean=None, std=None, l2=None,
                     zeros_pct=None, nan=0, inf=0)
    flat = array.reshape(-1)
    first = _first_pass(flat)
    finite = first["finite"]
    mean = first["sum"] / finite if finite else None
    variance = _squared_deviation(flat, mean) / finite if finite else None
    return Stats(**base, min=first["min"], max=first["max"], mean=mean,
                 std=math.sqrt(variance) if variance is not None else None,
                 l2=math.sqrt(first["sumsq"]), zeros_pct=100.0 * first["zeros"] / flat.size,
                 nan=first["nan"], inf=first["inf"])


def _chunks(flat: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, flat.size, CHUNK):
        chunk = flat[start:start + CHUNK]
        if chunk.dtype.kind == "c":
            chunk = np.abs(chunk)  # complex tensors: statistics of the magnitudes
        yield chunk.astype(np.float64)


def _first_pass(flat: np.ndarray) -> dict:
    totals = dict(sum=0.0, sumsq=0.0, zeros=0, nan=0, inf=0, finite=0, min=None, max=None)
    for chunk in _chunks(flat):
        nan, inf = np.isnan(chunk), np.isinf(chunk)
        good = chunk[~(nan | inf)]
        totals["nan"] += int(nan.sum())
        totals["inf"] += int(inf.sum())
        totals["zeros"] += int(np.count_nonzero(chunk == 0))
        if good.size:
            totals["finite"] += int(good.size)
            totals["sum"] += float(good.sum())
            totals["sumsq"] += float(np.dot(good, good))
            totals["min"] = _fold(min, totals["min"], float(good.min()))
            totals["max"] = _fold(max, totals["max"], float(good.max()))
    return totals


def _squared_deviation(flat: np.ndarray, mean: float) -> float:
    total = 0.0
    for chunk in _chunks(flat):
        good = chunk[np.isfinite(chunk)] - mean
        total += float(np.dot(good, good))
    return total


def _fold(pick_fn, current: float | None, new: float) -> float:
    return new if current is None else pick_fn(current, new)


def to_plain(array: np.ndarray):
    """Nested lists of JSON-safe values: text for bytes, strings for NaN/Inf."""
    if array.dtype.kind in "SO":
        return np.vectorize(_text, otypes=[object])(array).tolist() if array.size else []
    if array.dtype.kind == "c":
        return np.stack([array.real, array.imag], axis=-1).astype(np.float64).tolist()
    if array.dtype.kind in "fV":
        if array.dtype.itemsize < 8:  # shortest text that reads back to the same value
            shortest = np.vectorize(lambda v: float(str(v)), otypes=[np.float64])
            return _finite_or_text(shortest(array).tolist())
        return _finite_or_text(array.astype(np.float64).tolist())
    return array.tolist()


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return str(value)


def _finite_or_text(value):
    if isinstance(value, list):
        return [_finite_or_text(v) for v in value]
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
