"""The one shape every way of rebuilding a model ends in: an inference graph.

`meta-graph` (the training `.meta`, cut and switched to inference), `canned`
(forward pass rebuilt from variable names) and `model-fn` (an old `model_fn`
run in PREDICT mode) each produce an `InferenceGraph`: a TF1-style graph in a
session whose variables hold the checkpoint's values, one placeholder per
feature and one tensor per prediction key. Export, freeze, predict and verify
only ever see this record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from migrate.rebuild.ways import CANNED, GRAPH, META_GRAPH, MODEL_FN, SAVED_MODEL, WAYS  # noqa: F401

SERVING_DEFAULT = "serving_default"
INIT_TABLES = "init_all_tables"  # the op that fills lookup tables in exports

# Prediction keys of the canned heads, in the order signatures list them.
PREDICTION_KEYS = ("logits", "logistic", "probabilities", "class_ids", "classes",
                   "all_class_ids", "all_classes", "predictions")


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: the feature key, its dtype and per-example shape."""

    name: str
    dtype: str  # "float32", "int64", "string", ...
    shape: tuple[int, ...]  # without the batch dimension; -1 where unknown
    vocabulary: tuple[str, ...] = ()  # known categorical values (for generated inputs)
    hash_buckets: int | None = None  # hashed categorical column, if that is all we know
    int_high: int | None = None  # integer values must stay below it (an embedding's rows)

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record.update(shape=list(self.shape), vocabulary=list(self.vocabulary))
        return record


@dataclass
class InferenceGraph:
    """A graph ready to predict: placeholders in, prediction tensors out.

    `session` runs in `graph`, with every variable already holding the
    checkpoint's values and every lookup table initialized; `init_op` (or None)
    is what a fresh session must run first (table initializers), so exporters
    pass it on as the SavedModel's main op. `assets` are the files that init
    reads, their filename constants already pointing at where they are now.
    """

    graph: Any  # tf.Graph
    session: Any  # tf.compat.v1.Session
    inputs: dict[str, Any]  # feature key -> placeholder, shape [batch, *FeatureSpec.shape]
    outputs: dict[str, Any]  # prediction key -> tensor, batch first
    features: tuple[FeatureSpec, ...]
    way: str
    init_op: Any = None
    notes: list[str] = field(default_factory=list)
    assets: tuple = ()  # assets.Asset: files the graph reads (vocabularies), where found
    fixed_batch: int | None = None  # rows the graph must get at once (None: any)

    def feed_dict(self, feeds: dict[str, np.ndarray]) -> dict[Any, np.ndarray]:
        """placeholder -> the batch for it, columns reshaped to the placeholder's rank."""
        missing = sorted(set(self.inputs) - set(feeds))
        if missing:
            raise KeyError(f"no values for feature(s) {', '.join(missing)}")
        specs = {spec.name: spec for spec in self.features}
        return {placeholder: batch_shaped(feeds[name], specs.get(name),
                                          rank=placeholder.shape.rank)
                for name, placeholder in self.inputs.items()}

    def predict(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on a batch; `feeds` keyed by feature key."""
        return self.run(lambda chunk: self.session.run(self.outputs,
                                                       feed_dict=self.feed_dict(chunk)), feeds)

    def run(self, run: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`run(feeds)`, in chunks of `fixed_batch` rows when the graph needs them."""
        if self.fixed_batch is None:
            return run(dict(feeds))
        from migrate.rebuild.batch import predict_in_chunks

        return predict_in_chunks(run, feeds, self.fixed_batch)

    def close(self) -> None:
        self.session.close()


def batch_shaped(values: Any, spec: FeatureSpec | None, *, rank: int | None = None) -> np.ndarray:
    """A column fed to a model: `(rows,)` to a `[rows, 1]` input (and the like), or
    `(rows, 1)` to a `[rows]` one, is reshaped rather than refused."""
    import numpy as np

    values = np.asarray(values)
    if spec is not None and all(dim > 0 for dim in spec.shape) and values.ndim >= 1 \
            and values.shape[1:] != spec.shape and values.size == len(values) * int(np.prod(spec.shape)):
        values = values.reshape((len(values), *spec.shape))
    if rank is not None and values.ndim == rank - 1:
        values = values.reshape(values.shape + (1,))
    return values
