"""The reading commands: `ls` (and, as they land, `show`, `dir`, `graph`, `diff`).

Each handler: call the library, render in the chosen format, return the exit
code. Library modules are imported inside handlers so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from inspectors.errors import EXIT_OK

KIND_CHOICES = ("model", "optimizer", "bookkeeping")
LS_COLUMNS = ("name", "dtype", "shape", "size", "nbytes", "kind", "partitions")
LS_HEADERS = ("name", "dtype", "shape", "params", "bytes", "kind", "parts")


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    from inspectors import cli_dir, cli_graph

    _register_ls(subparsers, parent)
    cli_dir.register(subparsers, parent)
    cli_graph.register(subparsers, parent)


def _register_ls(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
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
    ls.set_defaults(handler=run_ls)


def run_ls(args: argparse.Namespace) -> int:
    from inspectors import listing, render

    result = listing.list_source(args.source, match=args.match, exclude=args.exclude,
                                 kind=args.kind, sort=args.sort)
    if args.quiet:
        return EXIT_OK
    for note in result.source.notes:
        print(f"tfckpt: note: {note}", file=sys.stderr)
    rows = [v.to_dict() for v in result.variables]
    if args.format == "json":
        sys.stdout.write(render.to_json(result.to_dict()))
    elif args.format == "csv":
        sys.stdout.write(render.to_csv(rows, LS_COLUMNS))
    else:
        sys.stdout.write(render.to_table(rows, LS_COLUMNS, headers=LS_HEADERS))
        sys.stdout.write(_ls_footer(result))
    return EXIT_OK


def _ls_footer(result) -> str:
    from inspectors.render import human_bytes

    totals = result.totals()
    step = "unknown" if result.global_step is None else str(result.global_step)
    return (f"\n{totals['variables']} variables, {totals['params']:,} parameters, "
            f"{human_bytes(totals['nbytes'])} ({result.source.format} checkpoint "
            f"{result.source.path}, step {step})\n")
