"""The `tfckpt graph` command: argument parsing, the library call, rendering.

Table output is a report of short sections; JSON is the whole record; CSV is
one section as rows (`--rows`, default one row per op type), each row with
the index of its graph so SavedModels with several meta graphs stay flat.
"""

from __future__ import annotations

import argparse
import sys

from inspectors.errors import EXIT_OK

ROWS = ("ops", "variables", "inputs", "outputs", "risky")
CSV_COLUMNS = {
    "ops": ("graph", "op", "count", "in_functions", "known", "risk"),
    "variables": ("graph", "key", "status", "node", "op", "dtype", "shape"),
    "inputs": ("graph", "node", "op", "kind", "dtypes", "shapes", "dense_keys", "sparse_keys"),
    "outputs": ("graph", "rank", "node", "op", "score", "reason"),
    "risky": ("graph", "node", "op", "reason", "function", "saver"),
}
ORIGINS = {"saver": "the Saver's save op", "collection": "the variables collection",
           "nodes": "the variable node names"}
TABLE_OPS = 15  # op types shown in the table; JSON and CSV have them all
TABLE_NAMES = 20  # missing / extra keys shown in the table


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    graph = subparsers.add_parser(
        "graph", parents=[parent], help="inspect a .meta, GraphDef (.pb/.pbtxt) or SavedModel",
        description="Report what a graph file holds, by parsing its protos (never running it): "
                    "who wrote it, op histogram, ops today's TensorFlow does not know, risky ops, "
                    "collections, Saver, signatures, candidate inputs and outputs, and the "
                    "graph's variables held against the matching checkpoint.")
    graph.add_argument("source", metavar="FILE",
                       help=".meta, graph.pbtxt, .pb (binary or text), saved_model.pb, "
                            "a SavedModel dir or a model dir")
    graph.add_argument("--checkpoint", metavar="SRC",
                       help="checkpoint to compare the graph's variables with (default: X for "
                            "X.meta, the dir's latest for graph.pbtxt, variables/ of a SavedModel)")
    graph.add_argument("--top", metavar="N", type=_positive, default=10,
                       help="candidate outputs to show (default: 10)")
    graph.add_argument("--rows", choices=ROWS, default="ops",
                       help="what one CSV row is (default: ops, one row per op type)")
    graph.set_defaults(handler=run_graph)


def run_graph(args: argparse.Namespace) -> int:
    from inspectors.graphs import report as graph
    from inspectors import render

    result = graph.inspect_graph(args.source, checkpoint=args.checkpoint, top=args.top)
    if args.quiet:
        return EXIT_OK
    if args.format == "json":
        sys.stdout.write(render.to_json(result.to_dict()))
    elif args.format == "csv":
        rows = [row for index, report in enumerate(result.graphs)
                for row in csv_rows(report, args.rows, index)]
        sys.stdout.write(render.to_csv(rows, CSV_COLUMNS[args.rows]))
    else:
        sys.stdout.write(table_report(result))
    return EXIT_OK


def csv_rows(report, rows: str, index: int) -> list[dict]:
    if rows == "ops":
        found = [op.to_dict() for op in report.ops]
    elif rows == "variables":
        found = variable_rows(report)
    elif rows == "inputs":
        found = [_joined(i.to_dict()) for i in report.inputs]
    elif rows == "outputs":
        found = [dict(o.to_dict(), rank=rank) for rank, o in enumerate(report.outputs, 1)]
    else:
        found = [r.to_dict() for r in report.risky]
    return [dict(row, graph=index) for row in found]


def variable_rows(report) -> list[dict]:
    """One row per graph variable and per checkpoint-only key.

    status: ok (saved and in the checkpoint), missing (saved, not in the
    checkpoint), extra (only in the checkpoint), unsaved (the Saver skips it),
    unchecked (no checkpoint to compare with).
    """
    check = report.checkpoint
    missing = set(check.missing)
    rows = []
    for variable in report.variables:
        if variable.key is None:
            status = "unsaved"
        elif not check.checked:
            status = "unchecked"
        else:
            status = "missing" if variable.key in missing else "ok"
        rows.append(dict(variable.to_dict(), status=status))
    covered = {v.key for v in report.variables}
    rows += [{"key": key, "status": "missing"} for key in check.missing if key not in covered]
    rows += [{"key": key, "status": "extra"} for key in check.extra]
    return rows


def _joined(row: dict) -> dict:
    """Lists in one CSV cell: `a;b`, shapes as `[?, 3]`."""
    from inspectors.render import shape_text

    def shape(value):
        return "?" if value is None else shape_text(["?" if d < 0 else d for d in value])

    return dict(row, dtypes=";".join(row["dtypes"]), shapes=";".join(shape(s) for s in row["shapes"]),
                dense_keys=";".join(row["dense_keys"]), sparse_keys=";".join(row["sparse_keys"]))


# --- table -------------------------------------------------------------------

def table_report(result) -> str:
    parts = [f"{result.path}: {result.encoding} {result.format}, "
             f"{len(result.graphs)} graph{'s' if len(result.graphs) != 1 else ''}\n"]
    for index, report in enumerate(result.graphs):
        if len(result.graphs) > 1:
            parts.append(f"\n== meta graph {index} (tags: {', '.join(report.tags) or 'none'}) ==\n")
        parts.append(_graph_table(report))
    return "".join(parts)


