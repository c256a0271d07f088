"""Benchmark for issue #16: export to ONNX and to safetensors against the SavedModel export.

Models: `tfckpt export SRC DIR` (the baseline), `tfckpt export SRC OUT.onnx`, and
`tfckpt export-weights SRC OUT.safetensors` of the same model dirs, each in a child
process (wall time, peak RSS). Weights alone: export-weights of a generated checkpoint
of --megabytes to .safetensors, beside .h5 and .npz, to show that memory stays near
one tensor however large the checkpoint is.

    .venv/bin/python bench/targets.py [--megabytes 512]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from common import HERE, VENV_BIN, peak_rss_of, python, write_checkpoint

FIXTURES = HERE.parent / "fixtures"
REAL_WORLD = HERE.parent.parent / "shared" / "real-world"
MODELS = [FIXTURES / "dnn-classifier-v2" / "model_dir",
          REAL_WORLD / "estimator-linear-wide-2017" / "model",
          REAL_WORLD / "contrib-learn-iris-dnn-tf1.14-part0" / "iris_model"]


def command(*args: str) -> list[str]:
    """The installed `tfckpt`, or the same entry point run as a module (a worktree)."""
    script = VENV_BIN / "tfckpt"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "migrate.cli.main", *args]


def measure(args: list[str]) -> tuple[float, int]:
    return peak_rss_of(command(*args), ok_codes=(0,))


def models() -> None:
    for source in MODELS:
        if not source.exists():
            continue
        work = Path(tempfile.mkdtemp(prefix="tfckpt-bench-"))
        try:
            base, base_rss = measure(["export", str(source), str(work / "sm")])
            print(f"{source.relative_to(source.parents[1])}: saved-model {base:.2f} s, "
                  f"{base_rss / 1024:.0f} MB")
            for label, args in (("onnx", ["export", str(source), str(work / "m.onnx")]),
                                ("safetensors", ["export-weights", str(source),
                                                 str(work / "w.safetensors")])):
                wall, rss = measure(args)
                print(f"  {label:>12}: {wall:.2f} s ({wall / base:.2f}x saved-model), "
                      f"peak {rss / 1024:.0f} MB ({rss / base_rss:.2f}x)")
        finally:
            shutil.rmtree(work, ignore_errors=True)


def weights(megabytes: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="tfckpt-bench-"))
    try:
        prefix = str(work / "big" / "model.ckpt")
        (work / "big").mkdir()
        write_checkpoint(prefix, variables=200, total_bytes=megabytes << 20)
        print(f"generated checkpoint: {megabytes} MB in 200 float32 variables")
        for ext in ("safetensors", "h5", "npz"):
            wall, rss = measure(["export-weights", prefix, str(work / f"w.{ext}")])
            print(f"  {ext:>12}: {wall:.2f} s, {megabytes / wall:.0f} MB/s, peak {rss / 1024:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=512)
    megabytes = parser.parse_args().megabytes
    floor, floor_rss = peak_rss_of(python("import tensorflow"))
    print(f"floor (python + import tensorflow): {floor:.2f} s, {floor_rss / 1024:.0f} MB")
    models()
    weights(megabytes)


if __name__ == "__main__":
    main()
