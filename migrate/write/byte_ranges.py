"""Move and compare byte ranges between files without passing them through Python objects.

Renaming a checkpoint copies each tensor's bytes from its source shard into the new
data file (`copy_range`, in the kernel), asks the kernel to start writing them to disk
at once (`start_writeback`, so the final fsync has little left to wait for), and
re-reads both sides to compare them (`compare_ranges`: mapped windows, libc memcmp,
crc32c on the same mapping, so no byte is copied into a Python buffer).
"""

from __future__ import annotations

import ctypes
import mmap
import os

from inspectors.formats.crc import crc32c

COPY_CHUNK = 64 * 1024 * 1024
WINDOW = 32 * 1024 * 1024  # mapped at once per file: bounds the resident pages we add
SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of dirty pages, do not wait

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.memcmp.restype = ctypes.c_int
_LIBC.memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_SYNC_FILE_RANGE = getattr(_LIBC, "sync_file_range", None)
if _SYNC_FILE_RANGE is not None:
    _SYNC_FILE_RANGE.restype = ctypes.c_int
    _SYNC_FILE_RANGE.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)


class RangeMismatch(Exception):
    """The two ranges differ, or one of them is shorter than asked."""


def copy_range(src_fd: int, dst_fd: int, offset: int, size: int, *, dst_offset: int) -> None:
    """Copy bytes between files in the kernel (copy_file_range, then sendfile)."""
    done = 0
    try:
        while done < size:
            moved = os.copy_file_range(src_fd, dst_fd, min(size - done, COPY_CHUNK),
                                       offset + done, dst_offset + done)
            if moved == 0:
                break
            done += moved
    except (OSError, AttributeError):
        pass  # cross-device on old kernels, or no copy_file_range: copy the rest below
    while done < size:
        os.lseek(dst_fd, dst_offset + done, os.SEEK_SET)
        moved = os.sendfile(dst_fd, src_fd, offset + done, min(size - done, COPY_CHUNK))
        if moved == 0:
            raise OSError(f"source shard ended {size - done} bytes early")
        done += moved


def start_writeback(fd: int, offset: int, size: int) -> None:
    """Let the disk start on these bytes now; a later fsync still makes them durable.
    A no-op where sync_file_range is missing or refused."""
    if _SYNC_FILE_RANGE is not None and size > 0:
        _SYNC_FILE_RANGE(fd, offset, size, SYNC_FILE_RANGE_WRITE)


def compare_ranges(first: str, first_offset: int, second: str, second_offset: int,
                   size: int) -> int:
    """crc32c (unmasked) of `size` bytes that are equal in both files at those offsets;
    RangeMismatch when any byte differs or a file is too short."""
    crc = 0
    with open(first, "rb") as one, open(second, "rb") as two:
        for done in range(0, size, WINDOW):
            step = min(WINDOW, size - done)
            with _Window(one, first_offset + done, step) as a, \
                    _Window(two, second_offset + done, step) as b:
                if _LIBC.memcmp(a.address, b.address, step) != 0:
                    raise RangeMismatch(f"they differ within bytes {done}-{done + step} of {size}")
                crc = crc32c(a.view, crc)
    return crc


class _Window:
    """A mapping of `size` bytes at `offset` (any offset: the mapping starts at the
    page below it). Raises RangeMismatch when the file is shorter.

    Mapped copy-on-write (never written) because ctypes only hands out the address
    of a writable buffer; no page is copied unless written."""

    def __init__(self, handle, offset: int, size: int):
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        if os.fstat(handle.fileno()).st_size < offset + size:
            raise RangeMismatch(f"{handle.name} ends before byte {offset + size}")
        self._map = mmap.mmap(handle.fileno(), offset - start + size, offset=start,
                              access=mmap.ACCESS_COPY)
        self._map.madvise(mmap.MADV_SEQUENTIAL)
        self._bytes = (ctypes.c_char * size).from_buffer(self._map, offset - start)
        self.address = ctypes.addressof(self._bytes)
        self.view = memoryview(self._bytes).cast("B")

    def __enter__(self) -> "_Window":
        return self

    def __exit__(self, *exc_info) -> None:
        self.view.release()
        del self._bytes  # the mapping cannot close while ctypes still exports it
        self._map.close()
