"""The reading commands (`ls`, `show`, `diff`, `dir`, `graph`), one module each.

Each handler: call the library, render in the chosen format, return the exit
code. Library modules are imported inside handlers so `--help` stays fast.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    from inspectors.cli import diff, graph, ls, model_dir, show

    for command in (ls, show, diff, model_dir, graph):
        command.register(subparsers, parent)
