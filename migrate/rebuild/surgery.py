"""Training graph -> inference graph, on the GraphDef proto, before anything is imported.

The steps `metagraph` runs, each a small function over NodeDefs:

- `find_feeds`: where data enters the model — queue dequeues, `IteratorGetNext`,
  `ParseExample*`, `DecodeCSV`, placeholders, and root-scope `Const`s holding the
  training data (contrib.learn tutorials fed numpy arrays that way) — one `Feed`
  per tensor, named after its feature key where the graph says it.
- `to_inference`: dropout bypassed, batch norm on its moving statistics,
  learning-phase placeholders fixed to false.
- `head_outputs` / `guess_outputs`: the prediction tensors, by canned-head
  names or by the inspector's ranked candidates.
- `prune`: only what the outputs (and the kept variables' initializers) need.

Nothing here runs a graph; TensorFlow is used only for its op registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from inspectors.graphs import shapes as graph_shapes
from inspectors.graphs.io import data_inputs, node_name
from inspectors.graphs.roles import is_bookkeeping
from inspectors.graphs.variables import VARIABLE_OPS

# --- graph helpers -------------------------------------------------------------

_PIPELINE_OPS = frozenset({
    "QueueDequeue", "QueueDequeueV2", "QueueDequeueMany", "QueueDequeueManyV2",
    "QueueDequeueUpTo", "QueueDequeueUpToV2", "IteratorGetNext", "IteratorGetNextSync",
    "ParseExample", "ParseExampleV2", "ParseSingleExample", "DecodeCSV"})
_BATCHED_DEQUEUES = frozenset({"QueueDequeueMany", "QueueDequeueManyV2", "QueueDequeueUpTo",
                               "QueueDequeueUpToV2"})
_PLACEHOLDER_OPS = frozenset({"Placeholder", "PlaceholderV2", "PlaceholderWithDefault"})
_RANDOM_OPS = frozenset({"RandomUniform", "RandomUniformInt", "RandomStandardNormal",
                         "StatelessRandomUniform", "StatelessRandomUniformV2",
                         "StatelessRandomUniformFullInt", "StatelessRandomUniformFullIntV2"})
# The op that applies a dropout mask: x*mask, or select(keep, x, 0).
_MASK_OPS = frozenset({"Mul", "Select", "SelectV2"})
_SCALE_OPS = frozenset({"Mul", "RealDiv", "Div", "TrueDiv"})
_FUSED_BATCH_NORM = frozenset({"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"})
# Bool placeholders that switch Keras / tf.layers models between training and inference.
_LEARNING_PHASE_RE = re.compile(r"(?:^|/)(?:keras_learning_phase|training|is_training|is_train|"
                                r"phase_train|train_phase|train_mode|istrain)(?:_\d+)?$",
                                re.IGNORECASE)
# Scopes feature columns put their per-feature ops in.
_COLUMN_SCOPES = ("input_layer", "linear_model", "input_from_feature_columns",
                  "weighted_sum_from_feature_columns")
_COLUMN_SUFFIXES = ("_embedding", "_indicator", "_bucketized", "_hash_bucket",
                    "_hashed", "_lookup", "_weighted_by")
# contrib.learn / tf.estimator linear weights: linear/<key>/weight, linear/linear_model/<key>/weights
_LINEAR_WEIGHT_RE = re.compile(r"(?:^|/)linear(?:/linear_model)?/(?P<key>[^/]+)/weights?"
                               r"(?:/part_\d+)?(?:/read)?$")


def tensor_name(name: str) -> str:
    """`x` -> `x:0`; `x:1` stays."""
    name = name.lstrip("^")
    head, _, tail = name.rpartition(":")
    return name if head and tail.isdigit() else name + ":0"


def nodes_of(graph_def: Any) -> dict[str, Any]:
    return {node.name: node for node in graph_def.node}


def consumers_of(graph_def: Any) -> dict[str, list[tuple[Any, str]]]:
    """tensor name (`x:0`) -> [(consumer node, the input string)], data edges only."""
    found: dict[str, list[tuple[Any, str]]] = {}
    for node in graph_def.node:
        for name in data_inputs(node):
            found.setdefault(tensor_name(name), []).append((node, name))
    return found


def rewire(graph_def: Any, mapping: dict[str, str]) -> None:
    """Point every data input that reads a tensor in `mapping` at its replacement."""
    if not mapping:
        return
    for node in graph_def.node:
        for index, name in enumerate(node.input):
            if not name.startswith("^") and tensor_name(name) in mapping:
                node.input[index] = mapping[tensor_name(name)]


def ancestors(nodes: dict[str, Any], roots: Iterable[str], *, control: bool = True) -> set[str]:
    """Node names `roots` depend on (themselves included)."""
    seen: set[str] = set()
    stack = [node_name(r) for r in roots]
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        inputs = nodes[name].input if control else data_inputs(nodes[name])
        stack.extend(node_name(i) for i in inputs)
    return seen


def descendants(graph_def: Any, roots: Iterable[str], *, through_shape: bool = True) -> set[str]:
    """Node names that depend on `roots` through data edges (roots included); with
    `through_shape=False` a Shape/Size/Rank of a tensor does not count as depending on it."""
    found = {node_name(r) for r in roots}
    changed = True
    while changed:
        changed = False
        for node in graph_def.node:
            if not through_shape and node.op in _SHAPE_OPS:
                continue
            if node.name not in found and any(node_name(i) in found for i in data_inputs(node)):
                found.add(node.name)
                changed = True
    return found


# --- feeds ---------------------------------------------------------------------

@dataclass
class Feed:
    """One tensor where data enters the model, and the feature it carries."""

    tensor: str  # `IteratorGetNext:2`
    key: str | None  # the feature key when the graph says it
    dtype: int  # DataType enum
    shape: tuple[int, ...] | None  # per example (batch dimension removed); None: unknown
    origin: str  # op of the node that produced it
    sparse: bool = False
    evidence: list[str] = field(default_factory=list)
    int_high: int | None = None  # integer values index a table of this many rows


def find_feeds(graph_def: Any, *, aliases: dict[str, str]) -> list[Feed]:
    """Every input tensor: pipeline outputs, placeholders, embedded training data.

    `aliases` maps tensor names to feature keys a signature gives them.
    """
    nodes = nodes_of(graph_def)
    used = consumers_of(graph_def)
    feeds: list[Feed] = []
    for node in graph_def.node:
        if is_bookkeeping(node):
            continue
        if node.op in _PIPELINE_OPS:
            feeds += _pipeline_feeds(node, nodes, used)
        elif node.op in _PLACEHOLDER_OPS and node.attr["dtype"].type != 10:  # 10 = DT_BOOL
            feeds.append(Feed(tensor_name(node.name), node.name, node.attr["dtype"].type,
                              None, node.op))
    if not any(f.origin != "Const" for f in feeds if f.origin not in _PLACEHOLDER_OPS) \
            and not any(f.origin in _PLACEHOLDER_OPS for f in feeds):
        feeds += _embedded_data(graph_def, used)
    for feed in feeds:
        if feed.tensor in aliases:
            feed.key = aliases[feed.tensor]
    _infer_shapes(graph_def, feeds)
    _name_from_columns(feeds, used)
    _name_from_linear_weights(feeds, nodes, used)
    return feeds


def _infer_shapes(graph_def: Any, feeds: list[Feed]) -> None:
    """Fill what the feed's own op left unknown from attributes and consumers
    (`graph_shapes.infer`); a placeholder's shape keeps its batch dimension."""
    for feed in feeds:
        if feed.origin == "Const":
            continue
        batched = feed.origin in _PLACEHOLDER_OPS
        declared = feed.shape if batched or feed.shape is None else (-1,) + tuple(feed.shape)
        found = graph_shapes.infer(graph_def, feed.tensor, declared=declared)
        feed.int_high = found.int_high
        if found.int_high is not None:
            feed.evidence.append(f"integer values below {found.int_high}: {found.int_why}")
        if found.shape is None and feed.origin == "DecodeCSV":
            feed.shape = ()  # one value per record when nothing says more
        if found.shape is None or found.shape == declared:
            continue
        feed.shape = found.shape if batched else tuple(found.shape[1:])
        feed.evidence.append(f"shape {list(found.shape)} from {found.why}")


