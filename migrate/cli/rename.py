"""The `tfckpt rename` command: rules and presets -> plan -> (dry run | new checkpoint)."""

from __future__ import annotations

import argparse
import sys

from inspectors.errors import EXIT_OK, TfckptError
from inspectors.progress import bar_for

PLAN_COLUMNS = ("old", "new", "action", "dtype", "shape", "by")


class _Ordered(argparse.Action):
    """Collect rule-making options in the order given: they compose in that order."""

    def __call__(self, parser, namespace, values, option_string=None):
        from migrate.names.plan import StepSpec

        steps = list(getattr(namespace, "steps", None) or [])
        steps.append(StepSpec(self.dest, values))
        namespace.steps = steps


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    rename = subparsers.add_parser(
        "rename", parents=[parent], help="rename, drop, merge or cast variables into a new checkpoint",
        description="Rename variables with rules and presets (applied in the order given), "
                    "print the plan (--dry-run), or write OUT_DIR/<source name>.index + "
                    ".data-00000-of-00001 + a `checkpoint` file: a V2 checkpoint, re-read "
                    "and checked bit for bit before it is moved into place.")
    rename.add_argument("source", metavar="SRC", nargs="?",
                        help="checkpoint prefix, model dir, DIR@STEP, V1 file or Keras .h5")
    rename.add_argument("output", metavar="OUT_DIR", nargs="?",
                        help="directory to create for the new checkpoint (not needed with --dry-run)")
    add_rule_options(rename)
    rename.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    rename.add_argument("--cast", choices=("float16", "bfloat16", "float32"),
                        help="cast floating tensors to this dtype")
    rename.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    rename.add_argument("--force", action="store_true",
                        help="replace an existing OUT_DIR once the new one is verified")
    rename.set_defaults(handler=run_rename, steps=[])


def add_rule_options(parser: argparse.ArgumentParser) -> None:
    """The rule-making options (--rules, --map, --add-prefix, --strip-prefix, --drop,
    --preset), collected in order into `args.steps`; rename and export-weights share them."""
    rules = parser.add_argument_group("rules (compose in the order given)")
    rules.add_argument("--rules", dest="rules", metavar="FILE", action=_Ordered,
                       help="rules file: 'REGEX -> REPLACEMENT', 'drop REGEX', '# comment' lines")
    rules.add_argument("--map", dest="map", metavar="OLD=NEW", action=_Ordered,
                       help="rename one variable (full names; repeatable)")
    rules.add_argument("--add-prefix", dest="add-prefix", metavar="PREFIX", action=_Ordered)
    rules.add_argument("--strip-prefix", dest="strip-prefix", metavar="PREFIX", action=_Ordered)
    rules.add_argument("--drop", dest="drop", metavar="REGEX", action=_Ordered,
                       help="drop variables whose name REGEX searches")
    rules.add_argument("--preset", dest="preset", metavar="NAME", action=_Ordered,
                       help="a built-in rule pack (repeatable; see `tfckpt rename --list-presets`)")
    parser.set_defaults(steps=[])


def run_rename(args: argparse.Namespace) -> int:
    if args.list_presets:
        return _list_presets(args)
    if args.format == "csv":
        raise TfckptError("rename writes table or json. Pass --format table or --format json")
    if not args.source:
        raise TfckptError("rename needs SRC (and OUT_DIR unless --dry-run)")
    if not args.dry_run and not args.output:
        raise TfckptError("rename needs OUT_DIR to write to (or --dry-run to print the plan)")
    from migrate.names.plan import build_plan

    plan = build_plan(args.source, args.steps, cast=args.cast)
    for warning in plan.warnings:
        print(f"tfckpt: warning: {warning}", file=sys.stderr)
    if args.dry_run:
        if not args.quiet:
            sys.stdout.write(render_plan(plan, args.format))
        return EXIT_OK
    from migrate.write.rewrite import rewrite

    result = rewrite(plan, args.output, force=args.force, progress=bar_for(args))
    if not args.quiet:
        sys.stdout.write(_render_result(plan, result, args.format))
    return EXIT_OK


def _list_presets(args) -> int:
    from inspectors import render
    from migrate.names.presets import PRESETS

    if args.format == "json":
        sys.stdout.write(render.to_json([p.to_dict() for p in PRESETS.values()]))
    else:
        width = max(len(name) for name in PRESETS)
        sys.stdout.write("".join(f"{p.name:<{width}}  {p.description}\n" for p in PRESETS.values()))
    return EXIT_OK


def render_plan(plan, fmt: str) -> str:
    from inspectors import render

    if fmt == "json":
        return render.to_json(plan.to_dict())
    rows = [_row(entry) for entry in plan.entries]
    counts = ", ".join(f"{n} {action}" for action, n in plan.counts().items() if n)
    return (f"source: {plan.source} ({plan.format})\n"
            + render.to_table(rows, PLAN_COLUMNS)
            + f"\n{len(plan.written)} to write: {counts}\n")


def _row(entry) -> dict:
    from inspectors.render import shape_text

    dtype = entry.dtype if entry.new_dtype in (None, entry.dtype) else f"{entry.dtype} -> {entry.new_dtype}"
    shape = shape_text(entry.shape)
    if entry.new_shape is not None and tuple(entry.new_shape) != tuple(entry.shape):
        shape += f" -> {shape_text(entry.new_shape)}"
    new = "-" if entry.new is None else ("=" if entry.new == entry.old else entry.new)
    if len(entry.sources) > 1:
        new += f" (+{len(entry.sources) - 1})"
    return {"old": entry.old, "new": new, "action": entry.action, "dtype": dtype,
            "shape": shape, "by": ", ".join(entry.by)}


def _render_result(plan, result, fmt: str) -> str:
    from inspectors import render

    if fmt == "json":
        return render.to_json({"output": result.to_dict(), "plan": plan.to_dict()})
    counts = ", ".join(f"{n} {action}" for action, n in plan.counts().items() if n)
    return (f"wrote {result.prefix} ({result.written} variables, "
            f"{render.human_bytes(result.nbytes)}; {result.copied} copied as stored, "
            f"{result.encoded} re-encoded)\n"
            f"verified: every tensor re-read and equal to its source or planned value\n"
            f"plan: {counts}\n")
