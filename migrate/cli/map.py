"""The `tfckpt map` command: argument parsing, the library calls, rendering."""

from __future__ import annotations

import argparse
import json
import sys

from inspectors.errors import EXIT_DIFFERENT, EXIT_OK, TfckptError
from inspectors.progress import bar_for

COLUMNS = ("target", "source", "how", "dtype", "shape")


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    cmd = subparsers.add_parser(
        "map", parents=[parent], help="map a checkpoint onto the variables of another graph",
        description="Find the source variable for every variable TARGET expects (exact name, "
                    "then the rename presets, then a unique shape match within similar scopes), "
                    "write them as a new checkpoint in OUT and prove it by restoring it into "
                    "TARGET's graph with a Saver. Exit 1 when TARGET variables have no source "
                    "(unless --allow-missing).")
    cmd.add_argument("src", metavar="SRC", help="the checkpoint to map (any form ls accepts)")
    cmd.add_argument("out", metavar="OUT", nargs="?",
                     help="output directory for the mapped checkpoint (not with --dry-run)")
    cmd.add_argument("--to", required=True, metavar="TARGET", dest="target",
                     help="a .meta graph, another checkpoint, or module:function / file.py:function "
                          "(an old model_fn, built in PREDICT mode)")
    cmd.add_argument("--features", metavar="SPEC",
                     help="model_fn target: its inputs, JSON inline or a file "
                          "({\"x\": {\"dtype\": \"float32\", \"shape\": [3]}}; a case.json works)")
    cmd.add_argument("--params", metavar="JSON", help="model_fn target: its params dict")
    cmd.add_argument("--preset", action="append", metavar="NAME", dest="presets",
                     help="rename preset to try (repeatable; default: every renaming preset)")
    cmd.add_argument("--allow-missing", action="store_true",
                     help="write even when some TARGET variables have no source")
    cmd.add_argument("--dry-run", action="store_true", help="print the assignment, write nothing")
    cmd.add_argument("--force", action="store_true",
                     help="replace an existing OUT once the new one is proven")
    # `map SRC --to TARGET OUT`: argparse leaves an OUT typed after options unparsed;
    # migrate.cli.parse hands such leftovers to `rest`.
    cmd.set_defaults(handler=run_map, more_positionals="rest", rest=[])


def run_map(args: argparse.Namespace) -> int:
    outs = [o for o in (args.out, *args.rest) if o]
    if len(outs) > 1:
        raise TfckptError(f"map takes one output directory, got {len(outs)}: {' '.join(outs)}")
    args.out = outs[0] if outs else None
    if not args.dry_run and not args.out:
        raise TfckptError("map needs an output directory OUT (or --dry-run to only show the plan)")
    if args.dry_run and args.out:
        raise TfckptError(f"--dry-run writes nothing; drop OUT ({args.out}) or --dry-run")
    params = _params(args.params)
    from migrate.names import mapping

    features = None
    if args.features:
        from migrate.rebuild import model_fn as estimator_compat

        features = estimator_compat.read_feature_spec(args.features)
    target = mapping.load_target(args.target, features=features, params=params)
    plan = mapping.plan_map(args.src, target, presets=args.presets)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.dry_run:
        _print(plan.to_dict(), _plan_text(plan), args)
        if plan.unmatched_targets and not args.allow_missing:
            print(f"tfckpt: {len(plan.unmatched_targets)} target variable(s) have no source "
                  f"(--allow-missing to write anyway)", file=sys.stderr)
            return EXIT_DIFFERENT
        return EXIT_OK
    if not args.allow_missing:
        mapping.refuse_unmatched(plan)
    result = mapping.write_map(plan, target, args.out, force=args.force, progress=bar_for(args))
    _print(result.to_dict(), _plan_text(plan) + _result_text(result), args)
    return EXIT_OK


def _params(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise TfckptError(f"--params is not valid JSON: {error.msg} (column {error.colno}). "
                          f"Pass an object, e.g. '{{\"n_classes\": 3}}'") from error
    if not isinstance(value, dict):
        raise TfckptError("--params must be a JSON object, e.g. '{\"n_classes\": 3}'")
    return value


def _print(document: dict, text: str, args: argparse.Namespace) -> None:
    from inspectors import render

    if args.quiet:
        return
    if args.format == "json":
        sys.stdout.write(render.to_json(document))
    elif args.format == "csv":
        plan = document.get("plan", document)
        sys.stdout.write(render.to_csv(plan["assignments"], COLUMNS))
    else:
        sys.stdout.write(text)


def _plan_text(plan) -> str:
    from inspectors import render

    rows = [a.to_dict() for a in plan.assignments]
    parts = [render.to_table(rows, COLUMNS) if rows else "no variable assigned\n"]
    for variable in plan.unmatched_targets:
        parts.append(f"no source for target {variable.key} {render.shape_text(variable.shape)}\n")
    for name in plan.unused_sources:
        parts.append(f"unused source {name}\n")
    counts = ", ".join(f"{n} {how}" for how, n in sorted(plan.counts().items())) or "none"
    parts.append(f"\n{len(plan.assignments)} of {len(plan.assignments) + len(plan.unmatched_targets)} "
                 f"target variables assigned ({counts}); {len(plan.unmatched_targets)} without "
                 f"source, {len(plan.unused_sources)} source variables unused\n")
    return "".join(parts)


def _result_text(result) -> str:
    from inspectors import render

    return (f"wrote {result.checkpoint}: {result.written} variables, "
            f"{render.human_bytes(result.nbytes)}, verified bit for bit; restored "
            f"{result.restored} of them into {result.plan.target} with a Saver: "
            f"{result.missing_in_restore} missing\n")
