"""Run one risky read in a forked child, so a C library that loops or aborts on a
damaged file costs an exit-2 error, not the process.

Used where no check before the read can help: libhdf5 walks a file's B-trees
and heaps itself, and a damaged one can send it into an endless loop (found by
the fuzz suite). The child returns its result (or its TfckptError) pickled
through a pipe; a child that dies or overruns the deadline is reported as a
damaged file. A fork costs a few milliseconds; only the structure walk runs
there, tensor data is read by the caller afterwards.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from typing import Callable, TypeVar

from inspectors.errors import CorruptCheckpoint, TfckptError

T = TypeVar("T")


def run_isolated(work: Callable[[], T], *, timeout: float, what: str) -> T:
    """`work()` in a forked child; its value, or its TfckptError raised here."""
    if not hasattr(os, "fork"):
        return work()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never flushes the parent's buffers
        _child(work, read_fd, write_fd)
    os.close(write_fd)
    try:
        data = _read_until(read_fd, time.monotonic() + timeout)
    finally:
        os.close(read_fd)
    if data is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise CorruptCheckpoint(f"reading {what} did not finish in {timeout:.0f} s: the file is "
                                f"damaged (its structure loops). Copy it again")
    _, status = os.waitpid(pid, 0)
    if not data:
        raise CorruptCheckpoint(f"reading {what} crashed the reader ({_death(status)}): the file "
                                f"is damaged. Copy it again")
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    if kind == "error":
        raise value
    raise CorruptCheckpoint(f"cannot read {what}: {value}. The file is damaged")


def _child(work: Callable, read_fd: int, write_fd: int) -> None:
    status = 0
    try:
        os.close(read_fd)
        try:
            payload = ("ok", work())
        except TfckptError as error:
            payload = ("error", error)
        except BaseException as error:  # noqa: BLE001 - reported to the parent as damage
            payload = ("crash", f"{type(error).__name__}: {error}")
        data = pickle.dumps(payload)
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        status = 1
    finally:
        os._exit(status)


def _read_until(fd: int, deadline: float) -> bytes | None:
    """Everything until EOF, or None when the deadline passes first."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _death(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.WEXITSTATUS(status)}"
