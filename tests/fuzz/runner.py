"""Plan, run and tally fuzz cases.

A case id and a base seed give a seed for `random.Random`, which picks the
mutation kind's seed artifact, the command, the output format and every
choice the mutator makes: `plan(id, base)` and the mutated bytes are the same
on every run, so a failing case is replayed with `bench/fuzz.py --case ID`.

Cases run in worker processes that call `migrate.cli.main` in-process (one
TensorFlow import per worker). The parent hands out one case at a time and
waits with a deadline, so a command that aborts the process (a signal) or
hangs is recorded against its case and the worker is replaced. Each case is
judged: exit 0 or 2 (diff may answer 1), never a signal, a hang or a
traceback, and JSON that parses when the command succeeded.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import json
import os
import queue
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from fuzz import corpus, mutators

TESTS = Path(__file__).resolve().parents[1]
ALLOWED = ("ok", "error", "differ")
CASE_TIMEOUT = 30.0  # seconds one command may take in-process
GRACE = 30.0  # on top, before the parent kills a stuck worker
MEMORY_LIMIT = 3 << 30  # bytes of heap per worker process


@dataclass(frozen=True)
class Case:
    id: int
    seed: int
    kind: str
    source: str
    command: str
    format: str
    names_only: bool = False


@dataclass
class Result:
    id: int
    kind: str
    source: str
    command: str
    outcome: str  # ok | error | differ | traceback | bad-json | bad-exit | bad-error | hang | signal
    code: int | None
    seconds: float
    what: str = ""
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def case_seed(case_id: int, base: int) -> int:
    digest = hashlib.sha256(f"tfckpt-fuzz:{base}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


# --- the workspace: pristine copies of every seed -------------------------------

class Workspace:
    """Pristine copies of the seeds (diff's B side, and what each case copies)."""

    def __init__(self, root: Path):
        self.root = root
        self.pristine = root / "pristine"
        self.roles: dict[str, set[str]] = {}
        for seed in corpus.SEEDS:
            target = self.pristine / seed.name
            if not target.exists():
                corpus.copy_seed(seed, target)
            self.roles[seed.name] = {kind.role for kind in mutators.KINDS
                                     if mutators.role_files(target, kind.role)}

    def plan(self, case_id: int, base: int) -> Case:
        seed_value = case_seed(case_id, base)
        rng = random.Random(seed_value)
        kind = mutators.KINDS[case_id % len(mutators.KINDS)]
        seeds = [s for s in corpus.SEEDS if kind.role in self.roles[s.name]]
        seed = rng.choice(seeds)
        commands = [c for c in kind.commands if c in seed.commands()] or list(seed.commands())
        return Case(id=case_id, seed=seed_value, kind=kind.name, source=seed.name,
                    command=rng.choice(commands), format="json" if rng.random() < 0.8 else "table",
                    names_only=rng.random() < 0.2)

    def prepare(self, case: Case, where: Path) -> tuple[list[str], str]:
        """Copy the seed to `where`, break it; return the argv and what was done."""
        corpus.copy_tree(self.pristine / case.source, where)
        what = mutators.KIND_BY_NAME[case.kind].mutate(where, random.Random(case.seed ^ 0x5EED))
        return self.argv(case, where), what

    def argv(self, case: Case, where: Path) -> list[str]:
        seed = corpus.BY_NAME[case.source]
        target = {"dir": seed.model_dir, "graph": seed.graph}.get(case.command, seed.checkpoint)
        argv = [case.command, str(where / target)]
        if case.command == "show":
            argv.append("--stats")
        if case.command == "diff":
            argv.append(str(self.pristine / case.source / seed.checkpoint))
            argv += ["--names-only"] if case.names_only else []
        return argv + ["--format", case.format]


# --- judging one run ----------------------------------------------------------------

def judge(case: Case, code, out: str, err: str) -> tuple[str, str]:
    """(outcome, detail) of one finished command."""
    if "Traceback (most recent call last)" in err:
        return "traceback", err[-2000:]
    if code == 0:
        if case.format == "json":
            try:
                json.loads(out)
            except ValueError as error:
                return "bad-json", f"{error}: {out[:300]!r}"
        return "ok", ""
    if code == 1 and case.command == "diff":
        return "differ", ""
    if code == 2:
        lines = [line for line in err.splitlines() if line.startswith("tfckpt: error: ")]
        return ("error", lines[0][:300]) if lines else ("bad-error", err[-1000:])
    return "bad-exit", f"exit {code}: {err[-1000:]}"


class CaseTimeout(BaseException):
    """Raised by SIGALRM in the worker: BaseException so no `except Exception` eats it."""


def _alarm(signum, frame):
    raise CaseTimeout()


def call_main(argv: list[str], timeout: float) -> tuple[object, str, str, str | None]:
    """Run `tfckpt argv` in this process: (exit code, stdout, stderr, escaped traceback)."""
    from migrate.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    escaped = None
    code: object = None
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    except CaseTimeout:
        code = "hang"
    except BaseException:  # noqa: BLE001 - exactly what the fuzzer is looking for
        escaped = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue(), escaped


def run_in_process(workspace: Workspace, case: Case, *, timeout: float = CASE_TIMEOUT) -> Result:
    where = Path(tempfile.mkdtemp(prefix=f"case-{case.id}-", dir=workspace.root))
    try:
        started = time.perf_counter()
        try:
            argv, what = workspace.prepare(case, where / "c")
        except Exception:  # noqa: BLE001 - a bug of the fuzzer, reported as such
            return Result(case.id, case.kind, case.source, case.command, "mutator-error", None,
                          0.0, "", traceback.format_exc()[-2000:])
        begin = time.perf_counter()
        code, out, err, escaped = call_main(argv, timeout)
        seconds = time.perf_counter() - begin
        if escaped:
            outcome, detail = "traceback", escaped[-2000:]
        elif code == "hang":
            outcome, detail = "hang", f"no answer in {timeout:.0f} s"
        else:
            outcome, detail = judge(case, code, out, err)
        del started
        return Result(case.id, case.kind, case.source, case.command, outcome,
                      code if isinstance(code, int) else None, round(seconds, 3), what,
                      f"{' '.join(argv[:1])} {detail}".strip() if detail else "")
    finally:
        shutil.rmtree(where, ignore_errors=True)


# --- workers --------------------------------------------------------------------------

def worker_main(root: str) -> None:
    """Read `case_id base` lines on stdin; write one JSON Result per line."""
    import resource

    # An absurd allocation must fail here (MemoryError, or an abort the parent
    # records as a signal), not push a shared machine into swap.
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))
    protocol = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray C++ writes to fd 1 must not corrupt the protocol
    from inspectors.tf_loader import tensorflow

    tensorflow()
    workspace = Workspace(Path(root))
    protocol.write("ready\n")
    protocol.flush()
    for line in sys.stdin:
        case_id, base = (int(x) for x in line.split())
        result = run_in_process(workspace, workspace.plan(case_id, base))
        protocol.write(json.dumps(result.to_dict()) + "\n")
        protocol.flush()


