"""Run the same inputs through two predictors and compare every output.

Floats pass when `isclose(b, a, atol, rtol)` holds element-wise (numpy
semantics, A is the reference); integers, booleans and strings must be equal.
Each output also reports the smallest atol that would have passed at the
given rtol, so a user can see how far from the line a failure is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from inspectors.errors import TfckptError
from migrate.rebuild import inputs as inputs_module
from migrate.rebuild.inference import FeatureSpec
from migrate.predictors import Predictor, RecordedPredictions

DEFAULT_ATOL = 1e-5
DEFAULT_RTOL = 1e-5
PASS, FAIL = "PASS", "FAIL"


@dataclass(frozen=True)
class Tolerance:
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    per_output: tuple[tuple[str, float, float], ...] = ()  # (key, atol, rtol)

    def of(self, key: str) -> tuple[float, float]:
        for name, atol, rtol in self.per_output:
            if name == key:
                return atol, rtol
        return self.atol, self.rtol


@dataclass(frozen=True)
class OutputCheck:
    key: str
    status: str  # PASS | FAIL
    dtype: str
    shape: tuple[int, ...]
    elements: int
    mismatched: int
    max_abs: float | None  # None for strings
    max_rel: float | None
    needed_atol: float | None  # smallest atol passing at this rtol
    atol: float
    rtol: float
    problem: str | None = None

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record["shape"] = list(self.shape)
        return record


@dataclass(frozen=True)
class Verification:
    a: str
    b: str
    inputs: str  # where the inputs came from
    rows: int
    checks: tuple[OutputCheck, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.status == PASS for check in self.checks)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "inputs": self.inputs, "rows": self.rows,
                "result": PASS if self.passed else FAIL,
                "outputs": [check.to_dict() for check in self.checks],
                "only_in_a": list(self.only_in_a), "only_in_b": list(self.only_in_b)}


def feeds_for(features: tuple[FeatureSpec, ...], input_path: str | None, *,
              seed: int = 0, rows: int = inputs_module.DEFAULT_ROWS
              ) -> tuple[dict[str, np.ndarray], str]:
    if input_path:
        feeds, _extra = inputs_module.read(input_path, features)
        return feeds, input_path
    return (inputs_module.generate(features, rows=rows, seed=seed),
            f"generated from the feature specs (seed {seed}, {rows} rows)")


def inputs_for(a: Predictor, b: Predictor, input_path: str | None) -> tuple[dict[str, np.ndarray], str]:
    """The user's inputs, else recorded ones (when a side is recorded predictions), else generated."""
    recorded = [side for side in (a, b) if isinstance(side, RecordedPredictions)]
    if recorded and not input_path:
        return dict(recorded[0].inputs), f"recorded in {recorded[0].description}"
    return feeds_for(a.features, input_path)


def compare(a: Predictor, b: Predictor, feeds: Mapping[str, np.ndarray], *,
            inputs_from: str, tolerance: Tolerance = Tolerance()) -> Verification:
    _check_features(a, b)
    got_a = a.predict(feeds)
    got_b = b.predict(feeds)
    common = [key for key in got_a if key in got_b]
    if not common:
        raise TfckptError(f"{a.description} and {b.description} have no output in common "
                          f"(A: {', '.join(sorted(got_a))}; B: {', '.join(sorted(got_b))})")
    checks = tuple(compare_output(key, got_a[key], got_b[key], *tolerance.of(key))
                   for key in sorted(common))
    rows = len(next(iter(feeds.values()))) if feeds else 0
    return Verification(a=a.description, b=b.description, inputs=inputs_from, rows=rows,
                        checks=checks,
                        only_in_a=tuple(sorted(set(got_a) - set(got_b))),
                        only_in_b=tuple(sorted(set(got_b) - set(got_a))))


def _check_features(a: Predictor, b: Predictor) -> None:
    names_a = {spec.name for spec in a.features}
    names_b = {spec.name for spec in b.features}
    if names_a != names_b:
        raise TfckptError(f"the two models take different inputs: A {sorted(names_a)}, "
                          f"B {sorted(names_b)}")


def compare_output(key: str, a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> OutputCheck:
    a, b = np.asarray(a), np.asarray(b)
    base = dict(key=key, dtype=str(a.dtype), shape=tuple(a.shape), elements=int(a.size),
                atol=atol, rtol=rtol)
    if a.shape != b.shape:
        return OutputCheck(status=FAIL, mismatched=int(max(a.size, b.size)), max_abs=None,
                           max_rel=None, needed_atol=None,
                           problem=f"shape {list(a.shape)} vs {list(b.shape)}", **base)
    if (a.dtype.kind in "SUO") != (b.dtype.kind in "SUO"):  # class ids against class names
        return OutputCheck(status=FAIL, mismatched=int(a.size), max_abs=None, max_rel=None,
                           needed_atol=None, problem=f"dtype {a.dtype} vs {b.dtype}", **base)
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return _compare_floats(a, b, base)
    equal = a == b if a.dtype.kind not in "SUO" else _same_strings(a, b)
    mismatched = int(a.size - np.count_nonzero(equal))
    exact = dict(max_abs=None, max_rel=None, needed_atol=None)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":
        diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
        exact["max_abs"] = float(diff.max()) if diff.size else 0.0
    return OutputCheck(status=PASS if mismatched == 0 else FAIL, mismatched=mismatched, **exact, **base)


def _same_strings(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise byte equality. Not np.char.equal: it strips trailing whitespace
    first, so "a " and "a" would pass."""
    same = np.frompyfunc(lambda x, y: x == y, 2, 1)
    return same(a.astype(bytes).astype(object), b.astype(bytes).astype(object)).astype(bool)


def _compare_floats(a: np.ndarray, b: np.ndarray, base: dict) -> OutputCheck:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(a64 - b64)
    same_nan = np.isnan(a64) & np.isnan(b64)
    diff = np.where(same_nan, 0.0, diff)
    scale = np.abs(a64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / scale)
    close = np.isclose(b64, a64, atol=base["atol"], rtol=base["rtol"], equal_nan=True)
    mismatched = int(a.size - np.count_nonzero(close))
    needed = np.max(diff - base["rtol"] * scale, initial=0.0)
    return OutputCheck(status=PASS if mismatched == 0 else FAIL, mismatched=mismatched,
                       max_abs=float(diff.max(initial=0.0)), max_rel=float(np.max(rel, initial=0.0)),
                       needed_atol=float(max(needed, 0.0)), **base)
