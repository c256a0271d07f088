"""Training batch sizes baked into a graph: found, freed, or kept and fed in chunks.

A training graph knows its batch size B wherever TensorFlow could see it: a
placeholder declared `[64, 784]`, a `QueueDequeueMany` of `n = 100`, and then
every `tf.shape(x)` TF 1.x folded into a Const (`…/Shape = [100, 16]`), the
zeros of an unrolled RNN's state (`Fill([50, 128])`), Reshape targets. On the
proto, before import, `free` rewrites those: a placeholder's first dimension
becomes -1, a Reshape target's B becomes -1, and any other shape Const that
starts with B is computed from the batch the model is fed (`tf.shape(x)[0]`).
Whether that was right is proven by running (`rows_independent`): a freed graph
must give each row the same result whatever batch it came in. When it does not,
the rebuild keeps B and `predict_in_chunks` feeds exactly B rows at a time,
padding the last chunk and cutting the padding from the outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from inspectors.graphs.io import data_inputs, node_name
from inspectors.graphs.shapes import const_ints

_DT_INT32, _DT_INT64 = 3, 9
# (op, input position) where a 1-D integer tensor is a shape whose first entry is the batch.
_SHAPE_INPUTS = frozenset({("Reshape", 1), ("Fill", 0), ("Tile", 1), ("SparseToDense", 1),
                           ("SparseReshape", 1), ("SparseReshape", 2), ("Slice", 0), ("Slice", 2),
                           ("RandomUniform", 0), ("RandomStandardNormal", 0),
                           ("TruncatedNormal", 0), ("StridedSlice", 0), ("BroadcastTo", 1),
                           ("Cast", 0), ("GatherV2", 0), ("Gather", 0), ("Identity", 0),
                           ("Prod", 0), ("ConcatV2", 0), ("ConcatV2", 1), ("Equal", 0),
                           ("Equal", 1), ("SparseFillEmptyRows", 2)})
_DEQUEUE_MANY = frozenset({"QueueDequeueMany", "QueueDequeueManyV2", "QueueDequeueUpTo",
                           "QueueDequeueUpToV2"})
_PLACEHOLDERS = frozenset({"Placeholder", "PlaceholderV2", "PlaceholderWithDefault"})
BATCH_SCOPE = "tfckpt_batch"


@dataclass(frozen=True)
class Baked:
    """The training batch size and where the graph says it."""

    size: int
    where: str


def training_batch(graph_def: Any, feed_tensors: list[str]) -> Baked | None:
    """B from the feeds: a placeholder's declared first dimension, a batched dequeue's `n`."""
    nodes = {node.name: node for node in graph_def.node}
    for tensor in feed_tensors:
        node = nodes.get(node_name(tensor))
        if node is None:
            continue
        if node.op in _PLACEHOLDERS and "shape" in node.attr:
            dims = node.attr["shape"].shape.dim
            if len(dims) >= 1 and dims[0].size > 1:
                return Baked(dims[0].size, f"placeholder {node.name} declared [{dims[0].size}, …]")
        if node.op in _DEQUEUE_MANY and len(data_inputs(node)) > 1:
            count = const_ints(nodes.get(node_name(data_inputs(node)[1])))
            if count and count[0] > 0:
                return Baked(count[0], f"{node.name} dequeued {count[0]} rows at a time")
    return None


def free(graph_def: Any, *, batch: int, inputs: list[str], forward: set[str]) -> list[str]:
    """Rewrite what holds `batch` on the forward path (`forward`: node names the outputs
    need) to follow the fed batch; returns what was rewritten, for the notes."""
    nodes = {node.name: node for node in graph_def.node}
    users: dict[str, list[tuple[Any, int]]] = {}
    for node in graph_def.node:
        for position, name in enumerate(data_inputs(node)):
            users.setdefault(node_name(name), []).append((node, position))
    changed = [name for name in (node_name(t) for t in inputs) if _free_placeholder(nodes.get(name))]
    dynamic = _Dynamic(graph_def, node_name(inputs[0])) if inputs else None
    for node in list(graph_def.node):
        if node.op == "Const" and node.name in forward and dynamic is not None \
                and _batch_sized_splat(node, batch):
            dynamic.fill_in_place_of(node)  # a folded zeros_like / ones_like of a batch
            changed.append(node.name)
            continue
        if node.op != "Const" or node.name not in forward or node.attr["dtype"].type not in (
                _DT_INT32, _DT_INT64):
            continue
        values = const_ints(node)
        rank = len(node.attr["value"].tensor.tensor_shape.dim)
        consumers = [(u, p) for u, p in users.get(node.name, []) if u.name in forward]
        if not values or values[0] != batch or not consumers or rank > 1:
            continue
        if rank == 0:
            if all(u.op == "Pack" for u, _ in consumers) and dynamic is not None:
                dynamic.scalar_in_place_of(node)
                changed.append(node.name)
            continue
        if not all((u.op, p) in _SHAPE_INPUTS for u, p in consumers):
            continue
        if all(u.op == "Reshape" for u, _ in consumers) and -1 not in values:
            _set_ints(node, (-1,) + tuple(values[1:]))
            changed.append(node.name)
        elif dynamic is not None:
            dynamic.shape_in_place_of(node, values)
            changed.append(node.name)
    return changed


def _batch_sized_splat(node: Any, batch: int) -> bool:
    """A Const of shape [batch, ...] holding one value everywhere (how TF stores a fill)."""
    tensor = node.attr["value"].tensor
    dims = [dim.size for dim in tensor.tensor_shape.dim]
    if len(dims) < 1 or dims[0] != batch or tensor.tensor_content or batch < 2:
        return False
    held = [len(getattr(tensor, field)) for field in _VALUE_FIELDS]
    return sum(held) == 1


_VALUE_FIELDS = ("float_val", "double_val", "int_val", "int64_val", "bool_val", "half_val")


def _free_placeholder(node: Any | None) -> bool:
    if node is None or node.op not in _PLACEHOLDERS or "shape" not in node.attr:
        return False
    dims = node.attr["shape"].shape.dim
    if not dims or dims[0].size <= 1:
        return False
    dims[0].size = -1
    return True


class _Dynamic:
    """`tf.shape(x)[0]` as NodeDefs, made once per dtype, for shape Consts to start with."""

    def __init__(self, graph_def: Any, source: str):
        self.graph_def = graph_def
        self.source = source
        self.made: dict[int, str] = {}

    def batch(self, dtype: int) -> str:
        if dtype not in self.made:
            suffix = "" if dtype == _DT_INT32 else "_64"
            shape = self._node(f"{BATCH_SCOPE}/shape{suffix}", "Shape", [self.source])
            shape.attr["out_type"].type = dtype
            shape.attr["T"].type = self._dtype_of(self.source)
            begin, end, step = (self._const(f"{BATCH_SCOPE}/{n}{suffix}", [v], dtype)
                                for n, v in (("begin", 0), ("end", 1), ("step", 1)))
            size = self._node(f"{BATCH_SCOPE}/size{suffix}", "StridedSlice",
                              [shape.name, begin.name, end.name, step.name])
            size.attr["T"].type = dtype
            size.attr["Index"].type = dtype
            for mask in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask"):
                size.attr[mask].i = 0
            size.attr["shrink_axis_mask"].i = 1
            self.made[dtype] = size.name
        return self.made[dtype]

    def scalar_in_place_of(self, node: Any) -> None:
        dtype = node.attr["dtype"].type
        self._become(node, "Identity", [self.batch(dtype)], dtype)

    def shape_in_place_of(self, node: Any, values: tuple[int, ...]) -> None:
        dtype = node.attr["dtype"].type
        batch = self.batch(dtype)
        head = self._node(f"{node.name}/{BATCH_SCOPE}_head", "Pack", [batch])
        head.attr["T"].type = dtype
        head.attr["N"].i = 1
        head.attr["axis"].i = 0
        rest = self._const(f"{node.name}/{BATCH_SCOPE}_rest", list(values[1:]), dtype)
        axis = self._const(f"{node.name}/{BATCH_SCOPE}_axis", 0, _DT_INT32)
        self._become(node, "ConcatV2", [head.name, rest.name, axis.name], dtype)
        node.attr["N"].i = 2
        node.attr["Tidx"].type = _DT_INT32

    def fill_in_place_of(self, node: Any) -> None:
        tensor = node.attr["value"].tensor
        dtype = tensor.dtype
        dims = self._node(f"{node.name}/{BATCH_SCOPE}_dims", "Const", [])
        dims.attr["dtype"].type = _DT_INT32
        _set_ints(dims, [dim.size for dim in tensor.tensor_shape.dim], dtype=_DT_INT32)
        self.shape_in_place_of(dims, tuple(dim.size for dim in tensor.tensor_shape.dim))
        value = self._node(f"{node.name}/{BATCH_SCOPE}_value", "Const", [])
        value.attr["dtype"].type = dtype
        scalar = value.attr["value"].tensor
        scalar.CopyFrom(tensor)
        scalar.tensor_shape.Clear()
        self._become(node, "Fill", [dims.name, value.name], dtype)
        node.attr["index_type"].type = _DT_INT32

    def _become(self, node: Any, op: str, inputs: list[str], dtype: int) -> None:
        controls = [name for name in node.input if name.startswith("^")]
        node.op = op
        del node.input[:]
        node.input.extend(inputs + controls)
        for attr in list(node.attr):
            if not attr.startswith("_"):
                del node.attr[attr]
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
        node.attr["T"].type = dtype

    def _node(self, name: str, op: str, inputs: list[str]) -> Any:
        node = self.graph_def.node.add()
        node.name, node.op = name, op
        node.input.extend(inputs)
        return node

    def _const(self, name: str, value: Any, dtype: int) -> Any:
        node = self._node(name, "Const", [])
        node.attr["dtype"].type = dtype
        _set_ints(node, value, dtype=dtype)
        return node

    def _dtype_of(self, name: str) -> int:
        for node in self.graph_def.node:
            if node.name == name:
                return node.attr["dtype"].type
        return 1


def _set_ints(node: Any, value: Any, *, dtype: int | None = None) -> None:
    from inspectors.tf_loader import tensorflow

    tf = tensorflow()
    dtype = dtype or node.attr["dtype"].type
    numpy_type = np.int32 if dtype == _DT_INT32 else np.int64
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(value, dtype=numpy_type)))


# --- running a graph with a fixed batch --------------------------------------

def predict_in_chunks(run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                      feeds: Mapping[str, np.ndarray], batch: int) -> dict[str, np.ndarray]:
    """`run` on chunks of exactly `batch` rows (the last padded with its own last row);
    outputs concatenated, with the padding's rows cut (an output of `batch * k` rows per
    chunk, as an unrolled RNN's `[batch * steps, classes]`, keeps k rows per input row)."""
    rows = len(next(iter(feeds.values()))) if feeds else 0
    pieces: dict[str, list[np.ndarray]] = {}
    for start in range(0, max(rows, 1), batch):
        chunk = {name: _padded(np.asarray(values)[start:start + batch], batch)
                 for name, values in feeds.items()}
        real = min(batch, rows - start)
        for key, value in run(chunk).items():
            value = np.asarray(value)
            per_row = len(value) // batch if value.ndim and len(value) % batch == 0 else None
            pieces.setdefault(key, []).append(value[:real * per_row] if per_row else value)
    return {key: np.concatenate(parts) if parts[0].ndim else parts[0]
            for key, parts in pieces.items()}


