"""`tfckpt show`: values of variables (numpy style, CSV, JSON) or their statistics."""

from __future__ import annotations

import argparse
import sys

from inspectors.errors import EXIT_OK, TfckptError
from inspectors.progress import bar_for, tracked

STATS_COLUMNS = ("name", "dtype", "shape", "min", "max", "mean", "std", "l2", "zeros_pct",
                 "nan", "inf")
STATS_HEADERS = ("name", "dtype", "shape", "min", "max", "mean", "std", "L2", "% zeros",
                 "NaN", "Inf")
JSON_VALUE_LIMIT = 10_000  # elements; past that JSON says truncated unless --full


def register(subparsers: argparse._SubParsersAction,
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
