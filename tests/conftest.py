"""Shared test helpers: paths to the fixtures and real-world files, and a way to
run the real command in-process and capture what it prints."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from inspectors.tf_loader import use_legacy_keras

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
REAL_WORLD = (REPO.parent / "shared" / "real-world").resolve()

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
use_legacy_keras()


@dataclass
class Run:
    code: int
    out: str
    err: str


def sha256_tree(path: Path) -> dict[str, str]:
    """sha256 of a file, or of every file under a folder: proof an input was not touched."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def only_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def tfckpt(capsys):
    """Call `tfckpt ARGS...` in-process; returns code, stdout and stderr."""
    from migrate.cli.main import main

    def run(*argv: str) -> Run:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse usage errors, --help, --version
            code = exit_.code
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def tf():
    from inspectors.tf_loader import tensorflow

    return tensorflow()
