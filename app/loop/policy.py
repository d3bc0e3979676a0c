"""The loop's decisions, as pure functions of what happened.

The engine performs I/O and stores state; every *choice* it makes (rerun
first? iterate again? escalate, and why?) is made here, from values, so each
transition of the state machine is testable without a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.diagnosis.model import Category, Diagnosis
from app.store.records import Iteration, Loop

# ``skipped`` is not green: a skipped run checked nothing (a path filter, an ``if:``).
SUCCESS_CONCLUSIONS = frozenset({"success", "neutral"})
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
    SUGGEST = "suggest"  # a verified change to post as a review of suggestions
    SUPERSEDE = "supersede"  # the pull request moved on: nothing is published


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
    if conclusion == "skipped":
        return Decision(
            Step.ESCALATE,
            "CI on the fix branch was skipped, so nothing checked the fix: the workflow's "
            "`if:` conditions or path filters must let it run on `ci-fix/**` branches",
        )
    return Decision(Step.ESCALATE, f"CI on the fix branch ended as {conclusion!r}")


def after_fix_ci_of_all(conclusions: dict[str, str | None]) -> Decision | None:
    """CI on the fix branch, over every workflow that failed on the loop's commit.

    ``conclusions`` maps each such workflow (by name) to its conclusion on the
    fix commit, None while it has not reported.  The fix is green only when
    every one of them passed; one failing is enough to iterate once all have
    reported (so the next attempt sees every failure at once).  None: wait.
    """
    if any(c is None for c in conclusions.values()):
        return None
    decisions = {name: after_fix_ci(c or "") for name, c in conclusions.items()}
    for name, decision in sorted(decisions.items()):
        if decision.step is Step.ESCALATE:
            return Decision(Step.ESCALATE, f"{name}: {decision.reason}")
    failing = sorted(n for n, d in decisions.items() if d.step is Step.ITERATE)
    if failing:
        return Decision(Step.ITERATE, "CI on the fix branch still fails: " + ", ".join(failing))
    if len(conclusions) > 1:
        return Decision(Step.SUCCEED, f"CI passed on the fix branch ({len(conclusions)} workflows)")
    return Decision(Step.SUCCEED, "CI passed on the fix branch")


# ------------------------------------------------------------------ event order


class Ancestry(StrEnum):
    """GitHub's compare status of ``base...head`` (``GET /repos/{o}/{r}/compare``)."""

    AHEAD = "ahead"  # head descends from base: head is the newer commit
    BEHIND = "behind"  # base descends from head: head is the older commit
    IDENTICAL = "identical"
    DIVERGED = "diverged"  # neither descends from the other (a force push, a rebase)
    UNKNOWN = "unknown"  # compare failed (a commit GitHub no longer has)

    @classmethod
    def of(cls, status: object) -> Ancestry:
        try:
            return cls(str(status))
        except ValueError:
            return cls.UNKNOWN


class Order(StrEnum):
    NEWER = "newer"
    OLDER = "older"
    SAME = "same"  # the same run attempt: a duplicate
    SIBLING = "sibling"  # another workflow on the same commit


@dataclass(frozen=True)
class RunMark:
    """Where a run stands in a branch's history, as GitHub recorded it."""

    head_sha: str
    workflow_id: int
    run_id: int
    run_number: int
    run_attempt: int
    created_at: float


def run_order(run: RunMark, than: RunMark, ancestry: Ancestry) -> Order:
    """Whether ``run`` is newer than ``than``, by GitHub's facts, never by sha inequality.

    ``ancestry`` is the compare status of ``than.head_sha...run.head_sha`` (only
    consulted when the commits differ).  On one commit: the same run orders by
    ``run_attempt``, runs of one workflow by ``run_number``, other workflows are
    siblings.  Across commits: descent decides; when neither descends from the
    other (force push) or GitHub cannot tell, the later-created run wins, then
    the higher run number, then the higher run id.
    """
    if run.head_sha == than.head_sha:
        if run.run_id == than.run_id:
            if run.run_attempt == than.run_attempt:
                return Order.SAME
            return Order.NEWER if run.run_attempt > than.run_attempt else Order.OLDER
        if run.workflow_id != than.workflow_id:
            return Order.SIBLING
        return (
            Order.NEWER
            if (run.run_number, run.run_id) > (than.run_number, than.run_id)
            else (Order.OLDER)
        )
    if ancestry is Ancestry.AHEAD:
        return Order.NEWER
    if ancestry is Ancestry.BEHIND:
        return Order.OLDER
    mine = (run.created_at, run.run_number, run.run_id)
    theirs = (than.created_at, than.run_number, than.run_id)
    return Order.NEWER if mine > theirs else Order.OLDER


