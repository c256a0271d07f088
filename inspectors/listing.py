"""`tfckpt ls`: the variables of any source, their kinds, sizes and totals.

Only the index is read; the one exception is `global_step`, a scalar whose
value names the step when the file name does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inspectors.formats.checkpoint import BOOKKEEPING, VariableInfo, open_reader
from inspectors.errors import TfckptError
from inspectors.sources.paths import Source, resolve

GLOBAL_STEP_NAMES = ("global_step", "global_step/.ATTRIBUTES/VARIABLE_VALUE")


@dataclass(frozen=True)
class Listing:
    source: Source
    variables: tuple[VariableInfo, ...]
    global_step: int | None

    def totals(self) -> dict:
        return {"variables": len(self.variables),
                "params": sum(v.size for v in self.variables),
                "nbytes": sum(v.nbytes for v in self.variables)}

    def to_dict(self) -> dict:
        return {"source": self.source.path, "format": self.source.format,
                "global_step": self.global_step, "step": self.source.step, "notes": list(self.source.notes),
                "variables": [v.to_dict() for v in sorted(self.variables, key=_by_name)],
                "totals": self.totals()}


def list_source(given: str, *, match: str | None = None, exclude: str | None = None,
                kind: str | None = None, sort: str = "name") -> Listing:
    source = resolve(given)
    reader = open_reader(source)
    everything = reader.variables()
    including = compile_regex(match, "--match")
    excluding = compile_regex(exclude, "--exclude")
    chosen = [v for v in everything
              if _keep(v, including=including, excluding=excluding, kind=kind)]
    key = _by_name if sort == "name" else (lambda v: (-v.nbytes, -v.size, v.name))
    return Listing(source=source, variables=tuple(sorted(chosen, key=key)),
                   global_step=_global_step(reader, everything))


@dataclass(frozen=True)
class ScopeRow:
    """One scope of `ls --tree`: everything whose name starts with `scope/`."""

    scope: str
    depth: int
    variables: int
    params: int
    nbytes: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def scope_tree(variables: tuple[VariableInfo, ...], *, depth: int | None = None) -> list[ScopeRow]:
    """Scopes in name order, each with subtotals, down to `depth` levels (None: all)."""
    totals: dict[tuple[str, ...], list[int]] = {}
    for info in variables:
        parts = tuple(info.name.split("/"))
        for level in range(1, len(parts) + 1 if depth is None else min(depth, len(parts)) + 1):
            entry = totals.setdefault(parts[:level], [0, 0, 0])
            entry[0] += 1
            entry[1] += info.size
            entry[2] += info.nbytes
    return [ScopeRow(scope="/".join(key), depth=len(key), variables=count, params=params,
                     nbytes=nbytes)
            for key, (count, params, nbytes) in sorted(totals.items())]


def compile_regex(pattern: str | None, option: str) -> re.Pattern | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        raise TfckptError(f"{option} {pattern!r} is not a valid regular expression: {error}. "
                          f"Quote it for the shell and escape special characters") from error


def _keep(info: VariableInfo, *, including: re.Pattern | None,
          excluding: re.Pattern | None, kind: str | None) -> bool:
    return ((including is None or including.search(info.name) is not None)
            and (excluding is None or excluding.search(info.name) is None)
            and (kind is None or info.kind == kind))


def _global_step(reader, variables: list[VariableInfo]) -> int | None:
    for info in variables:
        if info.name in GLOBAL_STEP_NAMES and info.kind == BOOKKEEPING and info.size == 1:
            try:
                return int(reader.read(info.name).reshape(-1)[0])
            except (TfckptError, ValueError, TypeError):
                break
    return reader.source.step


def _by_name(info: VariableInfo) -> str:
    return info.name
