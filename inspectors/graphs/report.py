"""`tfckpt graph`: what a TF1 graph file holds, from its protos alone.

Owns the report: who wrote the graph (version strings, GraphDef producer and
an estimate of the TF release from it), the op histogram including ops hidden
in function libraries, ops the running TensorFlow does not know, risky ops
(files, Python, network), collections, Saver, signatures, candidate inputs and
outputs, and the graph's variables held against the matching checkpoint.
Parsing lives in `graph_io`, roles in `graph_roles`, variables in
`graph_variables`. Nothing here imports a graph or runs one.
"""

from __future__ import annotations

import collections as _collections
import dataclasses
import datetime
import os
from dataclasses import dataclass
from typing import Any

from inspectors.graphs import io as graph_io
from inspectors.graphs import roles as graph_roles
from inspectors.graphs import signatures as graph_signatures
from inspectors.graphs import variables as graph_variables
from inspectors.errors import TfckptError
from inspectors.graphs.roles import InputCandidate, OutputCandidate
from inspectors.graphs.signatures import Signature
from inspectors.graphs.variables import CheckpointCheck, GraphVariable
from inspectors.sources.paths import Source

# Producer -> release, only where a real graph shows the pair (../shared/real-world)
# or the dates in tensorflow/core/public/version.h leave no doubt.
KNOWN_PRODUCERS = {11: "0.10/0.11", 15: "0.11", 19: "0.12", 21: "1.0", 24: "1.4", 38: "1.14"}
# From producer 30 (2019-05-09) on, the GraphDef version advances by one a day.
DATED_PRODUCER, DATED_FROM = 30, datetime.date(2019, 5, 9)

_READS, _WRITES = "reads files", "writes files"
_CHECKPOINT_OPS = frozenset({"Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2",
                             "RestoreSlice", "MergeV2Checkpoints"})
RISKY_OPS = {
    **{op: _READS for op in (
        "ReadFile", "MatchingFiles", "TextLineReader", "TextLineReaderV2", "TFRecordReader",
        "TFRecordReaderV2", "FixedLengthRecordReader", "FixedLengthRecordReaderV2",
        "WholeFileReader", "WholeFileReaderV2", "LMDBReader", "TextLineDataset",
        "TFRecordDataset", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2",
        "CSVDataset", "ExperimentalCSVDataset", "LMDBDataset", "ExperimentalLMDBDataset",
        "MatchingFilesDataset", "ExperimentalMatchingFilesDataset", "LoadDataset",
        "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "LoadAndRemapMatrix",
        "GenerateVocabRemapping", "Restore", "RestoreV2", "RestoreSlice")},
    **{op: _WRITES for op in (
        "WriteFile", "Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints",
        "CreateSummaryFileWriter", "WriteSummary", "WriteScalarSummary",
        "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary", "WriteGraphSummary",
        "WriteRawProtoSummary", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
        "SaveDataset", "SaveDatasetV2", "SnapshotDataset", "SnapshotDatasetV2",
        "CacheDataset", "CacheDatasetV2", "DebugIdentity", "DebugIdentityV2")},
    "ImmutableConst": "maps a file into memory",
    "PrintV2": "prints to a stream or a file",
    "SqlDataset": "queries a database", "ExperimentalSqlDataset": "queries a database",
    "PyFunc": "runs Python code", "PyFuncStateless": "runs Python code",
    "EagerPyFunc": "runs Python code",
    "RemoteCall": "runs a function on another task", "Rpc": "makes network calls",
    "TryRpc": "makes network calls", "RemoteFusedGraphExecute": "runs a graph elsewhere",
}
WHILE_OPS = frozenset({"LoopCond", "While", "StatelessWhile", "_While"})


@dataclass(frozen=True)
class Versions:
    tensorflow_version: str | None
    tensorflow_git_version: str | None
    producer: int | None  # None: the graph records no versions at all
    min_consumer: int | None
    written_by: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class OpCount:
    op: str
    count: int  # all nodes, graph and function bodies
    in_functions: int
    known: bool  # the running TensorFlow (or the graph's own library) defines it
    risk: str | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RiskyNode:
    node: str
    op: str
    reason: str
    function: str | None  # the library function whose body holds it
    saver: bool  # the Saver's own checkpoint op: expected in every trained graph

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    kind: str  # node_list | bytes_list | int64_list | float_list | any_list
    count: int
    values: tuple[str, ...]  # node names, variable names, numbers or Any type names

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "count": self.count,
                "values": list(self.values)}


