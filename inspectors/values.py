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

from inspectors import names as names_lib, render
from inspectors.formats.checkpoint import Reader, VariableInfo, open_reader
from inspectors.sources.paths import Source, resolve

CHUNK = 1 << 18  # elements per chunk: 2 MB of float64, small enough to stay in cache


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
        array = reader.read(name)  # its shape, not the index's: a lone slice is smaller
        yield Value(name=name, dtype=infos[name].dtype, shape=tuple(array.shape), array=array)


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
    moments = _Moments()
    for chunk in _chunks(array.reshape(-1)):
        moments.add(chunk)
    finite = moments.count
    return Stats(**base, min=moments.min, max=moments.max,
                 mean=moments.mean if finite else None,
                 std=math.sqrt(moments.m2 / finite) if finite else None,
                 l2=math.sqrt(moments.sumsq), zeros_pct=100.0 * moments.zeros / array.size,
                 nan=moments.nan, inf=moments.inf)


class _Moments:
    """Count, mean and squared deviations merged chunk by chunk (Chan et al.), so
    one pass gives a std as exact as two passes would."""

    def __init__(self) -> None:
        self.count, self.mean, self.m2, self.sumsq = 0, 0.0, 0.0, 0.0
        self.zeros, self.nan, self.inf = 0, 0, 0
        self.min: float | None = None
        self.max: float | None = None

    def add(self, chunk: np.ndarray) -> None:
        finite = np.isfinite(chunk)
        if not finite.all():
            self.nan += int(np.isnan(chunk).sum())
            self.inf += int(np.isinf(chunk).sum())
            chunk = chunk[finite]
        if not chunk.size:
            return
        self.zeros += int(np.count_nonzero(chunk == 0))
        self.min = _fold(min, self.min, float(chunk.min()))
        self.max = _fold(max, self.max, float(chunk.max()))
        wide = chunk.astype(np.float64)
        scratch = np.empty_like(wide)
        self.sumsq += sum_of_products(wide, wide, scratch)
        mean = float(wide.mean())
        wide -= mean
        self._merge(wide.size, mean, sum_of_products(wide, wide, scratch))

    def _merge(self, count: int, mean: float, m2: float) -> None:
        total = self.count + count
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * count / total
        self.mean += delta * count / total
        self.count = total


def sum_of_products(x: np.ndarray, y: np.ndarray, scratch: np.ndarray) -> float:
    """sum(x * y) without BLAS: numpy's dot hands vectors to a threaded BLAS whose
    threads spin against each other on a busy machine (100x slower here)."""
    product = scratch[:x.size]
    np.multiply(x, y, out=product)
    return float(product.sum())


def _chunks(flat: np.ndarray) -> Iterator[np.ndarray]:
    if flat.dtype.kind == "c":
        flat = np.abs(flat)  # complex tensors: statistics of the magnitudes
    elif flat.dtype.kind in "bV":
        flat = flat.astype(np.float32)  # bool and bfloat16 have no fast reductions
    for start in range(0, flat.size, CHUNK):
        yield flat[start:start + CHUNK]


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
    return render.display_text(value)


def _finite_or_text(value):
    if isinstance(value, list):
        return [_finite_or_text(v) for v in value]
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
