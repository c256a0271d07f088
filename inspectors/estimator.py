"""Recognise the Estimator behind a checkpoint: family, generation, head, layers,
optimizers and feature columns, from variable names and shapes plus, when there
is one, the graph (a GraphDef proto, parsed, never run).

Three generations name things differently:
- tf.contrib.learn: `dnn/hiddenlayer_N/weights|biases`, `linear/<col>/weight`,
  `linear/bias_weight`, `centered_bias_weight`, heads named `*_head`.
- tf.estimator v1 (TF 1.x, tf.compat.v1.estimator): `dnn/hiddenlayer_N/kernel|bias`,
  `linear/linear_model/<col>/weights`, TF1 optimizer slots (`.../Adagrad`).
- tf.estimator v2 (TF 2.x): the same layer names, Keras optimizer variables
  under `training/<Optimizer>/`.
Where the evidence does not decide (one logit and no graph), the record says so
instead of guessing.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Iterable

from inspectors.formats.checkpoint import OPTIMIZER, VariableInfo

CONTRIB, V1, V2 = "tf.contrib.learn", "tf.estimator v1", "tf.estimator v2"
CLASSIFIER, REGRESSOR = "classifier", "regressor"
MULTI_CLASS, BINARY, MULTI_LABEL, REGRESSION = "multi_class", "binary", "multi_label", "regression"
VOCABULARY_LIMIT = 1000  # longer vocabulary lists are cut; vocabulary_size stays exact

_HIDDEN_RE = re.compile(r"^dnn/hiddenlayer_(\d+)/(kernel|weights)$")
_LOGITS_RE = re.compile(r"^dnn/logits/(kernel|weights)$")
_LINEAR_V1_RE = re.compile(r"^linear/linear_model/([^/]+)/weights$")
_LINEAR_CONTRIB_RE = re.compile(r"^linear/([^/]+)/weights?$")
_LINEAR_BIAS = ("linear/linear_model/bias_weights", "linear/bias_weight")
# Where feature columns live: the canned DNN's input layer (all generations), or an
# input_layer / DenseFeatures a custom model_fn built; and every linear_model.
_INPUT_SCOPE = (r"^(?:[^/]+/)*?(?P<container>input_from_feature_columns/input_layer|"
                r"input_from_feature_columns/input_from_feature_columns|"
                r"input_from_feature_columns|input_layer|dense_features(?:_\d+)?)/")
_INPUT_COLUMN_RE = re.compile(_INPUT_SCOPE + r"(?P<column>[^/]+)/(?P<rest>.+)$")
_EMBEDDING_RE = re.compile(_INPUT_SCOPE + r"(?P<column>[^/]+)/(?:embedding_)?weights$")
_LINEAR_COLUMN_RE = re.compile(r"^(?:.*/)?linear_model/(?P<column>[^/]+)/(?P<rest>.+)$")
_KERAS_SLOT_RE = re.compile(r"^training/([A-Za-z]+)/(.+)$")
_CONTRIB_HEADS = {"multi_class_head": MULTI_CLASS, "binary_logistic_head": BINARY,
                  "binary_svm_head": BINARY, "regression_head": REGRESSION,
                  "multi_label_head": MULTI_LABEL}
_APPLY_RE = re.compile(r"^(?:Resource)?(?:Sparse)?Apply([A-Za-z]+?)(?:V2)?$")
_LOSS_OPS = ("SparseSoftmaxCrossEntropyWithLogits", "SoftmaxCrossEntropyWithLogits")
_LOGITS_PATH = {"Identity", "BiasAdd", "Add", "AddV2", "MatMul", "Reshape", "Squeeze"}
_PASS_THROUGH = {"Identity", "ReadVariableOp", "ConcatV2", "Concat", "Enter", "Switch"}
_TRAINING_OP_RE = re.compile(r"(?:^|/)(?:gradients(?:_\d+)?|update_[^/]*)/|^training/")
_WEAK_KINDS = ("unknown", "categorical")  # kinds a graph scope may refine
_NOT_COLUMNS = {"concat", "input_layer", "input_from_feature_columns", "bias_weights",
                "linear_model", "linear", "weighted_sum", "weighted_sum_no_bias"}


@dataclass(frozen=True)
class FeatureColumn:
    """What the checkpoint and the graph tell of one feature column."""

    name: str
    kind: str  # numeric | vocabulary_list | vocabulary_file | hash_bucket | identity |
    #            bucketized | crossed | embedding | indicator | categorical (sparse, no
    #            graph detail) | unknown (weights only, no graph)
    used_by: tuple[str, ...]  # "dnn", "linear"
    shape: tuple[int, ...] | None = None  # numeric: flattened width
    source: str | None = None  # embedding / indicator: the categorical column inside
    vocabulary_size: int | None = None
    vocabulary: tuple[str, ...] | None = None
    vocabulary_file: str | None = None
    hash_buckets: int | None = None
    crossed: tuple[str, ...] | None = None
    boundaries: tuple[float, ...] | None = None
    embedding_dimension: int | None = None
    buckets: int | None = None  # categories it holds rows for: weight or embedding rows,
    #                             one-hot depth (None for numeric columns: see shape)

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        for key in ("used_by", "shape", "vocabulary", "crossed", "boundaries"):
            record[key] = None if record[key] is None else list(record[key])
        return record


@dataclass(frozen=True)
class Optimizer:
    name: str
    part: str | None  # "dnn", "linear", "centered_bias" or None (whole model)
    seen_in: str  # "slots" (variable names) or "graph" (apply ops)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Estimator:
    family: str  # DNN | Linear | DNNLinearCombined | custom
    class_name: str | None  # e.g. DNNClassifier; None when custom or undecided
    generation: str | None
    task: str | None  # classifier | regressor
    head: str | None  # multi_class | binary | multi_label | regression
    n_classes: int | None
    label_dimension: int | None
    logits_dimension: int | None
    hidden_units: tuple[int, ...] | None
    input_dimension: int | None
    batch_norm: bool
    dropout: bool | None  # None: no graph to tell
    dropout_rate: float | None
    centered_bias: bool
    optimizers: tuple[Optimizer, ...]
    feature_columns: tuple[FeatureColumn, ...]
    evidence: tuple[str, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict:
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        record.update(
            hidden_units=None if self.hidden_units is None else list(self.hidden_units),
            optimizers=[o.to_dict() for o in self.optimizers],
            feature_columns=[c.to_dict() for c in self.feature_columns],
            evidence=list(self.evidence), notes=list(self.notes))
        return record


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------

def recognize(variables: Iterable[VariableInfo], graph_def: Any = None) -> Estimator:
    """Everything the names, shapes and (optional) graph say about the model."""
    infos = list(variables)
    shapes = {v.name: v.shape for v in infos}
    graph = Graph(graph_def) if graph_def is not None else None
    hidden, logits, input_dim = _dnn_layers(shapes)
    linear = _linear_weights(shapes)
    family = _family(has_dnn=logits is not None or bool(hidden), has_linear=bool(linear))
    evidence: list[str] = []
    generation = _generation(shapes, family, evidence)
    logits = logits if logits is not None else _linear_logits(shapes)
    head = _head(shapes, graph, logits, evidence)
    if family == "custom" and graph is not None:
        logits = _loss_logits_width(graph, shapes)
    task, n_classes, label_dim, notes = _task(head, logits, family)
    rate = _dropout_rate(graph)
    return Estimator(
        family=family, class_name=_class_name(family, task), generation=generation,
        task=task, head=head, n_classes=n_classes, label_dimension=label_dim,
        logits_dimension=logits, hidden_units=tuple(hidden) if hidden else None,
        input_dimension=input_dim,
        batch_norm=any("/batchnorm_" in name for name in shapes if name.startswith("dnn/")),
        dropout=None if graph is None else rate is not None,
        dropout_rate=rate or None, centered_bias="centered_bias_weight" in shapes,
        optimizers=_optimizers(infos, graph),
        feature_columns=_feature_columns(shapes, graph, generation),
        evidence=tuple(evidence), notes=tuple(notes))


# ---------------------------------------------------------------------------------------
# Layers, family, generation
# ---------------------------------------------------------------------------------------

def _dnn_layers(shapes: dict) -> tuple[list[int], int | None, int | None]:
    """(hidden units in order, logits width, input width) of the `dnn/` tower."""
    layers = sorted((int(m.group(1)), shape) for name, shape in shapes.items()
                    if (m := _HIDDEN_RE.match(name)) and len(shape) == 2)
    hidden = [shape[1] for _, shape in layers]
    logits_shape = next((s for n, s in shapes.items() if _LOGITS_RE.match(n) and len(s) == 2),
                        None)
    logits = logits_shape[1] if logits_shape else None
    first = layers[0][1] if layers else logits_shape
    return hidden, logits, first[0] if first else None


def _linear_weights(shapes: dict) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Per-column weights of the `linear/` part: {column: (variable name, shape)}."""
    found = {}
    for name, shape in shapes.items():
        match = _LINEAR_V1_RE.match(name) or _LINEAR_CONTRIB_RE.match(name)
        if match and match.group(1) not in _NOT_COLUMNS and match.group(1) != "bias_weight":
            found[match.group(1)] = (name, shape)
    if not found and any(b in shapes for b in _LINEAR_BIAS):
        found[""] = ("", ())  # a linear model with a bias only is still linear
    return found


