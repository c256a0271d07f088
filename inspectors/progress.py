"""Progress bars for long work: on a terminal only, on stderr, never when piped or -q.

Library functions take `progress`, a callable `(iterable, total) -> iterable` (or
None); the command line makes one with `bar_for(args)`, so the library never prints.
"""

from __future__ import annotations

import sys
from typing import Callable, Iterable, Optional

Progress = Optional[Callable[[Iterable, int], Iterable]]


def bar_for(args, unit: str = "var") -> Progress:
    """A bar over `total` items when stderr is a terminal and the command is not quiet."""
    if getattr(args, "quiet", False) or not sys.stderr.isatty():
        return None

    def bar(iterable: Iterable, total: int) -> Iterable:
        if total < 2:
            return iterable
        from tqdm import tqdm

        return tqdm(iterable, total=total, unit=unit, file=sys.stderr, leave=False)

    return bar


def tracked(iterable: Iterable, total: int, progress: Progress) -> Iterable:
    """`iterable` under the bar when there is one."""
    return progress(iterable, total) if progress else iterable
