"""Where writing commands put their results, and how they get there safely.

Every writer builds its output in a hidden sibling of the output path, checks it,
and only then moves it into place. An existing output is refused unless `force`,
and even then it is swapped out only once the new one is complete. Outputs that
overlap an input are refused before anything is written. A run killed halfway
leaves a hidden temp path that the next run on the same output removes.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from typing import Iterable

from inspectors.errors import OutputExists, UnsafeOutput

TEMP_MARK = ".tfckpt-tmp-"
OLD_MARK = ".tfckpt-old-"
_RENAME_EXCHANGE = 2  # renameat2 flag (Linux 3.15+)
_AT_FDCWD = -100


def check_output(output: str, inputs: Iterable[str], *, force: bool) -> str:
    """Refuse an output that overlaps an input or exists without `force`; return its real path."""
    target = os.path.realpath(output)
    for given in inputs:
        source = os.path.realpath(given)
        if _overlaps(target, source):
            raise UnsafeOutput(f"output {output} overlaps the input {given}. "
                               f"Choose an output path outside the input")
    if os.path.lexists(output) and not force:
        raise OutputExists(f"output {output} exists. Choose another path, "
                           f"or pass --force to replace it once the new output is verified")
    parent = os.path.dirname(target)
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise UnsafeOutput(f"the parent of {output} is not a directory")
    return target


def _overlaps(target: str, source: str) -> bool:
    """Same path, or one inside the other (a checkpoint prefix counts by its files)."""
    if target == source:
        return True
    if _inside(target, source) or _inside(source, target):
        return True
    # A prefix `dir/model.ckpt` owns `dir/model.ckpt.index`, `.data-*`, `.meta`.
    return target.startswith(source + ".") or source.startswith(target + ".")


def _inside(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip(os.sep) + os.sep)


class Staged:
    """A temp path beside the output; `commit()` moves it into place.

    Use as a context manager: leaving the block without `commit()` (an error, a
    failed verification) removes the temp path, unless `keep_as` names where a
    failed result should be kept for inspection.
    """

    def __init__(self, output: str, *, force: bool = False, is_dir: bool = True):
        self.output = os.path.abspath(output)
        self.force = force
        self.is_dir = is_dir
        parent, name = os.path.split(self.output)
        os.makedirs(parent, exist_ok=True)
        clean_stale(self.output)
        self.path = os.path.join(parent, f".{name}{TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")
        if is_dir:
            os.mkdir(self.path)
        self.committed = False
        self.keep_as: str | None = None

    def __enter__(self) -> "Staged":
        return self

    def __exit__(self, *exc_info) -> None:
        if self.committed:
            return
        if self.keep_as and os.path.lexists(self.path) and not os.path.lexists(self.keep_as):
            os.rename(self.path, self.keep_as)
        _remove(self.path)

    def commit(self) -> str:
        """Move the finished temp path to the output; replace an old one only with `force`."""
        if os.path.lexists(self.output):
            if not self.force:
                raise OutputExists(f"output {self.output} appeared while writing; "
                                   f"the new result was not moved there")
            self._replace()
        else:
            os.rename(self.path, self.output)
        self.committed = True
        _fsync_dir(os.path.dirname(self.output))
        return self.output

    def _replace(self) -> None:
        if not self.is_dir and not os.path.isdir(self.output):
            os.replace(self.path, self.output)  # atomic for files
            return
        if _exchange(self.path, self.output):
            _remove(self.path)  # now holds the old output
            return
        # No atomic exchange: move the old one aside first, the window is two renames.
        parent, name = os.path.split(self.output)
        old = os.path.join(parent, f".{name}{OLD_MARK}{os.getpid()}")
        os.rename(self.output, old)
        os.rename(self.path, self.output)
        _remove(old)


def clean_stale(output: str) -> list[str]:
    """Remove temp paths left beside `output` by runs that no longer exist."""
    parent, name = os.path.split(os.path.abspath(output))
    removed = []
    try:
        siblings = os.listdir(parent)
    except OSError:
        return removed
    for entry in siblings:
        for mark in (TEMP_MARK, OLD_MARK):
            head = f".{name}{mark}"
            if entry.startswith(head) and not _alive(entry[len(head):].split("-")[0]):
                _remove(os.path.join(parent, entry))
                removed.append(entry)
    return removed


def _alive(pid_text: str) -> bool:
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # an earlier attempt of this very process is not in progress
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(a: str, b: str) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library the interpreter runs on
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), b)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def fsync_tree(path: str) -> None:
    """Flush a written file or directory tree to disk before it is renamed into place."""
    if os.path.isfile(path):
        _fsync_file(path)
        return
    for root, _dirs, files in os.walk(path):
        for name in files:
            _fsync_file(os.path.join(root, name))
        _fsync_dir(root)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
