"""SIGKILL the writing commands at random (seeded) moments and check what is left.

After every kill: the output path is absent or a complete output that verifies;
the inputs are byte-identical (sha256). After all kills: a rerun succeeds, and
the temp paths the killed runs left beside the output are gone. Every run uses
--force, so kills also land while an older output is being swapped out.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from conftest import FIXTURES, REAL_WORLD

SCRIPT = Path(sys.executable).parent / "tfckpt"
KILLS_PER_COMMAND = 7  # kills that land mid-run, per command: 28 in all
SEED = 20240607
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
TEMP_MARKS = (".tfckpt-tmp-", ".tfckpt-old-")


@dataclass(frozen=True)
class Job:
    command: str
    source: Path  # copied into tmp_path/input before the runs
    output: str  # name of the output path in tmp_path
    extra: tuple[str, ...] = ()


JOBS = {
    "rename": Job("rename", REAL_WORLD / "traffic-signs-v1-2016-11", "renamed",
                  ("--add-prefix", "new/")),
    "export-weights": Job("export-weights", REAL_WORLD / "traffic-signs-v1-2016-11", "weights.h5"),
    "export": Job("export", FIXTURES / "dnn-classifier-v1" / "model_dir", "saved_model"),
    "freeze": Job("freeze", FIXTURES / "dnn-classifier-v1" / "model_dir", "frozen.pb"),
}


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(output: Path) -> list[str]:
    head = f".{output.name}"
    return sorted(name for name in os.listdir(output.parent)
                  if name.startswith(head) and any(mark in name for mark in TEMP_MARKS))


def _argv(job: Job, source: Path, output: Path) -> list[str]:
    return [str(SCRIPT), job.command, str(source), str(output), *job.extra, "--force", "-q"]


def _same_values(expected: dict, actual: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for name, a in expected.items():
        b = actual[name]
        assert (a.dtype, a.shape, a.tobytes()) == (b.dtype, b.shape, b.tobytes()), name


def _tf_values(tf, prefix: str, rename=lambda name: name) -> dict:
    reader = tf.train.load_checkpoint(prefix)
    return {rename(name): np.asarray(reader.get_tensor(name)) for name in reader.get_variable_to_shape_map()}


def _h5_values(path: Path) -> dict:
    """name -> value of a tfckpt weights file, read by h5py (every dataset names its variable)."""
    import h5py

    values = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda _, item: values.__setitem__(item.attrs["name"], item[()])
                          if isinstance(item, h5py.Dataset) else None)
    return values


def _verifier(job: Job, source: Path, tf) -> Callable[[Path], None]:
    """How to prove an output complete, with plain TensorFlow (and h5py): checkpoints
    against `tf.train.load_checkpoint` of the source bit for bit, a SavedModel or frozen
    graph against the fixture's recorded predictions."""
    from fixture_cases import (assert_same_outputs, load_predictions, plain_frozen_predict,
                               plain_saved_model_predict, split_predictions)

    if job.command in ("rename", "export-weights"):
        original = _tf_values(tf, str(source / "model.ckpt"))
    if job.command == "rename":
        def verify(output: Path) -> None:
            _same_values({"new/" + name: value for name, value in original.items()},
                         _tf_values(tf, str(output / "model.ckpt")))
    elif job.command == "export-weights":
        def verify(output: Path) -> None:
            _same_values(original, _h5_values(output))
    else:
        inputs, recorded = split_predictions(load_predictions(job.source.parent.name))
        run = plain_saved_model_predict if job.command == "export" else plain_frozen_predict

        def verify(output: Path) -> None:
            assert_same_outputs(recorded, run(output, inputs), atol=1e-5,
                                exact=("class_ids", "classes", "all_class_ids", "all_classes"))
    return verify


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(JOBS))
def test_sigkill_at_random_moments(command, tmp_path, tfckpt, tf):
    job = JOBS[command]
    source = tmp_path / "input"
    shutil.copytree(job.source, source, copy_function=shutil.copyfile)
    before = _digests(source)
    output = tmp_path / job.output
    verify = _verifier(job, source, tf)

    started = time.perf_counter()
    reference = subprocess.run(_argv(job, source, tmp_path / f"reference-{job.output}"),
                               env=ENV, capture_output=True, text=True, timeout=300)
    full = time.perf_counter() - started
    assert reference.returncode == 0, reference.stderr
    verify(tmp_path / f"reference-{job.output}")

    rng = random.Random(f"{SEED}:{command}")
    killed, completed, seen_leftovers = 0, 0, 0
    outputs_after_kill = 0
    # A run that finishes before its kill lands does not count: the next kill aims earlier,
    # so that every command gets KILLS_PER_COMMAND kills however fast this machine is today.
    expected = full
    while killed < KILLS_PER_COMMAND and completed < 3 * KILLS_PER_COMMAND:
        # Every other kill aims at the end, where the output is written and swapped in.
        window = (0.05, expected) if killed % 2 == 0 else (0.75 * expected, expected)
        process = subprocess.Popen(_argv(job, source, output), env=ENV, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(*window))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the command and any child it forked
            killed += 1
        else:
            completed += 1
            expected *= 0.85
        process.wait()
        assert _digests(source) == before, "an input changed"
        if output.exists():
            verify(output)  # a complete output, the old one or the new one
            outputs_after_kill += 1
        seen_leftovers += bool(_leftovers(output))

    rerun = subprocess.run(_argv(job, source, output), env=ENV, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    verify(output)
    assert _leftovers(output) == []
    assert _digests(source) == before
    print(f"\n{command}: {killed} killed, {completed} finished first, output present (and "
          f"verified) after {outputs_after_kill}, temp leftovers after {seen_leftovers} cleaned "
          f"by the rerun, full run {full:.1f} s")
    assert killed == KILLS_PER_COMMAND