@dataclass(frozen=True)
class SaverInfo:
    version: str
    sharded: bool
    filename_tensor: str
    save_tensor: str
    restore_op: str
    max_to_keep: int
    keep_every_n_hours: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class GraphReport:
    """One graph: a GraphDef, a MetaGraphDef, or one meta graph of a SavedModel."""

    tags: tuple[str, ...]
    versions: Versions
    nodes: int
    functions: int
    while_loops: int
    ops: tuple[OpCount, ...]
    risky: tuple[RiskyNode, ...]
    collections: tuple[CollectionInfo, ...]
    saver: SaverInfo | None
    signatures: tuple[Signature, ...]
    inputs: tuple[InputCandidate, ...]
    outputs: tuple[OutputCandidate, ...]
    variables: tuple[GraphVariable, ...]
    checkpoint: CheckpointCheck

    @property
    def unknown_ops(self) -> tuple[str, ...]:
        return tuple(op.op for op in self.ops if not op.known)

    def to_dict(self) -> dict:
        return {
            "tags": list(self.tags), "versions": self.versions.to_dict(), "nodes": self.nodes,
            "functions": self.functions, "while_loops": self.while_loops,
            "ops": [op.to_dict() for op in self.ops], "unknown_ops": list(self.unknown_ops),
            "risky_ops": [r.to_dict() for r in self.risky],
            "collections": [c.to_dict() for c in self.collections],
            "saver": self.saver.to_dict() if self.saver else None,
            "signatures": [s.to_dict() for s in self.signatures],
            "inputs": [i.to_dict() for i in self.inputs],
            "outputs": [o.to_dict() for o in self.outputs],
            "variables": [v.to_dict() for v in self.variables],
            "checkpoint": self.checkpoint.to_dict()}


@dataclass(frozen=True)
class GraphInspection:
    given: str
    path: str
    format: str  # SavedModel | MetaGraphDef | GraphDef
    encoding: str  # binary | text
    graphs: tuple[GraphReport, ...]

    def to_dict(self) -> dict:
        return {"file": self.path, "format": self.format, "encoding": self.encoding,
                "graphs": [g.to_dict() for g in self.graphs]}


def inspect_graph(given: str, *, checkpoint: str | None = None, top: int = 10) -> GraphInspection:
    """Parse the graph file `given` names and report on every graph in it."""
    loaded = graph_io.load(given)
    source, names, note = _checkpoint_names(loaded, checkpoint)
    reports = tuple(_report(unit, source=source, names=names, note=note, top=top)
                    for unit in loaded.units)
    return GraphInspection(given=given, path=loaded.path, format=loaded.format,
                           encoding=loaded.encoding, graphs=reports)


def _report(unit: graph_io.GraphUnit, *, source: Source | None, names: list[str] | None,
            note: str | None, top: int) -> GraphReport:
    graph_def, meta = unit.graph_def, unit.meta
    found_collections = collections_of(meta)
    found_signatures = graph_signatures.signatures(meta)
    expected = graph_variables.expected_keys(graph_def, meta)
    if not expected.keys and note is None:
        note = "the graph has no variables (a frozen graph?)"
    return GraphReport(
        tags=tuple(meta.meta_info_def.tags) if meta is not None else (),
        versions=versions_of(graph_def, meta), nodes=len(graph_def.node),
        functions=len(graph_def.library.function), while_loops=_while_loops(graph_def),
        ops=op_histogram(graph_def), risky=risky_nodes(graph_def, graph_variables.saver_scope(meta)),
        collections=found_collections, saver=saver_of(meta), signatures=found_signatures,
        inputs=graph_roles.input_candidates(graph_def, found_signatures),
        outputs=graph_roles.output_candidates(
            graph_def, found_signatures=found_signatures, top=top,
            collections={c.name: c.values for c in found_collections if c.kind == "node_list"}),
        variables=graph_variables.graph_variables(graph_def, expected),
        checkpoint=graph_variables.check(expected, source.path if source else None, names,
                                         note=note))


# --- versions ----------------------------------------------------------------

def versions_of(graph_def: Any, meta: Any | None) -> Versions:
    info = meta.meta_info_def if meta is not None else None
    version = (info.tensorflow_version or None) if info is not None else None
    git = (info.tensorflow_git_version or None) if info is not None else None
    has_versions = graph_def.HasField("versions")
    producer = graph_def.versions.producer if has_versions else None
    min_consumer = graph_def.versions.min_consumer if has_versions else None
    return Versions(version, git, producer, min_consumer, written_by(version, producer))


def written_by(version: str | None, producer: int | None) -> str:
    """Who wrote the graph: the recorded version, else an estimate from the producer."""
    if version:
        return f"TF {version}"
    if producer is None:
        return "unknown: the graph records no version (frozen or rewritten graphs often drop it)"
    return producer_estimate(producer)


def producer_estimate(producer: int) -> str:
    if producer in KNOWN_PRODUCERS:
        return f"approximately TF {KNOWN_PRODUCERS[producer]} (producer {producer})"
    if producer >= DATED_PRODUCER:
        day = DATED_FROM + datetime.timedelta(days=producer - DATED_PRODUCER)
        return (f"approximately a TF 1.14 or later build of {day:%Y-%m} (producer {producer}; "
                f"dated producers count days from 2019-05-09)")
    below = [p for p in KNOWN_PRODUCERS if p < producer]
    above = [p for p in KNOWN_PRODUCERS if p > producer]
    if not below:
        return f"approximately TF older than {KNOWN_PRODUCERS[min(above)]} (producer {producer})"
    return (f"approximately TF between {KNOWN_PRODUCERS[max(below)]} and "
            f"{KNOWN_PRODUCERS[min(above)]} (producer {producer})")


