"""Protocol-buffer wire-format primitives shared by the index parser (bundle.py)
and the graph sniffer (graph_io.py)."""

from __future__ import annotations


class WireError(Exception):
    def __init__(self, kind: str, offset: int):
        super().__init__(f"{kind} at byte {offset}")
        self.kind = kind  # "truncated" | "invalid"
        self.offset = offset


def read_varint(data, offset: int) -> tuple[int, int]:
    """(value, offset after it) of the base-128 varint at `offset`."""
    value, shift, start = 0, 0, offset
    while True:
        if offset >= len(data):
            raise WireError("truncated", start)
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
        if shift > 63:
            raise WireError("invalid", start)
