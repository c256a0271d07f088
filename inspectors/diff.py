"""`tfckpt diff A B`: what changed between two checkpoints, streamed.

At most one tensor pair is held at a time (plus the next pair, read ahead on a
second thread while this one is compared). Names are matched exactly, then
`x/part_N` slices are joined to stand against a whole `x`, then tensors left on
one side are paired by content ("renamed"). The report is built completely
before anything is printed: a damaged tensor halfway through is an error, never
half a report.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from inspectors.formats.checkpoint import Reader, VariableInfo, open_reader
from inspectors.sources.paths import Source, resolve
from inspectors.progress import Progress, tracked
from inspectors.values import sum_of_products

PART_RE = re.compile(r"^(?P<base>.+)/part_(?P<index>\d+)$")
CHUNK = 1 << 18


@dataclass(frozen=True)
class Change:
    name: str
    max_abs: float
    argmax: list[int]
    mean_abs: float
    rms: float
    rel_l2: float | None
    cosine: float | None
    mismatched: int
    fraction: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Mismatch:
    """A dtype (two names) or shape (two lists) that differs between A and B."""

    name: str
    a: str | list[int]
    b: str | list[int]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Report:
    a: str
    b: str
    identical: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    shape_changed: list[Mismatch] = field(default_factory=list)
    dtype_changed: list[Mismatch] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    joined: list[tuple[str, str]] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.changed or self.shape_changed or self.dtype_changed or self.only_in_a
                    or self.only_in_b or self.renamed)

    def summary(self) -> dict:
        return {"identical": len(self.identical), "changed": len(self.changed),
                "shape_changed": len(self.shape_changed), "dtype_changed": len(self.dtype_changed),
                "only_in_a": len(self.only_in_a), "only_in_b": len(self.only_in_b),
                "renamed": len(self.renamed), "differs": self.differs}

    def largest_movers(self, top: int | None = None) -> list[Change]:
        """Changed tensors by relative L2, largest first (no reference norm: first)."""
        ranked = sorted(self.changed, key=lambda c: (-(c.rel_l2 if c.rel_l2 is not None
                                                       else float("inf")), c.name))
        return ranked if top is None else ranked[:top]

    def to_dict(self, *, top: int | None = None) -> dict:
        return {"a": self.a, "b": self.b, "identical": sorted(self.identical),
                "changed": [c.to_dict() for c in self.largest_movers(top)],
                "shape_changed": [m.to_dict() for m in self.shape_changed],
                "dtype_changed": [m.to_dict() for m in self.dtype_changed],
                "only_in_a": sorted(self.only_in_a), "only_in_b": sorted(self.only_in_b),
                "renamed": [{"a": a, "b": b} for a, b in sorted(self.renamed)],
                "partitioned": [{"a": a, "b": b} for a, b in sorted(self.joined)],
                "summary": self.summary()}


@dataclass(frozen=True)
class Options:
    atol: float = 0.0
    rtol: float = 0.0
    match: re.Pattern | None = None
    exclude: re.Pattern | None = None
    kind: str | None = None
    names_only: bool = False


@dataclass(frozen=True)
class Side:
    """One checkpoint of the comparison: its source, reader and logical variables."""

    source: Source
    reader: Reader
    variables: dict[str, VariableInfo]
    parts: dict[str, list[str]]  # logical name -> its `/part_N` slices, in order

    def read(self, name: str) -> np.ndarray:
        if name in self.parts:
            return np.concatenate([self.reader.read(p) for p in self.parts[name]], axis=0)
        return self.reader.read(name)


def diff(a: str, b: str, options: Options = Options(),
         progress: Progress = None) -> Report:
    left, right = _open_side(a, options), _open_side(b, options)
    report = Report(a=left.source.path, b=right.source.path)
    common = sorted(set(left.variables) & set(right.variables))
    report.only_in_a = sorted(set(left.variables) - set(right.variables))
    report.only_in_b = sorted(set(right.variables) - set(left.variables))
    report.joined = [(n, n) for n in common if (n in left.parts) != (n in right.parts)]
    comparable = _split_mismatches(report, left, right, common)
    if options.names_only:
        report.identical = comparable  # same name, shape and dtype: no data was read
        return report
    pairs = _read_pairs(left, right, comparable)
    for name, first, second in tracked(pairs, len(comparable), progress):
        change = compare(name, first, second, atol=options.atol, rtol=options.rtol)
        (report.changed.append(change) if change else report.identical.append(name))
    _find_renames(report, left, right)
    return report


def _open_side(given: str, options: Options) -> Side:
    source = resolve(given)
    reader = open_reader(source)
    infos = {v.name: v for v in reader.variables() if _wanted(v, options)}
    variables, parts = _join_parts(infos)
    return Side(source=source, reader=reader, variables=variables, parts=parts)


def _wanted(info: VariableInfo, options: Options) -> bool:
    return ((options.match is None or options.match.search(info.name) is not None)
            and (options.exclude is None or options.exclude.search(info.name) is None)
            and (options.kind is None or info.kind == options.kind))


def _join_parts(infos: dict[str, VariableInfo]) -> tuple[dict[str, VariableInfo], dict]:
    """`x/part_0..N` saved as separate variables become one logical `x` (axis 0),
    the way TensorFlow's partitioners split them."""
    groups: dict[str, list[tuple[int, VariableInfo]]] = {}
    for info in infos.values():
        match = PART_RE.match(info.name)
        if match and match["base"] not in infos:
            groups.setdefault(match["base"], []).append((int(match["index"]), info))
    variables = dict(infos)
    parts = {}
    for base, members in groups.items():
        members.sort(key=lambda pair: pair[0])
        pieces = [info for _, info in members]
        if [i for i, _ in members] != list(range(len(members))) or not _stackable(pieces):
            continue
        for piece in pieces:
            del variables[piece.name]
        shape = (sum(p.shape[0] for p in pieces), *pieces[0].shape[1:])
        variables[base] = VariableInfo(name=base, dtype=pieces[0].dtype, shape=shape,
                                       kind=pieces[0].kind, partitions=len(pieces))
        parts[base] = [p.name for p in pieces]
    return variables, parts


