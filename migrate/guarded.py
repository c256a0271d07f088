"""Running a foreign graph where its crash is charged to that run, not to the user's shell.

A graph nobody vetted, fed what it did not expect, can abort TensorFlow from
inside a kernel (a CHECK failure: SIGABRT, a core dump) or hang. The commands
that build and run graphs (export, freeze, verify, predict) therefore do their
work in a forked child when this process has not imported TensorFlow yet, which
is how the command line starts: the fork costs milliseconds and TensorFlow is
imported once, in the child. The child sends back its result (or its
TfckptError) pickled; a child that dies by a signal or overruns its deadline
ends the command with one line and exit 2, naming TensorFlow's own reason (the
`Check failed` line it printed), and the temp output it left is removed.

A process that has already imported TensorFlow (a library caller, the test
suite) cannot fork safely: TensorFlow's thread pools do not survive a fork and
the child would hang. There the work runs in-process, as before.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import tempfile
import time
from typing import Callable, TypeVar

from inspectors.errors import TfckptError, UnsupportedSource

T = TypeVar("T")
DEADLINE_ENV = "TFCKPT_RUN_TIMEOUT"  # seconds; default none (a big export may take long)
_REASON_MARKS = ("Check failed", "F0000", "terminate called", "Fatal Python error")


class InternalFailure(Exception):
    """An unexpected exception in the child, re-raised here as an internal error."""


def run_guarded(work: Callable[[], T], *, what: str, output: str | None = None) -> T:
    """`work()` in a forked child when that is safe; its value or its TfckptError."""
    if "tensorflow" in sys.modules or not hasattr(os, "fork"):
        return work()
    sys.stdout.flush()
    sys.stderr.flush()
    log = tempfile.TemporaryFile()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        _child(work, read_fd, write_fd, log.fileno())
    os.close(write_fd)
    try:
        data = _read_until(read_fd, _deadline())
    finally:
        os.close(read_fd)
    if data is None:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    text = _relay(log)
    if data is None or not data:
        _clean(output)
        raise _crashed(what, status, text, hung=data is None)
    sys.stderr.write(text)
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    if kind == "error":
        raise value
    raise InternalFailure(value)


def _child(work: Callable, read_fd: int, write_fd: int, log_fd: int) -> None:
    status = 0
    try:
        os.close(read_fd)
        os.dup2(log_fd, 2)  # TensorFlow's C++ logs and a CHECK's last words, for the parent
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file for an abort
        except (ImportError, ValueError, OSError):
            pass
        try:
            payload = ("ok", work())
        except TfckptError as error:
            payload = ("error", error)
        except BaseException as error:  # noqa: BLE001 - reported to the parent as internal
            payload = ("internal", f"{type(error).__name__}: {error}")
        try:
            data = pickle.dumps(payload)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            data = pickle.dumps(("internal", f"cannot send the result back: {error}"))
        sys.stdout.flush()
        sys.stderr.flush()
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        status = 1
    finally:
        os._exit(status)


def _deadline() -> float | None:
    value = os.environ.get(DEADLINE_ENV, "")
    try:
        return time.monotonic() + float(value) if value else None
    except ValueError:
        return None


def _read_until(fd: int, deadline: float | None) -> bytes | None:
    """Everything until EOF, or None when the deadline passes first."""
    chunks = []
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _relay(log) -> str:
    """The child's stderr: passed on (notes, warnings) unless it ends in a crash."""
    log.seek(0)
    text = log.read().decode("utf-8", errors="replace")
    log.close()
    return text


def _crashed(what: str, status: int, text: str, *, hung: bool) -> TfckptError:
    if hung:
        return UnsupportedSource(f"running the graph of {what} did not finish before "
                                 f"{DEADLINE_ENV} passed; nothing was written")
    death = (f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
             else f"exit {os.WEXITSTATUS(status)}")
    lines = [line.strip() for line in text.splitlines() if any(m in line for m in _REASON_MARKS)]
    reason = lines[0] if lines else "no reason printed"
    if "] " in reason:
        reason = reason.split("] ", 1)[1]
    return UnsupportedSource(f"running the graph of {what} crashed TensorFlow ({death}: {reason}); "
                             f"nothing was written. Its inputs probably do not have the shapes "
                             f"it needs: give them with --features")


def _clean(output: str | None) -> None:
    if output:
        from migrate.write import staged

        staged.clean_stale(output)
