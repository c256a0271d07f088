"""Find and parse a graph file: `.meta`, GraphDef (`.pb` / `graph.pbtxt`), SavedModel.

Binary or text and the message type are told from the bytes, never from the
file name: old projects saved text GraphDefs as `.pb` and MetaGraphDefs under
any name. A small protobuf wire-format walker tells a truncated file from one
that is no protobuf at all before the real parser (whose errors say neither)
runs. Only protos are parsed; nothing is imported into a session.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterator

from inspectors import render
from inspectors.sources import paths
from inspectors.errors import CorruptCheckpoint, SourceNotFound, TfckptError, UnsupportedSource
from inspectors.formats.wire import WireError, read_varint as _varint

GRAPH_HINT = "Pass a .meta, graph.pbtxt, .pb or saved_model.pb file, or a SavedModel dir"
SAVED_MODEL, META_GRAPH, GRAPH_DEF = "SavedModel", "MetaGraphDef", "GraphDef"
BINARY, TEXT = "binary", "text"

# Top-level fields (number -> wire type) of the three messages; a file whose
# fields fall outside all of them is not one of ours. 0 = varint, 2 = bytes.
_SCHEMAS = {
    SAVED_MODEL: {1: 0, 2: 2},
    META_GRAPH: {1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2},
    GRAPH_DEF: {1: 2, 2: 2, 3: 0, 4: 2},
}
_TEXT_FIELDS = {
    "saved_model_schema_version": SAVED_MODEL, "meta_graphs": SAVED_MODEL,
    "meta_info_def": META_GRAPH, "graph_def": META_GRAPH, "saver_def": META_GRAPH,
    "collection_def": META_GRAPH, "signature_def": META_GRAPH,
    "asset_file_def": META_GRAPH, "object_graph_def": META_GRAPH,
    "node": GRAPH_DEF, "versions": GRAPH_DEF, "library": GRAPH_DEF, "version": GRAPH_DEF,
}
_FIRST_FIELD_RE = re.compile(rb"\A(?:\s|#[^\n]*\n)*([A-Za-z_][A-Za-z0-9_]*)\s*[:{<]")
_OP_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_>.\-]*$")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
MAX_EXPANDED_STRINGS = 1 << 20


@dataclass(frozen=True)
class GraphUnit:
    """One graph to inspect: a GraphDef and, when it came in one, its MetaGraphDef."""

    graph_def: Any  # tensorflow.GraphDef
    meta: Any | None  # tensorflow.MetaGraphDef


@dataclass(frozen=True)
class LoadedGraph:
    given: str
    path: str  # the file actually read (a directory resolves to a file in it)
    format: str  # SAVED_MODEL | META_GRAPH | GRAPH_DEF
    encoding: str  # BINARY | TEXT
    units: tuple[GraphUnit, ...]


def load(given: str) -> LoadedGraph:
    """Read and parse the graph file (or the graph inside a directory) `given` names."""
    path = graph_file(given)
    with open(path, "rb") as handle:
        data = handle.read()
    if not data:
        raise CorruptCheckpoint(f"{given} is empty (0 bytes). Copy the file again from its source")
    _refuse_other_artifacts(given, data)
    if _looks_like_text(data):
        kind, message = _parse_text(given, data)
        encoding = TEXT
    else:
        kind, message = _parse_binary(given, path, data)
        encoding = BINARY
    return LoadedGraph(given=given, path=path, format=kind, encoding=encoding,
                       units=_units(given, kind, message))


def graph_file(given: str) -> str:
    """The file to read: `given` itself, or the graph a directory holds."""
    path = os.path.expanduser(given)
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise SourceNotFound(f"no such file or directory: {given}.{paths._suggest(path)} {GRAPH_HINT}")
    for name in ("saved_model.pb", "saved_model.pbtxt", "graph.pbtxt"):
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    try:  # a model dir without graph.pbtxt: the newest checkpoint's .meta
        meta = paths.resolve(path).meta_graph
    except TfckptError:
        meta = None
    if meta:
        return meta
    raise SourceNotFound(f"no graph in {given} (it holds: {paths._describe_dir(path)}). {GRAPH_HINT}")


def _refuse_other_artifacts(given: str, data: bytes) -> None:
    """Checkpoints and Keras files are the likeliest wrong inputs: name them."""
    if len(data) >= 48 and data.endswith(paths.TABLE_MAGIC):
        what = "a checkpoint (V1 file or V2 .index)"
    elif data.startswith(paths.HDF5_MAGIC):
        what = "an HDF5 (Keras) file"
    else:
        return
    raise UnsupportedSource(f"{given} is not a TensorFlow graph: it is {what}. "
                            f"List its variables with `tfckpt ls {given}`")


def _looks_like_text(data: bytes) -> bool:
    # Binary protos carry tag and length bytes below 0x20 within their first
    # few bytes; text format never does (tab, newline and friends aside).
    if _CONTROL_BYTES.search(data[:65536]):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _parse_text(given: str, data: bytes) -> tuple[str, Any]:
    from google.protobuf import text_format

    first = _FIRST_FIELD_RE.match(data)
    kind = _TEXT_FIELDS.get(first.group(1).decode()) if first else None
    if kind is None:
        start = data.decode("utf-8").strip().splitlines()
        shown = start[0][:40] if start else ""
        raise UnsupportedSource(f"{given} is not a TensorFlow graph: a text file of {len(data)} "
                                f"bytes starting {shown!r}. {GRAPH_HINT}")
    message = _new_message(kind)
    try:
        text_format.Parse(data.decode("utf-8"), message, allow_unknown_field=True)
    except text_format.ParseError as error:
        raise CorruptCheckpoint(f"cannot parse {given} as a text {kind}: {error}. The file may be "
                                f"truncated or edited by hand") from error
    return kind, message


def _parse_binary(given: str, path: str, data: bytes) -> tuple[str, Any]:
    from google.protobuf.message import DecodeError

    fields = _top_fields(given, data)
    errors = []
    for kind in _binary_candidates(fields, path):
        message = _new_message(kind)
        try:
            message.ParseFromString(data)
        except DecodeError as error:
            errors.append(f"{kind}: {error}")
            continue
        if _plausible(kind, message):
            return kind, message
    if errors:
        raise CorruptCheckpoint(f"cannot parse {given} as a binary graph ({'; '.join(errors)}). "
                                f"The file may be truncated or damaged; copy it again")
    raise UnsupportedSource(f"{given} is not a TensorFlow graph: a protocol buffer of {len(data)} "
                            f"bytes that holds no graph nodes. {GRAPH_HINT}")


def _top_fields(given: str, data: bytes) -> list[tuple[int, int]]:
    """(field number, wire type) of every top-level field; errors name what is wrong."""
    allowed = {item for schema in _SCHEMAS.values() for item in schema.items()}
    fields: list[tuple[int, int]] = []
    try:
        for number, wire, _, offset in walk(data):
            if (number, wire) not in allowed:
                raise WireError("invalid", offset)
            fields.append((number, wire))
    except WireError as error:
        if error.kind == "truncated" and fields:
            raise CorruptCheckpoint(f"{given} is truncated: a protocol buffer field at byte "
                                    f"{error.offset} runs past the end of the file ({len(data)} "
                                    f"bytes). Copy the file again from its source") from error
        raise UnsupportedSource(f"{given} is not a TensorFlow graph: a binary file of {len(data)} "
                                f"bytes that is not a GraphDef, MetaGraphDef or SavedModel "
                                f"protocol buffer. {GRAPH_HINT}") from error
    return fields


def _binary_candidates(fields: list[tuple[int, int]], path: str) -> list[str]:
    """Message types the top-level fields allow, most likely first."""
    seen = set(fields)
    fits = [kind for kind, schema in _SCHEMAS.items() if all(schema.get(n) == w for n, w in seen)]
    node_count = sum(1 for number, _ in fields if number == 1)
    if GRAPH_DEF in fits and node_count > 1:  # only GraphDef repeats field 1
        fits.remove(GRAPH_DEF)
        fits.insert(0, GRAPH_DEF)
    if os.path.basename(path).endswith(".meta") and META_GRAPH in fits:
        fits.remove(META_GRAPH)
        fits.insert(0, META_GRAPH)
    return fits


def _plausible(kind: str, message: Any) -> bool:
    """A wrong message type can parse without error; real graphs have real op names."""
    if kind == SAVED_MODEL:
        graphs = [m.graph_def for m in message.meta_graphs]
    elif kind == META_GRAPH:
        graphs = [message.graph_def]
    else:
        graphs = [message]
    return bool(graphs) and all(
        _OP_NAME_RE.match(node.op) for graph in graphs for node in graph.node) and any(
        len(graph.node) or len(graph.library.function) for graph in graphs)


def _units(given: str, kind: str, message: Any) -> tuple[GraphUnit, ...]:
    if kind == SAVED_MODEL:
        if not message.meta_graphs:
            raise UnsupportedSource(f"SavedModel {given} holds no meta graph. {GRAPH_HINT}")
        return tuple(GraphUnit(m.graph_def, m) for m in message.meta_graphs)
    if kind == META_GRAPH:
        return (GraphUnit(message.graph_def, message),)
    return (GraphUnit(message, None),)


def _new_message(kind: str) -> Any:
    from inspectors.tf_loader import tensorflow

    tensorflow()  # quiet start-up before the generated proto modules load
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    types = {SAVED_MODEL: saved_model_pb2.SavedModel, META_GRAPH: meta_graph_pb2.MetaGraphDef,
             GRAPH_DEF: graph_pb2.GraphDef}
    return types[kind]()


def walk(data: bytes) -> Iterator[tuple[int, int, Any, int]]:
    """Protobuf wire format, one level deep: (field, wire type, value, offset).

    Value is an int for varints and fixed-width fields, bytes for
    length-delimited ones. Raises WireError on a bad tag or a short buffer.
    """
    offset, end = 0, len(data)
    while offset < end:
        start = offset
        tag, offset = _varint(data, offset)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireError("invalid", start)
        if wire == 0:
            value, offset = _varint(data, offset)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if offset + width > end:
                raise WireError("truncated", start)
            value, offset = int.from_bytes(data[offset:offset + width], "little"), offset + width
        elif wire == 2:
            length, offset = _varint(data, offset)
            if offset + length > end:
                raise WireError("truncated", start)
            value, offset = data[offset:offset + length], offset + length
        else:  # groups (3, 4) are unused by TensorFlow; 6 and 7 do not exist
            raise WireError("invalid", start)
        yield number, wire, value, start


# --- small readers of NodeDef fields, shared by the graph modules ----------

def node_name(tensor: str) -> str:
    """`^scope/op` or `scope/op:1` -> `scope/op`."""
    name = tensor[1:] if tensor.startswith("^") else tensor
    head, _, tail = name.rpartition(":")
    return head if head and tail.isdigit() else name


def data_inputs(node: Any) -> list[str]:
    """Inputs that carry tensors (control inputs `^x` left out)."""
    return [name for name in node.input if not name.startswith("^")]


def const_strings(node: Any | None) -> list[str]:
    """The string values of a Const node ([] for anything else); bytes that are not
    UTF-8 are kept losslessly (`render.text_of`)."""
    if node is None or node.op != "Const" or "value" not in node.attr:
        return []
    tensor = node.attr["value"].tensor
    values = [render.text_of(value) for value in tensor.string_val]
    size = _element_count(tensor.tensor_shape)
    # A Const may store one value for a whole tensor of identical elements; a
    # shape past any real key list is damage, not something to allocate.
    if values and size and len(values) < size <= MAX_EXPANDED_STRINGS:
        values += [values[-1]] * (size - len(values))
    return values


def dtype_name(enum: int) -> str:
    """`DT_FLOAT` (1) -> `float32`, the name users know from Python."""
    from inspectors.tf_loader import tensorflow

    try:
        return tensorflow().dtypes.as_dtype(enum).name
    except TypeError:
        return f"dtype({enum})"


def shape_of(shape: Any) -> tuple[int, ...] | None:
    """TensorShapeProto -> dims (-1 where unknown), or None for unknown rank."""
    if shape.unknown_rank:
        return None
    return tuple(dim.size for dim in shape.dim)


def _element_count(shape: Any) -> int | None:
    dims = shape_of(shape)
    if dims is None or any(d < 0 for d in dims):
        return None
    count = 1
    for dim in dims:
        count *= dim
    return count
