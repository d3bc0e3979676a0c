"""The loop's pure decisions: triage, reruns, iterating, escalating and exhausting."""

from __future__ import annotations

import pytest

from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.loop.policy import (
    Ancestry,
    Decision,
    Order,
    RunMark,
    Step,
    after_attempt,
    after_fix_ci,
    after_fix_ci_of_all,
    after_rerun,
    before_iteration,
    iterations_used,
    run_order,
    triage,
)
from app.store.records import Iteration, Loop, LoopState


def diagnosis(category: Category = Category.TEST, line: str = "FAILED test_x") -> Diagnosis:
    return Diagnosis(category=category, confidence=0.9, key_lines=(KeyLine(line),))


def published(d: Diagnosis, conclusion: str | None = "failure", n: int = 1) -> Iteration:
    return Iteration(
        loop_id=1, n=n, status="published", fingerprint=d.fingerprint, ci_conclusion=conclusion
    )


# --- triage ------------------------------------------------------------------------------


def test_infra_failure_is_rerun_once() -> None:
    decision = triage(diagnosis(Category.INFRA), rerun_flaky_tests=False, may_rerun=True)
    assert decision == Decision(Step.RERUN, "infra failure: rerunning the failed jobs once")


def test_test_failure_is_rerun_when_flaky_tests_are_rerun() -> None:
    decision = triage(diagnosis(Category.TEST), rerun_flaky_tests=True, may_rerun=True)
    assert decision == Decision(Step.RERUN, "test failure: rerunning the failed jobs once")


def test_test_failure_goes_to_fix_when_flaky_tests_are_not_rerun() -> None:
    decision = triage(diagnosis(Category.TEST), rerun_flaky_tests=False, may_rerun=True)
    assert decision == Decision(Step.FIX)


@pytest.mark.parametrize("category", [Category.INFRA, Category.TEST])
def test_no_second_rerun_once_a_rerun_was_made(category: Category) -> None:
    decision = triage(diagnosis(category), rerun_flaky_tests=True, may_rerun=False)
    assert decision.step is Step.FIX


@pytest.mark.parametrize(
    "category",
    [Category.LINT, Category.TYPECHECK, Category.BUILD, Category.SSR, Category.UNKNOWN],
)
def test_code_failures_go_straight_to_fix(category: Category) -> None:
    decision = triage(diagnosis(category), rerun_flaky_tests=True, may_rerun=True)
    assert decision.step is Step.FIX


# --- after_rerun -------------------------------------------------------------------------


@pytest.mark.parametrize("conclusion", ["success", "neutral"])
def test_green_rerun_ends_the_loop_as_flaky(conclusion: str) -> None:
    assert after_rerun(conclusion) == Decision(
        Step.FLAKY, "the rerun passed: the failure was flaky"
    )


@pytest.mark.parametrize("conclusion", ["failure", "timed_out", "cancelled", "", "skipped"])
def test_red_rerun_goes_on_to_fix(conclusion: str) -> None:
    assert after_rerun(conclusion) == Decision(Step.FIX, "the rerun failed too")


# --- before_iteration --------------------------------------------------------------------


def test_first_iteration_is_a_fix() -> None:
    decision = before_iteration(diagnosis(), previous=None, used=0, max_iterations=3)
    assert decision == Decision(Step.FIX)


def test_same_failure_after_a_published_fix_failed_ci_escalates() -> None:
    d = diagnosis(Category.TEST)
    decision = before_iteration(d, previous=published(d, n=2), used=2, max_iterations=5)
    assert decision.step is Step.ESCALATE
    assert decision.reason == (
        "The fix did not change the failure: iteration 2 ended with the same test error."
    )


@pytest.mark.parametrize("conclusion", ["timed_out", "startup_failure"])
def test_same_failure_escalates_for_every_failure_conclusion(conclusion: str) -> None:
    d = diagnosis()
    decision = before_iteration(d, previous=published(d, conclusion), used=1, max_iterations=5)
    assert decision.step is Step.ESCALATE


def test_a_different_failure_after_a_published_fix_iterates() -> None:
    previous = published(diagnosis(line="FAILED test_a"))
    decision = before_iteration(
        diagnosis(line="FAILED test_b"), previous=previous, used=1, max_iterations=3
    )
    assert decision == Decision(Step.FIX)


