"""Where data enters and leaves a graph: candidate inputs and ranked candidate outputs.

TF1 graphs rarely say which tensor is the prediction. A signature says so
outright (see `graph_signatures`); otherwise the outputs are guessed: nodes
nothing consumes, or consumes only for training and bookkeeping, and nodes a
loss takes as its logits, ranked by name, op and collection membership. Every
guess carries its reasons and score.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from inspectors.graphs.io import const_strings, data_inputs, dtype_name, node_name, shape_of
from inspectors.graphs.signatures import Signature
from inspectors.graphs.variables import VARIABLE_OPS

# Scopes and names of training, saving, summary and initialisation machinery.
_BOOKKEEPING_NAME_RE = re.compile(
    r"(?:^|/)(?:gradients(?:_\d+)?|save(?:_\d+)?|summaries|report_uninitialized_\w+|metrics|"
    r"eval_metrics|zero_fraction(?:_\d+)?|global_step|OptimizeLoss|train_op|training|"
    r"beta[12]_power(?:_\d+)?|(?:Adam|Adagrad|AdagradDA|Ftrl|Momentum|RMSProp|GradientDescent|"
    r"Adadelta|ProximalAdagrad|ProximalGradientDescent)(?:_\d+)?)(?:/|$)"
    r"|^(?:init(?:_\d+)?|init_all_tables|group_deps(?:_\d+)?|ready_op|ready_for_local_init_op)$")
_BOOKKEEPING_OPS = frozenset({
    "NoOp", "Assert", "Print", "PrintV2", "IsVariableInitialized", "VarIsInitializedOp",
    "ControlTrigger", "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice",
    "MergeV2Checkpoints", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp",
    "AssignAddVariableOp", "AssignSubVariableOp", "InitializeTable", "InitializeTableV2",
    "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "MakeIterator",
    "QueueClose", "QueueCloseV2", "CountUpTo"})
_ASSIGN_OPS = frozenset({"Assign", "AssignVariableOp"})
_BOOKKEEPING_PREFIXES = ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply",
                         "Scatter", "ResourceScatter", "QueueEnqueue", "Write")
# Ops that are never a model's result, though nothing may consume them.
_NEVER_OUTPUT_OPS = VARIABLE_OPS | {
    "Const", "Placeholder", "PlaceholderWithDefault", "PlaceholderV2", "Enter", "RefEnter",
    "NextIteration", "RefNextIteration", "LoopCond", "Switch", "RefSwitch", "HashTable",
    "HashTableV2", "MutableHashTable", "MutableHashTableV2", "Iterator", "IteratorV2",
    "OneShotIterator", "FIFOQueue", "FIFOQueueV2", "RandomShuffleQueue", "RandomShuffleQueueV2",
    "PaddingFIFOQueue", "PaddingFIFOQueueV2", "TensorArrayV3", "Shape", "ShapeN", "Size", "Rank",
    "IteratorToStringHandle", "AnonymousIterator", "AnonymousIteratorV2", "AnonymousIteratorV3",
    "ReaderReadV2", "ReaderRead", "TensorListReserve"}
# tf.data pipelines: BatchDatasetV2, TensorSliceDataset, ... hand on datasets, not results.
_DATASET_OP_RE = re.compile(r"Dataset(?:V\d+)?$")
# Op-type words (softmax, sigmoid) are left out: default node names repeat the op
# type, and an LSTM has dozens of Sigmoid gates. The op itself earns PREDICTION_OP.
_PREDICTION_NAME_RE = re.compile(
    r"^(?:predictions?|probabilit(?:y|ies)|logits?|classes|class_ids|scores?|outputs?|pred|"
    r"y|y_pred|y_hat|inference)(?:_\d+)?$", re.IGNORECASE)
_PREDICTION_OPS = frozenset({"Softmax", "Sigmoid", "ArgMax", "TopKV2", "LogSoftmax"})
_LOSS_NAME_RE = re.compile(r"loss|xentropy|cross_?entropy|accuracy|mean_squared_error|"
                           r"eval_correct|evaluation", re.IGNORECASE)
_OUTPUT_COLLECTIONS = frozenset({"predictions", "logits", "probabilities", "outputs", "output",
                                 "classes", "scores", "y"})
SCALAR_PLACEHOLDERS_FROM = 22  # GraphDef version history in tensorflow/core/public/version.h
# Initialisers, assertions, cond pivots and while-loop bodies: consumed by
# Assign, by nothing, or inside a loop frame; never results.
_NOT_OUTPUT_NAME_RE = re.compile(r"(?:^|/)(?:Initializer|initial_value|[Aa]ssert\w*|switch_[tf]|"
                                 r"pivot(?:_[tf])?|while(?:_\d+)?)(?:/|$)")
# Loss and metric ops whose first input is the model's logits or predictions: in
# a training graph with no signature, the best pointer to the output.
# (op, regex its name must match, what input 0 is)
_LOSS_INPUTS = (
    ("SoftmaxCrossEntropyWithLogits", "", "logits"),
    ("SparseSoftmaxCrossEntropyWithLogits", "", "logits"),
    ("InTopK", "", "predictions"), ("InTopKV2", "", "predictions"),
    # tf.losses.mean_squared_error: squared_difference(predictions, labels)
    ("SquaredDifference", r"(?:^|/)mean_squared_error(?:_\d+)?/", "predictions"),
    # tf.losses.absolute_difference: abs(predictions - labels)
    ("Sub", r"(?:^|/)absolute_difference(?:_\d+)?/", "predictions"),
    # sigmoid_cross_entropy_with_logits: where(logits >= 0, ...)
    ("GreaterEqual", r"(?:^|/)logistic_loss(?:_\d+)?/", "logits"),
)
# Score of each reason; a signature says it outright, a name only hints.
SIGNATURE, COLLECTION, LOGITS, SINK, NAMED, NAMED_SCOPE, PREDICTION_OP, LOSS_LIKE = 5, 3, 3, 2, 3, 1, 1, -2
_GRADIENT_OF_RE = re.compile(r"(?:^|/)gradients(?:_\d+)?/(.+?)_grad/")


@dataclass(frozen=True)
class InputCandidate:
    node: str
    op: str
    kind: str  # placeholder | queue | iterator | parse_example | csv | signature
    dtypes: tuple[str, ...]
    shapes: tuple[tuple[int, ...] | None, ...] = ()
    dense_keys: tuple[str, ...] = ()
    sparse_keys: tuple[str, ...] = ()
    shape_why: tuple[str, ...] = ()  # per output: where its shape comes from ("" declared)

    def to_dict(self) -> dict:
        return {"node": self.node, "op": self.op, "kind": self.kind, "dtypes": list(self.dtypes),
                "shapes": [None if s is None else list(s) for s in self.shapes],
                "shape_why": list(self.shape_why),
                "dense_keys": list(self.dense_keys), "sparse_keys": list(self.sparse_keys)}


@dataclass(frozen=True)
class OutputCandidate:
    node: str
    op: str
    score: int
    reason: str

    def to_dict(self) -> dict:
        return {"node": self.node, "op": self.op, "score": self.score, "reason": self.reason}


def is_bookkeeping(node: Any) -> bool:
    """Training, saving, summary or initialisation machinery rather than the model."""
    return (node.op in _BOOKKEEPING_OPS or node.op.startswith(_BOOKKEEPING_PREFIXES)
            or "Summary" in node.op or _BOOKKEEPING_NAME_RE.search(node.name) is not None)


# --- candidate inputs --------------------------------------------------------

def input_candidates(graph_def: Any, found_signatures: tuple[Signature, ...] = ()
                     ) -> tuple[InputCandidate, ...]:
    """Feeds (placeholders), queue and iterator dequeues, Example/CSV parsers, and any
    other tensor a signature names as an input."""
    nodes = {node.name: node for node in graph_def.node}
    found = []
    for node in graph_def.node:
        reader = _INPUT_READERS.get(node.op)
        if reader and not is_bookkeeping(node):
            found.append(reader(node, nodes))
    if graph_def.versions.producer < SCALAR_PLACEHOLDERS_FROM:
        found = [_unknown_if_empty(candidate) for candidate in found]
    found = [_inferred(graph_def, candidate) for candidate in found]
    return tuple(found) + _signature_inputs(nodes, found_signatures, {c.node for c in found})


def _inferred(graph_def: Any, candidate: InputCandidate) -> InputCandidate:
    """Shapes the node leaves open, filled from its attributes and consumers
    (`graph_shapes.infer`), each with the reason."""
    from inspectors.graphs import shapes as graph_shapes

    if candidate.kind not in ("placeholder", "queue", "csv", "iterator"):
        return candidate
    count = max(len(candidate.dtypes), len(candidate.shapes))
    shapes, why = [], []
    for index in range(count):
        declared = candidate.shapes[index] if index < len(candidate.shapes) else None
        found = graph_shapes.infer(graph_def, f"{candidate.node}:{index}", declared=declared)
        shapes.append(found.shape)
        reason = "" if found.shape == declared else found.why
        if found.int_high is not None:
            reason = "; ".join(filter(None, (reason, f"values below {found.int_high}: {found.int_why}")))
        why.append(reason)
    return dataclasses.replace(candidate, shapes=tuple(shapes), shape_why=tuple(why))


def _signature_inputs(nodes: dict[str, Any], found_signatures: tuple[Signature, ...],
                      listed: set[str]) -> tuple[InputCandidate, ...]:
    extra: dict[str, InputCandidate] = {}
    for signature in found_signatures:
        for spec in signature.inputs:
            name = node_name(spec.tensor)
            if name in nodes and name not in listed and name not in extra:
                extra[name] = InputCandidate(name, nodes[name].op, "signature",
                                             (spec.dtype,) if spec.dtype else (), (spec.shape,))
    return tuple(sorted(extra.values(), key=lambda c: c.node))


def _unknown_if_empty(candidate: InputCandidate) -> InputCandidate:
    # Before producer 22 a Placeholder's empty shape meant "any shape", not a scalar.
    if candidate.kind == "placeholder" and candidate.shapes == ((),):
        return dataclasses.replace(candidate, shapes=(None,))
    return candidate


def _types(node: Any, attr: str) -> tuple[str, ...]:
    if attr not in node.attr:
        return ()
    value = node.attr[attr]
    if value.WhichOneof("value") == "type":
        return (dtype_name(value.type),)
    return tuple(dtype_name(t) for t in value.list.type)


def _shapes(node: Any, attr: str) -> tuple[tuple[int, ...] | None, ...]:
    if attr not in node.attr:
        return ()
    value = node.attr[attr]
    if value.WhichOneof("value") == "shape":
        return (shape_of(value.shape),)
    return tuple(shape_of(s) for s in value.list.shape)


def _placeholder(node: Any, nodes: dict) -> InputCandidate:
    return InputCandidate(node.name, node.op, "placeholder", _types(node, "dtype"),
                          _shapes(node, "shape"))


def _queue(node: Any, nodes: dict) -> InputCandidate:
    return InputCandidate(node.name, node.op, "queue", _types(node, "component_types"))


def _iterator(node: Any, nodes: dict) -> InputCandidate:
    return InputCandidate(node.name, node.op, "iterator", _types(node, "output_types"),
                          _shapes(node, "output_shapes"))


def _csv(node: Any, nodes: dict) -> InputCandidate:
    return InputCandidate(node.name, node.op, "csv", _types(node, "OUT_TYPE"))


def _parse_example(node: Any, nodes: dict) -> InputCandidate:
    """ParseExample: serialized, names, Nsparse sparse keys, Ndense dense keys, defaults."""
    sparse_count = node.attr["Nsparse"].i if "Nsparse" in node.attr else 0
    dense_count = node.attr["Ndense"].i if "Ndense" in node.attr else 0
    inputs = data_inputs(node)
    sparse = _key_strings(nodes, inputs[2:2 + sparse_count])
    dense = _key_strings(nodes, inputs[2 + sparse_count:2 + sparse_count + dense_count])
    return InputCandidate(node.name, node.op, "parse_example",
                          _types(node, "Tdense") + _types(node, "sparse_types"),
                          dense_keys=dense, sparse_keys=sparse)


def _parse_example_v2(node: Any, nodes: dict) -> InputCandidate:
    """ParseExampleV2: serialized, names, sparse_keys, dense_keys, ragged_keys (vectors)."""
    inputs = data_inputs(node)
    sparse = tuple(const_strings(nodes.get(node_name(inputs[2])))) if len(inputs) > 2 else ()
    dense = tuple(const_strings(nodes.get(node_name(inputs[3])))) if len(inputs) > 3 else ()
    return InputCandidate(node.name, node.op, "parse_example",
                          _types(node, "Tdense") + _types(node, "sparse_types"),
                          dense_keys=dense, sparse_keys=sparse)


def _parse_single_example(node: Any, nodes: dict) -> InputCandidate:
    def keys(attr: str) -> tuple[str, ...]:
        return tuple(k.decode("utf-8", errors="replace") for k in node.attr[attr].list.s) \
            if attr in node.attr else ()

    return InputCandidate(node.name, node.op, "parse_example",
                          _types(node, "Tdense") + _types(node, "sparse_types"),
                          dense_keys=keys("dense_keys"), sparse_keys=keys("sparse_keys"))


def _key_strings(nodes: dict, inputs: list[str]) -> tuple[str, ...]:
    # A key fed at run time rather than held in a Const shows as "?".
    return tuple((const_strings(nodes.get(node_name(name))) or ["?"])[0] for name in inputs)


_INPUT_READERS = {
    "Placeholder": _placeholder, "PlaceholderV2": _placeholder,
    "PlaceholderWithDefault": _placeholder,
    **{op: _queue for op in ("QueueDequeue", "QueueDequeueV2", "QueueDequeueMany",
                             "QueueDequeueManyV2", "QueueDequeueUpTo", "QueueDequeueUpToV2")},
    "IteratorGetNext": _iterator, "IteratorGetNextSync": _iterator,
    "ParseExample": _parse_example, "ParseExampleV2": _parse_example_v2,
    "ParseSingleExample": _parse_single_example, "DecodeCSV": _csv,
}


# --- candidate outputs -------------------------------------------------------

def output_candidates(graph_def: Any, *, found_signatures: tuple[Signature, ...],
                      collections: dict[str, tuple[str, ...]], top: int) -> tuple[OutputCandidate, ...]:
    """The `top` likeliest result nodes, best first."""
    nodes = {node.name: node for node in graph_def.node}
    consumers = _consumers(graph_def)
    differentiated = _differentiated(graph_def)
    compared = loss_operands(nodes, consumers, differentiated)
    # What depends on the labels (a loss, an accuracy, their running averages) is no result.
    labels = _downstream(consumers, {label for _, label, _ in compared})
    skip = {name for name, node in nodes.items() if is_bookkeeping(node)} | labels
    hints = _hints(graph_def, found_signatures, collections)
    predictions = {prediction for prediction, _, _ in compared}
    for prediction, label, binary in compared:
        hints.setdefault(prediction, []).append(
            (LOGITS, f"the {'logits' if 'Logits' in nodes[binary].op else 'predictions'} "
                     f"of {binary} ({nodes[binary].op}), compared with {label}"))
    ranked = []
    for node in graph_def.node:
        users = consumers.get(node.name, [])
        if node.name in skip or not _may_be_output(node, nodes, users):
            continue
        model_users = sum(1 for user in users if user.name not in skip)
        candidate = _score(node, (len(users), model_users), hints.get(node.name, []),
                           minimised=node.name in differentiated and not model_users
                           and node.name not in predictions)
        if candidate:
            ranked.append(candidate)
    ranked.sort(key=lambda c: (-c.score, c.node))
    return tuple(ranked[:top])


def _may_be_output(node: Any, nodes: dict[str, Any], users: list[Any]) -> bool:
    if (node.op in _NEVER_OUTPUT_OPS or _DATASET_OP_RE.search(node.op)
            or _NOT_OUTPUT_NAME_RE.search(node.name)):
        return False
    if users and all(user.op in _ASSIGN_OPS for user in users):
        return False  # an initial value
    # `var/read`, `var/Read/ReadVariableOp`: the value of a variable, not a result.
    source = nodes.get(node_name(node.input[0])) if node.input else None
    return not (node.op in ("Identity", "ReadVariableOp") and source is not None
                and source.op in VARIABLE_OPS)


def _consumers(graph_def: Any) -> dict[str, list[Any]]:
    """node name -> the nodes that take it as an input.

    Control edges count: an op that only orders others is used by the graph,
    not a result of it.
    """
    found: dict[str, list[Any]] = {}
    for node in graph_def.node:
        for name in {node_name(i) for i in node.input}:
            found.setdefault(name, []).append(node)
    return found


def _hints(graph_def: Any, found_signatures: tuple[Signature, ...],
           collections: dict[str, tuple[str, ...]]) -> dict[str, list[tuple[int, str]]]:
    """Evidence beyond the node itself: (score, reason) per node name."""
    hints: dict[str, list[tuple[int, str]]] = {}
    for node_, aliases in _signature_outputs(found_signatures).items():
        hints.setdefault(node_, []).append((SIGNATURE, "signature output " + ", ".join(aliases)))
    for node_, names in _collection_members(collections).items():
        hints.setdefault(node_, []).append((COLLECTION, "in collection " + ", ".join(names)))
    for node in graph_def.node:
        for op, name_re, role in _LOSS_INPUTS:
            if node.op == op and node.input and re.search(name_re, node.name):
                hints.setdefault(node_name(node.input[0]), []).append(
                    (LOGITS, f"the {role} of {node.name} ({node.op})"))
    return hints


def _score(node: Any, consumed: tuple[int, int], hints: list[tuple[int, str]], *,
           minimised: bool) -> OutputCandidate | None:
    total, model = consumed
    # A node the model consumes is a candidate only when something names it as a result.
    if model and not (hints or _PREDICTION_NAME_RE.match(_last_part(node.name))):
        return None
    found = list(hints)
    if not model:
        found.append((SINK, "consumed only by training/bookkeeping ops" if total
                      else "consumed by no other node"))
    if _PREDICTION_NAME_RE.match(_last_part(node.name)):
        found.append((NAMED, "named like a prediction"))
    elif _named_like_prediction(node):
        found.append((NAMED_SCOPE, "in a scope named like a prediction"))
    if node.op in _PREDICTION_OPS:
        found.append((PREDICTION_OP, f"{node.op} op"))
    if minimised:
        found.append((LOSS_LIKE, "the loss the gradients start from"))
    elif _LOSS_NAME_RE.search(node.name):
        found.append((LOSS_LIKE, "looks like a loss or metric"))
    return OutputCandidate(node.name, node.op, sum(score for score, _ in found),
                           "; ".join(reason for _, reason in found))


# Ops a loss reduces or scales the comparison with; and ops between a prediction and
# the comparison that only keep the loss finite (log of a clipped softmax).
_LOSS_REDUCTIONS = frozenset({"Sum", "Mean", "Abs", "Square", "Neg", "Identity", "Mul", "RealDiv",
                              "Div", "AddN", "Add", "AddV2", "Sqrt", "Cast", "Reshape", "Squeeze",
                              "ExpandDims", "Maximum", "Minimum", "Log", "Sub"})
_COMPARISONS = frozenset({"Sub", "SquaredDifference", "Mul", "SoftmaxCrossEntropyWithLogits",
                          "SparseSoftmaxCrossEntropyWithLogits",
                          "SigmoidCrossEntropyWithLogits"})
_LOSS_GUARDS = frozenset({"Log", "Maximum", "Minimum", "ClipByValue", "Identity", "Add", "AddV2"})
_FEED_OPS = frozenset({"Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "QueueDequeue",
                       "QueueDequeueV2", "QueueDequeueMany", "QueueDequeueManyV2",
                       "QueueDequeueUpTo", "QueueDequeueUpToV2", "IteratorGetNext",
                       "IteratorGetNextSync", "DecodeCSV", "ParseExample", "ParseExampleV2"})
_LOSS_DEPTH = 12


def loss_operands(nodes: dict[str, Any], consumers: dict[str, list[Any]],
                  differentiated: set[str]) -> list[tuple[str, str, str]]:
    """(prediction, label, comparison op) for each loss the gradients start from.

    From the loss, down through reductions and scalings, to the first op that
    compares two model-dependent tensors: of its operands the one that reaches a
    variable is the prediction, the one that reaches a feed and no variable the
    label. Names play no part, so hand-written losses are found too."""
    found = []
    losses = [name for name in differentiated if name in nodes and not any(
        not is_bookkeeping(user) for user in consumers.get(name, []))]
    for loss in sorted(losses):
        stack, seen = [(loss, 0)], set()
        while stack:
            name, depth = stack.pop()
            node = nodes.get(name)
            if node is None or name in seen or depth > _LOSS_DEPTH:
                continue
            seen.add(name)
            inputs = [node_name(i) for i in data_inputs(node)]
            sides = [_reaches(nodes, i) for i in inputs[:2]]
            if node.op in _COMPARISONS and len(inputs) >= 2:
                pairs = [(inputs[i], inputs[1 - i]) for i in (0, 1)
                         if sides[i] == "model" and sides[1 - i] == "feed"]
                if pairs:
                    prediction, label = pairs[0]
                    found.append((_unguarded(nodes, prediction), label, node.name))
                    continue
            if node.op in _LOSS_REDUCTIONS:
                stack += [(i, depth + 1) for i, side in zip(inputs, sides + ["?"] * len(inputs))
                          if side != "const"]
    return found


def _reaches(nodes: dict[str, Any], name: str) -> str:
    """`model` (reaches a variable), `feed` (a feed and no variable), else `const`."""
    seen, stack, feed = set(), [name], False
    while stack:
        current = stack.pop()
        node = nodes.get(current)
        if node is None or current in seen:
            continue
        seen.add(current)
        if node.op in VARIABLE_OPS:
            return "model"
        if node.op in _FEED_OPS:
            feed = True
            continue
        stack += [node_name(i) for i in data_inputs(node)]
    return "feed" if feed else "const"


def _unguarded(nodes: dict[str, Any], name: str) -> str:
    """`log(clip(softmax))` -> the softmax: what the loss guards is the prediction."""
    for _ in range(6):
        node = nodes.get(name)
        if node is not None and node.op in ("RealDiv", "Div") and len(data_inputs(node)) == 2:
            numerator, denominator = (node_name(i) for i in data_inputs(node))
            if numerator in _ancestors(nodes, denominator):  # x / sum(x): a renormalisation
                name = numerator
                continue
        if node is None or node.op not in _LOSS_GUARDS:
            return name
        model = [node_name(i) for i in data_inputs(node) if _reaches(nodes, node_name(i)) == "model"]
        if len(model) != 1:
            return name
        name = model[0]
    return name


def _ancestors(nodes: dict[str, Any], name: str) -> set[str]:
    seen, stack = set(), [name]
    while stack:
        current = stack.pop()
        if current in seen or current not in nodes:
            continue
        seen.add(current)
        stack += [node_name(i) for i in data_inputs(nodes[current])]
    return seen


def _downstream(consumers: dict[str, list[Any]], roots: set[str]) -> set[str]:
    seen, stack = set(), list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack += [user.name for user in consumers.get(name, [])]
    return seen


def _named_like_prediction(node: Any) -> bool:
    """The last name part, or its scope when the last part is just the op (`logits/BiasAdd`)."""
    parts = node.name.split("/")
    if _PREDICTION_NAME_RE.match(parts[-1]):
        return True
    op_named = re.sub(r"_\d+$", "", parts[-1]).lower() == node.op.lower()
    return len(parts) > 1 and op_named and _PREDICTION_NAME_RE.match(parts[-2]) is not None


def _differentiated(graph_def: Any) -> set[str]:
    """Nodes that `gradients/<node>_grad/...` differentiates. A sink among them
    is the loss itself: the backward pass starts there."""
    found = set()
    for node in graph_def.node:
        match = _GRADIENT_OF_RE.search(node.name)
        if match:
            found.add(match.group(1))
    return found


def _last_part(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _signature_outputs(found: tuple[Signature, ...]) -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for signature in found:
        for spec in signature.outputs:
            named.setdefault(node_name(spec.tensor), []).append(f"{signature.key}.{spec.alias}")
    return named


def _collection_members(collections: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    listed: dict[str, list[str]] = {}
    for name, values in sorted(collections.items()):
        if name.lower() in _OUTPUT_COLLECTIONS:
            for value in values:
                listed.setdefault(node_name(value), []).append(name)
    return listed
