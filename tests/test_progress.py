"""Long commands show a progress bar when stderr is a terminal, and nothing when it is
piped or the command is quiet; stdout carries the same data either way.

The installed `tfckpt` runs with its stderr on a pseudo-terminal (stdout piped)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES

TFCKPT = str(Path(sys.executable).parent / "tfckpt")
SHARDED = str(FIXTURES / "saver-v2-sharded")
RNN10 = str(FIXTURES / "rnn-tf1.0-names" / "tf1.0")


def run(argv: list[str], *, terminal: bool) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) with stderr on a terminal or on a pipe."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", COLUMNS="100")
    if not terminal:
        done = subprocess.run([TFCKPT, *argv], capture_output=True, text=True, env=env, timeout=120)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen([TFCKPT, *argv], stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    seen = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out = process.stdout.read().decode()
    os.close(leader)
    return process.wait(timeout=120), out, seen.decode(errors="replace")


def _count(argv: list[str]) -> int:
    """How many variables the source of a command holds (what the bar counts)."""
    code, out, _ = run(["ls", argv[1], "--format", "json"], terminal=False)
    assert code == 0
    return len(json.loads(out)["variables"])


COMMANDS = {
    "show --stats": lambda tmp: ["show", SHARDED, "--stats", "--format", "json"],
    "diff": lambda tmp: ["diff", SHARDED, SHARDED, "--format", "json"],
    "rename": lambda tmp: ["rename", RNN10, str(tmp / "out"), "--add-prefix", "x/", "--format", "json"],
    "export-weights": lambda tmp: ["export-weights", SHARDED, str(tmp / "w.h5"), "--format", "json"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bar_on_a_terminal_only(command, tmp_path):
    argv = COMMANDS[command](tmp_path)
    total = _count(argv)
    code, out, err = run(argv, terminal=True)
    assert code == 0, err
    assert f" 0/{total} [" in err, err  # tqdm's "n/total [elapsed<left" counter
    with_bar = json.loads(out)
    for path in tmp_path.iterdir():  # written outputs go, so the piped run can write them again
        subprocess.run(["rm", "-rf", str(path)], check=True)
    code, out, err = run(argv, terminal=False)
    assert (code, err) == (0, "")
    assert json.loads(out).keys() == with_bar.keys()


def test_quiet_keeps_the_terminal_clean(tmp_path):
    code, out, err = run(["rename", RNN10, str(tmp_path / "out"), "--add-prefix", "x/", "-q"],
                         terminal=True)
    assert (code, out, err) == (0, "", "")