@pytest.mark.parametrize("status", ["rejected", "no_change", "failed", "interrupted"])
def test_same_fingerprint_without_a_published_fix_does_not_escalate(status: str) -> None:
    d = diagnosis()
    previous = Iteration(loop_id=1, n=1, status=status, fingerprint=d.fingerprint)
    assert before_iteration(d, previous=previous, used=1, max_iterations=3).step is Step.FIX


def test_same_fingerprint_while_ci_has_not_failed_does_not_escalate() -> None:
    d = diagnosis()
    decision = before_iteration(d, previous=published(d, None), used=1, max_iterations=3)
    assert decision.step is Step.FIX


def test_previous_iteration_without_fingerprint_never_matches() -> None:
    d = diagnosis()
    previous = Iteration(
        loop_id=1, n=1, status="published", fingerprint="", ci_conclusion="failure"
    )
    assert before_iteration(d, previous=previous, used=1, max_iterations=3).step is Step.FIX


def test_max_iterations_used_exhausts_the_loop() -> None:
    decision = before_iteration(diagnosis(), previous=None, used=3, max_iterations=3)
    assert decision == Decision(Step.EXHAUST, "Exhausted 3 iterations without a green run.")


def test_one_iteration_left_still_fixes() -> None:
    assert before_iteration(diagnosis(), previous=None, used=2, max_iterations=3).step is Step.FIX


def test_unchanged_failure_escalates_even_when_iterations_are_used_up() -> None:
    d = diagnosis()
    decision = before_iteration(d, previous=published(d), used=3, max_iterations=3)
    assert decision.step is Step.ESCALATE


def test_iterations_used_excludes_those_before_a_retry() -> None:
    loop = Loop(
        id=1, installation_id=1, repo="o/r", workflow_id=1, workflow_name="CI",
        workflow_path=".github/workflows/ci.yml", branch="main", head_sha="a" * 40, run_id=9,
        run_attempt=1, run_url="", state=LoopState.FIXING, iteration=5, iteration_base=3,
    )  # fmt: skip
    assert iterations_used(loop) == 2


# --- after_fix_ci ------------------------------------------------------------------------


@pytest.mark.parametrize("conclusion", ["success", "neutral"])
def test_green_ci_on_the_fix_branch_succeeds(conclusion: str) -> None:
    assert after_fix_ci(conclusion) == Decision(Step.SUCCEED, "CI passed on the fix branch")


@pytest.mark.parametrize("conclusion", ["failure", "timed_out", "startup_failure"])
def test_failed_ci_on_the_fix_branch_iterates(conclusion: str) -> None:
    assert after_fix_ci(conclusion) == Decision(
        Step.ITERATE, f"CI on the fix branch ended: {conclusion}"
    )


@pytest.mark.parametrize("conclusion", ["cancelled", "action_required", "stale"])
def test_cancelled_or_odd_ci_on_the_fix_branch_escalates(conclusion: str) -> None:
    assert after_fix_ci(conclusion) == Decision(
        Step.ESCALATE, f"CI on the fix branch ended as {conclusion!r}"
    )


def test_a_skipped_run_on_the_fix_branch_is_not_green_and_says_why() -> None:
    decision = after_fix_ci("skipped")
    assert decision.step is Step.ESCALATE
    assert decision.reason is not None and "skipped" in decision.reason
    assert "ci-fix/**" in decision.reason


# --- after_fix_ci_of_all: every workflow that failed on the loop's commit ---------------


def test_fix_ci_waits_until_every_failed_workflow_reported() -> None:
    assert after_fix_ci_of_all({"CI": "success", "Lint": None}) is None
    assert after_fix_ci_of_all({"CI": "failure", "Lint": None}) is None


def test_fix_ci_is_green_only_when_every_failed_workflow_passes() -> None:
    decision = after_fix_ci_of_all({"CI": "success", "Lint": "success"})
    assert decision == Decision(Step.SUCCEED, "CI passed on the fix branch (2 workflows)")


