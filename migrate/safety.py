"""Refuse to run graphs that hold risky ops, unless the user allows it.

Inspection never runs a graph, but `export`, `freeze`, `predict` and `verify`
must: they restore variables and evaluate tensors. A graph from an unknown
source can read or write files, run Python or call out to the network while
doing so. The writing commands ask `refuse_risky_ops` first; it names every
risky op and where it sits (graph node or library function) and says that
`--allow-risky-ops` lets them through.

What counts as risky is `inspectors.graph.RISKY_OPS`, the same table `tfckpt
graph` reports from. The Saver's own checkpoint ops (SaveV2 / RestoreV2 /
MergeV2Checkpoints in its scope, `save/` or `save_N/`, outside functions) are
what every trained graph holds and what restoring uses: they are not refused.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Iterable

from inspectors.graphs import report as graph_report
from inspectors.errors import TfckptError
from inspectors.graphs.io import node_name
from inspectors.graphs.variables import saver_scope

ALLOW_FLAG = "--allow-risky-ops"
SHOWN = 5  # risky ops named in the one-line message; the exception holds them all
# Extra Savers made after import_meta_graph are scoped save_1/, save_2/...
_SAVER_SCOPE_RE = re.compile(r"^save(?:_\d+)?/")


@dataclass(frozen=True)
class RiskyOp:
    """One risky node: its name, op, why it is risky, and the function holding it (None: graph)."""

    node: str
    op: str
    reason: str
    function: str | None

    @property
    def where(self) -> str:
        return f"function {self.function!r}" if self.function else "the graph"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class RiskyOpsRefused(TfckptError):
    """The graph holds ops that touch files, run Python or the network; exit 2."""

    def __init__(self, message: str, risky: list[RiskyOp]):
        super().__init__(message)
        self.risky = risky


def find_risky_ops(graph: Any, *, fetches: Iterable[str] | None = None,
                   vetted: frozenset[str] = frozenset()) -> list[RiskyOp]:
    """Every risky op of a GraphDef, MetaGraphDef, SavedModel proto or tf.Graph.

    With `fetches` (tensor or node names), only what evaluating them can run:
    the nodes they depend on and the library functions those nodes call.
    `vetted` graph nodes are left out: a vocabulary reader whose file the
    rebuild located itself reads that one file and nothing else.
    """
    found: list[RiskyOp] = []
    for graph_def, meta in _units(graph):
        scope = saver_scope(meta)
        reachable = None if fetches is None else _reachable(graph_def, fetches)
        for node in graph_report.risky_nodes(graph_def, scope):
            if node.saver or _saver_op(node) or (node.function is None and node.node in vetted):
                continue
            if reachable is not None and not _in(reachable, node):
                continue
            found.append(RiskyOp(node.node, node.op, node.reason, node.function))
    return sorted(set(found), key=lambda r: (r.function or "", r.node, r.op))


def refuse_risky_ops(graph: Any, *, allow: bool, where: str,
                     fetches: Iterable[str] | None = None,
                     vetted: frozenset[str] = frozenset()) -> list[RiskyOp]:
    """Raise RiskyOpsRefused naming the risky ops of `graph` unless `allow`.

    Returns the risky ops found (empty when there are none) so that a caller
    run with --allow-risky-ops can still note them on stderr. `where` names
    the graph in the message (its file, usually).
    """
    risky = find_risky_ops(graph, fetches=fetches, vetted=vetted)
    if risky and not allow:
        raise RiskyOpsRefused(refusal_message(risky, where=where), risky)
    return risky


def refusal_message(risky: list[RiskyOp], *, where: str) -> str:
    shown = ", ".join(f"{r.op} ({r.reason}: node {r.node!r} in {r.where})" for r in risky[:SHOWN])
    more = f" and {len(risky) - SHOWN} more" if len(risky) > SHOWN else ""
    return (f"the graph in {where} holds {len(risky)} risky op{'s' if len(risky) != 1 else ''} "
            f"that would run while it is used: {shown}{more}. Inspect it with `tfckpt graph "
            f"{where}`; pass {ALLOW_FLAG} only if you trust where it came from")


def _saver_op(node: graph_report.RiskyNode) -> bool:
    # graph.risky_nodes knows the meta graph's own Saver; a second Saver made
    # after import_meta_graph lives in save_1/ and is just as harmless.
    return (node.function is None and node.op in graph_report._CHECKPOINT_OPS
            and _SAVER_SCOPE_RE.match(node.node) is not None)


def _units(graph: Any) -> list[tuple[Any, Any | None]]:
    """(GraphDef, MetaGraphDef or None) for each graph the object holds."""
    if hasattr(graph, "meta_graphs"):  # SavedModel
        return [(meta.graph_def, meta) for meta in graph.meta_graphs]
    if hasattr(graph, "meta_info_def"):  # MetaGraphDef
        return [(graph.graph_def, graph)]
    if hasattr(graph, "as_graph_def"):  # tf.Graph
        return [(graph.as_graph_def(), None)]
    if hasattr(graph, "node") and hasattr(graph, "library"):  # GraphDef
        return [(graph, None)]
    raise TypeError(f"expected a GraphDef, MetaGraphDef, SavedModel or tf.Graph, "
                    f"not {type(graph).__name__}")


@dataclass(frozen=True)
class _Reachable:
    nodes: frozenset[str]
    functions: frozenset[str]


def _in(reachable: _Reachable, node: graph_report.RiskyNode) -> bool:
    if node.function is not None:
        return node.function in reachable.functions
    return node.node in reachable.nodes


def _reachable(graph_def: Any, fetches: Iterable[str]) -> _Reachable:
    """Graph nodes the fetches depend on (data and control inputs) and the
    library functions they call, directly (op = function name) or through
    function-valued attributes (Dataset map functions, If/While branches)."""
    nodes = {node.name: node for node in graph_def.node}
    bodies = {f.signature.name: f for f in graph_def.library.function}
    seen: set[str] = set()
    pending = [node_name(name) for name in fetches]
    while pending:
        name = pending.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        pending += [node_name(i) for i in nodes[name].input]
    called: set[str] = set()
    queue = [fn for name in seen for fn in _calls(nodes[name], bodies)]
    while queue:
        function = queue.pop()
        if function in called:
            continue
        called.add(function)
        queue += [fn for inner in bodies[function].node_def for fn in _calls(inner, bodies)]
    return _Reachable(frozenset(seen), frozenset(called))


def _calls(node: Any, bodies: dict[str, Any]) -> list[str]:
    names = [node.op] if node.op in bodies else []
    for value in node.attr.values():
        if value.HasField("func"):
            names.append(value.func.name)
        names += [f.name for f in value.list.func]
    return [name for name in names if name in bodies]
