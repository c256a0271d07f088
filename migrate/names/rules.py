"""The rename rule language and the records a plan is made of.

Owns the rules (rules files, `--map`, `--add-prefix`, `--strip-prefix`, `--drop`),
the working items steps act on, the plan records, and how one rule list becomes a
step. Composing steps into a checked plan is `migrate.names.plan`; the built-in
steps are `migrate.names.presets`. Imports nothing of migrate.

Rules file syntax, one rule a line, applied in order:

    REGEX -> REPLACEMENT     Python `re` substitution on every match (`\\1`, `\\g<name>`)
    drop REGEX               drop the variables whose name REGEX searches
    # comment                (blank lines are ignored too)
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from inspectors.errors import MappingConflict, SourceNotFound, TfckptError

RENAMED, UNCHANGED, DROPPED, MERGED, FOLDED, CAST, DERIVED = (
    "renamed", "unchanged", "dropped", "merged", "folded", "cast", "derived")


@dataclass(frozen=True)
class Rule:
    """One name rule. kind: replace | drop | map | add-prefix | strip-prefix."""

    kind: str
    pattern: str
    replacement: str = ""
    origin: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        if self.kind == "drop":
            return f"drop {self.pattern}"
        if self.kind in ("add-prefix", "strip-prefix"):
            return f"{self.kind} {self.pattern}"
        return f"{self.pattern} -> {self.replacement}"

    def apply(self, name: str) -> str | None:
        """The new name, None when dropped; the same name when the rule does not match."""
        if self.kind == "map":
            return self.replacement if name == self.pattern else name
        if self.kind == "add-prefix":
            return self.pattern + name
        if self.kind == "strip-prefix":
            return name[len(self.pattern):] if name.startswith(self.pattern) else name
        regex = _compiled(self.pattern)
        if self.kind == "drop":
            return None if regex.search(name) else name
        return regex.sub(self.replacement, name)

    def matches(self, name: str) -> bool:
        if self.kind == "map":
            return name == self.pattern
        if self.kind == "add-prefix":
            return True
        if self.kind == "strip-prefix":
            return name.startswith(self.pattern)
        return _compiled(self.pattern).search(name) is not None


_REGEX_CACHE: dict[str, re.Pattern] = {}


def _compiled(pattern: str) -> re.Pattern:
    if pattern not in _REGEX_CACHE:
        _REGEX_CACHE[pattern] = re.compile(pattern)
    return _REGEX_CACHE[pattern]


@dataclass(frozen=True)
class Transform:
    """How a written tensor is made from its sources when it is not a plain copy.

    op: merge-slices (stored slices -> whole), concat (separate part_N variables
    along `axis`), add (fold: sum of the sources), cast (to `dtype`),
    iterations (Adam's beta1 power -> Keras `iter`, counted at plan time: `value`)."""

    op: str
    dtype: str | None = None
    axis: int | None = None
    value: int | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class PlanEntry:
    """One source variable (or a group merged/folded into one) and its fate."""

    old: str
    new: str | None
    action: str
    dtype: str
    shape: tuple[int, ...]
    new_dtype: str | None
    new_shape: tuple[int, ...] | None
    sources: tuple[str, ...]
    transforms: tuple[Transform, ...] = ()
    by: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict:
        return {"old": self.old, "new": self.new, "action": self.action, "dtype": self.dtype,
                "shape": list(self.shape), "new_dtype": self.new_dtype,
                "new_shape": None if self.new_shape is None else list(self.new_shape),
                "sources": list(self.sources), "transforms": [t.to_dict() for t in self.transforms],
                "by": list(self.by), "note": self.note}

    @property
    def is_copy(self) -> bool:
        """Written as the stored bytes of its single source, under a (maybe) new name."""
        return self.new is not None and not self.transforms and len(self.sources) == 1


@dataclass(frozen=True)
class Plan:
    source: str
    format: str
    path: str
    steps: tuple[str, ...]
    entries: tuple[PlanEntry, ...]
    warnings: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        counts = {action: 0 for action in (RENAMED, UNCHANGED, DROPPED, MERGED, FOLDED, CAST,
                                           DERIVED)}
        for entry in self.entries:
            counts[entry.action] += 1
        return counts

    @property
    def written(self) -> tuple[PlanEntry, ...]:
        return tuple(sorted((e for e in self.entries if e.new is not None), key=lambda e: e.new))

    def to_dict(self) -> dict:
        return {"source": self.source, "format": self.format, "path": self.path,
                "steps": list(self.steps), "entries": [e.to_dict() for e in self.entries],
                "warnings": list(self.warnings), "counts": self.counts(),
                "written": len(self.written)}


# --- the working state steps act on ------------------------------------------

@dataclass
class Item:
    """A variable on its way through the steps (mutable; frozen into PlanEntry at the end)."""

    old: str
    name: str | None
    dtype: str
    shape: tuple[int, ...]
    kind: str
    sources: list[str]
    slices: tuple = ()  # extents of a stored slice, when the source holds only part
    transforms: list[Transform] = field(default_factory=list)
    by: list[str] = field(default_factory=list)
    note: str = ""
    action: str | None = None  # forced action (merged, folded, derived, dropped)
    new_dtype: str | None = None
    new_shape: tuple[int, ...] | None = None

    @property
    def live(self) -> bool:
        return self.name is not None


@dataclass
class Context:
    """What steps share: the reader (for slice facts), warnings, the step list."""

    reader: object
    warnings: list[str]


Step = Callable[[list[Item], Context], list[Item]]


@dataclass(frozen=True)
class NamedStep:
    label: str
    run: Step


def rules_step(rules: Sequence[Rule], label: str, *, warn_unmatched: bool = True) -> NamedStep:
    """Apply rules in order to every live item; warn for each rule that matched nothing."""

    def run(items: list[Item], ctx: Context) -> list[Item]:
        for rule in rules:
            matched = False
            for item in items:
                if item.live and rule.matches(item.name):
                    matched = True
                    rename_item(item, rule.apply(item.name), rule.origin or label)
            if not matched and warn_unmatched:
                ctx.warnings.append(f"rule {rule.describe()!r} ({rule.origin or label}) "
                                    f"matched no variable")
        return items

    return NamedStep(label, run)


def rename_item(item: Item, new: str | None, origin: str, *, note: str = "") -> None:
    if new == item.name:
        return
    item.name = new
    if new is None:
        item.action = DROPPED
    if origin not in item.by:
        item.by.append(origin)
    if note:
        item.note = note


# --- parsing rules ------------------------------------------------------------

_ARROW = re.compile(r"^(?P<pattern>.+?)\s+->\s+(?P<replacement>.*)$")


def parse_rules_text(text: str, origin: str) -> list[Rule]:
    """Rules from a rules file's text; a bad line raises MappingConflict naming file and line."""
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{origin}:{number}"
        if line.startswith("drop ") or line == "drop":
            pattern = line[4:].strip()
            if not pattern:
                raise MappingConflict(f"{where}: 'drop' needs a regex. Write 'drop REGEX'")
            rules.append(Rule("drop", _check_regex(pattern, where), origin=where))
            continue
        match = _ARROW.match(line)
        if not match:
            raise MappingConflict(f"{where}: cannot parse {line!r}: expected 'REGEX -> REPLACEMENT' "
                                  f"or 'drop REGEX' (or a # comment)")
        pattern = _check_regex(match["pattern"].strip(), where)
        replacement = match["replacement"].strip()
        _check_replacement(pattern, replacement, where)
        rules.append(Rule("replace", pattern, replacement, origin=where))
    return rules


def read_rules_file(path: str) -> list[Rule]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError as error:
        raise SourceNotFound(f"rules file {path} does not exist") from error
    except (OSError, UnicodeDecodeError) as error:
        raise TfckptError(f"cannot read rules file {path}: {error}") from error
    return parse_rules_text(text, os.path.basename(path))


def _check_regex(pattern: str, where: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise MappingConflict(f"{where}: bad regex {pattern!r}: {error}") from error
    return pattern


def _check_replacement(pattern: str, replacement: str, where: str) -> None:
    try:
        re.compile(pattern).sub(replacement, "")  # compiles the template, group refs included
        template_groups = re.findall(r"\\(\d+)|\\g<(\w+)>", replacement)
        compiled = re.compile(pattern)
        for number, name in template_groups:
            if number and int(number) > compiled.groups:
                raise re.error(f"invalid group reference {number}")
            if name and not name.isdigit() and name not in compiled.groupindex:
                raise re.error(f"unknown group name {name!r}")
            if name.isdigit() and int(name) > compiled.groups:
                raise re.error(f"invalid group reference {name}")
    except re.error as error:
        raise MappingConflict(f"{where}: bad replacement {replacement!r}: {error}") from error


def parse_map(text: str) -> Rule:
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise MappingConflict(f"--map {text!r}: expected OLD=NEW (full variable names)")
    return Rule("map", old, new, origin=f"--map {text}")


def option_rule(kind: str, value: str) -> Rule:
    """The rule of one command-line option: map, add-prefix, strip-prefix or drop."""
    if kind == "map":
        return parse_map(value)
    if kind == "drop":
        return Rule("drop", _check_regex(value, "--drop"), origin=f"--drop {value}")
    if not value:
        raise MappingConflict(f"--{kind} needs a non-empty prefix")
    return Rule(kind, value, origin=f"--{kind} {value}")
