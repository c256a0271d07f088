"""Per-example shapes and value ranges of a graph's inputs, from the protos alone.

Old graphs often declare an input as `?`: a placeholder written before GraphDef
producer 22 says nothing with an empty `shape`, a DecodeCSV says nothing at all.
What the graph knows anyway, in the order it is trusted:

1. the node's own attributes: `shape` (a real one), `_output_shapes` (what the
   writer's shape inference saw), `output_shapes`;
2. what consumes it: the first MatMul's weight rows, a Conv2D kernel's input
   channels, a Reshape target;
3. for integer inputs, how large a value may be: the rows of the embedding table
   it is gathered from, a one_hot depth.

Every answer carries the reason, for `tfckpt graph` and for the notes of a
rebuild. TensorFlow-free: shapes of variables come from their `shape` attrs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from inspectors.graphs.io import data_inputs, node_name, shape_of

SCALAR_PLACEHOLDERS_FROM = 22  # before it, a Placeholder's empty shape meant "any shape"
_PLACEHOLDERS = frozenset({"Placeholder", "PlaceholderV2", "PlaceholderWithDefault"})
_VARIABLES = frozenset({"Variable", "VariableV2", "VarHandleOp"})
_PASS_THROUGH = frozenset({"Identity", "Cast", "Squeeze", "ExpandDims", "StopGradient",
                           "ReadVariableOp", "Switch", "Enter"})
_GATHERS = frozenset({"Gather", "GatherV2", "ResourceGather"})
_STRUCTURE_SEARCH = 6  # ops to look through between an input and what reveals its shape


@dataclass(frozen=True)
class InferredShape:
    """The full shape of one input tensor (batch first; -1 unknown) and why."""

    tensor: str
    shape: tuple[int, ...] | None
    why: str
    int_high: int | None = None  # exclusive upper bound of integer values, when known
    int_why: str = ""

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record["shape"] = None if self.shape is None else list(self.shape)
        return record


def infer(graph_def: Any, tensor: str, *, declared: tuple[int, ...] | None = None
          ) -> InferredShape:
    """Everything the protos say of `tensor`'s shape (batch first) and integer range."""
    nodes = {node.name: node for node in graph_def.node}
    users = consumers(graph_def)
    name, _, index = tensor.partition(":")
    node = nodes.get(name)
    shape, why = declared, "declared by the graph" if declared is not None else ""
    if node is not None and not _complete(shape):
        found, reason = attribute_shape(node, int(index or 0), producer=graph_def.versions.producer)
        shape, why = _better(shape, why, found, reason)
    if not _complete(shape):
        found, reason = consumer_shape(f"{name}:{index or 0}", nodes, users)
        shape, why = _better(shape, why, found, reason)
    high, high_why = int_bound(f"{name}:{index or 0}", nodes, users)
    return InferredShape(tensor, shape, why or "unknown", high, high_why)


def consumers(graph_def: Any) -> dict[str, list[tuple[Any, int]]]:
    """tensor (`x:0`) -> [(consumer, the input position it takes the tensor at)]."""
    found: dict[str, list[tuple[Any, int]]] = {}
    for node in graph_def.node:
        for position, name in enumerate(data_inputs(node)):
            found.setdefault(_tensor(name), []).append((node, position))
    return found


def attribute_shape(node: Any, index: int, *, producer: int) -> tuple[tuple[int, ...] | None, str]:
    """The shape a node's attributes give its output `index` (None: they do not say)."""
    if node.op in _PLACEHOLDERS and "shape" in node.attr:
        shape = shape_of(node.attr["shape"].shape)
        if shape is not None and (shape or producer >= SCALAR_PLACEHOLDERS_FROM):
            return shape, "the placeholder's shape attribute"
    for attr in ("_output_shapes", "output_shapes"):
        if attr in node.attr and index < len(node.attr[attr].list.shape):
            shape = shape_of(node.attr[attr].list.shape[index])
            if shape is not None:
                return shape, f"the node's {attr} attribute"
    return None, ""


def consumer_shape(tensor: str, nodes: dict[str, Any], users: dict[str, list[tuple[Any, int]]]
                   ) -> tuple[tuple[int, ...] | None, str]:
    """The shape the first revealing consumer needs (through casts and identities)."""
    frontier, seen = [tensor], set()
    for _ in range(_STRUCTURE_SEARCH):
        following = []
        for name in frontier:
            for user, position in users.get(name, []):
                if user.name in seen:
                    continue
                seen.add(user.name)
                found = _revealed(user, position, nodes)
                if found[0] is not None:
                    return found
                if user.op in _PASS_THROUGH and position == 0:
                    following.append(f"{user.name}:0")
        frontier = following
    return None, ""