class Worker:
    """One worker process; replaced when it dies or hangs."""

    def __init__(self, root: Path, index: int):
        self.root = root / f"worker-{index}"
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = self.root / "stderr.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=os.pathsep.join([str(TESTS), str(corpus.REPO)]))
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fuzz.runner", "--worker", str(self.root)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                cwd=str(self.root))
        ready = self._line(300.0)
        if ready != "ready":
            raise RuntimeError(f"fuzz worker did not start: {self._tail()}")

    def run(self, case: Case, base: int, *, deadline: float) -> Result:
        if self.process is None or self.process.poll() is not None:
            self.start()
        started = time.perf_counter()
        self.process.stdin.write(f"{case.id} {base}\n".encode())
        self.process.stdin.flush()
        line = self._line(deadline)
        seconds = round(time.perf_counter() - started, 3)
        if line:
            return Result(**json.loads(line))
        if self.process.poll() is None:  # still running: stuck past the deadline
            self.process.kill()
            self.process.wait()
            self.process = None
            return Result(case.id, case.kind, case.source, case.command, "hang", None, seconds,
                          "", f"killed after {deadline:.0f} s")
        code = self.process.returncode
        self.process = None
        return Result(case.id, case.kind, case.source, case.command, "signal", code, seconds,
                      "", f"worker died ({_death(code)}): {self._tail()}")

    def _line(self, timeout: float) -> str:
        fd = self.process.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return ""
        return self.process.stdout.readline().decode().strip()

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _death(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit {code}"


def run_cases(case_ids, *, base: int, root: Path, jobs: int = 1,
              timeout: float = CASE_TIMEOUT, progress=None) -> list[Result]:
    """Run every case id in `jobs` worker processes; results in id order."""
    planner = Workspace(root / "planner")
    pending: queue.Queue = queue.Queue()
    for case_id in case_ids:
        pending.put(planner.plan(case_id, base))
    results: list[Result] = []
    lock = threading.Lock()

    def drain(worker: Worker) -> None:
        try:
            while True:
                try:
                    case = pending.get_nowait()
                except queue.Empty:
                    return
                result = worker.run(case, base, deadline=timeout + GRACE)
                with lock:
                    results.append(result)
                    if progress:
                        progress(result, len(results))
        finally:
            worker.stop()

    threads = [threading.Thread(target=drain, args=(Worker(root, i),)) for i in range(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results, key=lambda r: r.id)


# --- the tally -------------------------------------------------------------------------

OUTCOMES = ("ok", "error", "differ", "traceback", "bad-json", "bad-exit", "bad-error", "hang",
            "signal", "mutator-error")


def tally(results: list[Result]) -> str:
    """Cases by mutation kind x outcome, the totals, and the slowest case."""
    counts = collections.Counter((r.kind, r.outcome) for r in results)
    seen = [o for o in OUTCOMES if any(r.outcome == o for r in results)]
    kinds = [k.name for k in mutators.KINDS if any(r.kind == k.name for r in results)]
    width = max(len(k) for k in kinds + ["kind"])
    lines = [f"{'kind':<{width}} " + " ".join(f"{o:>9}" for o in seen) + f" {'total':>7}"]
    for kind in kinds:
        row = [counts[(kind, o)] for o in seen]
        lines.append(f"{kind:<{width}} " + " ".join(f"{n:>9}" for n in row) + f" {sum(row):>7}")
    totals = [sum(counts[(k, o)] for k in kinds) for o in seen]
    lines.append(f"{'total':<{width}} " + " ".join(f"{n:>9}" for n in totals)
                 + f" {len(results):>7}")
    by_command = collections.Counter(r.command for r in results)
    lines.append("commands: " + ", ".join(f"{c} {n}" for c, n in sorted(by_command.items())))
    if results:
        slow = max(results, key=lambda r: r.seconds)
        lines.append(f"slowest: case {slow.id} ({slow.kind}, {slow.source}, {slow.command}) "
                     f"{slow.seconds:.2f} s: {slow.what}")
    return "\n".join(lines)


def failures(results: list[Result]) -> list[Result]:
    return [r for r in results if r.outcome not in ALLOWED]


def describe(result: Result) -> str:
    return (f"case {result.id} [{result.kind} / {result.source} / {result.command}] "
            f"{result.outcome}: {result.what}\n{result.detail}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker_main(sys.argv[2])