def _linear_logits(shapes: dict) -> int | None:
    for name in _LINEAR_BIAS:
        if name in shapes and len(shapes[name]) == 1:
            return shapes[name][0]
    return None


def _family(*, has_dnn: bool, has_linear: bool) -> str:
    if has_dnn and has_linear:
        return "DNNLinearCombined"
    return "DNN" if has_dnn else "Linear" if has_linear else "custom"


def _generation(shapes: dict, family: str, evidence: list[str]) -> str | None:
    names = list(shapes)
    if family == "custom":
        return None
    contrib = [n for n in names if re.search(r"^dnn/(?:hiddenlayer_\d+|logits)/(?:weights|biases)$"
                                             r"|^linear/(?:[^/]+/weight|bias_weight)$"
                                             r"|^centered_bias_weight$|_head/", n)]
    if contrib:
        evidence.append(f"tf.contrib.learn names such as {contrib[0]}")
        return CONTRIB
    keras = [n for n in names if _KERAS_SLOT_RE.match(n)]
    if keras:
        evidence.append(f"Keras optimizer variables under training/ such as {keras[0]} "
                        f"(tf.estimator in TensorFlow 2)")
        return V2
    example = next((n for n in names if re.search(r"^dnn/(?:hiddenlayer_\d+|logits)/kernel$"
                                                  r"|^linear/linear_model/", n)), names[0])
    evidence.append(f"tf.estimator names such as {example}, and no Keras optimizer "
                    f"variables (the v1 classes: TF 1.x or tf.compat.v1.estimator)")
    return V1


