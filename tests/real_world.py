"""The real-world corpus as the tests see it: its cases are the folders of
../shared/real-world (and the rows of its README table), so a case that arrives is
picked up by every test that takes its cases from here.

Which paths a reading command is given comes from the `expect` section of
tests/real_world_cases.json (one entry per folder, kept with the oracle's facts; its
schema is described in that file). Until that file is present, the paths are found
from the folders alone: a folder with a `checkpoint` state file is a model dir, a
`.meta` beside its checkpoint names a checkpoint, a `saved_model.pb` a SavedModel, an
`.h5` a Keras file.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REAL_WORLD = (REPO.parent / "shared" / "real-world").resolve()
CASES_FILE = REPO / "tests" / "real_world_cases.json"
READING = ("ls", "show", "diff", "graph", "dir")


def folders() -> list[str]:
    """Every case: a folder of the corpus."""
    return sorted(p.name for p in REAL_WORLD.iterdir() if p.is_dir()) if REAL_WORLD.is_dir() else []


def readme_table() -> dict[str, str]:
    """case -> its `format` column, from the table in the corpus README."""
    text = (REAL_WORLD / "README.md").read_text()
    rows = re.findall(r"^\| ([a-z0-9][^ |]*) \| [^|]* \| ([^|]*) \|", text, re.M)
    return {case: form.strip() for case, form in rows if case != "case"}


@lru_cache(maxsize=1)
def case_entries() -> dict[str, dict] | None:
    """The per-case entries of tests/real_world_cases.json, or None while it is absent."""
    if not CASES_FILE.is_file():
        return None
    return json.loads(CASES_FILE.read_text())["cases"]


def sources(family: str) -> list[tuple[str, tuple[Path, ...]]]:
    """(case, paths) for every case where the reading command `family` applies: the
    paths it is given (one for ls/show/dir/graph per entry, two for diff)."""
    entries = case_entries()
    found = []
    for case in folders():
        if entries is not None:
            expect = entries[case]["expect"].get(family, {})  # a missing entry fails below
            if not expect.get("applies"):
                continue
            args = [REAL_WORLD / case / arg for arg in expect.get("args") or []]
            groups = [tuple(args)] if family == "diff" else [(arg,) for arg in args]
        else:
            groups = [paths for paths in _from_folder(REAL_WORLD / case, family)]
        found += [(case, group) for group in groups]
    return found


def ids(pairs: list[tuple[str, tuple[Path, ...]]]) -> list[str]:
    """Test ids: the case, then each path relative to it."""
    return [case + ":" + ",".join(_relative(path, case) for path in paths) for case, paths in pairs]


def _relative(path: Path, case: str) -> str:
    try:
        return path.relative_to(REAL_WORLD / case).as_posix()
    except ValueError:
        return path.as_posix()


# --- discovery from the folders alone ------------------------------------------------------

def _from_folder(root: Path, family: str) -> list[tuple[Path, ...]]:
    model_dirs = sorted(p.parent for p in root.rglob("checkpoint") if p.is_file())
    saved_models = sorted(p.parent for p in root.rglob("saved_model.pb"))
    metas = sorted(p for p in root.rglob("*.meta") if _has_checkpoint(p.with_suffix("")))
    keras = sorted(root.rglob("*.h5"))
    if family in ("ls", "show"):
        readable = model_dirs or [p.with_suffix("") for p in metas] or saved_models
        return [(path,) for path in readable + keras]
    if family == "dir":
        return [(path,) for path in model_dirs]
    if family == "graph":
        graphs = metas + sorted(root.rglob("graph.pbtxt")) + sorted(root.rglob("frozen.pb"))
        return [(path,) for path in graphs + [p / "saved_model.pb" for p in saved_models]]
    if family == "diff":
        prefixes = [p.with_suffix("") for p in metas]
        return [tuple(prefixes[:2])] if len(prefixes) >= 2 else []
    return []


def _has_checkpoint(prefix: Path) -> bool:
    return prefix.is_file() or prefix.with_name(prefix.name + ".index").is_file()