def _stackable(pieces: list[VariableInfo]) -> bool:
    first = pieces[0]
    return all(p.shape and p.dtype == first.dtype and p.shape[1:] == first.shape[1:]
               for p in pieces)


def _split_mismatches(report: Report, left: Side, right: Side, common: list[str]) -> list[str]:
    comparable = []
    for name in common:
        one, two = left.variables[name], right.variables[name]
        if one.dtype != two.dtype:
            report.dtype_changed.append(Mismatch(name, one.dtype, two.dtype))
        elif one.shape != two.shape:
            report.shape_changed.append(Mismatch(name, list(one.shape), list(two.shape)))
        else:
            comparable.append(name)
    return comparable


def _read_pairs(left: Side, right: Side, names: Sequence[str]) -> Iterator[tuple]:
    """(name, a, b) for each name, the next pair read on a second thread meanwhile."""
    def load(name: str) -> tuple:
        return name, left.read(name), right.read(name)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tfckpt-read") as pool:
        pending = pool.submit(load, names[0]) if names else None
        for position in range(len(names)):
            current = pending.result()
            pending = pool.submit(load, names[position + 1]) if position + 1 < len(names) else None
            yield current
            del current


def compare(name: str, a: np.ndarray, b: np.ndarray, *, atol: float, rtol: float) -> Change | None:
    """None when a and b agree within tolerance (numpy isclose), else the measures."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "SUO" or b.dtype.kind in "SUO":
        return _compare_strings(name, a, b)
    if same_bytes(a, b):
        return None
    sums = _Sums()
    for start in range(0, a.size, CHUNK):
        sums.add(a.reshape(-1)[start:start + CHUNK], b.reshape(-1)[start:start + CHUNK],
                 start, atol=atol, rtol=rtol)
    if sums.mismatched == 0:
        return None
    return sums.change(name, a.shape)


class _Sums:
    """Running sums for the change measures, over float64 chunks held in buffers
    allocated once (fresh 2 MB arrays per chunk cost more in page faults than the math)."""

    def __init__(self) -> None:
        self.count = self.mismatched = 0
        self.max_abs, self.argmax = -1.0, 0
        self.abs_sum = self.sq_sum = self.a_sq = self.b_sq = self.dot = 0.0
        self._buffers = [np.empty(CHUNK, dtype=np.float64) for _ in range(4)]

    def add(self, a: np.ndarray, b: np.ndarray, offset: int, *, atol: float, rtol: float) -> None:
        x, y, delta, scratch = (buffer[:a.size] for buffer in self._buffers)
        _widen(a, x)
        _widen(b, y)
        if np.isfinite(x).all() and np.isfinite(y).all():
            np.abs(np.subtract(x, y, out=delta), out=delta)
            # numpy isclose for finite values: |a - b| <= atol + rtol * |b|
            np.abs(y, out=scratch)
            scratch *= rtol
            scratch += atol
            self.mismatched += int(np.count_nonzero(delta > scratch))
        else:
            delta, x, y = self._non_finite(x, y, atol=atol, rtol=rtol)
        worst = int(np.argmax(delta))
        if delta[worst] > self.max_abs:
            self.max_abs, self.argmax = float(delta[worst]), offset + worst
        finite = delta if np.isfinite(delta[worst]) else delta[np.isfinite(delta)]
        self.abs_sum += float(finite.sum())
        self.sq_sum += sum_of_products(finite, finite, scratch)
        self.count += delta.size
        self.a_sq += sum_of_products(x, x, scratch)
        self.b_sq += sum_of_products(y, y, scratch)
        self.dot += sum_of_products(x, y, scratch)

    def _non_finite(self, x: np.ndarray, y: np.ndarray, *, atol: float, rtol: float) -> tuple:
        """The slow path for chunks holding NaN or Inf: equal infinities and NaN in both
        count as unchanged; norms and cosine use only the finite values."""
        close = np.isclose(x, y, atol=atol, rtol=rtol, equal_nan=True)
        self.mismatched += int(close.size - np.count_nonzero(close))
        with np.errstate(invalid="ignore"):
            delta = np.abs(x - y)
        delta[(x == y) | (np.isnan(x) & np.isnan(y))] = 0.0
        delta = np.nan_to_num(delta, nan=np.inf, posinf=np.inf)
        return delta, np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), \
            np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)

    def change(self, name: str, shape: tuple) -> Change:
        norm_a, norm_b = np.sqrt(self.a_sq), np.sqrt(self.b_sq)
        where = [int(i) for i in np.unravel_index(self.argmax, shape)] if shape else []
        return Change(name=name, max_abs=self.max_abs, argmax=where,
                      mean_abs=self.abs_sum / self.count, rms=float(np.sqrt(self.sq_sum / self.count)),
                      rel_l2=float(np.sqrt(self.sq_sum) / norm_a) if norm_a else None,
                      cosine=float(self.dot / (norm_a * norm_b)) if norm_a and norm_b else None,
                      mismatched=self.mismatched, fraction=self.mismatched / self.count)


def _widen(chunk: np.ndarray, out: np.ndarray) -> None:
    """Copy a chunk into a float64 buffer (complex: its magnitudes)."""
    np.copyto(out, np.abs(chunk) if chunk.dtype.kind == "c" else chunk, casting="unsafe")


def _compare_strings(name: str, a: np.ndarray, b: np.ndarray) -> Change | None:
    differ = np.asarray(a != b).reshape(-1)
    count = int(differ.sum())
    if not count:
        return None
    first = int(np.argmax(differ))
    where = [int(i) for i in np.unravel_index(first, a.shape)] if a.shape else []
    return Change(name=name, max_abs=float("nan"), argmax=where, mean_abs=float("nan"),
                  rms=float("nan"), rel_l2=None, cosine=None, mismatched=count,
                  fraction=count / differ.size)


def _find_renames(report: Report, left: Side, right: Side) -> None:
    """Pair tensors only in A with tensors only in B of the same dtype, shape and bytes."""
    candidates: dict[tuple, list[str]] = {}
    for name in report.only_in_b:
        info = right.variables[name]
        candidates.setdefault((info.dtype, info.shape), []).append(name)
    wanted = {(left.variables[n].dtype, left.variables[n].shape) for n in report.only_in_a}
    hashes: dict[tuple, list[str]] = {}
    for key, names in candidates.items():
        if key in wanted:
            for name in names:
                hashes.setdefault((*key, _digest(right.read(name))), []).append(name)
    for name in list(report.only_in_a):
        info = left.variables[name]
        if (info.dtype, info.shape) not in candidates:
            continue
        matches = hashes.get((info.dtype, info.shape, _digest(left.read(name))))
        if matches:
            partner = matches.pop(0)
            report.renamed.append((name, partner))
            report.only_in_a.remove(name)
            report.only_in_b.remove(partner)


def _digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    if array.dtype.kind in "SUO":
        return hashlib.sha256(repr(array.tolist()).encode()).hexdigest()
    return hashlib.sha256(array.tobytes()).hexdigest()


def same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Byte equality in 4 MB steps (no copy of either tensor; NaN equals NaN)."""
    x = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    y = np.ascontiguousarray(b).reshape(-1).view(np.uint8)
    if x.size != y.size:
        return False
    step = 1 << 22
    return all(np.array_equal(x[i:i + step], y[i:i + step]) for i in range(0, x.size, step))