def _class_name(family: str, task: str | None) -> str | None:
    if family == "custom" or task is None:
        return None
    return family + ("Classifier" if task == CLASSIFIER else "Regressor")


# ---------------------------------------------------------------------------------------
# Head and task
# ---------------------------------------------------------------------------------------

def _head(shapes: dict, graph: Graph | None, logits: int | None,
          evidence: list[str]) -> str | None:
    """The head the names or the graph's loss ops show, or None."""
    names = list(shapes) + (graph.names if graph else [])
    for name in names:
        for scope, head in _CONTRIB_HEADS.items():
            if f"{scope}/" in name:
                evidence.append(f"head scope {scope} in {name}")
                return head
    if graph is None:
        return None
    head = _head_from_ops(graph, logits)
    if head:
        evidence.append(head[1])
        return head[0]
    return None


def _head_from_ops(graph: Graph, logits: int | None) -> tuple[str, str] | None:
    softmax = graph.first(lambda n: n.op in _LOSS_OPS)
    if softmax:
        return MULTI_CLASS, f"softmax cross-entropy loss ({softmax.name})"
    logistic = graph.first(lambda n: re.search(r"(?:^|/)(?:logistic_loss|sigmoid_cross_entropy"
                                               r"[^/]*)(?:/|$)|/predictions/logistic$", n.name))
    if logistic:
        head = MULTI_LABEL if logits and logits > 1 else BINARY
        return head, f"sigmoid (logistic) loss or prediction ({logistic.name})"
    squared = graph.first(lambda n: (n.op == "SquaredDifference" and "head/" in n.name)
                          or re.search(r"(?:^|/)mean_squared_error(?:_loss)?(?:/|$)", n.name))
    if squared:
        return REGRESSION, f"squared-error loss ({squared.name})"
    return None


def _loss_logits_width(graph: Graph, shapes: dict) -> int | None:
    """For a custom model: the width of the logits its loss reads, from the 1-D bias (or
    2-D kernel) variable added just before it. None when the path is not that simple."""
    loss = graph.first(lambda n: n.op in _LOSS_OPS)
    frontier = [loss.input[0]] if loss is not None and loss.input else []
    for _ in range(4):
        nodes = [graph.node(name) for name in frontier]
        for node in (n for n in nodes if n is not None):
            for name in node.input:
                variable = re.sub(r"/(?:read|ReadVariableOp)$", "", name.split(":")[0])
                if variable in shapes and len(shapes[variable]) in (1, 2) and node.op != "Reshape":
                    return shapes[variable][-1]
        frontier = [i for n in nodes if n is not None and n.op in _LOGITS_PATH for i in n.input]
    return None