def _pipeline_feeds(node: Any, nodes: dict[str, Any], used: dict) -> list[Feed]:
    dtypes, shapes, keys, sparse = _slot_facts(node, nodes)
    feeds = []
    for index, dtype in enumerate(dtypes):
        tensor = f"{node.name}:{index}"
        if tensor not in used:
            continue
        shape = shapes[index] if index < len(shapes) else None
        feeds.append(Feed(tensor, keys[index] if index < len(keys) else None, dtype, shape,
                          node.op, sparse=index in sparse))
    return feeds


def _slot_facts(node: Any, nodes: dict[str, Any]) -> tuple[list[int], list, list, set[int]]:
    """(dtypes, per-example shapes, keys, sparse slot indices) of a pipeline op's outputs."""
    attr = node.attr
    if node.op.startswith("Iterator"):
        shapes = [_drop_batch(_shape(s)) for s in attr["output_shapes"].list.shape]
        return list(attr["output_types"].list.type), shapes, [], set()
    if node.op.startswith("QueueDequeue"):
        queue = nodes.get(node_name(node.input[0])) if node.input else None
        shapes = [_shape(s) for s in queue.attr["shapes"].list.shape] \
            if queue is not None and "shapes" in queue.attr else []
        if node.op not in _BATCHED_DEQUEUES:
            shapes = [_drop_batch(s) for s in shapes]
        return list(attr["component_types"].list.type), shapes, [], set()
    if node.op == "DecodeCSV":  # as shaped as its records: graph_shapes.infer says how
        return list(attr["OUT_TYPE"].list.type), [], [], set()
    return _parse_facts(node, nodes)