# --- ops ---------------------------------------------------------------------

def all_nodes(graph_def: Any) -> list[tuple[Any, str | None]]:
    """(node, function name or None) for the graph and every function body."""
    found = [(node, None) for node in graph_def.node]
    for function in graph_def.library.function:
        found += [(node, function.signature.name) for node in function.node_def]
    return found


def op_histogram(graph_def: Any) -> tuple[OpCount, ...]:
    from tensorflow.python.framework import op_def_registry

    total, inside = _collections.Counter(), _collections.Counter()
    for node, function in all_nodes(graph_def):
        total[node.op] += 1
        inside[node.op] += function is not None
    own = {function.signature.name for function in graph_def.library.function}
    counts = [OpCount(op, count, inside[op], op in own or op_def_registry.get(op) is not None,
                      RISKY_OPS.get(op)) for op, count in total.items()]
    return tuple(sorted(counts, key=lambda c: (-c.count, c.op)))


def risky_nodes(graph_def: Any, saver_scope: str) -> tuple[RiskyNode, ...]:
    found = []
    for node, function in all_nodes(graph_def):
        reason = RISKY_OPS.get(node.op)
        if reason:
            saver = (function is None and node.op in _CHECKPOINT_OPS
                     and node.name.startswith(saver_scope))
            found.append(RiskyNode(node.name, node.op, reason, function, saver))
    return tuple(sorted(found, key=lambda r: (r.saver, r.function or "", r.node)))


def _while_loops(graph_def: Any) -> int:
    return sum(1 for node, _ in all_nodes(graph_def) if node.op in WHILE_OPS)


# --- collections and saver ---------------------------------------------------

def collections_of(meta: Any | None) -> tuple[CollectionInfo, ...]:
    if meta is None:
        return ()
    return tuple(_collection(name, meta.collection_def[name]) for name in sorted(meta.collection_def))


def _collection(name: str, definition: Any) -> CollectionInfo:
    kind = definition.WhichOneof("kind") or "empty"
    if kind == "node_list":
        values = tuple(definition.node_list.value)
    elif kind == "bytes_list":
        values = _variable_names(definition.bytes_list.value) if "variables" in name else ()
        return CollectionInfo(name, kind, len(definition.bytes_list.value), values)
    elif kind in ("int64_list", "float_list"):
        values = tuple(str(v) for v in getattr(definition, kind).value)
    elif kind == "any_list":
        values = tuple(item.type_url.rsplit("/", 1)[-1] for item in definition.any_list.value)
    else:
        values = ()
    return CollectionInfo(name, kind, len(values), values)


def _variable_names(raw_values: Any) -> tuple[str, ...]:
    from google.protobuf.message import DecodeError
    from tensorflow.core.framework import variable_pb2

    names = []
    for raw in raw_values:
        definition = variable_pb2.VariableDef()
        try:
            definition.ParseFromString(raw)
        except DecodeError:
            return ()  # not VariableDefs after all: show the count only
        names.append(graph_io.node_name(definition.variable_name))
    return tuple(names)


def saver_of(meta: Any | None) -> SaverInfo | None:
    if meta is None or not meta.HasField("saver_def"):
        return None
    saver = meta.saver_def
    version = {0: "LEGACY", 1: "V1", 2: "V2"}.get(saver.version, str(saver.version))
    return SaverInfo(version, saver.sharded, saver.filename_tensor_name, saver.save_tensor_name,
                     saver.restore_op_name, saver.max_to_keep,
                     saver.keep_checkpoint_every_n_hours)


# --- the matching checkpoint -------------------------------------------------

def _checkpoint_names(loaded: graph_io.LoadedGraph, override: str | None
                      ) -> tuple[Source | None, list[str] | None, str | None]:
    """The checkpoint to hold the graph against, its keys, and a note on the choice.

    `--checkpoint` errors are the user's to see; a checkpoint we merely looked
    for and could not use becomes a note.
    """
    from inspectors.sources import paths
    from inspectors.formats.checkpoint import open_reader

    if override is not None:
        source = paths.resolve(override)
        return source, [v.name for v in open_reader(source).variables()], None
    where = _checkpoint_guess(loaded)
    if where is None:
        return None, None, None
    try:
        source = paths.resolve(where)
        return source, [v.name for v in open_reader(source).variables()], None
    except TfckptError as error:
        # The message's first sentence says what is missing; its advice is for `ls`.
        return None, None, str(error).split(". ")[0]


def _checkpoint_guess(loaded: graph_io.LoadedGraph) -> str | None:
    """X.meta -> prefix X; saved_model.pb -> its variables; a graph in a dir -> that dir."""
    from inspectors.sources import paths

    name, folder = os.path.basename(loaded.path), os.path.dirname(loaded.path) or "."
    if name.endswith(".meta"):
        return loaded.path
    if name.startswith("saved_model.pb") or loaded.format == graph_io.SAVED_MODEL:
        return folder
    if os.path.isfile(os.path.join(folder, paths.STATE_FILE)) or paths.scan_dir(folder):
        return folder
    return None