def _revealed(user: Any, position: int, nodes: dict[str, Any]) -> tuple[tuple[int, ...] | None, str]:
    inputs = data_inputs(user)
    if user.op == "MatMul" and position == 0 and len(inputs) == 2:
        weights = variable_shape(nodes, inputs[1])
        if weights and len(weights) == 2:
            transposed = user.attr["transpose_b"].b if "transpose_b" in user.attr else False
            rows = weights[1] if transposed else weights[0]
            return (-1, rows), f"the rows of the weights {node_name(inputs[1])} it is multiplied by"
    if user.op in ("Conv2D", "DepthwiseConv2dNative") and position == 0 and len(inputs) == 2:
        kernel = variable_shape(nodes, inputs[1])
        if kernel and len(kernel) == 4:
            nchw = user.attr["data_format"].s == b"NCHW" if "data_format" in user.attr else False
            shape = (-1, kernel[2], -1, -1) if nchw else (-1, -1, -1, kernel[2])
            return shape, f"the input channels of the kernel {node_name(inputs[1])}"
    if user.op == "Reshape" and position == 0 and len(inputs) == 2:
        target = const_ints(nodes.get(node_name(inputs[1])))
        if target and target[0] == -1 and all(dim > 0 for dim in target[1:]):
            size = 1
            for dim in target[1:]:
                size *= dim
            return (-1, size), f"the Reshape to {list(target)} it goes through"
    return None, ""


def int_bound(tensor: str, nodes: dict[str, Any], users: dict[str, list[tuple[Any, int]]]
              ) -> tuple[int | None, str]:
    """An exclusive upper bound for integer values: the rows of the table they index."""
    frontier, seen = [tensor], set()
    for _ in range(_STRUCTURE_SEARCH):
        following = []
        for name in frontier:
            for user, position in users.get(name, []):
                if user.name in seen:
                    continue
                seen.add(user.name)
                inputs = data_inputs(user)
                if user.op in _GATHERS and position == 1:
                    table = variable_shape(nodes, inputs[0])
                    if table:
                        return table[0], f"the rows of the table {node_name(inputs[0])} it indexes"
                if user.op == "OneHot" and position == 0 and len(inputs) > 1:
                    depth = const_ints(nodes.get(node_name(inputs[1])))
                    if depth:
                        return depth[0], f"the depth of {user.name}"
                if user.op in _PASS_THROUGH or user.op in ("Reshape", "Transpose", "Unpack",
                                                           "Split", "SplitV", "Slice",
                                                           "StridedSlice", "Pack", "ConcatV2"):
                    following += [f"{user.name}:{i}" for i in range(max(1, _outputs(user)))]
        frontier = following
    return None, ""


def variable_shape(nodes: dict[str, Any], tensor: str) -> tuple[int, ...] | None:
    """The shape of the variable (or constant) behind `tensor`, through reads and identities."""
    node = nodes.get(node_name(tensor))
    for _ in range(_STRUCTURE_SEARCH):
        if node is None:
            return None
        if node.op in _VARIABLES and "shape" in node.attr:
            return shape_of(node.attr["shape"].shape)
        if node.op == "Const":
            return shape_of(node.attr["value"].tensor.tensor_shape)
        if node.op not in ("Identity", "ReadVariableOp", "Enter", "Switch") or not node.input:
            return None
        node = nodes.get(node_name(node.input[0]))
    return None


def const_ints(node: Any | None) -> tuple[int, ...]:
    """The integer values of a small int32/int64 Const, TensorFlow-free (() otherwise)."""
    import struct

    if node is None or node.op != "Const" or "value" not in node.attr:
        return ()
    tensor = node.attr["value"].tensor
    dims = shape_of(tensor.tensor_shape) or ()
    count = 1
    for dim in dims:
        count *= dim
    if tensor.dtype == 3:  # DT_INT32
        values = list(tensor.int_val) or list(struct.unpack(f"<{len(tensor.tensor_content) // 4}i",
                                                            tensor.tensor_content))
    elif tensor.dtype == 9:  # DT_INT64
        values = list(tensor.int64_val) or list(struct.unpack(
            f"<{len(tensor.tensor_content) // 8}q", tensor.tensor_content))
    else:
        return ()
    if values and len(values) < count <= 64:
        values += [values[-1]] * (count - len(values))
    return tuple(int(v) for v in values)


def _outputs(node: Any) -> int:
    if node.op in ("Unpack",) and "num" in node.attr:
        return node.attr["num"].i
    if node.op in ("Split", "SplitV") and "num_split" in node.attr:
        return node.attr["num_split"].i
    return 1


def _complete(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and all(dim > 0 for dim in shape[1:])


def _better(shape: tuple[int, ...] | None, why: str, found: tuple[int, ...] | None,
            reason: str) -> tuple[tuple[int, ...] | None, str]:
    """The more complete of two answers; a known rank beats an unknown one."""
    if found is None:
        return shape, why
    if shape is None or _known_dims(found) > _known_dims(shape):
        return found, reason
    return shape, why


def _known_dims(shape: tuple[int, ...]) -> int:
    return sum(1 for dim in shape[1:] if dim > 0)


def _tensor(name: str) -> str:
    head, _, tail = name.rpartition(":")
    return name if head and tail.isdigit() else name + ":0"
