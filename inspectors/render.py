"""Turn records into text: table (tabulate), JSON (stable, sorted) or CSV.

Library code returns records; only command handlers call these, and only
handlers print.

Bytes and text, one rule for every output (table, JSON, CSV): bytes that are
valid UTF-8 are shown as that text (German, Chinese, emoji alike); every byte
that is not part of valid UTF-8 is shown as `\\xNN` (its hex value), as Python's
`backslashreplace` writes it. Inside the program, strings read from graphs and
files keep such bytes losslessly as surrogates (`text_of` / `bytes_of`,
`surrogateescape`), so a vocabulary word that is not UTF-8 still reaches the
model as the very bytes the author's data held; `display_text` is where they
become `\\xNN`.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Sequence


def text_of(data: bytes) -> str:
    """bytes -> str without loss: invalid UTF-8 bytes become surrogates (see bytes_of)."""
    return data.decode("utf-8", errors="surrogateescape")


def bytes_of(text: str) -> bytes:
    """str -> the bytes it came from (the inverse of text_of)."""
    return text.encode("utf-8", errors="surrogateescape")


def display_text(value: Any) -> str:
    """What a user sees for a string value: UTF-8 text, other bytes as \\xNN."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    text = str(value)
    if any("\udc80" <= char <= "\udcff" for char in text):
        return bytes_of(text).decode("utf-8", errors="backslashreplace")
    return text


def printable(document: Any) -> Any:
    """A JSON document with every bytes or string value made displayable."""
    if isinstance(document, dict):
        return {display_text(key): printable(value) for key, value in document.items()}
    if isinstance(document, (list, tuple)):
        return [printable(value) for value in document]
    if isinstance(document, (bytes, str)):
        return display_text(document)
    return document


def to_json(document: Any) -> str:
    return json.dumps(printable(document), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


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


def shape_text(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(display_text(dim) for dim in shape) + "]"


def _table_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return shape_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return display_text(value)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return shape_text(value)
    if isinstance(value, (bytes, str)):
        return display_text(value)
    return "" if value is None else value
