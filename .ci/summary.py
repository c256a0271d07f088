"""The closing line of .ci/run, from the junit XML of each pytest group (main, legacy).

Prints `tests: N passed, N failed, N skipped`, names every skipped test with its reason,
and exits 1 when a group that must run did not: the legacy group (or the main group)
wrote no results, collected nothing or skipped a test, or the real-world tests (those
named after a folder of the real-world corpus, or `real_world`) were absent or skipped.
Standard library only: it runs with the machine's python3, outside both environments.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

GROUPS = ("main", "legacy")


def outcome(case: ElementTree.Element) -> tuple[str, str]:
    """`passed`, `failed` or `skipped`, and a skip's reason."""
    for child in case:
        if child.tag in ("failure", "error"):
            return "failed", ""
        if child.tag == "skipped":
            return "skipped", child.get("message", "")
    return "passed", ""


def read_group(path: Path) -> list[tuple[str, str, str]] | None:
    """(test id, outcome, reason) for each test case of one group; None without a file."""
    if not path.is_file():
        return None
    root = ElementTree.parse(path).getroot()
    return [(f"{case.get('classname')}::{case.get('name')}", *outcome(case))
            for case in root.iter("testcase")]


def is_real_world(test_id: str, cases: list[str]) -> bool:
    return "real_world" in test_id or any(case in test_id for case in cases)


def main(results: Path, corpus: Path) -> int:
    cases = sorted(p.name for p in corpus.iterdir() if p.is_dir())
    groups = {name: read_group(results / f"{name}.xml") for name in GROUPS}
    tests = [test for found in groups.values() for test in found or []]
    counts = {kind: sum(1 for _, got, _ in tests if got == kind) for kind in ("passed", "failed", "skipped")}
    print(f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    problems = []
    for name, found in groups.items():
        if found is None:
            problems.append(f"the {name} group did not run (no {name}.xml)")
        elif not found:
            problems.append(f"the {name} group collected no tests")
    legacy_skips = [test for test in groups["legacy"] or [] if test[1] == "skipped"]
    if legacy_skips:
        problems.append(f"{len(legacy_skips)} test(s) of the legacy group were skipped")
    real_world = [test for test in tests if is_real_world(test[0], cases)]
    if not real_world:
        problems.append("no real-world test ran")
    elif any(got == "skipped" for _, got, _ in real_world):
        problems.append(f"{sum(got == 'skipped' for _, got, _ in real_world)} real-world test(s) were skipped")
    for test_id, got, reason in tests:
        if got == "skipped":
            print(f"skipped: {test_id}: {reason}")
    for problem in problems:
        print(f"ci: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
