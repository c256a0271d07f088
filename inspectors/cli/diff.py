"""The `tfckpt diff` command: argument parsing, the library call, rendering."""

from __future__ import annotations

import argparse
import sys

from inspectors.cli.options import KIND_CHOICES
from inspectors.errors import EXIT_DIFFERENT, EXIT_OK, TfckptError
from inspectors.progress import bar_for

CHANGED_COLUMNS = ("name", "max_abs", "argmax", "mean_abs", "rms", "rel_l2", "cosine",
                   "mismatched", "fraction")
CHANGED_HEADERS = ("changed", "max |a-b|", "at", "mean |a-b|", "RMS", "rel L2", "cosine",
                   "beyond tol", "fraction")

LABELS = {"only_in_a": "only in A", "only_in_b": "only in B"}


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    diff = subparsers.add_parser(
        "diff", parents=[parent], help="compare two checkpoints (exit 1 when they differ)",
        description="Compare two checkpoints tensor by tensor, one pair in memory at a time. "
                    "Exit 0: no differences within tolerance; 1: differences; 2: error.")
    diff.add_argument("a", metavar="A", help="checkpoint, model dir, DIR@STEP, SavedModel or .h5")
    diff.add_argument("b", metavar="B", help="the checkpoint to compare A with")
    diff.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    diff.add_argument("--rtol", type=float, default=0.0,
                      help="relative tolerance, numpy isclose semantics (default 0)")
    diff.add_argument("--match", metavar="REGEX", help="only names matching REGEX")
    diff.add_argument("--exclude", metavar="REGEX", help="leave out names matching REGEX")
    diff.add_argument("--kind", choices=KIND_CHOICES,
                      help="only variables of this kind (model: ignore slots and global_step)")
    diff.add_argument("--top", type=int, metavar="N",
                      help="list only the N largest movers by relative L2")
    diff.add_argument("--names-only", action="store_true",
                      help="compare names, dtypes and shapes from the indexes; read no data")
    diff.set_defaults(handler=run_diff)


def run_diff(args: argparse.Namespace) -> int:
    from inspectors import diff, listing

    if args.format == "csv":
        raise TfckptError("diff writes table or json. Pass --format table or --format json")
    options = diff.Options(atol=args.atol, rtol=args.rtol, kind=args.kind,
                           match=listing.compile_regex(args.match, "--match"),
                           exclude=listing.compile_regex(args.exclude, "--exclude"),
                           names_only=args.names_only)
    report = diff.diff(args.a, args.b, options, progress=bar_for(args, "pair"))
    if not args.quiet:
        sys.stdout.write(_render(report, args))
    return EXIT_DIFFERENT if report.differs else EXIT_OK


def _render(report, args) -> str:
    from inspectors import render

    if args.format == "json":
        return render.to_json(report.to_dict(top=args.top))
    parts = [f"A: {report.a}\nB: {report.b}\n"]
    if report.changed:
        rows = [{k: _cell(v) for k, v in c.to_dict().items()}
                for c in report.largest_movers(args.top)]
        parts.append(render.to_table(rows, CHANGED_COLUMNS, headers=CHANGED_HEADERS))
    for title, pairs in (("renamed", report.renamed), ("partitioned in one, whole in the other",
                                                       report.joined)):
        parts.extend(f"{title}: {a} -> {b}\n" for a, b in pairs)
    for title, mismatches in (("shape changed", report.shape_changed),
                              ("dtype changed", report.dtype_changed)):
        parts.extend(f"{title}: {m.name} {m.a} -> {m.b}\n" for m in mismatches)
    parts.extend(f"only in A: {name}\n" for name in report.only_in_a)
    parts.extend(f"only in B: {name}\n" for name in report.only_in_b)
    parts.append(_summary_line(report))
    return "".join(parts)


def _summary_line(report) -> str:
    counts = report.summary()
    words = ", ".join(f"{counts[key]} {LABELS.get(key, key.replace('_', ' '))}" for key in
                      ("identical", "changed", "renamed", "shape_changed", "dtype_changed",
                       "only_in_a", "only_in_b") if counts[key] or key == "identical")
    verdict = "DIFFERENT" if report.differs else "SAME"
    return f"\n{verdict}: {words}\n"


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return value
