"""The `tfckpt dir` command: argument parsing, the library call, rendering."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    """Not yet registered."""