def _task(head: str | None, logits: int | None,
          family: str) -> tuple[str | None, int | None, int | None, list[str]]:
    """(task, n_classes, label_dimension, notes)."""
    if head in (MULTI_CLASS, MULTI_LABEL):
        return CLASSIFIER, logits, None, []
    if head == BINARY:
        return CLASSIFIER, 2, None, []
    if head == REGRESSION:
        return REGRESSOR, None, logits, []
    if family == "custom" or logits is None:
        return None, None, None, []
    if logits == 1:
        return None, None, None, ["1 logit: binary classifier or regressor; no graph or head "
                                  "name tells which"]
    return None, None, None, [f"{logits} logits: {logits}-class classifier, or regressor with "
                              f"label_dimension {logits}; no graph or head name tells which"]


# ---------------------------------------------------------------------------------------
# Optimizers, dropout
# ---------------------------------------------------------------------------------------

def _optimizers(infos: list[VariableInfo], graph: Graph | None) -> tuple[Optimizer, ...]:
    """Optimizers from slot names; the graph's apply ops add those that keep no slots."""
    found: dict[tuple[str, str | None], Optimizer] = {}
    for info in infos:
        keras = _KERAS_SLOT_RE.match(info.name)
        if keras:
            key = (keras.group(1), _part(keras.group(2)))
        elif info.kind == OPTIMIZER:
            key = (re.sub(r"_\d+$", "", info.name.rsplit("/", 1)[-1]), _part(info.name))
        else:
            continue
        found.setdefault(key, Optimizer(key[0], key[1], "slots"))
    for node in graph.nodes if graph else ():
        apply = _APPLY_RE.match(node.op)
        if apply and node.input and not any(o.name == apply.group(1) for o in found.values()):
            key = (apply.group(1), _part(node.input[0]))
            found.setdefault(key, Optimizer(key[0], key[1], "graph"))
    parts = {k[0] for k in found if k[1] is not None}
    # A Keras optimizer's own hyper-parameters (training/Adagrad/decay) name no part.
    return tuple(sorted((o for k, o in found.items() if k[1] is not None or k[0] not in parts),
                        key=lambda o: (o.part or "", o.name)))


def _part(name: str) -> str | None:
    first = name.split("/", 1)[0]
    if first in ("dnn", "linear"):
        return first
    return "centered_bias" if first == "centered_bias_weight" else None


def _dropout_rate(graph: Graph | None) -> float | None:
    """The dropout rate of the DNN tower; 0.0 when dropout ops exist but show no rate,
    None when there are none (or no graph)."""
    if graph is None:
        return None
    nodes = [n for n in graph.forward if n.name.startswith("dnn/") and "/dropout/" in n.name]
    if not nodes:
        return None
    rate = next((graph.const(n.name) for n in nodes if n.name.endswith("/GreaterEqual/y")), None)
    try:
        return round(float(rate), 6) if rate is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


# ---------------------------------------------------------------------------------------
# Feature columns
# ---------------------------------------------------------------------------------------

def _feature_columns(shapes: dict, graph: Graph | None,
                     generation: str | None) -> tuple[FeatureColumn, ...]:
    columns: dict[str, FeatureColumn] = {}
    for name, (weights, shape) in _linear_weights(shapes).items():
        if name:
            _merge(columns, _from_weights(name, "linear", shape, weights, graph))
    for name, shape in shapes.items():
        match = _EMBEDDING_RE.match(name)
        if match and len(shape) == 2:
            column = match.group("column")
            _merge(columns, FeatureColumn(name=column, kind="embedding", used_by=(_side(name),),
                                          embedding_dimension=shape[1], buckets=shape[0],
                                          source=_strip(column, "_embedding")))
    if graph is not None:
        for side, name, nodes in _column_groups(graph, generation):
            _merge(columns, _from_graph(name, side, nodes, graph))
    return tuple(columns[k] for k in sorted(columns))


