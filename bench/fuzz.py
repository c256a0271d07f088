"""Long fuzz run by hand: thousands of broken checkpoints, graphs and HDF5 files
through every reading command, in worker processes, with a tally at the end.

    .venv/bin/python bench/fuzz.py                      # 10,000 cases, 2 workers
    .venv/bin/python bench/fuzz.py --cases 500 --jobs 1
    .venv/bin/python bench/fuzz.py --case 1234 --keep   # replay one case, keep its files

A case id and --seed always make the same mutation and command (tests/fuzz/runner.py),
so a failure printed here replays exactly. Exit status: 1 if any case crashed,
hung, printed a traceback, answered an unexpected exit code or unparsable JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# This file is called fuzz.py too: its own folder must not shadow tests/fuzz.
sys.path[0:1] = [str(REPO / "tests"), str(REPO)]

from fuzz import runner  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="number of cases (default 10000)")
    parser.add_argument("--start", type=int, default=0, help="first case id")
    parser.add_argument("--seed", type=int, default=1, help="base seed (the quick test uses 0)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=runner.CASE_TIMEOUT,
                        help="seconds per command before it counts as a hang")
    parser.add_argument("--case", type=int, help="replay this one case in this process")
    parser.add_argument("--keep", action="store_true", help="with --case: keep the broken files")
    parser.add_argument("--json", metavar="FILE", help="write every result as JSON lines")
    args = parser.parse_args(argv)
    if args.case is not None:
        return replay(args.case, args.seed, keep=args.keep, timeout=args.timeout)
    root = Path(tempfile.mkdtemp(prefix="tfckpt-fuzz-"))
    started = time.perf_counter()
    try:
        results = runner.run_cases(range(args.start, args.start + args.cases), base=args.seed,
                                   root=root, jobs=args.jobs, timeout=args.timeout,
                                   progress=_progress(args.cases))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    print(runner.tally(results))
    print(f"{len(results)} cases in {elapsed:.0f} s with {args.jobs} worker(s), seed {args.seed}")
    if args.json:
        with open(args.json, "w") as handle:
            handle.writelines(json.dumps(r.to_dict()) + "\n" for r in results)
    bad = runner.failures(results)
    for result in bad:
        print("\n" + runner.describe(result))
    return 1 if bad else 0


def _progress(total: int):
    def show(result, done: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"\r{done}/{total} cases", end="", file=sys.stderr, flush=True)

    return show


def replay(case_id: int, seed: int, *, keep: bool, timeout: float) -> int:
    root = Path(tempfile.mkdtemp(prefix=f"tfckpt-fuzz-case-{case_id}-"))
    workspace = runner.Workspace(root)
    case = workspace.plan(case_id, seed)
    print(f"case {case_id}: {case}")
    if keep:
        argv, what = workspace.prepare(case, root / "case")
        print(f"mutation: {what}\nfiles: {root / 'case'}\nrun: tfckpt {' '.join(argv)}")
        return 0
    result = runner.run_in_process(workspace, case, timeout=timeout)
    shutil.rmtree(root, ignore_errors=True)
    print(runner.describe(result))
    return 0 if result.outcome in runner.ALLOWED else 1


if __name__ == "__main__":
    sys.exit(main())
