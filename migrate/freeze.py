"""InferenceGraph -> frozen GraphDef: variables become constants, nothing else remains.

Placeholders are renamed to their feature keys and every output gets an
Identity node named after its prediction key, so the frozen file describes
itself: `import_graph_def`, feed `<feature>:0`, fetch `<key>:0`. Lookup tables
cannot be constants; their initializers stay behind one node, `init_all_tables`,
which a caller runs once (our own frozen-graph reader does).
"""

from __future__ import annotations

from typing import Any

from inspectors.tf_loader import tensorflow
from migrate.inference import InferenceGraph
from migrate.predictors import INIT_TABLES


def frozen_graph_def(inference: InferenceGraph) -> tuple[Any, dict[str, str]]:
    """(the frozen GraphDef, prediction key -> output node name)."""
    tf = tensorflow()
    graph = inference.graph
    with graph.as_default():
        outputs = {key: tf.identity(tensor, name=_free_name(graph, key)).op.name
                   for key, tensor in inference.outputs.items()}
        keep = list(outputs.values())
        if inference.init_op is not None:
            init = inference.init_op
            if init.name != INIT_TABLES:
                init = tf.group(init, name=_free_name(graph, INIT_TABLES))
            keep.append(init.name)
    frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
        inference.session, graph.as_graph_def(), keep)
    renames = {tensor.op.name: key for key, tensor in inference.inputs.items()
               if tensor.op.name != key and not _has_node(frozen, key)}
    _rename_nodes(frozen, renames)
    for node in frozen.node:
        node.device = ""
    return frozen, outputs


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
