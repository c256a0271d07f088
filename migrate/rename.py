"""Rules -> rename plan: what every source variable becomes, before anything is written.

Owns the rule language (rules files, `--map`, `--add-prefix`, `--strip-prefix`,
`--drop`), the plan records, and how steps compose: each step (a rule list or a
built-in preset from `migrate.presets`) sees the names the previous steps made.
The plan is checked for collisions (two sources -> one name) before it is
returned; rules that matched nothing become warnings.

Rules file syntax, one rule a line, applied in order:

    REGEX -> REPLACEMENT     Python `re` substitution on every match (`\\1`, `\\g<name>`)
    drop REGEX               drop the variables whose name REGEX searches
    # comment                (blank lines are ignored too)
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from inspectors.errors import MappingConflict, SourceNotFound, TfckptError

RENAMED, UNCHANGED, DROPPED, MERGED, FOLDED, CAST, DERIVED = (
    "renamed", "unchanged", "dropped", "merged", "folded", "cast", "derived")
FLOATING = ("float16", "bfloat16", "float32", "float64")
CAST_CHOICES = ("float16", "bfloat16", "float32")


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


# --- building the plan ----------------------------------------------------------

@dataclass(frozen=True)
class StepSpec:
    """One thing the user asked for, in order: kind rules|preset|map|add-prefix|strip-prefix|drop."""

    kind: str
    value: str


def resolve_steps(specs: Sequence[StepSpec]) -> list[NamedStep]:
    """Turn the ordered user steps into runnable steps (parsing files, finding presets)."""
    from migrate import presets

    steps = []
    for spec in specs:
        if spec.kind == "rules":
            steps.append(rules_step(read_rules_file(spec.value), f"rules {spec.value}"))
        elif spec.kind == "preset":
            steps.append(presets.get(spec.value).step())
        else:
            rule = option_rule(spec.kind, spec.value)
            steps.append(rules_step([rule], rule.origin))
    return steps


def build_plan(given: str, specs: Sequence[StepSpec] = (), *, cast: str | None = None,
               steps: Sequence[NamedStep] | None = None) -> Plan:
    """Resolve `given`, run the steps over its variables, return the checked plan."""
    from inspectors.checkpoint import open_reader
    from inspectors.paths import resolve

    source = resolve(given)
    reader = open_reader(source)
    steps = list(steps) if steps is not None else resolve_steps(specs)
    return plan_for_reader(reader, steps, cast=cast)


def initial_items(reader) -> list[Item]:
    """One item per source variable. A variable stored in several slices is always
    written whole (a partitioned graph's Saver still restores slices of it); a key
    holding one slice of a larger shape keeps its extents for merge-partitions."""
    items = []
    for info in reader.variables():
        entry = reader.entry(info.name) if hasattr(reader, "entry") else None
        item = Item(old=info.name, name=info.name, dtype=info.dtype, shape=info.shape,
                    kind=info.kind, sources=[info.name])
        if entry is not None and len(entry.slices) > 1:
            item.transforms.append(Transform("merge-slices"))
            item.action = MERGED
            item.note = f"stored in {len(entry.slices)} slices, written whole"
        elif entry is not None and len(entry.slices) == 1 and not _covers(entry):
            item.slices = entry.slices[0].extents
        items.append(item)
    return items


def _covers(entry) -> bool:
    return all(length == -1 or (start == 0 and length == dim)
               for (start, length), dim in zip(entry.slices[0].extents, entry.shape))


def plan_for_reader(reader, steps: Sequence[NamedStep], *, cast: str | None = None) -> Plan:
    items = initial_items(reader)
    ctx = Context(reader=reader, warnings=[])
    for step in steps:
        items = step.run(items, ctx)
    for item in items:
        if item.live and item.slices and not item.transforms:
            item.note = (f"holds one slice of a {list(item.shape)} tensor; "
                         f"add --preset merge-partitions or --drop it")
            ctx.warnings.append(f"{item.old}: {item.note}")
    if cast:
        _apply_cast(items, cast)
    entries = tuple(sorted((_freeze(item) for item in items), key=lambda e: e.old))
    check_collisions(entries)
    source = reader.source
    return Plan(source=source.given, format=source.format, path=source.path,
                steps=tuple(step.label for step in steps), entries=entries,
                warnings=tuple(ctx.warnings))


def _apply_cast(items: list[Item], dtype: str) -> None:
    if dtype not in CAST_CHOICES:
        raise MappingConflict(f"--cast {dtype}: choose one of {', '.join(CAST_CHOICES)}")
    for item in items:
        current = item.new_dtype or item.dtype
        if item.live and current in FLOATING and current != dtype:
            item.transforms.append(Transform("cast", dtype=dtype))
            item.new_dtype = dtype
            item.by.append(f"--cast {dtype}")


def _freeze(item: Item) -> PlanEntry:
    if item.action:  # merged parts written as one, folded, derived, or dropped
        action = item.action
    elif item.name is None:
        action = DROPPED
    elif any(t.op == "cast" for t in item.transforms):
        action = CAST
    else:
        action = RENAMED if item.name != item.old else UNCHANGED
    live = item.name is not None
    return PlanEntry(old=item.old, new=item.name, action=action, dtype=item.dtype,
                     shape=tuple(item.shape),
                     new_dtype=(item.new_dtype or item.dtype) if live else None,
                     new_shape=tuple(item.new_shape or item.shape) if live else None,
                     sources=tuple(item.sources), transforms=tuple(item.transforms),
                     by=tuple(item.by), note=item.note)


def check_collisions(entries: Sequence[PlanEntry]) -> None:
    """Two different sources written under one name is refused, naming both."""
    seen: dict[str, PlanEntry] = {}
    for entry in entries:
        if entry.new is None:
            continue
        first = seen.get(entry.new)
        if first is not None:
            rules = ", ".join(dict.fromkeys(first.by + entry.by)) or "no rule"
            raise MappingConflict(f"{first.old!r} and {entry.old!r} would both become "
                                  f"{entry.new!r} (rules: {rules}). {_collision_advice(first, entry)}")
        seen[entry.new] = entry


def _collision_advice(first: PlanEntry, second: PlanEntry) -> str:
    part = re.compile(r"/part_\d+(?=/|$)")
    if part.search(first.old) and part.sub("", first.old) == part.sub("", second.old):
        return ("They are parts of one partitioned variable: put --preset merge-partitions "
                "before the other rules to write it whole")
    return "Change the rules so each variable gets its own name, or drop one"


def closest(name: str, names: Sequence[str]) -> str:
    matches = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    return f" Closest: {', '.join(matches)}." if matches else ""
