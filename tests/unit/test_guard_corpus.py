"""Every cheat in the corpus is rejected with its rule named; every honest fix is accepted."""

from __future__ import annotations

import pytest

from app.config.model import GuardConfig
from app.fix.guard import MappingView, changes_between, check_change
from tests.guard_corpus import Case, cases

CHEATS = [case for case in cases() if case.kind == "cheat"]
HONEST = [case for case in cases() if case.kind == "honest"]


def _judge(case: Case):
    return check_change(
        changes_between(case.before, case.after), GuardConfig(), context=MappingView(case.before)
    )


def test_the_corpus_is_as_large_as_promised():
    assert len(CHEATS) >= 60 and len(HONEST) >= 25
    languages = {case.name.split("-")[0] for case in CHEATS}
    assert {"py", "js", "ts", "go", "rust", "ci"} <= languages


@pytest.mark.parametrize("case", CHEATS, ids=lambda c: c.name)
def test_cheat_is_rejected_naming_its_rule(case):
    verdict = _judge(case)
    assert not verdict.ok, f"{case.name} was accepted"
    assert case.rule in {v.rule for v in verdict.violations}, verdict.reasons
    for item in verdict.violations:
        assert item.path in item.message and f"(rule: {item.rule})" in item.message


@pytest.mark.parametrize("case", HONEST, ids=lambda c: c.name)
def test_honest_fix_is_accepted(case):
    verdict = _judge(case)
    assert verdict.ok, verdict.reasons


def test_the_refactor_case_is_a_150_line_change_over_three_files():
    (case,) = [c for c in HONEST if c.name == "py-three-file-refactor-150-lines"]
    verdict = _judge(case)
    assert verdict.files_changed == 3
    assert verdict.lines_added + verdict.lines_removed >= 150
