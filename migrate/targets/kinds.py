"""Which target an export writes: named with `--to`, or told by the output's extension.

Light on purpose (no imports): the `export` parser lists these choices, and
`tfckpt --help` must not pay for TensorFlow. A new target is one more entry in
TARGETS (and EXTENSIONS, if a file extension names it) plus its writer in
`migrate.convert.WRITERS`.
"""

from __future__ import annotations

import os

SAVED_MODEL, ONNX, KERAS = "saved-model", "onnx", "keras"
TARGETS = (SAVED_MODEL, ONNX, KERAS)
# Output extensions that name a target; anything else is a SavedModel directory.
EXTENSIONS = {".onnx": ONNX, ".keras": KERAS}


def target_of(output: str, explicit: str | None = None) -> str:
    """`explicit` (the --to value) if given, else what the output's extension says."""
    if explicit:
        return explicit
    return EXTENSIONS.get(os.path.splitext(output.rstrip(os.sep))[1].lower(), SAVED_MODEL)


def extension_conflict(output: str, target: str) -> str | None:
    """The target the output's extension names, when it differs from `target`."""
    named = EXTENSIONS.get(os.path.splitext(output.rstrip(os.sep))[1].lower())
    return named if named is not None and named != target else None
