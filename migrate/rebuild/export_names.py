"""Feature names for inputs the training graph leaves unnamed, read from the model
dir's own export.

A tf.contrib.learn graph reads its real-valued columns straight from a DecodeCSV or a
queue and concatenates them in the order of their sorted names: no node carries the
name. The SavedModel the author exported beside the checkpoints (`export*/*/`) does:
its signature maps each feature name to a placeholder. Both graphs hold the same model
nodes (`dnn/input_from_feature_columns/.../concat`), so an input is the feature whose
placeholder enters the same model node at the same input position. Only a match that
is one to one renames anything; a feature the export does not pin down keeps its name.
"""

from __future__ import annotations

import glob
import os
from collections import deque
from typing import Any

from inspectors.graphs import io as graph_io
from inspectors.graphs.io import data_inputs, node_name

EXPORTS = (("export*", "*", "saved_model.pb"), ("export*", "*", "*", "saved_model.pb"))
_MAX_STEPS = 12  # nodes walked from an input before its model node; pipelines are short

Anchor = tuple[str, int]  # (model node, which of its inputs the feature enters)


def author_exports(model_dir: str) -> list[str]:
    """The SavedModels exported into `model_dir`, newest (largest timestamp) first."""
    found: list[str] = []
    for pattern in EXPORTS:
        found += glob.glob(os.path.join(glob.escape(model_dir), *pattern))
    return sorted(found, key=lambda path: os.path.basename(os.path.dirname(path)), reverse=True)


def names_from_export(graph_def: Any, unnamed: dict[str, str], export: str
                      ) -> dict[str, str]:
    """key -> the feature name the export gives that input, for the `unnamed` inputs
    (key -> tensor in `graph_def`) it pins down one to one."""
    served, named = _serving_graph(export)
    if not named:
        return {}
    shared = _shared_nodes(graph_def, served)
    by_anchor: dict[Anchor, set[str]] = {}
    for placeholder, name in named.items():
        for anchor in _anchors(served, placeholder, shared):
            by_anchor.setdefault(anchor, set()).add(name)
    found: dict[str, str] = {}
    for key, tensor in unnamed.items():
        names = set()
        for anchor in _anchors(graph_def, node_name(tensor), shared):
            names |= by_anchor.get(anchor, set())
        if len(names) == 1:
            found[key] = names.pop()
    taken = list(found.values())
    return {key: name for key, name in found.items() if taken.count(name) == 1}


def _serving_graph(export: str) -> tuple[Any, dict[str, str]]:
    """(its serving GraphDef, placeholder node -> feature name from its signatures)."""
    loaded = graph_io.load(export)
    units = [unit for unit in loaded.units if unit.meta is not None]
    serving = [unit for unit in units if "serve" in unit.meta.meta_info_def.tags] or units
    if not serving:
        return None, {}
    meta = serving[0].meta
    nodes = {node.name: node for node in meta.graph_def.node}
    named: dict[str, str] = {}
    for signature in meta.signature_def.values():
        for name, info in signature.inputs.items():
            node = nodes.get(node_name(info.name))
            if node is not None and node.op.startswith("Placeholder"):
                named.setdefault(node.name, name)
    return meta.graph_def, named


def _shared_nodes(first: Any, second: Any) -> set[str]:
    """Model nodes both graphs hold: the same scoped name and op. Unscoped names
    (`ExpandDims_3`) are numbered by creation order and mean different things."""
    ops = {node.name: node.op for node in first.node if "/" in node.name}
    return {node.name for node in second.node if ops.get(node.name) == node.op}


def _anchors(graph_def: Any, start: str, shared: set[str]) -> set[Anchor]:
    """The first shared nodes reached from `start` along data edges, each with the
    input position the path enters it by."""
    readers = _readers(graph_def)
    found: set[Anchor] = set()
    queue, seen = deque([(start, 0)]), {start}
    while queue:
        name, steps = queue.popleft()
        for reader, position in readers.get(name, ()):
            if reader.name in shared:
                found.add((reader.name, position))
            elif reader.name not in seen and steps < _MAX_STEPS:
                seen.add(reader.name)
                queue.append((reader.name, steps + 1))
    return found


def _readers(graph_def: Any) -> dict[str, list[tuple[Any, int]]]:
    found: dict[str, list[tuple[Any, int]]] = {}
    for node in graph_def.node:
        for position, name in enumerate(data_inputs(node)):
            found.setdefault(node_name(name), []).append((node, position))
    return found


def rename_note(export: str, renamed: dict[str, str]) -> str:
    pairs = ", ".join(f"{old} -> {new}" for old, new in sorted(renamed.items()))
    return f"input(s) the graph leaves unnamed named as the author's export {export} names them: {pairs}"