def _padded(values: np.ndarray, batch: int) -> np.ndarray:
    if len(values) == batch or not len(values):
        return values
    padding = np.repeat(values[-1:], batch - len(values), axis=0)
    return np.concatenate([values, padding])


def rows_independent(run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                     feeds: Mapping[str, np.ndarray], *, atol: float = 1e-5) -> str | None:
    """None when each row's outputs are the same alone as in the whole batch; else why not
    (an error running a batch other than the training one counts)."""
    rows = len(next(iter(feeds.values())))
    try:
        whole = run(dict(feeds))
        part = run({name: np.asarray(values)[:2] for name, values in feeds.items()})
    except Exception as error:  # noqa: BLE001 - any failure means "not freed"
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    for key, value in whole.items():
        value, small = np.asarray(value), np.asarray(part[key])
        if not value.ndim or len(value) % rows or len(small) != 2 * (len(value) // rows):
            return f"output {key} has {len(value) if value.ndim else 0} rows for {rows} inputs"
        if value.dtype.kind in "fc":
            same = np.allclose(value[:len(small)], small, atol=atol, rtol=1e-5, equal_nan=True)
        else:
            same = np.array_equal(value[:len(small)], small)
        if not same:
            return f"output {key} of a row depends on the other rows of its batch"
    return None
