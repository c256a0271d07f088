"""Issue 4 benchmark: `tfckpt diff` on two checkpoints of 256 float32 variables,
1 GB each (and 2 GB each with `--big`).

Baseline, measured in the same run: a plain script that calls tf.train.load_checkpoint
on both, then get_tensor and np.allclose for every common name. Targets: wall time
<= 0.8x the baseline; peak memory no higher than the baseline's, and the same at 2 GB
as at 1 GB.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from common import peak_rss_of, python, tfckpt, write_checkpoint

MB = 1 << 20
BASELINE = """
import numpy as np, tensorflow as tf
a = tf.train.load_checkpoint({a!r}); b = tf.train.load_checkpoint({b!r})
for name in sorted(set(a.get_variable_to_shape_map()) & set(b.get_variable_to_shape_map())):
    np.allclose(a.get_tensor(name), b.get_tensor(name))
"""


def run(size_mb: int, workdir: Path) -> None:
    a, b = str(workdir / f"a{size_mb}"), str(workdir / f"b{size_mb}")
    write_checkpoint(a, variables=256, total_bytes=size_mb * MB, seed=1)
    write_checkpoint(b, variables=256, total_bytes=size_mb * MB, seed=2)
    peak_rss_of(tfckpt("diff", "-q", a, b, "--names-only"))  # warm the page cache evenly
    base_wall, base_peak = peak_rss_of(python(BASELINE.format(a=a, b=b)), ok_codes=(0,))
    ours_wall, ours_peak = peak_rss_of(tfckpt("diff", "-q", a, b), ok_codes=(1,))
    print(f"diff, 256 variables, {size_mb} MB each: tfckpt {ours_wall:.2f} s / "
          f"{ours_peak / 1024:.0f} MB peak; baseline {base_wall:.2f} s / "
          f"{base_peak / 1024:.0f} MB; wall ratio {ours_wall / base_wall:.2f}x (target <= 0.8x), "
          f"memory ratio {ours_peak / base_peak:.2f}x (target <= 1.0x)")


def main() -> None:
    sizes = [1024, 2048] if "--big" in sys.argv else [1024]
    with tempfile.TemporaryDirectory(prefix="tfckpt-bench-") as tmp:
        for size in sizes:
            run(size, Path(tmp))


if __name__ == "__main__":
    main()
