"""The reading commands: `ls` (and, as they land, `show`, `dir`, `graph`, `diff`).

Each handler: call the library, render in the chosen format, return the exit
code. Library modules are imported inside handlers so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from inspectors.errors import EXIT_OK, TfckptError
from inspectors.progress import bar_for, tracked

KIND_CHOICES = ("model", "optimizer", "bookkeeping")
LS_COLUMNS = ("name", "dtype", "shape", "size", "nbytes", "kind", "partitions")
LS_HEADERS = ("name", "dtype", "shape", "params", "bytes", "kind", "parts")
STATS_COLUMNS = ("name", "dtype", "shape", "min", "max", "mean", "std", "l2", "zeros_pct",
                 "nan", "inf")
STATS_HEADERS = ("name", "dtype", "shape", "min", "max", "mean", "std", "L2", "% zeros",
                 "NaN", "Inf")
TREE_COLUMNS = ("scope", "depth", "variables", "params", "nbytes")
JSON_VALUE_LIMIT = 10_000  # elements; past that JSON says truncated unless --full


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    from inspectors import cli_diff, cli_dir, cli_graph

    _register_ls(subparsers, parent)
    _register_show(subparsers, parent)
    cli_diff.register(subparsers, parent)
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
    ls.add_argument("--tree", action="store_true",
                    help="scope tree with variable, parameter and byte subtotals")
    ls.add_argument("--depth", type=_positive_int, metavar="N",
                    help="with --tree: show scopes down to N levels")
    ls.set_defaults(handler=run_ls)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _register_show(subparsers: argparse._SubParsersAction,
                   parent: argparse.ArgumentParser) -> None:
    show = subparsers.add_parser(
        "show", parents=[parent], help="print values or statistics of variables",
        description="Print variable values (numpy style) or, with --stats, min, max, mean, "
                    "std, L2 norm, %% zeros, NaN and Inf counts. Names may end in :0 and may "
                    "be globs (quote them). Reads one variable at a time.")
    show.add_argument("source", metavar="SRC", help="checkpoint, model dir, DIR@STEP or .h5")
    show.add_argument("names", metavar="NAME", nargs="*",
                      help="variables to show (with --stats and no NAME: every variable)")
    show.add_argument("--stats", action="store_true", help="statistics instead of values")
    show.add_argument("--full", action="store_true",
                      help="print every element (default: numpy's summary of large tensors)")
    show.set_defaults(handler=run_show, more_positionals="names")


def run_show(args: argparse.Namespace) -> int:
    from inspectors import values

    if not args.names and not args.stats:
        raise TfckptError("name the variables to show, or pass --stats for all of them. "
                          "Run `tfckpt ls SRC` to see the names")
    source, reader, infos = values.open_source(args.source)
    chosen = values.pick(args.names, infos, source)
    if args.stats:
        records = list(tracked(values.iter_stats(reader, infos, chosen), len(chosen), bar_for(args)))
        return _emit_stats(args, source, records)
    return _emit_values(args, source, values.iter_values(reader, infos, chosen))


def _emit_stats(args, source, records) -> int:
    from inspectors import render

    if args.quiet:
        return EXIT_OK
    rows = [r.to_dict() for r in records]
    if args.format == "json":
        sys.stdout.write(render.to_json({"source": source.path, "stats": rows}))
    elif args.format == "csv":
        sys.stdout.write(render.to_csv(rows, STATS_COLUMNS))
    else:
        shown = [{k: _number(v) for k, v in row.items()} for row in rows]
        sys.stdout.write(render.to_table(shown, STATS_COLUMNS, headers=STATS_HEADERS))
    return EXIT_OK


def _emit_values(args, source, items) -> int:
    from inspectors import render

    if args.quiet:
        for _ in items:  # still read everything: -q answers "is it all readable?"
            pass
        return EXIT_OK
    if args.format == "json":
        listed = [item.to_dict(full=args.full, limit=JSON_VALUE_LIMIT) for item in items]
        sys.stdout.write(render.to_json({"source": source.path, "variables": listed}))
        return EXIT_OK
    if args.format == "csv":
        sys.stdout.write("name,index,value\n")
    for item in items:
        sys.stdout.write(_value_csv(item) if args.format == "csv" else _value_text(item, args.full))
    return EXIT_OK


def _value_text(item, full: bool) -> str:
    import numpy as np

    from inspectors.render import shape_text

    threshold = sys.maxsize if full else 1000
    body = np.array2string(np.asarray(item.array), threshold=threshold, max_line_width=100,
                           separator=" ")
    return f"{item.name}  {item.dtype}  {shape_text(item.shape)}\n{body}\n\n"


def _value_csv(item) -> str:
    import csv
    import io

    import numpy as np

    from inspectors.values import to_plain

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    flat = np.asarray(item.array).reshape(-1)
    for position, value in enumerate(to_plain(flat)):
        index = np.unravel_index(position, item.shape) if item.shape else ()
        writer.writerow([item.name, " ".join(str(int(i)) for i in index), value])
    return buffer.getvalue()


def _number(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


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