def _parse_facts(node: Any, nodes: dict[str, Any]) -> tuple[list[int], list, list, set[int]]:
    """ParseExample outputs: sparse indices*N, values*N, shapes*N, then dense values."""
    from inspectors.graphs.roles import _INPUT_READERS

    facts = _INPUT_READERS[node.op](node, nodes)
    sparse_keys, dense_keys = list(facts.sparse_keys), list(facts.dense_keys)
    count = len(sparse_keys)
    sparse_types = list(node.attr["sparse_types"].list.type)
    dense_types = list(node.attr["Tdense"].list.type)
    dense_shapes = [_shape(s) for s in node.attr["dense_shapes"].list.shape]
    dtypes = [9] * count + sparse_types + [9] * count + dense_types  # 9 = DT_INT64
    keys = sparse_keys * 3 + dense_keys
    shapes = [None] * (3 * count) + dense_shapes
    return dtypes, shapes, keys, set(range(3 * count))


def _embedded_data(graph_def: Any, used: dict) -> list[Feed]:
    """Root-scope Consts of rank >= 1 sharing one leading size: training data in the graph."""
    candidates = []
    for node in graph_def.node:
        if node.op != "Const" or "/" in node.name or f"{node.name}:0" not in used:
            continue
        dims = _shape(node.attr["value"].tensor.tensor_shape)
        if dims and dims[0] >= 2:
            candidates.append((node, dims))
    if not candidates:
        return []
    sizes = [dims[0] for _, dims in candidates]
    rows = max(set(sizes), key=sizes.count)
    return [Feed(f"{node.name}:0", None, node.attr["dtype"].type, tuple(dims[1:]), "Const",
                 evidence=[f"{node.name} holds {rows} rows of training data"])
            for node, dims in candidates if dims[0] == rows]


def _name_from_columns(feeds: list[Feed], used: dict) -> None:
    """Feature keys from the feature-column scopes that consume each tensor."""
    tokens = {feed.tensor: _column_tokens(used.get(feed.tensor, [])) for feed in feeds if not feed.key}
    # Keras-wrapped feature columns (tf.estimator v2) open each column's scope twice:
    # `input_layer/age_1/`. Strip the counter only when every such scope has one.
    layer_scopes = [t for found in tokens.values() for group in found for t in group if t[1]]
    strip = bool(layer_scopes) and all(re.search(r"_\d+$", t[0]) for t in layer_scopes)
    for feed in feeds:
        groups = tokens.get(feed.tensor) or []
        names = [{_column_key(token, strip=strip and layer) for token, layer in group}
                 for group in groups]
        names = [set().union(*(_split_column(n) for n in group)) for group in names]
        common = set.intersection(*names) if names else set()
        if len(common) == 1:
            feed.key = common.pop()
            feed.evidence.append("named by its feature-column scope")
        elif len(common) > 1:
            feed.key = min(common, key=len)
            feed.evidence.append("named by its feature-column scope")


def _column_tokens(users: list[tuple[Any, str]]) -> list[list[tuple[str, bool]]]:
    """For each consumer in a feature-column scope: [(scope part, under input_layer)]."""
    groups = []
    for user, _ in users:
        if is_bookkeeping(user):  # `gradients/…/concat_grad` is no column's scope
            continue
        parts = user.name.split("/")
        found = [(parts[i + 1], parts[i] == "input_layer") for i in range(len(parts) - 2)
                 if parts[i] in _COLUMN_SCOPES and parts[i + 1] not in _COLUMN_SCOPES]
        if found:
            groups.append([found[-1]])
    return groups


def _column_key(token: str, *, strip: bool) -> str:
    return re.sub(r"_\d+$", "", token) if strip else token


def _split_column(name: str) -> set[str]:
    """A column's name -> the feature keys it may read (crossed columns read several)."""
    keys = set()
    for part in name.split("_X_"):
        for suffix in _COLUMN_SUFFIXES:
            if part.endswith(suffix) and len(part) > len(suffix):
                part = part[:-len(suffix)]
        keys.add(part)
    return keys


def _name_from_linear_weights(feeds: list[Feed], nodes: dict[str, Any], used: dict) -> None:
    """contrib.learn linear columns: the tensor meets `linear/<key>/weight` within a few ops."""
    for feed in feeds:
        if feed.key:
            continue
        frontier, seen = [feed.tensor], set()
        for _ in range(4):
            following = []
            for tensor in frontier:
                for user, _ in used.get(tensor, []):
                    if user.name in seen:
                        continue
                    seen.add(user.name)
                    key = _linear_key(user, nodes)
                    if key:
                        feed.key = key
                        feed.evidence.append(f"named by the linear weight it multiplies ({user.name})")
                        break
                    following.append(f"{user.name}:0")
                if feed.key:
                    break
            if feed.key:
                break
            frontier = following