def test_fix_ci_iterates_naming_each_workflow_still_failing() -> None:
    decision = after_fix_ci_of_all({"CI": "failure", "Lint": "success", "Types": "timed_out"})
    assert decision == Decision(Step.ITERATE, "CI on the fix branch still fails: CI, Types")


def test_fix_ci_with_one_skipped_workflow_escalates_naming_it() -> None:
    decision = after_fix_ci_of_all({"CI": "success", "Lint": "skipped"})
    assert decision is not None and decision.step is Step.ESCALATE
    assert decision.reason is not None and decision.reason.startswith("Lint: ")


# --- run_order: newer or older, by GitHub's facts ----------------------------------------


def mark(sha: str = "a", *, wf: int = 1, run: int = 10, number: int = 1, attempt: int = 1,
         created: float = 100.0) -> RunMark:  # fmt: skip
    return RunMark(sha * 40, wf, run, number, attempt, created)


def test_the_same_attempt_of_the_same_run_is_a_duplicate() -> None:
    assert run_order(mark(), mark(), Ancestry.UNKNOWN) is Order.SAME


def test_a_later_attempt_of_the_same_run_is_newer_and_an_earlier_one_older() -> None:
    assert run_order(mark(attempt=2), mark(attempt=1), Ancestry.UNKNOWN) is Order.NEWER
    assert run_order(mark(attempt=1), mark(attempt=2), Ancestry.UNKNOWN) is Order.OLDER


def test_runs_of_one_workflow_on_one_commit_order_by_run_number() -> None:
    later = mark(run=11, number=2, created=50.0)  # created earlier by a skewed clock: ignored
    assert run_order(later, mark(run=10, number=1), Ancestry.UNKNOWN) is Order.NEWER
    assert run_order(mark(run=10, number=1), later, Ancestry.UNKNOWN) is Order.OLDER


def test_another_workflow_on_the_same_commit_is_a_sibling() -> None:
    assert run_order(mark(wf=2, run=11), mark(wf=1), Ancestry.UNKNOWN) is Order.SIBLING


def test_descent_decides_across_commits_whatever_the_clocks_say() -> None:
    child, parent = mark("b", created=1.0, number=1), mark("a", created=999.0, number=9)
    assert run_order(child, parent, Ancestry.AHEAD) is Order.NEWER
    assert run_order(parent, child, Ancestry.BEHIND) is Order.OLDER


@pytest.mark.parametrize("ancestry", [Ancestry.DIVERGED, Ancestry.UNKNOWN])
def test_unrelated_commits_order_by_creation_time_then_run_number(ancestry: Ancestry) -> None:
    early, late = mark("a", created=100.0), mark("b", created=200.0)
    assert run_order(late, early, ancestry) is Order.NEWER
    assert run_order(early, late, ancestry) is Order.OLDER
    tie_low, tie_high = mark("a", number=3, run=30), mark("b", number=4, run=31)
    assert run_order(tie_high, tie_low, ancestry) is Order.NEWER


def test_a_compare_status_github_might_add_later_is_unknown() -> None:
    assert Ancestry.of("ahead") is Ancestry.AHEAD
    assert Ancestry.of("sideways") is Ancestry.UNKNOWN
    assert Ancestry.of(None) is Ancestry.UNKNOWN


# --- after_attempt -----------------------------------------------------------------------


def test_fixer_asking_to_escalate_escalates_even_if_published() -> None:
    decision = after_attempt(escalate_reason="needs a secret", published=True, problem=None)
    assert decision.step is Step.ESCALATE
    assert decision.reason is not None and "needs a secret" in decision.reason


def test_published_attempt_awaits_ci() -> None:
    assert after_attempt(escalate_reason=None, published=True, problem=None) == Decision(
        Step.AWAIT_CI
    )


def test_unpublished_attempt_iterates_with_its_problem() -> None:
    decision = after_attempt(escalate_reason=None, published=False, problem="guard rejected")
    assert decision == Decision(Step.ITERATE, "guard rejected")


def test_unpublished_attempt_without_a_problem_says_nothing_was_publishable() -> None:
    decision = after_attempt(escalate_reason="", published=False, problem=None)
    assert decision == Decision(Step.ITERATE, "the attempt produced no publishable fix")
