"""`tfckpt ls`: the variables of a checkpoint, model dir or .h5, as a list or a scope tree."""

from __future__ import annotations

import argparse
import sys

from inspectors.errors import EXIT_OK
from inspectors.cli.options import KIND_CHOICES, positive_int

LS_COLUMNS = ("name", "dtype", "shape", "size", "nbytes", "kind", "partitions")
LS_HEADERS = ("name", "dtype", "shape", "params", "bytes", "kind", "parts")
TREE_COLUMNS = ("scope", "depth", "variables", "params", "nbytes")


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    ls = subparsers.add_parser(
        "ls", parents=[parent], help="list the variables of a checkpoint, model dir or .h5",
        description="List every variable: name, dtype, shape, parameters, bytes and kind "
                    "(model / optimizer slot / bookkeeping). Reads the index only.")
    ls.add_argument("source", metavar="SRC",
                    help="checkpoint prefix or file, model dir, DIR@STEP, SavedModel dir or .h5")
    ls.add_argument("--match", metavar="REGEX", help="only names matching REGEX (re.search)")
    ls.add_argument("--exclude", metavar="REGEX", help="leave out names matching REGEX")
    ls.add_argument("--kind", choices=KIND_CHOICES, help="only variables of this kind")
    ls.add_argument("--sort", choices=("name", "size"), default="name",
                    help="order of the table (JSON is always sorted by name)")
    ls.add_argument("--tree", action="store_true",
                    help="scope tree with variable, parameter and byte subtotals")
    ls.add_argument("--depth", type=positive_int, metavar="N",
                    help="with --tree: show scopes down to N levels")
    ls.set_defaults(handler=run_ls)


def run_ls(args: argparse.Namespace) -> int:
    from inspectors import listing, render

    result = listing.list_source(args.source, match=args.match, exclude=args.exclude,
                                 kind=args.kind, sort=args.sort)
    if args.quiet:
        return EXIT_OK
    for note in result.source.notes:
        print(f"tfckpt: note: {note}", file=sys.stderr)
    if args.tree or args.depth:
        return _emit_tree(args, result)
    rows = [v.to_dict() for v in result.variables]
    if args.format == "json":
        sys.stdout.write(render.to_json(result.to_dict()))
    elif args.format == "csv":
        sys.stdout.write(render.to_csv(rows, LS_COLUMNS))
    else:
        sys.stdout.write(render.to_table(rows, LS_COLUMNS, headers=LS_HEADERS))
        sys.stdout.write(_ls_footer(result))
    return EXIT_OK


def _emit_tree(args, result) -> int:
    from inspectors import listing, render

    rows = [row.to_dict() for row in listing.scope_tree(result.variables, depth=args.depth)]
    if args.format == "json":
        document = {"source": result.source.path, "format": result.source.format,
                    "tree": rows, "totals": result.totals()}
        sys.stdout.write(render.to_json(document))
    elif args.format == "csv":
        sys.stdout.write(render.to_csv(rows, TREE_COLUMNS))
    else:
        for row in rows:
            row["scope"] = "  " * (row["depth"] - 1) + row["scope"].rsplit("/", 1)[-1]
        sys.stdout.write(render.to_table(rows, ("scope", "variables", "params", "nbytes"),
                                         headers=("scope", "variables", "params", "bytes"),
                                         indented=True))
        sys.stdout.write(_ls_footer(result))
    return EXIT_OK


def _ls_footer(result) -> str:
    from inspectors.render import human_bytes

    totals = result.totals()
    step = "unknown" if result.global_step is None else str(result.global_step)
    return (f"\n{totals['variables']} variables, {totals['params']:,} parameters, "
            f"{human_bytes(totals['nbytes'])} ({result.source.format} checkpoint "
            f"{result.source.path}, step {step})\n")
