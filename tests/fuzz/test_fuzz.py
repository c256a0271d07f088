"""Quick fuzz mode: hundreds of broken inputs through every reading command.

Run by `make test`; the long mode is `bench/fuzz.py` (10,000 cases, by hand).
Every case must answer exit 0 or 2 (diff: 1 for differences), never die by a
signal, hang or print a traceback, and print JSON that parses when it succeeds.
"""

from __future__ import annotations

import collections
import hashlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fuzz import mutators, runner

QUICK_CASES = 1100  # 50 per mutation kind
QUICK_SEED = 0
SCRIPT = Path(sys.executable).parent / "tfckpt"
# Kinds and commands that reach TensorFlow's C++ reader or h5py: the ones where a
# process could die, so they are also run through the installed script.
SCRIPT_KINDS = ("huge-shape", "wrong-dtype", "bad-entry", "h5-not-keras", "graph-garbage",
                "truncate-data")
SCRIPT_CASES = 12


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_symlink():
            digest.update(b"->" + str(path.readlink()).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_a_case_id_always_makes_the_same_mutation(tmp_path, tf):
    first, second = runner.Workspace(tmp_path / "a"), runner.Workspace(tmp_path / "b")
    for case_id in range(len(mutators.KINDS)):
        case = first.plan(case_id, QUICK_SEED)
        assert case == second.plan(case_id, QUICK_SEED)
        argv_a, what_a = first.prepare(case, tmp_path / f"a-{case_id}")
        argv_b, what_b = second.prepare(case, tmp_path / f"b-{case_id}")
        assert what_a == what_b and argv_a[0] == argv_b[0] == case.command
        assert _tree_digest(tmp_path / f"a-{case_id}") == _tree_digest(tmp_path / f"b-{case_id}")
    assert first.plan(5, QUICK_SEED) != first.plan(5, QUICK_SEED + 1)


def test_originals_stay_untouched(tmp_path, tf):
    from fuzz import corpus

    before = {seed.name: _seed_digest(seed) for seed in corpus.SEEDS}
    workspace = runner.Workspace(tmp_path / "w")
    for case_id in range(len(mutators.KINDS)):
        workspace.prepare(workspace.plan(case_id, QUICK_SEED), tmp_path / f"c-{case_id}")
    assert {seed.name: _seed_digest(seed) for seed in corpus.SEEDS} == before


def _seed_digest(seed) -> str:
    from fuzz import corpus

    digest = hashlib.sha256()
    for relative in corpus.seed_files(seed):
        digest.update((seed.root / relative).read_bytes())
    return digest.hexdigest()


def test_every_real_world_case_is_a_seed():
    """A case that arrives in the corpus is fuzzed without editing the seed list."""
    import real_world
    from fuzz import corpus

    seeded = {seed.root.relative_to(corpus.REAL_WORLD).parts[0] for seed in corpus.SEEDS
              if seed.root.is_relative_to(corpus.REAL_WORLD)}
    readable = {case for case, _ in real_world.sources("ls")}
    assert readable and readable <= seeded  # (plus seeds for graph-only cases: a frozen .pb)
    assert all(corpus.seed_files(seed) for seed in corpus.SEEDS)


def test_quick_fuzz_every_reading_command(tmp_path):
    started = time.perf_counter()
    results = runner.run_cases(range(QUICK_CASES), base=QUICK_SEED, root=tmp_path, jobs=1)
    elapsed = time.perf_counter() - started
    print(f"\n{runner.tally(results)}\n{len(results)} cases in {elapsed:.0f} s")
    assert len(results) == QUICK_CASES
    bad = runner.failures(results)
    assert not bad, "\n\n".join(runner.describe(r) for r in bad[:10])
    by_kind = collections.Counter(r.kind for r in results)
    assert set(by_kind) == {k.name for k in mutators.KINDS}
    assert min(by_kind.values()) >= QUICK_CASES // len(mutators.KINDS)
    assert {r.command for r in results} == {"ls", "show", "diff", "dir", "graph"}
    # The mutations do break things: most kinds produce refusals, not only successes.
    assert sum(r.outcome == "error" for r in results) > QUICK_CASES // 4


def _script_sample(workspace: runner.Workspace) -> list[runner.Case]:
    picked, seen = [], collections.Counter()
    for case_id in range(QUICK_CASES):
        case = workspace.plan(case_id, QUICK_SEED)
        if case.kind in SCRIPT_KINDS and case.command in ("show", "graph", "ls") \
                and seen[case.kind] < SCRIPT_CASES // len(SCRIPT_KINDS):
            seen[case.kind] += 1
            picked.append(case)
    return picked


def test_sample_through_the_installed_script(tmp_path, tf):
    """The process boundary is the point: a C++ abort would show as a signal here."""
    workspace = runner.Workspace(tmp_path / "w")
    cases = _script_sample(workspace)
    assert len(cases) == SCRIPT_CASES

    def run(case: runner.Case):
        argv, what = workspace.prepare(case, tmp_path / f"case-{case.id}")
        done = subprocess.run([str(SCRIPT), *argv], capture_output=True, text=True, timeout=180)
        return case, what, done

    with ThreadPoolExecutor(max_workers=2) as pool:
        finished = list(pool.map(run, cases))
    for case, what, done in finished:
        assert done.returncode >= 0, f"case {case.id} ({what}) died by signal {-done.returncode}"
        outcome, detail = runner.judge(case, done.returncode, done.stdout, done.stderr)
        assert outcome in runner.ALLOWED, f"case {case.id} ({case.kind}, {what}): {outcome} {detail}"
