"""The command skeleton: help, version, usage errors, exit codes, lazy TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, only_line
from inspectors import __version__, errors
from migrate.cli import main as cli

NO_TF_CHECK = """
import sys
from migrate.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code
print("TF_IMPORTED" if "tensorflow" in sys.modules else "TF_NOT_IMPORTED", file=sys.stderr)
sys.exit(code)
"""


def run_fresh(*argv: str) -> subprocess.CompletedProcess:
    """A new interpreter, so we can see whether TensorFlow got imported."""
    return subprocess.run([sys.executable, "-c", NO_TF_CHECK, *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    (["ls", "--help"], 0),
    ([], 2),
    (["frobnicate"], 2),
    (["ls"], 2),
    (["ls", "x", "--format", "yaml"], 2),
    (["ls", "/no/such/checkpoint"], 2),
])
def test_help_and_usage_errors_never_import_tensorflow(argv, code):
    result = run_fresh(*argv)
    assert result.returncode == code
    assert result.stderr.strip().endswith("TF_NOT_IMPORTED")
    assert "Traceback" not in result.stderr


def test_help_lists_commands_and_exit_codes(tfckpt):
    run = tfckpt("--help")
    assert run.code == 0
    listed = [line.split()[0] for line in run.out.splitlines()
              if line.startswith("    ") and not line.startswith("     ")]
    # the commands the README's table documents, in its order
    documented = [row.split("`")[1].split()[1] for row in (REPO / "README.md").read_text().splitlines()
                  if row.startswith("| `tfckpt ")]
    assert listed == list(dict.fromkeys(documented)) and len(listed) >= 13
    assert "Exit codes: 0 success, 1 differences" in " ".join(run.out.split())


def test_version(tfckpt):
    run = tfckpt("--version")
    assert (run.code, run.out) == (0, f"tfckpt {__version__}\n")


def test_missing_path_is_one_line_exit_2(tfckpt, tmp_path):
    run = tfckpt("ls", tmp_path / "nope.ckpt")
    assert run.code == 2
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"tfckpt: error: no such file or directory: {tmp_path / 'nope.ckpt'}.")


def test_common_options_work_before_and_after_the_command(tfckpt, tmp_path):
    """Both places parse: a real checkpoint gives the same JSON; a missing path gives the
    path error, not argparse's usage error (which also exits 2)."""
    source = REPO / "fixtures" / "saver-v1" / "model.ckpt-50"
    before = tfckpt("--format", "json", "ls", source)
    after = tfckpt("ls", source, "--format", "json")
    assert before.code == after.code == 0, (before.err, after.err)
    assert before.out == after.out and isinstance(json.loads(after.out), (dict, list))
    missing = [tfckpt("--format", "json", "ls", tmp_path / "nope"),
               tfckpt("ls", tmp_path / "nope", "--format", "json")]
    for run in missing:
        assert run.code == 2
        assert only_line(run.err).startswith(f"tfckpt: error: no such file or directory: {tmp_path / 'nope'}.")


@pytest.mark.parametrize("error_class, code", [
    (errors.SourceNotFound, 2), (errors.CorruptCheckpoint, 2), (errors.UnsupportedSource, 2),
    (errors.MappingConflict, 2), (errors.OutputExists, 2), (errors.VerificationFailed, 1),
    (errors.TfckptError, 2),
])
def test_every_error_class_maps_to_its_exit_code(monkeypatch, capsys, error_class, code):
    def handler(args):
        raise error_class("what went wrong at /some/where. Do this instead")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: _with_handler(parser, handler))
    assert cli.main(["ls", "x"]) == code
    assert capsys.readouterr().err == "tfckpt: error: what went wrong at /some/where. Do this instead\n"


def test_debug_reraises_with_traceback(monkeypatch):
    def handler(args):
        raise errors.CorruptCheckpoint("bad bytes")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: _with_handler(parser, handler))
    with pytest.raises(errors.CorruptCheckpoint):
        cli.main(["ls", "x", "--debug"])


def test_installed_script_runs(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "tfckpt")
    result = subprocess.run([script, "ls", str(tmp_path / "missing")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("tfckpt: error: no such file or directory")


def _with_handler(parser, handler):
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(handler=handler)
    return parser
