"""Benchmark for issue #6: export + verify of the largest Estimator fixture.

Each way that applies runs as the user would run it (`tfckpt export`, then
`tfckpt verify` of the SavedModel against the recorded predictions), in a child
process, reporting wall time and peak RSS. The floor printed first is what
starting Python and importing TensorFlow alone costs here.

    .venv/bin/python bench/export.py [--case CASE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from common import HERE, peak_rss_of, python, tfckpt

FIXTURES = HERE.parent / "fixtures"


def largest_estimator_case() -> str:
    """The Estimator fixture whose newest checkpoint holds the most bytes."""
    sizes = {}
    for case_json in FIXTURES.glob("*/case.json"):
        model_dir = case_json.parent / "model_dir"
        if model_dir.is_dir() and (case_json.parent / "predictions.npz").is_file():
            sizes[case_json.parent.name] = sum(p.stat().st_size for p in model_dir.glob("*.data-*"))
    return max(sizes, key=sizes.get)


def ways_for(case: str) -> list[list[str]]:
    spec = json.loads((FIXTURES / case / "case.json").read_text())
    features = ["--features", json.dumps(spec["feature_spec"])]
    ways = [["--via", "canned", *features]]
    if any((FIXTURES / case / "model_dir").glob("*.meta")):
        ways.insert(0, ["--via", "meta-graph"])
    return ways


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default=None)
    case = parser.parse_args().case or largest_estimator_case()
    model_dir = FIXTURES / case / "model_dir"
    floor, floor_rss = peak_rss_of(python("import tensorflow"))
    print(f"case {case}; floor (python + import tensorflow): {floor:.2f} s, {floor_rss / 1024:.0f} MB")
    for way in ways_for(case):
        out = Path(tempfile.mkdtemp(prefix="tfckpt-bench-")) / "sm"
        try:
            wall, rss = peak_rss_of(tfckpt("export", str(model_dir), str(out), *way))
            vwall, vrss = peak_rss_of(tfckpt("verify", str(out), str(FIXTURES / case / "predictions.npz")))
        finally:
            shutil.rmtree(out.parent, ignore_errors=True)
        print(f"{way[1]:>10}: export {wall:.2f} s, peak {rss / 1024:.0f} MB "
              f"({wall / floor:.1f}x the import floor); verify {vwall:.2f} s, peak {vrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