def _linear_key(node: Any, nodes: dict[str, Any]) -> str | None:
    for name in data_inputs(node):
        source = nodes.get(node_name(name))
        while source is not None and source.op == "Identity" and source.input:
            match = _LINEAR_WEIGHT_RE.search(source.name)
            if match:
                break
            source = nodes.get(node_name(source.input[0]))
        if source is None:
            continue
        match = _LINEAR_WEIGHT_RE.search(source.name)
        if match and not match["key"].startswith("bias"):
            return match["key"]
    return None


def _shape(proto: Any) -> tuple[int, ...] | None:
    if proto.unknown_rank:
        return None
    return tuple(dim.size for dim in proto.dim)


def _drop_batch(shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
    return None if shape is None else tuple(shape[1:])


# --- inference mode ------------------------------------------------------------

def to_inference(graph_def: Any) -> list[str]:
    """Dropout off, batch norm on moving statistics, learning phase false; returns notes."""
    notes = []
    fixed = fix_keep_prob(graph_def)
    if fixed:
        notes.append(f"keep-probability input(s) set to 1 (dropout is then the identity): "
                     f"{', '.join(fixed)}")
    fixed = fix_bool_switches(graph_def)
    if fixed:
        notes.append(f"training switch variable(s) read as false for inference: {', '.join(fixed)}")
    count = bypass_dropout(graph_def)
    if count:
        notes.append(f"dropout switched off ({count} dropout op(s) bypassed)")
    count = freeze_batch_norm(graph_def)
    if count:
        notes.append(f"batch normalization on its moving statistics ({count} layer(s))")
    names = fix_learning_phase(graph_def)
    if names:
        notes.append(f"learning-phase input(s) set to false: {', '.join(names)}")
    return notes


def bypass_dropout(graph_def: Any) -> int:
    """Replace each dropout's output by its unscaled input.

    A dropout is the op that applies a random mask: `x/keep * floor(keep + U)`
    (TF <= 1.12), `x*scale * cast(U >= rate)` or `select(U >= rate, x*scale, 0)`
    (TF >= 1.13, Keras). Its mask side descends from a random op and not from
    the model (a `Shape` of the model's tensor does not count), its other side
    from the model; the scale (a constant or keep_prob) goes with the mask.
    """
    nodes = nodes_of(graph_def)
    model, random, masks = set(), set(), {}
    for node in topological(graph_def):
        inputs = [node_name(i) for i in data_inputs(node)]
        if node.op in VARIABLE_OPS or node.op in _PIPELINE_OPS or _is_data_root(node):
            model.add(node.name)
        elif node.op not in _SHAPE_OPS and any(i in model for i in inputs):
            model.add(node.name)
        if node.op in _RANDOM_OPS or (any(i in random for i in inputs) and node.name not in model):
            random.add(node.name)
        if node.op in _MASK_OPS and not is_bookkeeping(node):
            masked = [i for i in inputs if i in random]
            kept = [i for i in data_inputs(node) if node_name(i) in model
                    and node_name(i) not in random]
            if masked and len(kept) == 1:
                masks[f"{node.name}:0"] = _unscaled(nodes, kept[0], model)
    _resolve_chains(masks)
    rewire(graph_def, masks)
    return len(masks)


_SHAPE_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank"})


def topological(graph_def: Any) -> list[Any]:
    """Nodes, inputs first; loop back edges (NextIteration) are ignored."""
    nodes = nodes_of(graph_def)
    order, state = [], {}
    for root in graph_def.node:
        stack = [(root.name, False)]
        while stack:
            name, done = stack.pop()
            if done:
                state[name] = 2
                order.append(nodes[name])
                continue
            if state.get(name) or name not in nodes:
                continue
            state[name] = 1
            stack.append((name, True))
            if nodes[name].op in ("Merge", "RefMerge"):
                inputs = [i for i in nodes[name].input
                          if nodes.get(node_name(i)) is None
                          or nodes[node_name(i)].op not in ("NextIteration", "RefNextIteration")]
            else:
                inputs = list(nodes[name].input)
            stack.extend((node_name(i), False) for i in inputs if not state.get(node_name(i)))
    return order


def _is_data_root(node: Any) -> bool:
    """Placeholders other than keep_prob/rate, and root-scope Consts of training data."""
    if node.op in _PLACEHOLDER_OPS:
        return re.search(r"keep|rate|drop", node.name, re.IGNORECASE) is None
    if node.op == "Const" and "/" not in node.name:
        dims = _shape(node.attr["value"].tensor.tensor_shape)
        return bool(dims) and dims[0] >= 2
    return False


def _unscaled(nodes: dict[str, Any], tensor: str, model: set[str]) -> str:
    """`x / keep_prob` or `x * scale` -> `x`; anything else stays."""
    node = nodes.get(node_name(tensor))
    if node is None or node.op not in _SCALE_OPS:
        return tensor
    inputs = data_inputs(node)
    if len(inputs) != 2:
        return tensor
    if node.op == "Mul":
        for data, scale in ((inputs[0], inputs[1]), (inputs[1], inputs[0])):
            if _scalar_like(nodes, scale) and node_name(data) in model:
                return data
        return tensor
    return inputs[0] if _scalar_like(nodes, inputs[1]) else tensor


def _other(pair: list[str], one: str) -> str:
    return pair[1] if pair[0] == one else pair[0]


def _scalar_like(nodes: dict[str, Any], tensor: str) -> bool:
    """A scalar constant, or a keep_prob/rate placeholder (or arithmetic on them)."""
    node = nodes.get(node_name(tensor))
    for _ in range(6):
        if node is None:
            return False
        if node.op == "Const":
            return not _shape(node.attr["value"].tensor.tensor_shape)
        if node.op in _PLACEHOLDER_OPS:
            return re.search(r"keep|rate|drop", node.name, re.IGNORECASE) is not None
        if node.op in ("Identity", "Sub", "RealDiv", "Div", "Cast", "Reciprocal") and node.input:
            node = nodes.get(node_name(data_inputs(node)[-1] if node.op in ("Sub", "RealDiv", "Div")
                                       else node.input[0]))
            continue
        return False
    return False


def _resolve_chains(mapping: dict[str, str]) -> None:
    """Two dropouts in a row: the first's replacement may itself be replaced."""
    for key in list(mapping):
        seen = {key}
        while mapping[key] in mapping and mapping[key] not in seen:
            seen.add(mapping[key])
            mapping[key] = mapping[mapping[key]]


def freeze_batch_norm(graph_def: Any) -> int:
    """Batch statistics -> moving statistics, fused and unfused."""
    nodes = nodes_of(graph_def)
    used = consumers_of(graph_def)
    count, mapping = 0, {}
    for node in list(graph_def.node):
        if node.op in _FUSED_BATCH_NORM and node.attr["is_training"].b:
            moving = [_moving_variable(f"{node.name}:{i}", nodes, used) for i in (1, 2)]
            if None in moving:
                continue
            reads = [_read_of(graph_def, nodes, used, name) for name in moving]
            node.input[3], node.input[4] = reads
            node.attr["is_training"].b = False
            if "exponential_avg_factor" in node.attr:
                node.attr["exponential_avg_factor"].f = 1.0
            count += 1
    for mean, variance in _moments(graph_def, nodes, used):
        moving = [_moving_variable(t, nodes, used) for t in (mean, variance)]
        if None in moving:
            continue
        for tensor, variable in zip((mean, variance), moving):
            mapping[tensor] = _read_of(graph_def, nodes, used, variable)
        count += 1
    rewire(graph_def, mapping)
    return count


def _moments(graph_def: Any, nodes: dict[str, Any], used: dict) -> list[tuple[str, str]]:
    """(mean, variance) tensors leaving each `moments` scope (tf.nn.moments)."""
    scopes: dict[str, list[Any]] = {}
    for node in graph_def.node:
        match = re.match(r"^(.*(?:^|/)moments(?:_\d+)?)/", node.name)
        if match:
            scopes.setdefault(match.group(1), []).append(node)
    found = []
    for scope, members in scopes.items():
        inside = {n.name for n in members}
        leaving = [n.name for n in members
                   if any(user.name not in inside and not is_bookkeeping(user)
                          for user, _ in used.get(f"{n.name}:0", []))]
        squared = {n.name for n in members if n.op == "SquaredDifference"}
        variance = [name for name in leaving if ancestors(nodes, [name]) & squared]
        mean = [name for name in leaving if name not in variance]
        if len(mean) == 1 and len(variance) == 1:
            found.append((f"{mean[0]}:0", f"{variance[0]}:0"))
    return found


def _moving_variable(tensor: str, nodes: dict[str, Any], used: dict) -> str | None:
    """The variable an exponential-moving-average update of `tensor` assigns to."""
    frontier, seen = [tensor], set()
    for _ in range(5):
        following = []
        for name in frontier:
            for user, _ in used.get(name, []):
                if user.name in seen:
                    continue
                seen.add(user.name)
                if _updates_moving_average(user):
                    variable = _variable_of(nodes, user.input[0])
                    if variable:
                        return variable
                following.append(f"{user.name}:0")
        frontier = following
    return None


def _updates_moving_average(node: Any) -> bool:
    if node.op in ("AssignSub", "AssignSubVariableOp", "AssignMovingAvg"):
        return True
    return node.op in ("Assign", "AssignVariableOp") and "moving" in node.input[0].lower()


def _variable_of(nodes: dict[str, Any], tensor: str) -> str | None:
    node = nodes.get(node_name(tensor))
    for _ in range(6):
        if node is None:
            return None
        if node.op in VARIABLE_OPS:
            return node.name
        if node.op not in ("Identity", "RefIdentity") or not node.input:
            return None
        node = nodes.get(node_name(node.input[0]))
    return None


def _read_of(graph_def: Any, nodes: dict[str, Any], used: dict, variable: str) -> str:
    """A tensor holding the variable's value: its existing read, or a new one."""
    node = nodes[variable]
    if node.op != "VarHandleOp":
        read = nodes.get(f"{variable}/read")
        return f"{variable}/read:0" if read is not None else f"{variable}:0"
    for user, _ in used.get(f"{variable}:0", []):
        if user.op == "ReadVariableOp" and not any(i.startswith("^") for i in user.input):
            return f"{user.name}:0"
    read = graph_def.node.add()
    read.name = _free_name(nodes, f"{variable}/tfckpt_read")
    read.op = "ReadVariableOp"
    read.input.append(variable)
    read.attr["dtype"].type = node.attr["dtype"].type
    nodes[read.name] = read
    return f"{read.name}:0"


def _free_name(nodes: dict[str, Any], wanted: str) -> str:
    name, index = wanted, 0
    while name in nodes:
        index += 1
        name = f"{wanted}_{index}"
    return name


def fix_keep_prob(graph_def: Any) -> list[str]:
    """Float placeholders a dropout reads as its keep probability become Const 1.0.

    Known by use, not by name: every consumer adds it to a random tensor
    (`keep + U`, floored into the mask) or divides by it (`x / keep`). With 1.0
    the mask is all ones and the scale is one, so the result is exact."""
    nodes = nodes_of(graph_def)
    used = consumers_of(graph_def)
    random = _random_descendants(graph_def)
    fixed = []
    for node in graph_def.node:
        if node.op not in _PLACEHOLDER_OPS or node.attr["dtype"].type not in (1, 2, 19):
            continue
        shape = node.attr["shape"].shape if "shape" in node.attr else None
        if shape is not None and not shape.unknown_rank and any(d.size != 1 for d in shape.dim):
            continue
        users = [(user, name) for user, name in used.get(f"{node.name}:0", [])
                 if not is_bookkeeping(user)]  # its gradients are no use of it
        if users and all(_reads_as_keep(user, name, random, nodes) for user, name in users):
            _make_scalar_const(node, dtype=node.attr["dtype"].type, value=1.0)
            fixed.append(node.name)
    return fixed


def _reads_as_keep(user: Any, name: str, random: set[str], nodes: dict[str, Any]) -> bool:
    inputs = data_inputs(user)
    if user.op in ("Add", "AddV2") and len(inputs) == 2:
        other = inputs[1] if inputs[0] == name else inputs[0]
        return node_name(other) in random
    return user.op in ("RealDiv", "Div", "TrueDiv") and len(inputs) == 2 and inputs[1] == name


def _random_descendants(graph_def: Any) -> set[str]:
    found: set[str] = set()
    for node in topological(graph_def):
        if node.op in _RANDOM_OPS or any(node_name(i) in found for i in data_inputs(node)):
            found.add(node.name)
    return found


def fix_bool_switches(graph_def: Any) -> list[str]:
    """Scalar bool variables that only steer `cond`s (TFLearn's `is_training`) become
    Const false: a restored flag is a training switch, and a variable feeding a
    Switch's predicate is something freezing cannot convert."""
    nodes = nodes_of(graph_def)
    used = consumers_of(graph_def)
    fixed = []
    for node in list(graph_def.node):
        if node.op not in VARIABLE_OPS or node.attr["dtype"].type != 10:
            continue
        if "shape" in node.attr and node.attr["shape"].shape.dim:
            continue
        reads = _reads_of(node.name, nodes, used)
        steering = [user for tensor in reads for user, _ in used.get(tensor, [])
                    if not is_bookkeeping(user)]
        if steering and all(user.op in ("Switch", "Identity", "RefSwitch", "LogicalNot")
                            for user in steering):
            constant = graph_def.node.add()
            constant.name = _free_name(nodes, f"{node.name}/tfckpt_false")
            nodes[constant.name] = constant
            _make_scalar_const(constant, dtype=10, value=False)
            rewire(graph_def, {tensor: f"{constant.name}:0" for tensor in reads})
            fixed.append(node.name)
    return fixed


def _reads_of(variable: str, nodes: dict[str, Any], used: dict) -> list[str]:
    """The variable's own tensor and the Identity reads of it (`v/read`)."""
    reads = [f"{variable}:0"]
    for user, _ in used.get(f"{variable}:0", []):
        if user.op in ("Identity", "ReadVariableOp") and user.name.startswith(variable + "/"):
            reads.append(f"{user.name}:0")
    return reads


def _make_scalar_const(node: Any, *, dtype: int, value: Any) -> None:
    node.op = "Const"
    del node.input[:]
    for attr in list(node.attr):
        del node.attr[attr]
    node.attr["dtype"].type = dtype
    tensor = node.attr["value"].tensor
    tensor.dtype = dtype
    if dtype == 10:
        tensor.bool_val.append(bool(value))
    elif dtype == 2:
        tensor.double_val.append(float(value))
    elif dtype == 19:
        tensor.half_val.append(15360 if value == 1.0 else 0)  # 1.0 in IEEE half
    else:
        tensor.float_val.append(float(value))


def fix_learning_phase(graph_def: Any) -> list[str]:
    """Bool placeholders named like a training switch become constant false."""
    fixed = []
    for node in graph_def.node:
        if node.op in _PLACEHOLDER_OPS and node.attr["dtype"].type == 10 \
                and _LEARNING_PHASE_RE.search(node.name):
            shape = node.attr["shape"].shape if "shape" in node.attr else None
            node.op = "Const"
            del node.input[:]
            for attr in list(node.attr):
                del node.attr[attr]
            node.attr["dtype"].type = 10
            value = node.attr["value"].tensor
            value.dtype = 10
            if shape is not None and not shape.unknown_rank and shape.dim:
                value.tensor_shape.CopyFrom(shape)
            value.bool_val.append(False)
            fixed.append(node.name)
    return fixed


# --- placeholders and pruning -------------------------------------------------

def placeholder_node(graph_def: Any, name: str, *, dtype: int,
                     shape: tuple[int, ...] | None) -> Any:
    node = graph_def.node.add()
    node.name = name
    node.op = "Placeholder"
    node.attr["dtype"].type = dtype
    if shape is None:
        node.attr["shape"].shape.unknown_rank = True
    else:
        for size in shape:
            node.attr["shape"].shape.dim.add().size = size
    return node


def prune(graph_def: Any, keep: Iterable[str]) -> Any:
    """A new GraphDef with only what `keep` needs; control edges into training,
    saving and summary machinery are dropped rather than followed."""
    nodes = nodes_of(graph_def)
    needed: set[str] = set()
    stack = [node_name(k) for k in keep]
    while stack:
        name = stack.pop()
        if name in needed or name not in nodes:
            continue
        needed.add(name)
        for item in nodes[name].input:
            target = nodes.get(node_name(item))
            if item.startswith("^") and (target is None or is_bookkeeping(target)):
                continue
            stack.append(node_name(item))
    pruned = type(graph_def)()
    pruned.versions.CopyFrom(graph_def.versions)
    _copy_used_functions(graph_def.library, pruned.library, [nodes[n] for n in needed])
    for node in graph_def.node:
        if node.name in needed:
            copy = pruned.node.add()
            copy.CopyFrom(node)
            if "_output_shapes" in copy.attr:  # stale once inputs were replaced
                del copy.attr["_output_shapes"]
            kept = [i for i in copy.input if node_name(i) in needed]
            del copy.input[:]
            copy.input.extend(kept)
    return pruned


# --- outputs -------------------------------------------------------------------

_HEAD_PREDICTION_RE = re.compile(r"^(?P<scope>(?:.*/)?\w*head)/predictions/(?P<leaf>[^/]+)$")
_DT_INT32, _DT_STRING = 3, 7


def head_outputs(graph_def: Any) -> dict[str, str]:
    """Prediction key -> tensor for the canned heads of tf.estimator and tf.contrib.learn.

    tf.estimator heads (`…/head/predictions/`) compute `class_ids` as an
    ExpandDims of `class_ids` (TF 1.4: a Reshape named `classes`) and `classes`
    as `str_classes`; contrib heads (`…/multi_class_head/predictions/`) name
    their keys outright. Regression heads of tf.estimator v2 predict their logits.
    """
    nodes = nodes_of(graph_def)
    scopes: dict[str, dict[str, Any]] = {}
    for node in graph_def.node:
        match = _HEAD_PREDICTION_RE.match(node.name)
        if match:
            scopes.setdefault(match["scope"], {})[match["leaf"]] = node
    for scope in sorted(scopes):
        found = _head_keys(scope, scopes[scope], nodes)
        if found:
            return found
    return _regression_head(graph_def, nodes)


def _head_keys(scope: str, leaves: dict[str, Any], nodes: dict[str, Any]) -> dict[str, str]:
    contrib = not scope.endswith("/head") and scope != "head"
    found: dict[str, str] = {}
    for key in ("probabilities", "logistic"):
        if key in leaves:
            found[key] = f"{leaves[key].name}:0"
    if "logits" in leaves:
        found["logits"] = f"{leaves['logits'].name}:0"
    elif "logistic" in leaves:
        found["logits"] = tensor_name(data_inputs(leaves["logistic"])[0])
    elif "probabilities" in leaves and "two_class_logits" not in leaves:
        found["logits"] = tensor_name(data_inputs(leaves["probabilities"])[0])
    if contrib:
        for key in ("classes", "scores", "predictions"):
            if key in leaves:
                found[key] = f"{leaves[key].name}:0"
        return found if set(found) - {"logits"} else {}
    _estimator_classes(scope, leaves, nodes, found)
    return found if set(found) - {"logits"} else {}


def _estimator_classes(scope: str, leaves: dict[str, Any], nodes: dict[str, Any],
                       found: dict[str, str]) -> None:
    prefix = f"{scope}/predictions/"
    if "class_ids" in leaves:
        expanded = [n for n in leaves.values() if n.op == "ExpandDims"
                    and node_name(data_inputs(n)[0]) == leaves["class_ids"].name]
        if expanded:
            found["class_ids"] = f"{expanded[0].name}:0"
    elif "classes" in leaves and leaves["classes"].op == "Reshape":  # TF 1.4
        found["class_ids"] = f"{leaves['classes'].name}:0"
    if "str_classes" in leaves:
        found["classes"] = f"{leaves['str_classes'].name}:0"
    elif "classes" in leaves and "class_ids" not in leaves and leaves["classes"].op != "Reshape":
        found["classes"] = f"{leaves['classes'].name}:0"
    for node in leaves.values():
        if node.op == "Tile" and node.name.startswith(prefix):
            dtype = node.attr["T"].type
            key = {_DT_INT32: "all_class_ids", _DT_STRING: "all_classes"}.get(dtype)
            if key and key not in found:
                found[key] = f"{node.name}:0"


def _regression_head(graph_def: Any, nodes: dict[str, Any]) -> dict[str, str]:
    """tf.estimator v2 RegressionHead: `…/head/logits/…` checks the logits it predicts."""
    for node in graph_def.node:
        match = re.match(r"^((?:.*/)?head)/logits/[^/]+$", node.name)
        if match and node.op == "Shape" and node.input:
            source = node_name(node.input[0])
            if not source.startswith(match.group(1) + "/"):
                return {"predictions": tensor_name(node.input[0])}
    return {}


def output_key(candidate: Any, nodes: dict[str, Any]) -> str:
    """A prediction key for a guessed output: its name when it says one, else its role."""
    from inspectors.graphs.roles import _PREDICTION_NAME_RE

    last = candidate.node.rsplit("/", 1)[-1]
    if _PREDICTION_NAME_RE.match(last):
        return last
    if candidate.op in _KEY_OF_OP:  # a softmax a hand-written loss compares with the labels
        return _KEY_OF_OP[candidate.op]  # is still probabilities (tflearn's crossentropy)
    for role in ("logits", "predictions"):  # a softmax loss's logits beat InTopK's predictions
        if f"the {role} of" in candidate.reason:
            return role
    return "predictions"


_KEY_OF_OP = {"Softmax": "probabilities", "Sigmoid": "logistic", "ArgMax": "classes"}


def unbake_batch(graph_def: Any, tensors: list[str], rows: int) -> int:
    """Reshapes of embedded training data to a literal `[rows, ...]` -> `[-1, ...]`.

    Graphs built on in-graph data (TF 0.x contrib.learn) fold the data's row count
    into shape constants; with a placeholder in its place any batch size must pass.
    """
    from inspectors.tf_loader import tensorflow

    tf = tensorflow()
    nodes = nodes_of(graph_def)
    reached = descendants(graph_def, [node_name(t) for t in tensors])
    count = 0
    for node in graph_def.node:
        if node.op != "Reshape" or node.name not in reached or len(data_inputs(node)) < 2:
            continue
        shape = nodes.get(node_name(data_inputs(node)[1]))
        if shape is None or shape.op != "Const":
            continue
        value = tf.make_ndarray(shape.attr["value"].tensor)
        if value.ndim == 1 and value.size and int(value[0]) == rows:
            value = value.copy()
            value[0] = -1
            shape.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            count += 1
    return count


def _copy_used_functions(library: Any, target: Any, kept: list[Any]) -> None:
    """Only the functions kept nodes call: a dataset's map function (PyFunc and all)
    must not ride along into the inference graph."""
    functions = {f.signature.name: f for f in library.function}
    wanted: set[str] = set()
    stack = [name for node in kept for name in _called(node, functions)]
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        wanted.add(name)
        stack += [called for node in functions[name].node_def for called in _called(node, functions)]
    for function in library.function:
        if function.signature.name in wanted:
            target.function.add().CopyFrom(function)
    for gradient in library.gradient:
        if gradient.function_name in wanted:
            target.gradient.add().CopyFrom(gradient)


def _called(node: Any, functions: dict[str, Any]) -> list[str]:
    names = [node.op] if node.op in functions else []
    for value in node.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        names += [f.name for f in value.list.func]
    return [name for name in names if name in functions]
