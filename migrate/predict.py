"""Predictions straight from any model artifact, with an optional sanity metric.

The metric is what a user should look at right after loading an old model:
accuracy for a classifier (class ids, or class names when the labels are
strings), RMSE for a regressor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from migrate.rebuild import inputs as inputs_module
from migrate.rebuild.inputs import BadInput
from migrate.rebuild.options import Options
from migrate.predictors import open_predictor


@dataclass(frozen=True)
class Metric:
    name: str  # accuracy | rmse
    value: float
    labels: str  # the column it was computed against
    output: str  # the prediction key it used

    def to_dict(self) -> dict:
        return {"name": self.name, "value": self.value, "labels": self.labels, "output": self.output}


@dataclass(frozen=True)
class Prediction:
    source: str
    rows: int
    outputs: dict[str, np.ndarray]
    metric: Metric | None
    notes: tuple[str, ...]


def predict(given: str, input_path: str, options: Options, *, labels: str | None = None) -> Prediction:
    predictor = open_predictor(given, options)
    try:
        feeds, extra = inputs_module.read(input_path, predictor.features)
        if labels is not None and labels not in extra:
            raise BadInput(f"{input_path} has no label column {labels!r} "
                           f"(other columns: {', '.join(sorted(extra)) or 'none'})")
        outputs = predictor.predict(feeds)
        rows = len(next(iter(feeds.values()))) if feeds else 0
        metric = sanity_metric(outputs, extra[labels], labels) if labels else None
        return Prediction(source=given, rows=rows, outputs=outputs, metric=metric,
                          notes=tuple(predictor.notes))
    finally:
        predictor.close()


def sanity_metric(outputs: dict[str, np.ndarray], labels: np.ndarray, column: str) -> Metric:
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind in "SUO" and "classes" in outputs:
        got = inputs_module.as_bytes(np.asarray(outputs["classes"]).reshape(-1))
        wanted = inputs_module.as_bytes(labels)
        return Metric("accuracy", float(np.mean(got == wanted)), column, "classes")
    if "class_ids" in outputs:
        got = np.asarray(outputs["class_ids"]).reshape(-1)
        return Metric("accuracy", float(np.mean(got == _numeric(labels, column).astype(np.int64))),
                      column, "class_ids")
    key = "predictions" if "predictions" in outputs else _only_float_output(outputs, column)
    got = np.asarray(outputs[key], dtype=np.float64).reshape(len(labels), -1)
    wanted = _numeric(labels, column).reshape(len(labels), -1)
    return Metric("rmse", float(np.sqrt(np.mean((got - wanted) ** 2))), column, key)


def _numeric(labels: np.ndarray, column: str) -> np.ndarray:
    try:
        return labels.astype(np.float64)
    except ValueError:
        raise BadInput(f"label column {column!r} is not numeric") from None


def _only_float_output(outputs: dict[str, np.ndarray], column: str) -> str:
    floats = [key for key, value in outputs.items() if np.asarray(value).dtype.kind == "f"]
    if len(floats) != 1:
        raise BadInput(f"cannot tell which output to score against {column!r} "
                       f"(outputs: {', '.join(sorted(outputs))})")
    return floats[0]
