"""The `canned` way: rebuild a canned Estimator's inference forward pass from its checkpoint.

Owns turning the variables of a DNN / Linear / DNNLinearCombined classifier or
regressor (tf.contrib.learn, tf.estimator v1 and v2 names) plus the feature-column
facts of its graph (or of a caller's feature spec) into an `InferenceGraph`: a fresh
TF1-style graph with one placeholder per feature key, variables named as in the
checkpoint and holding its values (partitioned ones joined), and the head's
prediction tensors. Nothing of the training graph is imported; it is only read for
facts (vocabularies, default ids, hash buckets, cross order, combiners, activations,
batch-norm epsilon, label vocabulary). Lookups are table-free (a vocabulary is a
constant compared against the input), so a frozen graph needs no initializer.

What TensorFlow's feature columns do, and this module reproduces:
- `input_layer` / `DenseFeatures` concatenate dense columns sorted by name
  (tf.contrib.learn: sorted by the column's repr, i.e. by column class, then name);
  numeric columns are cast to float32 and reshaped to [batch, width].
- `linear_model` sums, per column, `matmul` for dense and a `sum` embedding lookup for
  categorical columns (invalid ids < 0 add nothing), then adds the bias.
- Dense string/int inputs become sparse ids after dropping '' / -1 (`to_sparse_input`);
  crossed columns hash the raw dense inputs (`sparse_cross_hashed`, key 0xDECAFCAFFE).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspectors import estimator as est
from inspectors.formats.checkpoint import open_reader
from inspectors.render import bytes_of, text_of
from migrate.rebuild import assets as asset_files
from inspectors.errors import CorruptCheckpoint, UnsupportedSource
from inspectors.sources.paths import Source
from migrate.rebuild.inference import CANNED, FeatureSpec, InferenceGraph

DEFAULT_HASH_KEY = 0xDECAFCAFFE  # feature_column's crossed-column fingerprint key
DEFAULT_EPSILON = 1e-3  # Keras and tf.layers BatchNormalization
FEATURES_HINT = "pass --features SPEC.json (feature key -> kind, dtype, shape, vocabulary)"
_ACTIVATIONS = {"Relu": "relu", "Relu6": "relu6", "Elu": "elu", "Selu": "selu",
                "Tanh": "tanh", "Sigmoid": "sigmoid", "Softplus": "softplus",
                "Softsign": "softsign", "LeakyRelu": "leaky_relu"}
_TABLE_IMPORTS = ("LookupTableImportV2", "LookupTableImport", "InitializeTableV2",
                  "InitializeTable")
_COMBINERS = {"SparseSegmentMean": "mean", "SparseSegmentSqrtN": "sqrtn",
              "SparseSegmentSum": "sum"}
# tf.contrib.learn sorts columns by repr: the class name comes first.
_CONTRIB_CLASS = {"bucketized": "_BucketizedColumn", "embedding": "_EmbeddingColumn",
                  "indicator": "_OneHotColumn", "numeric": "_RealValuedColumn"}
_CATEGORICAL = ("vocabulary_list", "vocabulary_file", "hash_bucket", "identity",
                "bucketized", "crossed")


@dataclass(frozen=True)
class Column:
    """One feature column, as much as the rebuild needs of it."""

    name: str
    kind: str  # numeric | vocabulary_list | vocabulary_file | hash_bucket | identity |
    #            bucketized | crossed | embedding | indicator
    key: str | None = None  # raw feature key it reads (None: crossed, embedding, indicator)
    dtype: str = "float32"  # of the raw feature
    width: int | None = None  # numeric / bucketized source: flattened width
    vocabulary: tuple = ()
    num_oov: int = 0
    default_value: int = -1
    hash_buckets: int | None = None  # hash_bucket / crossed buckets
    num_buckets: int | None = None  # identity
    boundaries: tuple[float, ...] = ()
    combiner: str = "mean"
    dimension: int | None = None  # embedding dimension / indicator depth
    source: Column | None = None  # embedding / indicator: the categorical inside
    parts: tuple = ()  # crossed: raw keys (str) or categorical Columns, in hashing order
    hash_key: int = DEFAULT_HASH_KEY

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _Plan:
    """Everything the builder needs, decided before any TensorFlow op is made."""

    estimator: est.Estimator
    dnn_columns: list[Column] = field(default_factory=list)
    linear_columns: list[tuple[Column, str]] = field(default_factory=list)  # (column, weights)
    layers: list[dict] = field(default_factory=list)  # kernel, bias, activation, bn
    logits_layer: tuple[str, str] | None = None
    linear_bias: str | None = None
    centered_bias: str | None = None
    label_vocabulary: tuple[str, ...] = ()
    features: dict[str, FeatureSpec] = field(default_factory=dict)
    embedding_weights: dict[str, str] = field(default_factory=dict)  # column -> variable
    variables: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------

def build_canned(source: Source, *, features: tuple[FeatureSpec, ...] | None = None,
                 estimator: est.Estimator | None = None,
                 assets: asset_files.AssetSearch = asset_files.AssetSearch()) -> InferenceGraph:
    """The inference graph of the canned Estimator whose checkpoint `source` is."""
    if source.format not in ("V1", "V2"):
        raise UnsupportedSource(f"{source.given} is a {source.format} file, not an Estimator "
                                f"checkpoint; the canned way rebuilds canned Estimators only")
    reader = open_reader(source)
    plan = plan_canned(source, features=features, estimator=estimator, reader=reader,
                       assets=assets)
    return _build(plan, reader)


def feature_specs_for(source: Source, *, features: tuple[FeatureSpec, ...] | None = None
                      ) -> tuple[FeatureSpec, ...]:
    """The raw features (keys, dtypes, shapes, vocabularies) the rebuilt model reads."""
    plan = plan_canned(source, features=features)
    return tuple(plan.features[k] for k in sorted(plan.features))


def features_from_spec(spec: dict) -> tuple[FeatureSpec, ...]:
    """FeatureSpecs from a `feature_spec` JSON object (as in fixtures' case.json): raw keys
    only (kind numeric / vocabulary / hash / identity); derived columns (embedding,
    crossed) are told by the checkpoint's names."""
    found = []
    for name, entry in sorted(spec.items()):
        kind = entry.get("kind", "numeric")
        if kind in ("embedding", "crossed", "indicator", "bucketized"):
            continue
        found.append(FeatureSpec(
            name=name, dtype=entry.get("dtype", "float32" if kind == "numeric" else "string"),
            shape=tuple(entry.get("shape", [1])),
            vocabulary=tuple(str(v) for v in entry.get("vocabulary_list", ())),
            hash_buckets=entry.get("hash_bucket_size")))
    return tuple(found)


def plan_canned(source: Source, *, features: tuple[FeatureSpec, ...] | None = None,
                estimator: est.Estimator | None = None, reader: Any = None,
                assets: asset_files.AssetSearch = asset_files.AssetSearch()) -> _Plan:
    """Decide columns, layers and head without building anything (raises on gaps)."""
    reader = reader or open_reader(source)
    infos = reader.variables()
    graph_def, graph_note = _load_graph(source)
    recognized = estimator or est.recognize(infos, graph_def)
    _require_canned(source, recognized, infos)
    shapes = {v.name: tuple(v.shape) for v in infos}
    near = (os.path.dirname(source.path), source.model_dir or "")
    facts = _Facts(graph_def, assets=assets, near=near) if graph_def is not None else None
    plan = _Plan(estimator=recognized, variables={v.name: (v.dtype, tuple(v.shape))
                                                  for v in infos})
    if graph_note:
        plan.notes.append(graph_note)
    given = {f.name: f for f in features or ()}
    columns = _columns(recognized, shapes, facts, given, plan.notes)
    _plan_linear(plan, columns, shapes, facts)
    _plan_dnn(plan, columns, shapes, facts, given)
    _plan_head(plan, shapes, facts)
    plan.features = _feature_specs(plan, given)
    return plan


# ---------------------------------------------------------------------------------------
# Graph and recognition
# ---------------------------------------------------------------------------------------

def _load_graph(source: Source) -> tuple[Any, str | None]:
    """(GraphDef or None, note): the checkpoint's own `.meta`, else the dir's graph.pbtxt."""
    from inspectors.modeldir import GRAPH_TEXT, load_graph

    directory = source.model_dir or os.path.dirname(source.path)
    candidates = [p for p in (source.meta_graph, os.path.join(directory, GRAPH_TEXT)) if p]
    problems = []
    for path in candidates:
        if not os.path.isfile(path):
            continue
        try:
            graph_def, _ = load_graph(path)
            return graph_def, f"feature-column facts read from {os.path.basename(path)}"
        except CorruptCheckpoint as error:
            problems.append(str(error))
    if problems:
        return None, f"no readable graph ({'; '.join(problems)})"
    return None, "no graph (.meta or graph.pbtxt) beside the checkpoint"


def _require_canned(source: Source, recognized: est.Estimator, infos: list) -> None:
    if recognized.family == "custom":
        examples = ", ".join(v.name for v in infos if v.kind == "model")[:200] or "none"
        raise UnsupportedSource(
            f"{source.given} is not a canned Estimator checkpoint: recognized a custom model "
            f"(model variables: {examples}); the canned way rebuilds DNN, Linear and "
            f"DNNLinearCombined classifiers and regressors. Use --via meta-graph or --model-fn")
    if recognized.head == est.MULTI_LABEL:
        raise UnsupportedSource(f"{source.given}: a multi-label head; the canned way rebuilds "
                                f"multi-class, binary and regression heads only. "
                                f"Use --via meta-graph")
    if recognized.task is None:
        why = "; ".join(recognized.notes) or "no head name or graph tells the task"
        raise UnsupportedSource(f"{source.given}: cannot tell classifier from regressor "
                                f"({why}). Put the training graph (.meta or graph.pbtxt) "
                                f"beside the checkpoint")


class _Facts:
    """Feature-column and layer facts read from the training graph (never run)."""

    def __init__(self, graph_def: Any, *,
                 assets: asset_files.AssetSearch = asset_files.AssetSearch(),
                 near: tuple[str, ...] = ()):
        self.graph = est.Graph(graph_def)
        self.asset_places = asset_files.search_places(assets, near)  # for vocabulary files
        self.asset_search = assets

    def scope(self, column: str) -> list:
        """Forward nodes inside the column's scope (`col/` or Keras's `col_1/`)."""
        pattern = re.compile(rf"(?:^|/){re.escape(column)}(?:_\d+)?/")
        return [n for n in self.graph.forward
                if pattern.search(n.name) and ("feature_columns" in n.name
                                               or "linear" in n.name or "input_layer" in n.name
                                               or "dense_features" in n.name)]

    def vocabulary(self, column: str) -> tuple | None:
        for node in self.scope(column):
            if node.op in _TABLE_IMPORTS and len(node.input) > 1:
                keys = self.const_through_cast(node.input[1])
                if keys is not None:
                    return tuple(_plain(k) for k in keys.reshape(-1).tolist())
        return None

    def const_through_cast(self, tensor: str) -> Any:
        """A constant, also behind a Cast (int vocabularies are cast to int64 first)."""
        node = self.graph.node(tensor)
        if node is not None and node.op == "Cast" and node.input:
            node = self.graph.node(node.input[0])
        return self.graph.const(node.name) if node is not None else None

    def default_value(self, column: str) -> int | None:
        for node in self.scope(column):
            if node.op.startswith("LookupTableFind") and len(node.input) > 2:
                value = self.graph.const(node.input[2])
                if value is not None and value.size == 1:
                    return int(value.reshape(-1)[0])
        return None

    def identity_default(self, column: str) -> int | None:
        """The default id an identity column puts in place of out-of-range values."""
        for node in self.scope(column):
            if node.op == "Fill" and node.name.endswith("/default_values") and len(node.input) > 1:
                found = self.const_through_cast(node.input[1])
                if found is not None and found.size == 1:
                    return int(found.reshape(-1)[0])
        return None

    def boundaries(self, column: str) -> tuple[float, ...] | None:
        """A bucketized column's boundaries, also where a cross bucketized it first (the
        transformation cache then keeps the op in the cross's scope)."""
        for node in self.graph.forward:
            if node.op == "Bucketize" and column in node.name:
                return tuple(float(b) for b in node.attr["boundaries"].list.f)
        return None

    def combiner(self, column: str) -> str | None:
        return next((_COMBINERS[n.op] for n in self.scope(column) if n.op in _COMBINERS), None)

    def hashes_numbers(self, column: str) -> bool:
        return any(n.op == "AsString" for n in self.scope(column))

    def cross(self, column: str, parts: list[str]) -> tuple[list[tuple[str, bool]] | None,
                                                             int | None]:
        """([(part, is categorical ids)] in the order the op hashes them, hash_key), from
        the column's SparseCross op; None when the graph does not show it."""
        node = next((n for n in self.scope(column) if n.op.startswith("SparseCross")), None)
        if node is None:
            return None, None
        count = node.attr["N"].i if "N" in node.attr else 0
        inputs = [i for i in node.input if not i.startswith("^")]
        dense = len(node.attr["dense_types"].list.type) if "dense_types" in node.attr else 0
        ordered = inputs[count:2 * count] + inputs[3 * count:3 * count + dense]
        hash_key = node.attr["hash_key"].i if "hash_key" in node.attr else None
        types = list(node.attr["sparse_types"].list.type) + list(node.attr["dense_types"].list.type)
        self.cross_types = getattr(self, "cross_types", {})
        self.cross_types[column] = ["string" if code == 7 else "int64" for code in types]
        names = [self._part_of(name, parts, column) for name in ordered]
        left = [p for p in parts if p not in names]
        if names.count(None) == 1 and len(left) == 1:
            names[names.index(None)] = left[0]
        if None in names or sorted(names) != sorted(parts):
            return None, hash_key
        return [(name, self._made_ids(tensor)) for name, tensor in zip(names, ordered)], hash_key

    def _part_of(self, tensor: str, parts: list[str], cross: str) -> str | None:
        """The crossed part a cross input comes from: the column scope it was made in."""
        node = self.graph.node(tensor)
        for _ in range(8):
            if node is None:
                return None
            components = node.name.split("/")
            for part in parts:
                if part != cross and (part in components or f"{part}_lookup" in components):
                    return part
            if not node.input or cross not in components:
                return None
            node = self.graph.node(node.input[0])
        return None

    def _made_ids(self, tensor: str) -> bool:
        """Whether a cross input is a categorical column's ids (a lookup, hash or bucketize
        made it) rather than a raw feature."""
        node, seen = self.graph.node(tensor), 0
        while node is not None and seen < 12:
            if node.op.startswith(("LookupTableFind", "StringToHashBucket", "Bucketize")):
                return True
            if node.op in ("IteratorGetNext", "Placeholder", "ParseExample", "ParseExampleV2",
                           "QueueDequeueManyV2", "QueueDequeueUpToV2", "Const"):
                return False
            node, seen = (self.graph.node(node.input[0]) if node.input else None), seen + 1
        return False

    def activation(self, layer: int) -> str | None:
        prefix = f"dnn/hiddenlayer_{layer}/"
        return next((_ACTIVATIONS[n.op] for n in self.graph.forward
                     if n.name.startswith(prefix) and n.op in _ACTIVATIONS), None)

    def epsilon(self, layer: int) -> float | None:
        prefix = f"dnn/hiddenlayer_{layer}/"
        for node in self.graph.forward:
            if node.name.startswith(prefix) and node.name.endswith("batchnorm/add/y"):
                value = self.graph.const(node.name)
                if value is not None and value.size == 1:
                    return float(value.reshape(-1)[0])
        return None

    def label_vocabulary(self) -> tuple[str, ...] | None:
        for node in self.graph.nodes:
            if "class_id_lookup" in node.name and node.op in _TABLE_IMPORTS:
                keys = self.graph.const(node.input[1])
                if keys is not None:
                    return tuple(str(_plain(k)) for k in keys.reshape(-1).tolist())
        return None

    def unnamed_dnn_input(self) -> bool:
        """tf.contrib.learn fed `fit(x=array)` as one tensor: the input layer's concat
        reads a tensor made outside any column scope."""
        concat = next((n for n in self.graph.forward if n.name.startswith(
            "dnn/input_from_feature_columns/") and n.name.endswith("/concat")), None)
        if concat is None:
            return False
        data = [i for i in concat.input if not i.startswith("^")]
        return len(data) >= 1 and not any("input_from_feature_columns" in i for i in data)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return int(value) if isinstance(value, (np.integer, int)) else value


# ---------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------

def _columns(recognized: est.Estimator, shapes: dict, facts: _Facts | None,
             given: dict[str, FeatureSpec], notes: list[str]) -> dict[str, tuple[Column, tuple]]:
    """{column name: (Column, used_by)} from the recognized columns, filled by `given`."""
    found: dict[str, tuple[Column, tuple]] = {}
    missing = []
    records = {c.name: c for c in recognized.feature_columns}
    for record in records.values():
        column = _column(record, records, shapes, facts, given, notes)
        if column is None:
            missing.append(record.name)
        else:
            found[record.name] = (column, record.used_by)
    if missing:
        raise UnsupportedSource(
            f"feature column facts missing for {', '.join(sorted(missing))}: the checkpoint "
            f"names them but neither a graph nor the given features tell their kind, "
            f"vocabulary or hash buckets; {FEATURES_HINT}")
    return found


def _column(record: est.FeatureColumn, records: dict, shapes: dict, facts: _Facts | None,
            given: dict[str, FeatureSpec], notes: list[str]) -> Column | None:
    kind, name = record.kind, record.name
    rows = _rows(name, shapes)
    spec = given.get(name)
    if kind == "unknown" and spec is not None and _numeric_spec(spec):
        kind = "numeric"  # weights alone: the given features say it is a dense input
    if kind == "numeric":
        width = record.shape[0] if record.shape else (rows[0] if rows else None)
        if width is None and spec is not None:
            width = math.prod(spec.shape) if spec.shape else 1
        return Column(name=name, kind="numeric", key=name, width=width,
                      dtype=spec.dtype if spec and spec.dtype != "string" else "float32")
    if kind in ("embedding", "indicator"):
        inner = record.source or _strip(name, "_embedding" if kind == "embedding" else "_indicator")
        depth = record.buckets if kind == "indicator" else rows[0] if rows else record.buckets
        source = _categorical(inner, record, depth, facts, given, notes, scope=name)
        if source is None:
            return None
        if kind == "indicator":
            return Column(name=name, kind="indicator", source=source, dimension=_buckets(source))
        combiner = facts.combiner(name) if facts else None
        if combiner is None:
            combiner = "mean"
            notes.append(f"{name}: combiner not in a graph; assumed 'mean' (the default)")
        dimension = record.embedding_dimension or (rows[1] if rows else None)
        return Column(name=name, kind="embedding", source=source, combiner=combiner,
                      dimension=dimension)
    if kind == "crossed":
        return _crossed(record, records, shapes, facts, given, notes)
    return _categorical(name, record, rows[0] if rows else record.buckets, facts, given,
                        notes, scope=name)


def _numeric_spec(spec: FeatureSpec) -> bool:
    return spec.dtype != "string" and not spec.vocabulary and not spec.hash_buckets


def _categorical(name: str, record: est.FeatureColumn, rows: int | None, facts: _Facts | None,
                 given: dict[str, FeatureSpec], notes: list[str], *, scope: str) -> Column | None:
    """A categorical column named `name` (its key, or `<key>_bucketized`)."""
    spec = given.get(name)
    vocabulary = (facts.vocabulary(scope) if facts else None) or record.vocabulary
    if record.kind == "bucketized" or name.endswith("_bucketized"):
        boundaries = record.boundaries or (facts.boundaries(name) if facts else None)
        return _bucketized(name, dataclasses.replace(record, boundaries=boundaries), rows, given)
    if record.vocabulary_file and not vocabulary:
        vocabulary = _read_vocabulary_file(record, facts, name, notes)
    if not vocabulary and spec is not None and spec.vocabulary:
        vocabulary = spec.vocabulary
        notes.append(f"{name}: vocabulary from the given features")
    if vocabulary:
        return _vocabulary_column(name, vocabulary, rows, facts, scope, spec, notes)
    hash_buckets = record.hash_buckets or (spec.hash_buckets if spec else None)
    if hash_buckets or record.kind == "hash_bucket":
        hash_buckets = hash_buckets or rows
        numbers = facts.hashes_numbers(scope) if facts else False
        dtype = spec.dtype if spec else ("int64" if numbers else "string")
        return Column(name=name, kind="hash_bucket", key=name, dtype=dtype,
                      hash_buckets=hash_buckets)
    # With a graph, a categorical input with no vocabulary and no hash is an identity column.
    if record.kind == "identity" or (spec is not None and spec.dtype.startswith("int")) or (
            facts is not None and record.kind in ("identity", "categorical", "embedding",
                                                  "indicator")):
        default = facts.identity_default(scope) if facts else None
        if default is None:
            notes.append(f"{name}: identity ids outside [0, {rows}) add nothing (TF would "
                         f"have raised unless a default_value was set)")
        return Column(name=name, kind="identity", key=name, dtype="int64", num_buckets=rows,
                      default_value=-1 if default is None else default)
    return None


def _vocabulary_column(name: str, vocabulary: tuple, rows: int | None, facts: _Facts | None,
                       scope: str, spec: FeatureSpec | None, notes: list[str]) -> Column:
    size = len(vocabulary)
    num_oov = max(0, rows - size) if rows else 0
    default = facts.default_value(scope) if facts else None
    if default is None:
        default = -1
        if not num_oov:
            notes.append(f"{name}: out-of-vocabulary values assumed to add nothing "
                         f"(default_value -1)")
    numbers = all(isinstance(v, int) for v in vocabulary)
    dtype = "int64" if numbers else "string"
    if spec is not None and spec.dtype.startswith("int") and not numbers:
        vocabulary, dtype = tuple(int(v) for v in vocabulary), "int64"
    return Column(name=name, kind="vocabulary_list", key=name, dtype=dtype,
                  vocabulary=tuple(vocabulary), num_oov=num_oov, default_value=default)


def _bucketized(name: str, record: est.FeatureColumn, rows: int | None,
                given: dict[str, FeatureSpec]) -> Column | None:
    key = _strip(name, "_bucketized")
    boundaries = tuple(record.boundaries or ())
    if not boundaries:
        return None
    spec = given.get(key)
    width = (rows // (len(boundaries) + 1) if rows else None) or (
        math.prod(spec.shape) if spec else 1)
    return Column(name=name, kind="bucketized", key=key, width=width, boundaries=boundaries)


def _crossed(record: est.FeatureColumn, records: dict, shapes: dict, facts: _Facts | None,
             given: dict[str, FeatureSpec], notes: list[str]) -> Column | None:
    names = list(record.crossed or record.name.split("_X_"))
    order, hash_key = facts.cross(record.name, names) if facts else (None, None)
    # The op's input dtypes, position by position (also when the names stay unknown).
    types = getattr(facts, "cross_types", {}).get(record.name) or []
    if order is None:
        order = [(name, False) for name in sorted(names)]
        notes.append(f"{record.name}: the crossed keys' hashing order and kinds are not shown "
                     f"by a graph; assumed raw features in the order {sorted(names)} (crossed "
                     f"column names sort their keys, TF hashes them in the order given)")
    parts = []
    for position, (part, made_ids) in enumerate(order):
        inner = records.get(part)
        if made_ids and inner is not None and inner.kind in _CATEGORICAL:
            column = _column(inner, records, shapes, facts, given, notes)
            if column is None:
                return None
            parts.append(column)
        elif made_ids:
            # A categorical column used only inside this cross: its ops are in the cross's scope.
            inside = est.FeatureColumn(name=part, kind="bucketized" if part.endswith(
                "_bucketized") else "categorical", used_by=record.used_by)
            column = _categorical(part, inside, None, facts, given, notes, scope=record.name)
            if column is None:
                return None
            parts.append(column)
        else:
            spec = given.get(part)
            shown = types[position] if len(types) == len(order) else None
            dtype = spec.dtype if spec else shown or _raw_dtype(part, records, shapes, facts,
                                                                  notes)
            parts.append(Column(name=part, kind="raw", key=part, dtype=dtype))
    rows = _rows(record.name, shapes)
    return Column(name=record.name, kind="crossed", parts=tuple(parts),
                  hash_buckets=record.hash_buckets or (rows[0] if rows else None),
                  hash_key=hash_key or DEFAULT_HASH_KEY)


def _raw_dtype(key: str, records: dict, shapes: dict, facts: _Facts | None,
               notes: list[str]) -> str:
    """A raw crossed key's dtype: that of the key's own column when there is one."""
    record = records.get(key)
    if record is not None and record.kind in _CATEGORICAL:
        column = _column(record, records, shapes, facts, {}, [])
        if column is not None:
            return column.dtype
    notes.append(f"crossed key {key}: assumed a string feature")
    return "string"


def _read_vocabulary_file(record: est.FeatureColumn, facts: _Facts | None,
                          name: str, notes: list[str]) -> tuple | None:
    """The words of a vocabulary_file column, the file looked for where assets are."""
    path = record.vocabulary_file or ""
    places = facts.asset_places if facts else []
    search = facts.asset_search if facts else asset_files.AssetSearch()
    found, how = asset_files.find(path, search=search, places=places)
    if found is None:
        raise asset_files.MissingAsset(asset_files.missing_message(
            path, f"{name} (a vocabulary_file column)", places))
    if found != path:
        notes.append(f"{name}: vocabulary file {path} is not there; used {found} ({how})")
    with open(found, "rb") as handle:  # words that are not UTF-8 stay the author's bytes
        words = [text_of(line.rstrip(b"\r\n")) for line in handle]
    size = record.vocabulary_size or len(words)
    return tuple(words[:size])


def _rows(name: str, shapes: dict) -> tuple[int, ...] | None:
    """Shape of the weights or embedding table named after column `name`, if any."""
    for variable, shape in shapes.items():
        parts = variable.split("/")
        if len(parts) >= 2 and parts[-2] == name and parts[-1] in (
                "weights", "weight", "embedding_weights") and len(shape) == 2:
            return shape
    return None


def _strip(name: str, suffix: str) -> str:
    return name[: -len(suffix)] if name.endswith(suffix) else name


def _buckets(column: Column) -> int | None:
    """How many ids a categorical column yields (one-hot depth)."""
    if column.kind in ("vocabulary_list", "vocabulary_file"):
        return len(column.vocabulary) + column.num_oov
    if column.kind in ("hash_bucket", "crossed"):
        return column.hash_buckets
    if column.kind == "bucketized":
        return column.width * (len(column.boundaries) + 1)
    return column.num_buckets


def _dense_width(column: Column) -> int | None:
    if column.kind == "numeric":
        return column.width
    if column.kind in ("embedding", "indicator"):
        return column.dimension
    if column.kind == "bucketized":
        return column.width * (len(column.boundaries) + 1)
    return None


# ---------------------------------------------------------------------------------------
# Towers and head
# ---------------------------------------------------------------------------------------

def _plan_linear(plan: _Plan, columns: dict, shapes: dict, facts: _Facts | None) -> None:
    recognized = plan.estimator
    if recognized.family not in ("Linear", "DNNLinearCombined"):
        return
    for name, (column, used_by) in sorted(columns.items()):
        if "linear" not in used_by:
            continue
        weights = _first(shapes, f"linear/linear_model/{name}/weights", f"linear/{name}/weight",
                         f"linear/{name}/weights")
        if weights is None:
            raise UnsupportedSource(f"no linear weights for column {name} in the checkpoint")
        plan.linear_columns.append((column, weights))
    plan.linear_bias = _first(shapes, "linear/linear_model/bias_weights", "linear/bias_weight")


def _plan_dnn(plan: _Plan, columns: dict, shapes: dict, facts: _Facts | None,
              given: dict[str, FeatureSpec]) -> None:
    recognized = plan.estimator
    if recognized.family not in ("DNN", "DNNLinearCombined"):
        return
    dense = [c for c, used_by in columns.values() if "dnn" in used_by]
    if not dense:
        dense = _dnn_columns_without_graph(plan, columns, facts, given)
    contrib = recognized.generation == est.CONTRIB
    dense.sort(key=lambda c: (_CONTRIB_CLASS.get(c.kind, ""), c.name) if contrib else c.name)
    if contrib and len({c.kind for c in dense}) > 1:
        plan.notes.append("tf.contrib.learn input order: columns sorted by class, then name")
    _check_width(dense, recognized.input_dimension)
    plan.dnn_columns = dense
    for column in (c for c in dense if c.kind == "embedding"):
        table = next((n for n, shape in shapes.items() if n.startswith("dnn/")
                      and n.split("/")[-2:-1] == [column.name] and len(shape) == 2
                      and n.rsplit("/", 1)[-1] in ("embedding_weights", "weights")), None)
        if table is None:
            raise UnsupportedSource(f"no embedding weights for column {column.name} in the "
                                    f"checkpoint")
        plan.embedding_weights[column.name] = table
    for index in range(len(recognized.hidden_units or ())):
        plan.layers.append(_layer(index, shapes, facts, plan.notes))
    plan.logits_layer = (_first(shapes, "dnn/logits/kernel", "dnn/logits/weights"),
                         _first(shapes, "dnn/logits/bias", "dnn/logits/biases"))
    if recognized.dropout:
        plan.notes.append(f"dropout (rate {recognized.dropout_rate}) is off at inference")


def _dnn_columns_without_graph(plan: _Plan, columns: dict, facts: _Facts | None,
                               given: dict[str, FeatureSpec]) -> list[Column]:
    """The DNN's input when no graph names its columns: the given numeric features not
    taken by the linear side, or the one unnamed tensor tf.contrib.learn's fit(x=) made."""
    width = plan.estimator.input_dimension
    linear = {c.key for c, used_by in columns.values() if "linear" in used_by}
    numeric = [Column(name=s.name, kind="numeric", key=s.name, dtype=s.dtype,
                      width=math.prod(s.shape) if s.shape else 1)
               for s in given.values() if _numeric_spec(s) and s.name not in linear]
    if numeric:
        plan.notes.append("DNN input columns: the given numeric features "
                          f"({', '.join(sorted(c.name for c in numeric))}), sorted by name")
        return numeric
    if facts is not None and facts.unnamed_dnn_input() and width:
        plan.notes.append(f"the graph feeds the DNN one unnamed dense tensor of width {width} "
                          f"(tf.contrib.learn fit(x=...), feature key ''); its input is named 'x'")
        return [Column(name="", kind="numeric", key="x", width=width)]
    where = "the graph shows no feature columns" if facts else "no graph"
    raise UnsupportedSource(f"feature column facts missing for the DNN input (width {width}): "
                            f"{where}, and no features were given; {FEATURES_HINT}")


def _check_width(dense: list[Column], expected: int | None) -> None:
    widths = [_dense_width(c) for c in dense]
    unknown = [c for c, w in zip(dense, widths) if w is None]
    if len(unknown) == 1 and expected:
        rest = expected - sum(w for w in widths if w is not None)
        dense[dense.index(unknown[0])] = dataclasses.replace(unknown[0], width=rest)
        return
    total = sum(w or 0 for w in widths)
    if expected and total != expected:
        listing = ", ".join(f"{c.name or c.key} ({w})" for c, w in zip(dense, widths))
        raise UnsupportedSource(f"the DNN input is {expected} wide but its columns make "
                                f"{total}: {listing}; {FEATURES_HINT}")


def _layer(index: int, shapes: dict, facts: _Facts | None, notes: list[str]) -> dict:
    prefix = f"dnn/hiddenlayer_{index}/"
    layer = {"kernel": _first(shapes, prefix + "kernel", prefix + "weights"),
             "bias": _first(shapes, prefix + "bias", prefix + "biases")}
    activation = facts.activation(index) if facts else None
    if activation is None:
        activation = "relu"
        notes.append(f"hiddenlayer_{index}: activation not shown by a graph; assumed relu "
                     f"(the canned default)")
    layer["activation"] = activation
    moving = sorted(n for n in shapes if n.startswith(prefix) and n.endswith("/moving_mean"))
    if moving:
        scope = moving[0][: -len("moving_mean")]
        epsilon = facts.epsilon(index) if facts else None
        if epsilon is None:
            epsilon = DEFAULT_EPSILON
            notes.append(f"hiddenlayer_{index}: batch-norm epsilon assumed {DEFAULT_EPSILON}")
        layer["batch_norm"] = {"mean": scope + "moving_mean", "variance": scope + "moving_variance",
                               "gamma": scope + "gamma" if scope + "gamma" in shapes else None,
                               "beta": scope + "beta" if scope + "beta" in shapes else None,
                               "epsilon": epsilon}
    return layer


def _plan_head(plan: _Plan, shapes: dict, facts: _Facts | None) -> None:
    plan.centered_bias = "centered_bias_weight" if "centered_bias_weight" in shapes else None
    if plan.centered_bias:
        plan.notes.append("centered_bias_weight is added to the logits (tf.contrib.learn)")
    if plan.estimator.task == est.CLASSIFIER:
        vocabulary = facts.label_vocabulary() if facts else None
        if vocabulary:
            plan.label_vocabulary = vocabulary
        else:
            plan.notes.append("classes are the class ids as strings (no label vocabulary "
                              "in a graph)")


def _first(shapes: dict, *names: str) -> str | None:
    return next((n for n in names if n in shapes), None)


def _feature_specs(plan: _Plan, given: dict[str, FeatureSpec]) -> dict[str, FeatureSpec]:
    """One FeatureSpec per raw key the plan reads; the given specs win where they exist."""
    raw: dict[str, FeatureSpec] = {}
    for column in _all_columns(plan):
        for leaf in _leaves(column):
            shape = (leaf.width,) if leaf.width else (1,)
            dtype = "float32" if leaf.kind in ("numeric", "bucketized") else leaf.dtype
            spec = FeatureSpec(name=leaf.key, dtype=dtype, shape=shape,
                               vocabulary=tuple(str(v) for v in leaf.vocabulary),
                               hash_buckets=leaf.hash_buckets if leaf.kind == "hash_bucket"
                               else None)
            old = raw.get(leaf.key)
            if old is not None:
                spec = dataclasses.replace(old, vocabulary=old.vocabulary or spec.vocabulary,
                                           hash_buckets=old.hash_buckets or spec.hash_buckets)
            raw[leaf.key] = given.get(leaf.key, spec)
    return raw


def _all_columns(plan: _Plan) -> list[Column]:
    return list(plan.dnn_columns) + [c for c, _ in plan.linear_columns]


def _leaves(column: Column) -> list[Column]:
    """The columns that read a raw feature key, inside `column`."""
    if column.kind in ("embedding", "indicator"):
        return _leaves(column.source)
    if column.kind == "crossed":
        return [leaf for part in column.parts for leaf in _leaves(part)]
    return [column]


# ---------------------------------------------------------------------------------------
# Building the graph
# ---------------------------------------------------------------------------------------

def _build(plan: _Plan, reader: Any) -> InferenceGraph:
    from inspectors import tf_loader

    tf = tf_loader.tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        variables = _variables(plan, tf)
        inputs = {key: tf.compat.v1.placeholder(_tf_dtype(tf, spec.dtype),
                                                [None, *spec.shape], name=_op_name(key))
                  for key, spec in sorted(plan.features.items())}
        builder = _Builder(tf, inputs, variables)
        logits = builder.logits(plan)
        outputs = _head(tf, plan, logits)
    session = tf.compat.v1.Session(graph=graph)
    for name, variable in variables.items():
        # Feed the value into the initializer instead of embedding it as a constant.
        initializer = variable.initializer
        session.run(initializer, feed_dict={initializer.inputs[1]: reader.read(name)})
    return InferenceGraph(graph=graph, session=session, inputs=inputs, outputs=outputs,
                          features=tuple(plan.features[k] for k in sorted(plan.features)),
                          way=CANNED, init_op=None, notes=list(plan.notes))


def _variables(plan: _Plan, tf: Any) -> dict[str, Any]:
    """One variable per checkpoint variable the forward pass reads, named like it; the
    values are loaded into the session afterwards, so the GraphDef stays small."""
    names = [w for _, w in plan.linear_columns] + [plan.linear_bias, plan.centered_bias]
    names += list(plan.embedding_weights.values())
    for layer in plan.layers:
        names += [layer["kernel"], layer["bias"]]
        names += [v for k, v in layer.get("batch_norm", {}).items() if k != "epsilon"]
    names += list(plan.logits_layer or ())
    created = {}
    for name in names:
        if name and name not in created:
            dtype, shape = plan.variables[name]
            created[name] = tf.compat.v1.get_variable(
                name, shape=shape, dtype=_tf_dtype(tf, dtype), trainable=False,
                initializer=tf.compat.v1.zeros_initializer(), use_resource=True)
    return created


def _tf_dtype(tf: Any, dtype: str) -> Any:
    return tf.string if dtype == "string" else tf.as_dtype(dtype)


def _op_name(key: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", key)
    return name if re.match(r"^[A-Za-z0-9.]", name) else "x" + name


class _Builder:
    """Makes the forward pass's ops from a plan: columns, towers, logits."""

    def __init__(self, tf: Any, inputs: dict[str, Any], variables: dict[str, Any]):
        self.tf, self.inputs, self.variables = tf, inputs, variables

    def logits(self, plan: _Plan) -> Any:
        tf = self.tf
        parts = []
        if plan.logits_layer:
            with tf.compat.v1.name_scope("dnn"):
                parts.append(self.dnn(plan))
        if plan.linear_bias or plan.linear_columns:
            with tf.compat.v1.name_scope("linear"):
                parts.append(self.linear(plan))
        logits = parts[0] if len(parts) == 1 else tf.add(parts[0], parts[1])
        if plan.centered_bias:
            logits = tf.nn.bias_add(logits, self.variables[plan.centered_bias])
        return logits

    # -- towers --------------------------------------------------------------------------

    def dnn(self, plan: _Plan) -> Any:
        tf = self.tf
        with tf.compat.v1.name_scope("input_layer"):
            dense = [self.dense(c, plan) for c in plan.dnn_columns]
            net = dense[0] if len(dense) == 1 else tf.concat(dense, axis=1)
        for index, layer in enumerate(plan.layers):
            with tf.compat.v1.name_scope(f"hiddenlayer_{index}"):
                net = tf.nn.bias_add(tf.matmul(net, self.variables[layer["kernel"]]),
                                     self.variables[layer["bias"]])
                net = getattr(tf.nn, layer["activation"])(net)
                if "batch_norm" in layer:
                    net = self.batch_norm(net, layer["batch_norm"])
        kernel, bias = plan.logits_layer
        with tf.compat.v1.name_scope("logits"):
            return tf.nn.bias_add(tf.matmul(net, self.variables[kernel]), self.variables[bias])

    def batch_norm(self, net: Any, norm: dict) -> Any:
        """Inference batch norm on the moving statistics (Keras / tf.layers formula)."""
        tf = self.tf
        gamma = self.variables[norm["gamma"]] if norm["gamma"] else None
        beta = self.variables[norm["beta"]] if norm["beta"] else None
        return tf.nn.batch_normalization(net, self.variables[norm["mean"]],
                                         self.variables[norm["variance"]], beta, gamma,
                                         norm["epsilon"])

    def linear(self, plan: _Plan) -> Any:
        tf = self.tf
        sums = []
        for column, weights in plan.linear_columns:
            with tf.compat.v1.name_scope(_op_name(column.name)):
                variable = self.variables[weights]
                if column.kind == "numeric":
                    sums.append(tf.matmul(self.numeric(column), variable))
                else:
                    sums.append(self.lookup(variable, self.ids(column), "sum"))
        bias = self.variables[plan.linear_bias] if plan.linear_bias else None
        if not sums:
            batch = tf.shape(next(iter(self.inputs.values())))[0]
            return tf.zeros([batch, 1]) + bias
        total = sums[0] if len(sums) == 1 else tf.add_n(sums)
        return tf.nn.bias_add(total, bias) if bias is not None else total

    # -- columns -------------------------------------------------------------------------

    def raw(self, key: str) -> Any:
        """The feature as [batch, n] (what feature columns expand a feature to)."""
        tensor = self.inputs[key]
        if tensor.shape.rank == 2:
            return tensor
        return self.tf.reshape(tensor, [self.tf.shape(tensor)[0], -1])

    def numeric(self, column: Column) -> Any:
        tf = self.tf
        value = tf.cast(self.raw(column.key), tf.float32)
        return tf.reshape(value, [tf.shape(value)[0], column.width])

    def dense(self, column: Column, plan: _Plan) -> Any:
        tf = self.tf
        with tf.compat.v1.name_scope(_op_name(column.name or column.key)):
            if column.kind == "numeric":
                return self.numeric(column)
            if column.kind == "embedding":
                table = self.variables[plan.embedding_weights[column.name]]
                return self.lookup(table, self.ids(column.source), column.combiner)
            if column.kind == "indicator":
                ids = tf.sparse.to_dense(self.ids(column.source), default_value=-1)
                return tf.reduce_sum(tf.one_hot(ids, column.dimension, 1.0, 0.0), axis=-2)
            if column.kind == "bucketized":
                buckets = self.bucketize(column)
                depth = len(column.boundaries) + 1
                return tf.reshape(tf.one_hot(buckets, depth, 1.0, 0.0),
                                  [tf.shape(buckets)[0], column.width * depth])
        raise UnsupportedSource(f"column {column.name} ({column.kind}) cannot feed a DNN")

    def lookup(self, table: Any, ids: Any, combiner: str) -> Any:
        """safe_embedding_lookup_sparse: ids < 0 dropped, empty rows give zeros."""
        return self.tf.nn.safe_embedding_lookup_sparse(table, ids, None, combiner=combiner)

    def bucketize(self, column: Column) -> Any:
        tf = self.tf
        value = self.numeric(column)
        buckets = tf.raw_ops.Bucketize(input=value, boundaries=list(column.boundaries))
        return tf.cast(buckets, tf.int64)

    def sparse(self, key: str, dtype: str) -> Any:
        """Dense input -> SparseTensor without the ignored value ('' or -1)."""
        tf = self.tf
        value = self.raw(key)
        ignore = "" if dtype == "string" else tf.constant(-1, value.dtype)
        indices = tf.where(tf.not_equal(value, ignore))
        return tf.SparseTensor(indices, tf.gather_nd(value, indices),
                               tf.shape(value, out_type=tf.int64))

    def ids(self, column: Column) -> Any:
        """A categorical column's ids as a SparseTensor [batch, n] of int64."""
        tf = self.tf
        if column.kind == "crossed":
            inputs = [self.raw(p.key) if p.kind == "raw" else self.ids(p) for p in column.parts]
            return tf.sparse.cross_hashed(inputs, num_buckets=column.hash_buckets,
                                          hash_key=column.hash_key)
        if column.kind == "bucketized":
            buckets = self.bucketize(column)
            offsets = tf.range(column.width, dtype=tf.int64) * (len(column.boundaries) + 1)
            dense = buckets + offsets
            indices = tf.where(tf.ones_like(dense, dtype=tf.bool))
            return tf.SparseTensor(indices, tf.gather_nd(dense, indices),
                                   tf.shape(dense, out_type=tf.int64))
        sparse = self.sparse(column.key, column.dtype)
        values = sparse.values
        if column.kind == "hash_bucket":
            text = values if column.dtype == "string" else tf.strings.as_string(values)
            ids = tf.strings.to_hash_bucket_fast(text, column.hash_buckets)
        elif column.kind in ("vocabulary_list", "vocabulary_file"):
            ids = self.vocabulary_ids(values, column)
        else:  # identity
            values = tf.cast(values, tf.int64)
            inside = tf.logical_and(values >= 0, values < column.num_buckets)
            ids = tf.where(inside, values, tf.fill(tf.shape(values),
                                                   tf.constant(column.default_value, tf.int64)))
        return tf.SparseTensor(sparse.indices, ids, sparse.dense_shape)

    def vocabulary_ids(self, values: Any, column: Column) -> Any:
        """Position in the vocabulary by comparison with a constant (no table to
        initialize); out of vocabulary: a hash bucket after it, or the default id."""
        tf = self.tf
        if column.dtype == "string":
            vocabulary = tf.constant([bytes_of(str(v)) for v in column.vocabulary], tf.string)
        else:
            vocabulary = tf.constant([int(v) for v in column.vocabulary], tf.int64)
            values = tf.cast(values, tf.int64)
        equal = tf.equal(tf.expand_dims(values, -1), vocabulary)
        found = tf.reduce_any(equal, axis=-1)
        position = tf.argmax(tf.cast(equal, tf.int32), axis=-1, output_type=tf.int64)
        if column.num_oov:
            text = values if column.dtype == "string" else tf.strings.as_string(values)
            other = len(column.vocabulary) + tf.strings.to_hash_bucket_fast(text, column.num_oov)
        else:
            other = tf.fill(tf.shape(position), tf.constant(column.default_value, tf.int64))
        return tf.where(found, position, other)


def _head(tf: Any, plan: _Plan, logits: Any) -> dict[str, Any]:
    """The prediction dict of the canned heads, dtypes and shapes as the Estimator's."""
    recognized = plan.estimator
    if recognized.task == est.REGRESSOR:
        return {"predictions": tf.identity(logits, name="predictions")}
    outputs = {"logits": tf.identity(logits, name="logits")}
    if recognized.head == est.BINARY:
        outputs["logistic"] = tf.sigmoid(logits, name="logistic")
        scores = tf.concat([tf.zeros_like(logits), logits], axis=-1)
        classes = 2
    else:
        scores, classes = logits, recognized.n_classes or int(logits.shape[-1])
    outputs["probabilities"] = tf.nn.softmax(scores, name="probabilities")
    class_ids = tf.expand_dims(tf.argmax(scores, axis=-1, output_type=tf.int64), -1)
    outputs["class_ids"] = tf.identity(class_ids, name="class_ids")
    batch = tf.shape(logits)[0]
    all_ids = tf.tile(tf.expand_dims(tf.range(classes), 0), [batch, 1])
    outputs["all_class_ids"] = tf.identity(all_ids, name="all_class_ids")
    if plan.label_vocabulary:
        names = tf.constant([bytes_of(str(v)) for v in plan.label_vocabulary], tf.string)
        outputs["classes"] = tf.gather(names, class_ids, name="classes")
        outputs["all_classes"] = tf.gather(names, all_ids, name="all_classes")
    else:
        outputs["classes"] = tf.strings.as_string(class_ids, name="classes")
        outputs["all_classes"] = tf.strings.as_string(all_ids, name="all_classes")
    return outputs
