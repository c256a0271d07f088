"""Benchmark `tfckpt rename` on a 1 GB checkpoint (256 float32 variables, every one renamed).

Baselines, run side by side on the same files:
  cp       `cp` of the data files (the floor for moving the bytes once);
  SaveV2   a careful TensorFlow script: read every tensor with tf.train.load_checkpoint,
           write them under the new names with one tf.raw_ops.SaveV2 call.
cp, cp + sync and rename take turns for --rounds rounds (best time kept), so a busy
moment of the shared machine hits all three alike. Prints wall time and peak RSS of
each, and the ratios the issue sets as targets:
rename <= 0.5x SaveV2's wall time, peak <= 700 MB, rename-only within 2x of cp.

    .venv/bin/python bench/rename.py [--big] [--dir /tmp]

`--big` adds a 2 GB checkpoint. Everything is written under a temp dir in --dir and
deleted at the end.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import peak_rss_of, python, tfckpt, write_checkpoint  # noqa: E402

SAVEV2_SCRIPT = """
import sys, tensorflow as tf
src, dst = sys.argv[1], sys.argv[2]
reader = tf.train.load_checkpoint(src)
names = sorted(reader.get_variable_to_shape_map())
tensors = [tf.constant(reader.get_tensor(n)) for n in names]
tf.raw_ops.SaveV2(prefix=dst, tensor_names=['renamed/' + n for n in names],
                  shape_and_slices=[''] * len(names), tensors=tensors)
"""


def _clean(pattern: str) -> None:
    for path in glob.glob(pattern):
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


COLD = False  # --cold: every run starts with the page cache dropped


def run_once(argv: list[str], cleanup: str) -> tuple[float, int]:
    _clean(cleanup)
    os.sync()  # no run pays for the previous one's dirty pages
    if COLD:
        with open("/proc/sys/vm/drop_caches", "w") as handle:  # needs root
            handle.write("3\n")
    return peak_rss_of(argv, ok_codes=(0,))


def measure(runs: dict[str, tuple[list[str], str]], rounds: int) -> dict[str, tuple[float, int]]:
    """Best wall time and highest peak RSS of each command over `rounds` rounds, the
    commands taking turns so that a busy moment of the machine hits all of them alike
    (the first round warms the page cache for every later one)."""
    best = {label: (float("inf"), 0) for label in runs}
    for _ in range(rounds):
        for label, (argv, cleanup) in runs.items():
            seconds, rss_kib = run_once(argv, cleanup)
            best[label] = (min(best[label][0], seconds), max(best[label][1], rss_kib))
    for label, (seconds, rss_kib) in best.items():
        _clean(runs[label][1])
        print(f"  {label:<28} {seconds:7.2f} s   peak {rss_kib / 1024:7.0f} MB", flush=True)
    return best


def run_case(root: str, total_bytes: int, rounds: int) -> None:
    size = f"{total_bytes / 2**30:.0f} GB"
    prefix = os.path.join(root, f"model-{size.replace(' ', '')}.ckpt-1")
    write_checkpoint(prefix, variables=256, total_bytes=total_bytes)
    shards = " ".join(sorted(glob.glob(prefix + ".data-*")))  # the helper writes 4 shards
    out = os.path.join(root, "out")
    cache = "cold page cache" if COLD else "warm page cache"
    print(f"{size} checkpoint, 256 float32 variables, every variable renamed "
          f"(best of {rounds} rounds; SaveV2 best of 2; {cache}):")
    fast = measure({
        "cp data files": (["sh", "-c", f"mkdir {out} && cp {shards} {out}/"], out),
        "cp data files + sync": (["sh", "-c", f"mkdir {out} && cp {shards} {out}/ && sync"], out),
        "tfckpt rename --add-prefix": (tfckpt("rename", prefix, out, "--add-prefix", "renamed/"), out),
    }, rounds)
    slow = measure({"TF read + one SaveV2": (python(SAVEV2_SCRIPT) + [prefix, out], out + "*")}, 2)
    (cp_time, _), (cp_sync_time, _), (rename_time, rename_peak) = fast.values()
    save_time, save_peak = slow["TF read + one SaveV2"]
    print(f"  rename / SaveV2 wall time: {rename_time / save_time:.2f}x (target <= 0.5x)")
    print(f"  rename / cp wall time:     {rename_time / cp_time:.2f}x (target <= 2x); "
          f"/ (cp + sync) {rename_time / cp_sync_time:.2f}x (rename fsyncs its output)")
    print(f"  rename peak RSS:           {rename_peak / 1024:.0f} MB (target <= 700 MB; "
          f"SaveV2 script {save_peak / 1024:.0f} MB)\n", flush=True)
    _clean(prefix + ".*")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also a 2 GB checkpoint")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="where to write (default /tmp)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of cp / rename (default 5)")
    parser.add_argument("--cold", action="store_true",
                        help="drop the page cache before every run (root): the checkpoint is "
                             "read from disk, as a file nobody touched lately is")
    args = parser.parse_args()
    global COLD
    COLD = args.cold
    root = tempfile.mkdtemp(prefix="tfckpt-bench-rename-", dir=args.dir)
    try:
        run_case(root, 1 << 30, args.rounds)
        if args.big:
            run_case(root, 2 << 30, args.rounds)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
