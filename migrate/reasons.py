"""One line out of TensorFlow's run-time errors: the node that failed and why.

TensorFlow 2.21 opens an `OpError` from a session run or a signature call with
"Graph execution error:" and puts the reason on the lines after it, between a
"Detected at node ..." stack and an "Original stack trace". A message that
keeps only the first line says nothing; this module keeps the node (from the
error's op, `Node: 'name'` or `[[{{node name}}]]`) and TensorFlow's own
message, and drops the stacks. It reads the text and the error's attributes;
only `initialize_tables` (which runs something) touches TensorFlow.
"""

from __future__ import annotations

import re
from typing import Any

from inspectors.errors import UnsupportedSource

_NODE_LINE = re.compile(r"^Node: '([^']+)'")
_NODE_MARK = re.compile(r"\[\[\{\{node ([^}]+)\}\}\]\]")
_FUNCTION_MARK = re.compile(r"\{\{function_node [^}]*\}\}\s*")
_HEADERS = ("Graph execution error:",)
_STACK_STARTS = ("Detected at node", "Original stack trace", "Detected in ", "Stack trace")


def error_line(error: BaseException) -> str:
    """`node 'NAME': REASON (ErrorClass)`, or the reason alone when no node is named."""
    text = str(error)
    node = failed_node(error, text)
    reason = reason_of(text) or type(error).__name__
    kind = type(error).__name__
    where = f"node {node!r}: " if node else ""
    return f"{where}{reason} ({kind})" if kind not in reason else f"{where}{reason}"


def failed_node(error: BaseException, text: str) -> str | None:
    op = getattr(error, "op", None)
    name = getattr(op, "name", None)
    if name:
        return name
    for line in text.splitlines():
        found = _NODE_LINE.match(line.strip())
        if found:
            return found.group(1)
    found = _NODE_MARK.search(text)
    return found.group(1) if found else None


def reason_of(text: str) -> str:
    """TensorFlow's message without headers, stacks and node markers, on one line."""
    kept: list[str] = []
    in_stack = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(_STACK_STARTS):
            in_stack = True
            continue
        if in_stack and (raw.startswith((" ", "\t")) or line.startswith("File ")):
            continue
        in_stack = False
        if not line or line in _HEADERS or _NODE_LINE.match(line):
            continue
        line = _FUNCTION_MARK.sub("", _NODE_MARK.sub("", line)).strip()
        if line:
            kept.append(line)
    return "; ".join(dict.fromkeys(kept))


def initialize_tables(session: Any, init_op: Any, *, where: str) -> None:
    """Run a graph's table initializers; a failure (a vocabulary file with a repeated
    key, a file that cannot be read) is one error naming the node and the reason."""
    from inspectors.tf_loader import tensorflow

    tf = tensorflow()
    try:
        session.run(init_op)
    except tf.errors.OpError as error:
        raise UnsupportedSource(f"the lookup tables of {where} cannot be initialized: "
                                f"{error_line(error)}") from None
