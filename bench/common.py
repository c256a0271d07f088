"""Helpers for the benchmarks: make big checkpoints, time commands, measure peak memory.

Benchmarks run by hand (`make bench` or `python bench/NAME.py`); they print the
ratio against the baseline the issue names. They are not tests.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_USE_LEGACY_KERAS="1")


def write_checkpoint(prefix: str, *, variables: int, total_bytes: int, seed: int = 0) -> None:
    """Write the checkpoint in a child process: the memory it takes must not count
    toward the peak RSS of the commands measured next (forked children inherit it)."""
    subprocess.run([sys.executable, __file__, prefix, str(variables), str(total_bytes), str(seed)],
                   check=True, env=ENV)


def _write_checkpoint(prefix: str, *, variables: int, total_bytes: int, seed: int = 0) -> None:
    """A V2 checkpoint of `variables` float32 tensors adding up to `total_bytes`,
    written in batches by tf.raw_ops.SaveV2 (batches keep this script's memory low)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    per = max(1, total_bytes // variables // 4)
    names = [f"layer_{i // 100:03d}/block_{i % 100:02d}/kernel" for i in range(variables)]
    batch = max(1, min(variables, (256 << 20) // (per * 4)))
    parts = []
    for start in range(0, variables, batch):
        part = f"{prefix}_part{start // batch}"
        chunk = names[start:start + batch]
        tensors = [tf.constant(rng.standard_normal(per, dtype=np.float32)) for _ in chunk]
        tf.raw_ops.SaveV2(prefix=part, tensor_names=chunk, shape_and_slices=[""] * len(chunk),
                          tensors=tensors)
        parts.append(part)
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts, destination_prefix=prefix,
                                  delete_old_dirs=True)


def timed(argv: list[str], *, repeat: int = 3) -> tuple[float, int]:
    """Best wall time over `repeat` runs, and the peak RSS (KiB) of the child."""
    best = float("inf")
    peak = 0
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        subprocess.run(argv, check=True, env=ENV, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return best, peak


def peak_rss_of(argv: list[str], *, ok_codes: tuple[int, ...] = (0, 1)) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one run, from wait4's resource usage."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) not in ok_codes:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return time.perf_counter() - start, usage.ru_maxrss


def tfckpt(*args: str) -> list[str]:
    return [str(VENV_BIN / "tfckpt"), *args]


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


if __name__ == "__main__":
    _write_checkpoint(sys.argv[1], variables=int(sys.argv[2]), total_bytes=int(sys.argv[3]),
                      seed=int(sys.argv[4]))