def _from_weights(name: str, side: str, shape: tuple[int, ...], weights: str,
                  graph: Graph | None) -> FeatureColumn:
    """A linear column from its weights [rows, logits]; the graph's use of them tells
    numeric (a MatMul: rows are its width) from categorical (a gather: rows are buckets)."""
    rows = shape[0] if shape else None
    if "_X_" in name:
        return FeatureColumn(name=name, kind="crossed", used_by=(side,), buckets=rows,
                             crossed=tuple(name.split("_X_")))
    use = graph.use_of(weights) if graph else None
    if use == "dense":
        return FeatureColumn(name=name, kind="numeric", used_by=(side,),
                             shape=(rows,) if rows else None)
    kind = "categorical" if use == "sparse" else "unknown"
    return FeatureColumn(name=name, kind=kind, used_by=(side,), buckets=rows)


def _merge(columns: dict[str, FeatureColumn], new: FeatureColumn) -> None:
    """Combine what two sources tell of one column: known values win over None."""
    old = columns.get(new.name)
    if old is None:
        columns[new.name] = new
        return
    values = {}
    for field in dataclasses.fields(FeatureColumn):
        mine, theirs = getattr(old, field.name), getattr(new, field.name)
        values[field.name] = theirs if mine is None else mine
    values["used_by"] = tuple(sorted(set(old.used_by) | set(new.used_by)))
    values["kind"] = new.kind if old.kind in _WEAK_KINDS else old.kind
    columns[new.name] = FeatureColumn(**values)


def _column_groups(graph: Graph, generation: str | None) -> list[tuple[str, str, list]]:
    """(side, column name, its nodes) for every column scope in the graph."""
    groups: dict[tuple[str, str], list] = {}
    for node in graph.forward:
        match = _INPUT_COLUMN_RE.match(node.name) or _LINEAR_COLUMN_RE.match(node.name)
        if not match or match.group("column") in _NOT_COLUMNS:
            continue
        name = match.group("column")
        container = match.groupdict().get("container") or ""
        if generation == V2 or container.startswith("dense_features"):
            # Keras DenseFeatures enters each column's name scope twice: `age_1/...`.
            name = re.sub(r"_\d+$", "", name)
        groups.setdefault((_side(node.name), name), []).append(node)
    return [(side, name, nodes) for (side, name), nodes in sorted(groups.items())]


def _side(name: str) -> str:
    """Which tower a variable or op belongs to: dnn, linear, or model (custom)."""
    first = name.split("/", 1)[0]
    return first if first in ("dnn", "linear") else "model"


def _from_graph(name: str, side: str, nodes: list, graph: Graph) -> FeatureColumn:
    facts = _ops_facts(nodes, graph)
    sparse = any("to_sparse_input" in n.name or n.op.startswith(("Sparse", "LookupTable",
                                                                    "StringToHashBucket"))
                 for n in nodes)
    kind = _kind(name, facts, sparse)
    width = None if sparse or kind != "numeric" else _numeric_width(nodes, graph)
    return FeatureColumn(
        name=name, kind=kind, used_by=(side,), shape=(width,) if width else None,
        source=_source(name, kind), vocabulary_size=facts.get("vocabulary_size"),
        vocabulary=facts.get("vocabulary"), vocabulary_file=facts.get("vocabulary_file"),
        hash_buckets=facts.get("hash_buckets") or facts.get("cross_buckets"),
        crossed=tuple(name.split("_X_")) if kind == "crossed" else None,
        boundaries=facts.get("boundaries"), buckets=facts.get("one_hot"))


def _kind(name: str, facts: dict, sparse: bool) -> str:
    if "cross_buckets" in facts or "_X_" in name:
        return "crossed"
    if name.endswith("_embedding"):
        return "embedding"
    if "boundaries" in facts:  # before indicator: a bucketized column one-hots its buckets
        return "bucketized"
    if name.endswith("_indicator") or "one_hot" in facts:
        return "indicator"
    for kind in ("vocabulary_file", "vocabulary", "hash_buckets"):
        if kind in facts:
            return {"vocabulary": "vocabulary_list", "hash_buckets": "hash_bucket"}.get(kind, kind)
    return "identity" if sparse else "numeric"


def _source(name: str, kind: str) -> str | None:
    if kind == "embedding":
        return _strip(name, "_embedding")
    if kind == "indicator":
        return _strip(name, "_indicator")
    return None


def _strip(name: str, suffix: str) -> str:
    return name[: -len(suffix)] if name.endswith(suffix) else name


