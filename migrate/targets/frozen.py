"""InferenceGraph -> frozen GraphDef: variables become constants, nothing else remains.

Placeholders are renamed to their feature keys and every output gets an
Identity node named after its prediction key, so the frozen file describes
itself: `import_graph_def`, feed `<feature>:0`, fetch `<key>:0`. Lookup tables
cannot be constants; their initializers stay behind one node, `init_all_tables`,
which a caller runs once (our own frozen-graph reader does). Vocabulary files
stay files: the graph's filename constants name where the rebuild found them.
"""

from __future__ import annotations

from typing import Any

from inspectors.tf_loader import tensorflow
from migrate.rebuild.inference import InferenceGraph
from migrate.rebuild.inference import INIT_TABLES


def frozen_graph_def(inference: InferenceGraph) -> tuple[Any, dict[str, str]]:
    """(the frozen GraphDef, prediction key -> output node name)."""
    tf = tensorflow()
    keep = [tensor.op.name for tensor in inference.outputs.values()]
    init = inference.init_op
    if init is not None and init.name != INIT_TABLES:
        with inference.graph.as_default():
            init = tf.group(init, name=_free_name(inference.graph, INIT_TABLES))
    if init is not None:
        keep.append(init.name)
    # Only what the outputs need: a loaded SavedModel also holds its other signatures' inputs.
    needed = tf.compat.v1.graph_util.extract_sub_graph(inference.graph.as_graph_def(), keep)
    frozen = tf.compat.v1.graph_util.convert_variables_to_constants(inference.session, needed, keep)
    if _inputs_as_placeholders(frozen, inference):
        frozen = tf.compat.v1.graph_util.extract_sub_graph(frozen, keep)
    for node in frozen.node:
        node.device = ""
        if node.op == "IsVariableInitialized":
            _make_true(node)
        _drop_refs(node)
    for key, tensor in inference.inputs.items():
        if tensor.op.name != key:
            _free(frozen, key)
            _rename_nodes(frozen, {tensor.op.name: key})
    outputs = {key: _name_output(frozen, key, tensor) for key, tensor in inference.outputs.items()}
    return frozen, outputs


def asset_notes(inference: InferenceGraph) -> list[str]:
    """A frozen graph cannot carry files: say which ones it reads, and from where."""
    return [f"the frozen graph reads {asset.found} when {INIT_TABLES} runs ({asset.reader}); "
            f"keep the file at that path, or export a SavedModel, which copies it into assets/"
            for asset in inference.assets]


def _inputs_as_placeholders(graph_def: Any, inference: InferenceGraph) -> bool:
    """An input fed in the middle of a graph (a SavedModel's `x` after its own
    tf.Example parsing) becomes a placeholder, so the frozen graph takes it as given."""
    nodes = {node.name: node for node in graph_def.node}
    changed = False
    for tensor in inference.inputs.values():
        node = nodes.get(tensor.op.name)
        if node is None or node.op == "Placeholder" or tensor.value_index != 0:
            continue
        node.op = "Placeholder"
        del node.input[:]
        for attr in list(node.attr):
            del node.attr[attr]
        node.attr["dtype"].type = tensor.dtype.as_datatype_enum
        node.attr["shape"].shape.CopyFrom(tensor.shape.as_proto())
        changed = True
    return changed


def _name_output(graph_def: Any, key: str, tensor: Any) -> str:
    """Make `key` the name of a node that yields `tensor` (an Identity when needed)."""
    if tensor.op.name == key and tensor.value_index == 0:
        return key
    _free(graph_def, key)
    node = graph_def.node.add()
    node.name = key
    node.op = "Identity"
    node.input.append(tensor.op.name if tensor.value_index == 0 else tensor.name)
    node.attr["T"].type = tensor.dtype.as_datatype_enum
    return key


def _make_true(node: Any) -> None:
    """A variable that became a constant is initialized: `tf.cond`s over
    IsVariableInitialized (`initialized_value()`) would otherwise ask for a ref input."""
    tf = tensorflow()
    node.op = "Const"
    del node.input[:]
    node.attr.clear()
    node.attr["dtype"].type = tf.bool.as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(True))


_REF_OPS = {"RefSwitch": "Switch", "RefIdentity": "Identity", "RefMerge": "Merge",
            "RefEnter": "Enter", "RefExit": "Exit", "RefNextIteration": "NextIteration",
            "RefSelect": "Select"}
_REF_OFFSET = 100  # DT_FLOAT_REF = DT_FLOAT + 100, and so on


def _drop_refs(node: Any) -> None:
    """Nodes that passed a variable's reference along now pass a constant's value."""
    node.op = _REF_OPS.get(node.op, node.op)
    for value in node.attr.values():
        if value.type > _REF_OFFSET:
            value.type -= _REF_OFFSET
        if value.list.type:
            value.list.type[:] = [t - _REF_OFFSET if t > _REF_OFFSET else t for t in value.list.type]


def _free(graph_def: Any, name: str) -> None:
    """Rename the node called `name`, if any, so that the name can be given to another."""
    if not _has_node(graph_def, name):
        return
    taken = {node.name for node in graph_def.node}
    number = 1
    while f"{name}_{number}" in taken:
        number += 1
    _rename_nodes(graph_def, {name: f"{name}_{number}"})


def _free_name(graph: Any, wanted: str) -> str:
    """`wanted` if no op has it yet; TensorFlow would otherwise append `_1` itself."""
    try:
        graph.get_operation_by_name(wanted)
    except KeyError:
        return wanted
    return graph.unique_name(wanted, mark_as_used=False)


def _has_node(graph_def: Any, name: str) -> bool:
    return any(node.name == name for node in graph_def.node)


def _rename_nodes(graph_def: Any, renames: dict[str, str]) -> None:
    if not renames:
        return
    for node in graph_def.node:
        node.name = renames.get(node.name, node.name)
        for index, name in enumerate(node.input):
            control = name.startswith("^")
            base, _, port = name.lstrip("^").partition(":")
            if base in renames:
                node.input[index] = ("^" if control else "") + renames[base] + (f":{port}" if port else "")
