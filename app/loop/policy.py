"""The loop's decisions, as pure functions of what happened.

The engine performs I/O and stores state; every *choice* it makes (rerun
first? iterate again? escalate, and why?) is made here, from values, so each
transition of the state machine is testable without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.diagnosis.model import Category, Diagnosis
from app.store.records import Iteration, Loop

SUCCESS_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
FAILURE_CONCLUSIONS = frozenset({"failure", "timed_out", "startup_failure"})


class Step(StrEnum):
    RERUN = "rerun"
    FIX = "fix"
    AWAIT_CI = "await_ci"
    ITERATE = "iterate"
    SUCCEED = "succeed"
    FLAKY = "flaky"
    ESCALATE = "escalate"
    EXHAUST = "exhaust"


@dataclass(frozen=True)
class Decision:
    step: Step
    reason: str | None = None


def iterations_used(loop: Loop) -> int:
    """Iterations spent since the loop was (re)started by a maintainer's retry."""
    return loop.iteration - loop.iteration_base


def fix_failed_ci(iteration: Iteration) -> bool:
    """Whether ``iteration`` pushed a fix and CI ran on it and failed."""
    return iteration.status == "published" and iteration.ci_conclusion in FAILURE_CONCLUSIONS


def triage(diagnosis: Diagnosis, *, rerun_flaky_tests: bool, may_rerun: bool) -> Decision:
    """Before spending money: could a plain rerun fix this?

    Infrastructure failures (network, runner, OOM) are never fixed by code,
    and flaky tests often pass on a second try, so those are rerun once.
    """
    if may_rerun and (
        diagnosis.category is Category.INFRA
        or (diagnosis.category is Category.TEST and rerun_flaky_tests)
    ):
        reason = f"{diagnosis.category.value} failure: rerunning the failed jobs once"
        return Decision(Step.RERUN, reason)
    return Decision(Step.FIX)


def after_rerun(conclusion: str) -> Decision:
    """A green rerun means the code was fine: the loop ends as flaky, at no cost."""
    if conclusion in SUCCESS_CONCLUSIONS:
        return Decision(Step.FLAKY, "the rerun passed: the failure was flaky")
    return Decision(Step.FIX, "the rerun failed too")


def before_iteration(
    diagnosis: Diagnosis, *, previous: Iteration | None, used: int, max_iterations: int
) -> Decision:
    """Whether another fix attempt is worth making."""
    if (
        previous is not None
        and fix_failed_ci(previous)
        and previous.fingerprint
        and previous.fingerprint == diagnosis.fingerprint
    ):
        return Decision(
            Step.ESCALATE,
            f"The fix did not change the failure: iteration {previous.n} ended with the same "
            f"{diagnosis.category.value} error.",
        )
    if used >= max_iterations:
        return Decision(Step.EXHAUST, f"Exhausted {max_iterations} iterations without a green run.")
    return Decision(Step.FIX)


def after_fix_ci(conclusion: str) -> Decision:
    """CI finished on the fix branch."""
    if conclusion in SUCCESS_CONCLUSIONS:
        return Decision(Step.SUCCEED, "CI passed on the fix branch")
    if conclusion in FAILURE_CONCLUSIONS:
        return Decision(Step.ITERATE, f"CI on the fix branch ended: {conclusion}")
    return Decision(Step.ESCALATE, f"CI on the fix branch ended as {conclusion!r}")


def after_attempt(*, escalate_reason: str | None, published: bool, problem: str | None) -> Decision:
    """What follows one fixer attempt in the workspace."""
    if escalate_reason:
        return Decision(Step.ESCALATE, escalate_reason)
    if published:
        return Decision(Step.AWAIT_CI)
    return Decision(Step.ITERATE, problem or "the attempt produced no publishable fix")
