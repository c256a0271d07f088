"""The variables of a graph, the checkpoint keys it expects, and how they meet a checkpoint.

The most reliable record of the keys is the Saver's own save op: its
`tensor_names` Const lists every key, in the order of the tensors it saves, so
each key maps back to the variable node that feeds it (partitioned variables
`x/part_N` all save under `x`). Graphs without a save op fall back to the
`variables` collection (VariableDef.save_slice_info_def.full_name), then to the
variable nodes themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from inspectors.graphs.io import const_strings, data_inputs, dtype_name, node_name, shape_of

VARIABLE_OPS = frozenset({"Variable", "VariableV2", "VarHandleOp", "AutoReloadVariable"})
# Index of the first saved tensor among each save op's inputs; input 1 is
# always `tensor_names`.
SAVE_OPS = {"Save": 2, "SaveSlices": 3, "SaveV2": 3}
# Ops between a variable and the save op that reads it.
_PASS_THROUGH = frozenset({"Identity", "ReadVariableOp", "Enter", "RefIdentity"})
_PART_RE = re.compile(r"/part_\d+$")
DEFAULT_SAVER_SCOPE = "save/"


@dataclass(frozen=True)
class GraphVariable:
    """A variable node and the checkpoint key the graph saves it under (None: not saved)."""

    node: str
    op: str
    dtype: str
    shape: tuple[int, ...] | None
    key: str | None

    def to_dict(self) -> dict:
        return {"node": self.node, "op": self.op, "dtype": self.dtype,
                "shape": None if self.shape is None else list(self.shape), "key": self.key}


@dataclass(frozen=True)
class ExpectedKeys:
    """The checkpoint keys a graph expects and where that list came from."""

    keys: tuple[str, ...]
    origin: str  # "saver" | "collection" | "nodes" | "none"
    by_node: dict[str, str]  # variable node -> key


@dataclass(frozen=True)
class CheckpointCheck:
    """The graph's expected keys held against one checkpoint."""

    checkpoint: str | None
    expected_from: str
    expected: int
    missing: tuple[str, ...]  # the graph expects them, the checkpoint lacks them
    extra: tuple[str, ...]  # the checkpoint has them, the graph does not save them
    note: str | None = None

    @property
    def checked(self) -> bool:
        return self.checkpoint is not None

    def to_dict(self) -> dict:
        return {"checkpoint": self.checkpoint, "checked": self.checked,
                "expected_from": self.expected_from, "expected": self.expected,
                "missing": list(self.missing), "extra": list(self.extra),
                "missing_count": len(self.missing), "extra_count": len(self.extra),
                "note": self.note}


def saver_scope(meta: Any | None) -> str:
    """`save/` for the default Saver; else the scope of saver_def's save tensor."""
    if meta is not None and meta.HasField("saver_def") and meta.saver_def.save_tensor_name:
        name = node_name(meta.saver_def.save_tensor_name)
        if "/" in name:
            return name.rsplit("/", 1)[0] + "/"
    return DEFAULT_SAVER_SCOPE


def expected_keys(graph_def: Any, meta: Any | None) -> ExpectedKeys:
    nodes = {node.name: node for node in graph_def.node}
    saved = _keys_from_saver(nodes, saver_scope(meta))
    if saved is not None:
        return ExpectedKeys(tuple(sorted({key for key, _ in saved})), "saver",
                            {node: key for key, node in saved if node})
    collected = _keys_from_collections(meta)
    if collected:
        return ExpectedKeys(tuple(sorted(set(collected.values()))), "collection", collected)
    from_nodes = {n.name: _PART_RE.sub("", n.name) for n in graph_def.node if n.op in VARIABLE_OPS}
    if from_nodes:
        return ExpectedKeys(tuple(sorted(set(from_nodes.values()))), "nodes", from_nodes)
    return ExpectedKeys((), "none", {})


def graph_variables(graph_def: Any, expected: ExpectedKeys) -> tuple[GraphVariable, ...]:
    found = []
    for node in graph_def.node:
        if node.op not in VARIABLE_OPS:
            continue
        dtype = node.attr["dtype"].type if "dtype" in node.attr else 0
        shape = shape_of(node.attr["shape"].shape) if "shape" in node.attr else None
        found.append(GraphVariable(node=node.name, op=node.op, dtype=dtype_name(dtype),
                                   shape=shape, key=expected.by_node.get(node.name)))
    return tuple(sorted(found, key=lambda v: v.node))


def check(expected: ExpectedKeys, checkpoint: str | None, names: list[str] | None, *,
          note: str | None = None) -> CheckpointCheck:
    if checkpoint is None or names is None:
        return CheckpointCheck(None, expected.origin, len(expected.keys), (), (), note)
    want, have = set(expected.keys), set(names)
    return CheckpointCheck(checkpoint, expected.origin, len(want), tuple(sorted(want - have)),
                           tuple(sorted(have - want)), note)


def _keys_from_saver(nodes: dict[str, Any], scope: str) -> list[tuple[str, str | None]] | None:
    """(key, variable node or None) for every tensor the save ops in `scope` write."""
    save_ops = [n for n in nodes.values() if n.op in SAVE_OPS and n.name.startswith(scope)]
    if not save_ops:
        return None
    saved = []
    for op in save_ops:
        tensors = data_inputs(op)
        names = const_strings(through_identity(nodes, tensors[1])) if len(tensors) > 1 else []
        saved += [(key, _variable_behind(nodes, tensor))
                  for key, tensor in zip(names, tensors[SAVE_OPS[op.op]:])]
    return saved


def through_identity(nodes: dict[str, Any], tensor: str) -> Any | None:
    node = nodes.get(node_name(tensor))
    for _ in range(8):
        if node is None or node.op != "Identity" or not node.input:
            return node
        node = nodes.get(node_name(node.input[0]))
    return node


def _variable_behind(nodes: dict[str, Any], tensor: str) -> str | None:
    """The variable node a saved tensor reads, through Identity / ReadVariableOp."""
    node = nodes.get(node_name(tensor))
    for _ in range(8):
        if node is None:
            return None
        if node.op in VARIABLE_OPS:
            return node.name
        if node.op not in _PASS_THROUGH or not node.input:
            return None
        node = nodes.get(node_name(node.input[0]))
    return None


def _keys_from_collections(meta: Any | None) -> dict[str, str]:
    if meta is None:
        return {}
    from tensorflow.core.framework import variable_pb2
    from google.protobuf.message import DecodeError

    for name in ("variables", "trainable_variables"):
        if name not in meta.collection_def:
            continue
        found = {}
        for raw in meta.collection_def[name].bytes_list.value:
            definition = variable_pb2.VariableDef()
            try:
                definition.ParseFromString(raw)
            except DecodeError:
                continue
            node = node_name(definition.variable_name)
            found[node] = definition.save_slice_info_def.full_name or node
        if found:
            return found
    return {}
