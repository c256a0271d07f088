"""Matching what the user typed against variable names: `:0` suffixes, globs,
and the closest matches (never the whole map) when a name is unknown."""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Iterable, Sequence

from inspectors.errors import SourceNotFound

_OUTPUT_INDEX_RE = re.compile(r":\d+$")


def select(requested: Sequence[str], available: Iterable[str], *, where: str) -> list[str]:
    """The available names each request picks, in request order, without repeats.

    `dense/kernel:0` means `dense/kernel`; `dense/*` is a glob. A request that
    picks nothing raises SourceNotFound naming the closest matches.
    """
    names = sorted(available)
    chosen: dict[str, None] = {}
    for request in requested:
        matches = _match(request, names)
        if not matches:
            raise SourceNotFound(f"no variable {request!r} in {where}.{closest_hint(request, names)}")
        chosen.update(dict.fromkeys(matches))
    return list(chosen)


def closest_hint(name: str, names: Sequence[str], *, count: int = 5) -> str:
    close = difflib.get_close_matches(name, names, n=count, cutoff=0.5)
    if not close:
        close = [n for n in names if name.rsplit("/", 1)[-1] in n][:count]
    if not close:
        return " Run `tfckpt ls` to see the names"
    return " Closest: " + ", ".join(close)


def _match(request: str, names: Sequence[str]) -> list[str]:
    plain = _OUTPUT_INDEX_RE.sub("", request)
    if any(char in plain for char in "*?["):
        return fnmatch.filter(names, plain)
    return [plain] if plain in names else []