def after_attempt(
    *,
    escalate_reason: str | None,
    published: bool,
    problem: str | None,
    stale: str | None = None,
    suggested: bool = False,
) -> Decision:
    """What follows one fixer attempt in the workspace."""
    if stale:
        return Decision(Step.SUPERSEDE, stale)
    if escalate_reason:
        return Decision(Step.ESCALATE, escalate_reason)
    if suggested:
        return Decision(Step.SUGGEST)
    if published:
        return Decision(Step.AWAIT_CI)
    return Decision(Step.ITERATE, problem or "the attempt produced no publishable fix")


# ------------------------------------------------------------------ pull requests


class PullAction(StrEnum):
    """What the loop does for a failing pull request."""

    IGNORE = "ignore"
    SUGGEST = "suggest"  # one review of suggested changes; nothing pushed anywhere
    BRANCH = "branch"  # a ci-fix/pr-<n>-<run> branch and a pull request into the head branch


@dataclass(frozen=True)
class PullDecision:
    action: PullAction
    reason: str


def pull_request_action(mode: str, *, same_repo: bool) -> PullDecision:
    """The repository's ``pull_requests`` mode applied to one pull request.

    ``branch`` never writes to a fork: a fork's pull request gets the review of
    suggestions instead, which writes nothing but the review.  Unknown modes (a
    config from a newer version) fail closed: off.
    """
    if mode == "branch":
        if same_repo:
            return PullDecision(PullAction.BRANCH, "pull_requests: branch")
        return PullDecision(
            PullAction.SUGGEST, "pull_requests: branch, but the head is in a fork: suggestions"
        )
    if mode == "suggest":
        return PullDecision(PullAction.SUGGEST, "pull_requests: suggest")
    return PullDecision(PullAction.IGNORE, f"pull_requests: {mode or 'off'}")


def head_moved(failed_sha: str, current_head_sha: str | None) -> str | None:
    """Why nothing may be published for a pull request whose head is ``current_head_sha``.

    A newer push supersedes the failure: its own run decides.  A closed or
    vanished pull request (None) is not acted on either.
    """
    if current_head_sha is None:
        return "The pull request is closed or gone: nothing was posted"
    if current_head_sha != failed_sha:
        return (
            f"Superseded: the pull request's head moved to {current_head_sha[:7]} since "
            f"{failed_sha[:7]} failed; nothing was posted"
        )
    return None


def fails_like_base(
    pull_fingerprint: str, base_fingerprints: Iterable[str], *, base_failing: bool
) -> bool:
    """Trunk first: the pull request fails the way its base branch already does.

    Only a base whose newest run of the workflow failed counts, and only with a
    fingerprint equal to the pull request's (same category, tool and normalised
    error); an empty fingerprint (nothing recognised) never matches.
    """
    return (
        base_failing
        and bool(pull_fingerprint)
        and any(fp == pull_fingerprint for fp in base_fingerprints)
    )


# ------------------------------------------------------------------ revert fallback


@dataclass(frozen=True)
class Culprit:
    sha: str | None
    reason: str


def revert_wanted(*, on_give_up: str, branch: str, default_branch: str, state: str) -> bool:
    """Revert only on the default branch, only for a loop that gave up, only when asked."""
    return (
        on_give_up == "revert" and branch == default_branch and state in ("exhausted", "escalated")
    )


def find_culprit(
    *, last_green_sha: str | None, first_red_sha: str, commits: Sequence[tuple[str, int]]
) -> Culprit:
    """The one commit that broke the workflow, or why it cannot be named.

    ``commits`` are those between the last green run and the first red one
    (``compare last_green...first_red``), each with its number of parents.  Only
    exactly one commit, the red one itself and not a merge, is certain; anything
    else (no green run to compare with, several commits, a merge) is a guess,
    and a guess is never reverted.
    """
    if last_green_sha is None:
        return Culprit(None, "no earlier green run of this workflow to compare with")
    if not commits:
        return Culprit(None, "the last green and the first red run are on the same commit")
    if len(commits) > 1:
        shas = ", ".join(sha[:7] for sha, _ in commits[:5])
        more = "…" if len(commits) > 5 else ""
        return Culprit(
            None,
            f"{len(commits)} commits ({shas}{more}) landed between the last green run "
            f"({last_green_sha[:7]}) and the first red one: the culprit is not certain",
        )
    [(sha, parents)] = commits
    if sha != first_red_sha:
        return Culprit(None, f"the one new commit {sha[:7]} is not the failing {first_red_sha[:7]}")
    if parents != 1:
        return Culprit(None, f"{sha[:7]} is a merge commit: reverting it needs a human")
    return Culprit(
        sha,
        f"{sha[:7]} is the only commit between the last green run ({last_green_sha[:7]}) "
        "and the first red one",
    )
