"""Rules and presets -> rename plan: what every source variable becomes, before anything is written.

Each step (a rule list or a built-in preset) sees the names the previous steps
made. The plan is checked for collisions (two sources -> one name) before it is
returned; rules that matched nothing become warnings. May import inspectors and
the other `migrate.names` modules.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

from inspectors.errors import MappingConflict
from inspectors.formats.checkpoint import open_reader
from inspectors.sources.paths import resolve
from migrate.names import presets
from migrate.names.rules import (CAST, DROPPED, MERGED, RENAMED, UNCHANGED, Context, Item, NamedStep,
                                 Plan, PlanEntry, Transform, option_rule, read_rules_file, rules_step)

FLOATING = ("float16", "bfloat16", "float32", "float64")
CAST_CHOICES = ("float16", "bfloat16", "float32")

@dataclass(frozen=True)
class StepSpec:
    """One thing the user asked for, in order: kind rules|preset|map|add-prefix|strip-prefix|drop."""

    kind: str
    value: str


def resolve_steps(specs: Sequence[StepSpec]) -> list[NamedStep]:
    """Turn the ordered user steps into runnable steps (parsing files, finding presets)."""
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
    base = presets.partitioned_base(first.old)
    if base and base == presets.partitioned_base(second.old):
        return ("They are parts of one partitioned variable: put --preset merge-partitions "
                "before the other rules to write it whole")
    return "Change the rules so each variable gets its own name, or drop one"


def closest(name: str, names: Sequence[str]) -> str:
    matches = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    return f" Closest: {', '.join(matches)}." if matches else ""
