"""Issue 3 benchmarks.

1. `tfckpt ls` against `python -c "import tensorflow as tf; tf.train.list_variables(P)"`
   on checkpoints of 10,000 variables holding 10 MB and 1 GB (target: within 1.2x,
   the same at both sizes: the data files are never read).
2. `tfckpt show --stats` peak memory on a 1 GB checkpoint against TensorFlow's own
   baseline (load_checkpoint + get_tensor of every variable, one at a time) plus twice
   the largest tensor.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import peak_rss_of, python, tfckpt, timed, write_checkpoint

MB = 1 << 20


def bench_ls(workdir: Path) -> None:
    for label, size in (("10 MB", 10 * MB), ("1 GB", 1024 * MB)):
        prefix = str(workdir / f"ls_{label.replace(' ', '')}")
        write_checkpoint(prefix, variables=10_000, total_bytes=size)
        base, _ = timed(python(f"import tensorflow as tf; tf.train.list_variables({prefix!r})"))
        ours, _ = timed(tfckpt("ls", prefix, "--format", "json"))
        print(f"ls, 10,000 variables, {label}: tfckpt {ours:.2f} s, "
              f"list_variables {base:.2f} s, ratio {ours / base:.2f}x (target <= 1.2x)")


def bench_stats(workdir: Path) -> None:
    prefix = str(workdir / "stats_1GB")
    write_checkpoint(prefix, variables=256, total_bytes=1024 * MB)
    largest_kib = 1024 * MB // 256 // 1024
    baseline = ("import tensorflow as tf\n"
                f"r = tf.train.load_checkpoint({prefix!r})\n"
                "for n in r.get_variable_to_shape_map(): r.get_tensor(n).std()\n")
    base_wall, base_peak = peak_rss_of(python(baseline))
    ours_wall, ours_peak = peak_rss_of(tfckpt("show", prefix, "--stats", "--format", "json"))
    budget = base_peak + 2 * largest_kib
    print(f"show --stats, 256 variables, 1 GB: tfckpt {ours_wall:.2f} s / {ours_peak / 1024:.0f} MB "
          f"peak; TensorFlow baseline {base_wall:.2f} s / {base_peak / 1024:.0f} MB; budget "
          f"{budget / 1024:.0f} MB; ratio to budget {ours_peak / budget:.2f}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tfckpt-bench-") as tmp:
        which = sys.argv[1:] or ["ls", "stats"]
        if "ls" in which:
            bench_ls(Path(tmp))
        if "stats" in which:
            bench_stats(Path(tmp))


if __name__ == "__main__":
    main()
