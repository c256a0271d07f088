"""Option values and argument types shared by several reading commands."""

from __future__ import annotations

import argparse

KIND_CHOICES = ("model", "optimizer", "bookkeeping")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value
