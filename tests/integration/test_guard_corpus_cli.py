"""The corpus through the command line: trees laid out on disk, judged by ``python -m app guard``.

Every case goes through ``app.__main__.main`` (argument parsing, reading both
trees from disk with their modes, symlinks and submodules, JSON output, exit
code); a sample also runs as a real ``python -m app guard`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.__main__ import main
from tests.guard_corpus import Case, cases, write_tree

ROOT = Path(__file__).resolve().parents[2]
ALL = list(cases())
# A sample across rules and languages also runs as real processes (each costs ~0.5 s).
SAMPLE = [
    *list({case.rule: case for case in ALL if case.kind == "cheat"}.values())[::3],
    *[case for case in ALL if case.kind == "honest"][::12],
]


def _lay_out(case: Case, root: Path) -> tuple[str, str]:
    write_tree(root / "before", case.before)
    write_tree(root / "after", case.after)
    return str(root / "before"), str(root / "after")


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.name)
def test_cli_judges_the_corpus_case(case, tmp_path, capsys):
    before, after = _lay_out(case, tmp_path)
    code = main(["guard", before, after, "--json"])
    verdict = json.loads(capsys.readouterr().out)
    if case.kind == "honest":
        assert (code, verdict["ok"]) == (0, True), verdict["violations"]
    else:
        assert (code, verdict["ok"]) == (1, False)
        assert case.rule in {v["rule"] for v in verdict["violations"]}


@pytest.mark.parametrize("case", SAMPLE, ids=lambda c: c.name)
def test_python_m_app_guard_process(case, tmp_path):
    before, after = _lay_out(case, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "app", "guard", before, after, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    verdict = json.loads(result.stdout)
    assert result.returncode == (0 if case.kind == "honest" else 1), result.stderr
    assert set(verdict) >= {"ok", "violations", "files_changed", "lines_added", "lines_removed"}
    if case.kind == "cheat":
        assert case.rule in {v["rule"] for v in verdict["violations"]}
