"""migrate.output: overlap and existence checks, staged writes, forced swaps, stale temp paths."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from inspectors.errors import OutputExists, UnsafeOutput
from migrate.write.staged import TEMP_MARK, Staged, check_output, clean_stale


def test_output_inside_input_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(UnsafeOutput, match="overlaps the input"):
        check_output(str(tmp_path / "in" / "out"), [str(tmp_path / "in")], force=True)


def test_output_equal_to_input_prefix_is_refused(tmp_path):
    prefix = tmp_path / "model.ckpt-1"
    with pytest.raises(UnsafeOutput):
        check_output(str(prefix), [str(prefix)], force=True)
    with pytest.raises(UnsafeOutput):
        check_output(str(tmp_path / "model.ckpt-1.index"), [str(prefix)], force=True)


def test_output_containing_input_is_refused(tmp_path):
    with pytest.raises(UnsafeOutput):
        check_output(str(tmp_path), [str(tmp_path / "a" / "model.ckpt")], force=True)


def test_existing_output_needs_force(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(OutputExists, match="--force"):
        check_output(str(tmp_path / "out"), [], force=False)
    assert check_output(str(tmp_path / "out"), [], force=True) == str(tmp_path / "out")


def test_uncommitted_stage_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with Staged(str(out)) as staged:
        (open(os.path.join(staged.path, "f"), "w")).write("x")
    assert os.listdir(tmp_path) == []


def test_failed_stage_can_be_kept(tmp_path):
    out = tmp_path / "out"
    with Staged(str(out)) as staged:
        open(os.path.join(staged.path, "f"), "w").write("x")
        staged.keep_as = str(tmp_path / "out.failed")
    assert sorted(os.listdir(tmp_path)) == ["out.failed"]


def test_commit_moves_into_place(tmp_path):
    out = tmp_path / "out"
    with Staged(str(out)) as staged:
        open(os.path.join(staged.path, "f"), "w").write("new")
        staged.commit()
    assert (out / "f").read_text() == "new"
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("is_dir", [True, False])
def test_force_replaces_old_output_only_at_commit(tmp_path, is_dir):
    out = tmp_path / "out"
    if is_dir:
        out.mkdir()
        (out / "old").write_text("old")
    else:
        out.write_text("old")
    with Staged(str(out), force=True, is_dir=is_dir) as staged:
        target = os.path.join(staged.path, "new") if is_dir else staged.path
        open(target, "w").write("new")
        assert (out / "old").exists() if is_dir else out.read_text() == "old"
        staged.commit()
    if is_dir:
        assert sorted(os.listdir(out)) == ["new"] and (out / "new").read_text() == "new"
    else:
        assert out.is_file() and out.read_text() == "new"
    assert os.listdir(tmp_path) == ["out"]


def test_commit_without_force_refuses_an_output_that_appeared(tmp_path):
    out = tmp_path / "out"
    with Staged(str(out)) as staged:
        out.mkdir()
        with pytest.raises(OutputExists):
            staged.commit()
    assert os.listdir(tmp_path) == ["out"]


def test_stale_temp_of_dead_process_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".out{TEMP_MARK}{dead}-abcd1234"
    stale.mkdir()
    (stale / "half-written").write_text("x")
    live = tmp_path / f".out{TEMP_MARK}1-abcd1234"  # pid 1 is alive
    live.mkdir()
    assert clean_stale(str(tmp_path / "out")) == [stale.name]
    assert sorted(os.listdir(tmp_path)) == [live.name]
