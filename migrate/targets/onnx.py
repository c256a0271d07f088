"""InferenceGraph -> ONNX model, through tf2onnx, or a refusal naming what ONNX lacks.

The frozen graph (targets/frozen.py: placeholders named after the features,
one node per prediction key) is what tf2onnx converts; its inputs and outputs
lose TensorFlow's `:0`, so the ONNX model is fed `age`, `color`, ... and
answers `logits`, `classes`, ... like the SavedModel's signature.

Vocabulary lookups (`LookupTableFindV2` over a table the session filled) become
`ai.onnx.ml` `CategoryMapper` nodes: tf2onnx needs each table's keys and values,
which are read here from the live session. `Bucketize` (bucketized columns), which
tf2onnx does not convert, is written here as standard ops: the count of boundaries
at or below each value. Ops that have no ONNX counterpart
(e.g. `StringToHashBucketFast`, TF's FarmHash fingerprint of hashed feature
columns) are left by tf2onnx as foreign nodes or moved to a custom domain that
plain ONNX Runtime cannot run; such a model is refused, naming those ops, before
anything is written.

tf2onnx 1.17 is used as released: its logging (one line per unsupported node,
tracebacks of failed nodes) is silenced here because the refusal says the same
in one line. This module is the one place that knows tf2onnx's API.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

from inspectors.errors import UnsupportedSource
from inspectors.tf_loader import tensorflow
from migrate.rebuild.inference import InferenceGraph
from migrate.targets import frozen as freeze_module

OPSET = 17  # ai.onnx opset: ONNX Runtime 1.20+ runs it; tf2onnx 1.17 converts to it
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
# What in a TF 1.x model uses the ops ONNX lacks most often, for the refusal.
WHAT_USES = {"StringToHashBucketFast": "hashed feature columns",
             "StringToHashBucketStrong": "hashed feature columns",
             "StringToHashBucket": "hashed feature columns",
             "SparseCross": "crossed feature columns",
             "SparseCrossHashed": "crossed feature columns"}
_TABLE_OPS = ("HashTableV2", "HashTable", "MutableHashTableV2", "MutableHashTable")


def onnx_model(inference: InferenceGraph, *, name: str) -> Any:
    """The ONNX ModelProto of `inference`, or UnsupportedSource naming the ops ONNX lacks."""
    graph_def, outputs = freeze_module.frozen_graph_def(inference)
    _name_tables(graph_def)
    fetches = {key: _fetch_node(graph_def, key, node, dtype=inference.outputs[key].dtype)
               for key, node in outputs.items()}
    inputs = [f"{key}:0" for key in inference.inputs]
    renames = {**{f"{key}:0": key for key in inference.inputs},
               **{f"{node}:0": key for key, node in fetches.items()}}
    tables = lookup_tables(inference)
    try:
        model = _convert(graph_def, inputs=inputs, renames=renames, tables=tables, name=name,
                         outputs=[f"{node}:0" for node in fetches.values()])
    except Exception as error:  # tf2onnx raises ValueError, AssertionError, KeyError, ...
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UnsupportedSource(f"tf2onnx cannot convert {name}: {first}. Export a SavedModel "
                                f"instead") from None
    foreign = foreign_ops(model)
    if foreign:
        named = ", ".join(f"{op} ({WHAT_USES[op]})" if op in WHAT_USES else op for op in foreign)
        raise UnsupportedSource(f"{name} cannot be written as ONNX: ONNX has no op for {named}. "
                                f"Export a SavedModel instead")
    return model


def _convert(graph_def: Any, *, inputs: list[str], outputs: list[str], renames: dict[str, str],
             tables: dict[bytes, tuple[Any, Any]], name: str) -> Any:
    tf = tensorflow()
    from tf2onnx import optimizer, tf_loader, tfonnx

    with _quiet_tf2onnx():
        # Grappler folds what freezing left constant (conds over initialized variables,
        # shape arithmetic) and prunes the table initializers no output needs. tf2onnx
        # calls it inside a graph (export_meta_graph refuses eager mode), and so do we.
        with tf.Graph().as_default():
            optimized = tf_loader.tf_optimize(inputs, outputs, graph_def)
        with tf.Graph().as_default() as graph:
            tf.compat.v1.import_graph_def(optimized, name="")
            converted = tfonnx.process_tf_graph(
                graph, continue_on_error=True, opset=OPSET, input_names=inputs,
                output_names=outputs, tensors_to_rename=renames, initialized_tables=tables,
                custom_op_handlers={"Bucketize": (_bucketize, [])})
        converted = optimizer.optimize_graph(converted)
        return converted.make_model(f"tfckpt export of {name}")


def _bucketize(ctx: Any, node: Any, name: str, args: Any) -> None:
    """TF's Bucketize in ONNX ops: the index of a value's bucket is how many boundaries are
    <= it (TF's std::upper_bound over float boundaries). TF compares in float, or in double
    for a double input (C++'s promotion), so the value is cast the same way first."""
    import numpy as np
    from onnx import TensorProto
    from tf2onnx import utils
    from tf2onnx.graph_builder import GraphBuilder

    boundaries = [float(b) for b in node.get_attr_value("boundaries")]
    value = node.input[0]
    kind = TensorProto.DOUBLE if ctx.get_dtype(value) == TensorProto.DOUBLE else TensorProto.FLOAT
    if ctx.get_dtype(value) != kind:
        value = ctx.make_node("Cast", [value], attr={"to": kind}).output[0]
    bounds = np.array(boundaries, np.float32).astype(np.float64 if kind == TensorProto.DOUBLE
                                                     else np.float32)
    limits = ctx.make_const(utils.make_name(f"{name}/boundaries"), bounds).output[0]
    column = GraphBuilder(ctx).make_unsqueeze({"data": value, "axes": [-1]})
    at_or_above = ctx.make_node("GreaterOrEqual", [column, limits]).output[0]
    counted = ctx.make_node("Cast", [at_or_above], attr={"to": TensorProto.INT32}).output[0]
    last = ctx.make_const(utils.make_name(f"{name}/axis"), np.array([-1], np.int64)).output[0]
    for attribute in list(node.attr):
        del node.attr[attribute]
    node.type = "ReduceSum"
    node.domain = ""
    ctx.replace_inputs(node, [counted, last])
    node.set_attr("keepdims", 0)


def lookup_tables(inference: InferenceGraph) -> dict[bytes, tuple[Any, Any]]:
    """shared_name -> (keys, values) of every table the session holds, read from it."""
    tf = tensorflow()
    tables = {}
    for op in inference.graph.get_operations():
        if op.type not in _TABLE_OPS:
            continue
        shared = op.get_attr("shared_name") or op.name.encode()
        key_dtype, value_dtype = op.get_attr("key_dtype"), op.get_attr("value_dtype")
        with inference.graph.as_default():
            handle = op.outputs[0]
            if op.type in ("HashTable", "MutableHashTable"):  # ref-typed TF 1.x tables
                exported = tf.raw_ops.LookupTableExport(table_handle=handle, Tkeys=key_dtype,
                                                        Tvalues=value_dtype)
            else:
                exported = tf.raw_ops.LookupTableExportV2(table_handle=handle, Tkeys=key_dtype,
                                                          Tvalues=value_dtype)
        keys, values = inference.session.run(list(exported))
        tables[shared] = (keys, values)
    return tables


def _fetch_node(graph_def: Any, key: str, node: str, *, dtype: Any) -> str:
    """An Identity of the output node, fetched instead of it: tf2onnx loses the name of
    an output whose op it replaces by several (e.g. `AsString` as the output itself)."""
    fetch = graph_def.node.add()
    fetch.name = f"tfckpt_onnx_output/{key}"
    fetch.op = "Identity"
    fetch.input.append(node)
    fetch.attr["T"].type = dtype.base_dtype.as_datatype_enum
    return fetch.name


def _name_tables(graph_def: Any) -> None:
    """tf2onnx finds a table's contents by its shared name; a table without one (TF shares
    it by node name then) gets its node name, the key `lookup_tables` uses too."""
    for node in graph_def.node:
        if node.op in _TABLE_OPS and not node.attr["shared_name"].s:
            node.attr["shared_name"].s = node.name.encode()


def foreign_ops(model: Any) -> list[str]:
    """Op types in `model` (subgraphs included) that plain ONNX Runtime cannot run: a
    custom domain, or an op the ONNX schemas do not define (a node tf2onnx left as TF's)."""
    import onnx

    found = set()
    for node in _nodes(model.graph):
        domain = node.domain or ""
        if domain not in STANDARD_DOMAINS or not onnx.defs.has(node.op_type, domain):
            found.add(node.op_type)
    return sorted(found)


def _nodes(graph: Any) -> Iterator[Any]:
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _nodes(attribute.g)
            for subgraph in attribute.graphs:
                yield from _nodes(subgraph)


@contextlib.contextmanager
def _quiet_tf2onnx() -> Iterator[None]:
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