def _graph_table(report) -> str:
    sections = [_facts(report), _signatures(report), _inputs(report), _outputs(report),
                _variables(report), _collections(report), _risky(report), _ops(report)]
    return "".join("\n" + s for s in sections if s)


def _facts(report) -> str:
    from inspectors.graphs.report import producer_estimate

    v = report.versions
    producer = "none recorded" if v.producer is None else f"{v.producer}, min_consumer {v.min_consumer}"
    if v.producer is not None and v.tensorflow_version:  # else `written by` is this estimate
        producer += f": {producer_estimate(v.producer)}"
    saver = report.saver
    lines = [
        ("written by", v.written_by + (f" [{v.tensorflow_git_version}]" if v.tensorflow_git_version else "")),
        ("producer", producer),
        ("nodes", f"{report.nodes:,} in the graph, {report.functions} library functions, "
                  f"{len(report.ops)} op types, {report.while_loops} while loops"),
        ("unknown ops", ", ".join(report.unknown_ops) or "none (TensorFlow knows every op)"),
        ("saver", f"{saver.version}{' sharded' if saver.sharded else ''}, saves via "
                  f"{saver.save_tensor}" if saver else "none"),
    ]
    return "".join(f"{key + ':':13}{value}\n" for key, value in lines)


def _signatures(report) -> str:
    from inspectors.render import to_table

    if not report.signatures:
        return ""
    rows = [{"key": s.key, "method": s.method,
             "inputs": ", ".join(f"{t.alias}={t.tensor}" for t in s.inputs),
             "outputs": ", ".join(f"{t.alias}={t.tensor}" for t in s.outputs)}
            for s in report.signatures]
    return "signatures\n" + to_table(rows, ("key", "method", "inputs", "outputs"))


def _inputs(report) -> str:
    from inspectors.render import to_table

    if not report.inputs:
        return "candidate inputs: none (no placeholders, queues, iterators or parsers)\n"
    rows = [_joined(i.to_dict()) for i in report.inputs]
    for row, candidate in zip(rows, report.inputs):
        row["keys"] = ", ".join(filter(None, (row["dense_keys"], row["sparse_keys"]))).replace(";", ", ")
        row["shape from"] = "; ".join(filter(None, candidate.shape_why))
    return "candidate inputs\n" + to_table(rows, ("node", "op", "dtypes", "shapes", "shape from",
                                                  "keys"))


def _outputs(report) -> str:
    from inspectors.render import to_table

    if not report.outputs:
        return "candidate outputs: none found\n"
    rows = [dict(o.to_dict(), rank=rank) for rank, o in enumerate(report.outputs, 1)]
    return "candidate outputs (best first)\n" + to_table(
        rows, ("rank", "node", "op", "score", "reason"))


def _variables(report) -> str:
    check = report.checkpoint
    origin = ORIGINS.get(check.expected_from)
    head = (f"variables:   {len(report.variables)} variable nodes; the graph expects "
            f"{check.expected} checkpoint keys{f' (from {origin})' if origin else ''}\n")
    if not check.checked:
        return head + f"checkpoint:  not checked{': ' + check.note if check.note else ''}\n"
    lines = [head, f"checkpoint:  {check.checkpoint}: {len(check.missing)} missing, "
                   f"{len(check.extra)} extra\n"]
    lines += _named_list("missing (graph expects, checkpoint lacks)", check.missing)
    lines += _named_list("extra (checkpoint has, graph does not save)", check.extra)
    return "".join(lines)


def _named_list(title: str, names: tuple[str, ...]) -> list[str]:
    if not names:
        return []
    shown = [f"  {name}\n" for name in names[:TABLE_NAMES]]
    more = [f"  ... and {len(names) - TABLE_NAMES} more (--format json lists all)\n"] \
        if len(names) > TABLE_NAMES else []
    return [f"{title}:\n", *shown, *more]


def _collections(report) -> str:
    if not report.collections:
        return ""
    shown = ", ".join(f"{c.name} ({c.count})" for c in report.collections)
    return f"collections: {shown}\n"


def _risky(report) -> str:
    from inspectors.render import to_table

    saver_ops = [r for r in report.risky if r.saver]
    others = [r for r in report.risky if not r.saver]
    saver_note = (f" ({len(saver_ops)} more are the Saver's own checkpoint ops)" if saver_ops else "")
    if not others:
        return f"risky ops:   none{saver_note}\n"
    rows = [dict(r.to_dict(), where=r.function or "graph") for r in others]
    return (f"risky ops{saver_note}\n"
            + to_table(rows, ("node", "op", "reason", "where")))


def _ops(report) -> str:
    from inspectors.render import to_table

    rows = [dict(op.to_dict(), known="yes" if op.known else "NO", risk=op.risk or "")
            for op in report.ops[:TABLE_OPS]]
    more = len(report.ops) - TABLE_OPS
    tail = f"... and {more} more op types (--format json or csv lists all)\n" if more > 0 else ""
    return ("ops (most frequent first)\n"
            + to_table(rows, ("op", "count", "in_functions", "known", "risk"),
                       headers=("op", "count", "in functions", "known", "risk")) + tail)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value