def _ops_facts(nodes: list, graph: Graph) -> dict:
    """Vocabularies, hash buckets, crosses and boundaries the ops of one column show."""
    facts: dict[str, Any] = {}
    for node in nodes:
        op = node.op
        if op.startswith("StringToHashBucket"):
            facts["hash_buckets"] = node.attr["num_buckets"].i
        elif op in ("LookupTableImportV2", "LookupTableImport", "InitializeTableV2",
                    "InitializeTable") and len(node.input) > 1:
            _vocabulary(facts, graph.const(node.input[1]))
        elif op.startswith("InitializeTableFromTextFile") and len(node.input) > 1:
            facts["vocabulary_file"] = _text(graph.const(node.input[1]))
            size = node.attr["vocab_size"].i if "vocab_size" in node.attr else -1
            facts.setdefault("vocabulary_size", size if size > 0 else None)
        elif op.startswith("SparseCross"):
            has_buckets = "num_buckets" in node.attr  # SparseCrossHashed takes it as an input
            facts["cross_buckets"] = node.attr["num_buckets"].i if has_buckets else None
        elif op == "Bucketize":
            facts["boundaries"] = tuple(round(b, 6) for b in node.attr["boundaries"].list.f)
        elif op == "OneHot" and len(node.input) > 1:
            depth = graph.const(node.input[1])
            facts["one_hot"] = int(depth.reshape(-1)[0]) if depth is not None else None
    return facts


def _vocabulary(facts: dict, keys: Any) -> None:
    if keys is None:
        return
    words = [_text(k) for k in keys.reshape(-1).tolist()]
    facts["vocabulary_size"] = len(words)
    facts["vocabulary"] = tuple(words[:VOCABULARY_LIMIT])


def _text(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "reshape"):
        value = value.reshape(-1)[0] if value.size else b""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _numeric_width(nodes: list, graph: Graph) -> int | None:
    """The width of a numeric column: the constant of its (batch, width) Reshape."""
    for node in nodes:
        if node.name.endswith("/Reshape/shape/1") and node.op == "Const":
            value = graph.const(node.name)
            if value is not None and value.size == 1:
                return int(value.reshape(-1)[0])
    return None


# ---------------------------------------------------------------------------------------
# The parsed graph, indexed once
# ---------------------------------------------------------------------------------------

class Graph:
    """A GraphDef with lookups by name; constants decoded on demand."""

    def __init__(self, graph_def: Any):
        self.nodes = list(graph_def.node)
        self.names = [n.name for n in self.nodes]
        # The model's own ops, without gradients and optimizer updates, which repeat
        # every variable's scope (`Ftrl/update_linear/linear_model/color/weights/...`).
        self.forward = [n for n in self.nodes if not _TRAINING_OP_RE.search(n.name)]
        self._by_name = {n.name: n for n in self.nodes}
        self._consumers: dict[str, list] | None = None

    def use_of(self, variable: str) -> str | None:
        """"dense" when a MatMul reads `variable` (through reads, identities and partition
        concats), "sparse" when a gather does, else None."""
        if self._consumers is None:
            self._consumers = {}
            for node in self.nodes:
                for name in node.input:
                    self._consumers.setdefault(name.lstrip("^").split(":")[0], []).append(node)
        frontier, seen = [variable, variable + "/part_0"], set()
        for _ in range(4):  # var -> read -> (concat ->) identity -> op: a few hops at most
            frontier = [c for name in frontier if name not in seen and not seen.add(name)
                        for c in self._consumers.get(name, ())]
            ops = {c.op for c in frontier}
            if ops & {"MatMul", "BatchMatMul", "BatchMatMulV2"}:
                return "dense"
            if any(op in ("Gather", "GatherV2", "ResourceGather") for op in ops):
                return "sparse"
            frontier = [c.name for c in frontier if c.op in _PASS_THROUGH]
        return None

    def node(self, name: str) -> Any:
        return self._by_name.get(name.lstrip("^").split(":")[0])

    def first(self, test) -> Any:
        return next((n for n in self.forward if test(n)), None)

    def const(self, name: str) -> Any:
        """The numpy value of a Const node (`name`, `name:0` or `^name`), or None."""
        node = self._by_name.get(name.lstrip("^").split(":")[0])
        if node is None or node.op != "Const":
            return None
        from inspectors import tf_loader

        tf = tf_loader.tensorflow()
        try:
            return tf.make_ndarray(node.attr["value"].tensor)
        except (TypeError, ValueError):
            return None
