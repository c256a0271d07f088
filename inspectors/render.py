"""Turn records into text: table (tabulate), JSON (stable, sorted) or CSV.

Library code returns records; only command handlers call these, and only
handlers print.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Sequence


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_cell(row.get(key)) for key in columns})
    return buffer.getvalue()


def to_table(rows: Iterable[dict], columns: Sequence[str], *,
             headers: Sequence[str] | None = None, indented: bool = False) -> str:
    import tabulate

    body = [[_table_cell(row.get(key)) for key in columns] for row in rows]
    tabulate.PRESERVE_WHITESPACE = indented  # keep a tree's leading spaces
    try:
        return tabulate.tabulate(body, headers=list(headers or columns), tablefmt="simple",
                                 disable_numparse=True) + "\n"
    finally:
        tabulate.PRESERVE_WHITESPACE = False


def human_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(dim) for dim in shape) + "]"


def _table_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return shape_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return shape_text(value)
    return "" if value is None else value
