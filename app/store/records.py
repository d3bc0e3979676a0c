"""The records the store keeps: loops, iterations, breakers, installations.

Plain dataclasses so the engine's decisions can be tested on values, and both
store backends (SQLite, PostgreSQL) map rows to the same types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FIX_BRANCH_PREFIX = "ci-fix/"


def fix_branch_for(run_id: int, pull_number: int | None = None) -> str:
    """The only branch a loop may ever write: derived from its run, never read from storage.

    The store's ``fix_branch`` text is for finding a loop again; a tampered row must
    not be able to point a publish at ``main``.  A pull request's loop writes
    ``ci-fix/pr-<number>-<run_id>``.
    """
    if pull_number is not None:
        return f"{FIX_BRANCH_PREFIX}pr-{int(pull_number)}-{int(run_id)}"
    return f"{FIX_BRANCH_PREFIX}{int(run_id)}"


def pull_number_of(fix_branch: str, run_id: int) -> int | None:
    """The pull request number a stored ``ci-fix/pr-<n>-<run_id>`` names, else None.

    Only that exact shape for this run counts, so the number read back can only
    ever rebuild a branch under ``ci-fix/`` for this loop's own run.
    """
    match = re.fullmatch(rf"{FIX_BRANCH_PREFIX}pr-([1-9][0-9]{{0,9}})-{int(run_id)}", fix_branch)
    return int(match[1]) if match else None


class LoopState(StrEnum):
    """Where a loop is; the terminal ones never change again."""

    QUEUED = "queued"
    RERUNNING = "rerunning"
    FIXING = "fixing"
    AWAITING_CI = "awaiting_ci"
    SUCCEEDED = "succeeded"
    FLAKY = "flaky"
    EXHAUSTED = "exhausted"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def successful(self) -> bool:
        return self in (LoopState.SUCCEEDED, LoopState.FLAKY)


TERMINAL_STATES = frozenset(
    {
        LoopState.SUCCEEDED,
        LoopState.FLAKY,
        LoopState.EXHAUSTED,
        LoopState.ESCALATED,
        LoopState.CANCELLED,
        LoopState.SUPERSEDED,
    }
)
ACTIVE_STATES = frozenset(set(LoopState) - TERMINAL_STATES)


@dataclass(frozen=True)
class LoopKey:
    """What makes a loop unique: one failing commit of one workflow in one repository."""

    repo: str
    workflow_id: int
    head_sha: str


@dataclass(frozen=True)
class NewLoop:
    """The facts a failing ``workflow_run`` gives when a loop is opened."""

    installation_id: int
    repo: str
    workflow_id: int
    workflow_name: str
    workflow_path: str
    branch: str
    head_sha: str
    run_id: int
    run_attempt: int
    run_url: str
    pull_number: int | None = None  # a pull request's loop: fixes go to ci-fix/pr-<n>-<run>

    @property
    def key(self) -> LoopKey:
        return LoopKey(self.repo, self.workflow_id, self.head_sha)

    @property
    def fix_branch(self) -> str:
        return fix_branch_for(self.run_id, self.pull_number)

    @property
    def commit_key(self) -> str:
        """One loop per failing commit and branch, whatever workflows failed on it."""
        return f"{self.repo}\n{self.branch}\n{self.head_sha}"


@dataclass(frozen=True)
class Loop:
    """A loop as stored: its identity, where it is, and what it produced."""

    id: int
    installation_id: int
    repo: str
    workflow_id: int
    workflow_name: str
    workflow_path: str
    branch: str
    head_sha: str
    run_id: int
    run_attempt: int
    run_url: str
    state: LoopState
    iteration: int = 0
    iteration_base: int = 0  # iterations before a maintainer's retry; not counted
    fix_branch: str = ""
    fix_sha: str | None = None
    awaiting_run_id: int | None = None
    pr_number: int | None = None
    issue_number: int | None = None
    check_run_id: int | None = None
    diagnosis: dict[str, Any] | None = None
    cost_usd: float = 0.0
    reason: str | None = None
    attempts_interrupted: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None
    lease_owner: str | None = None
    lease_until: float | None = None

    @property
    def owner_and_name(self) -> tuple[str, str]:
        owner, _, name = self.repo.partition("/")
        return owner, name

    @property
    def publish_branch(self) -> str:
        """The branch this loop's fixes go to, derived from its run (see ``fix_branch_for``)."""
        return fix_branch_for(self.run_id, self.pull_number)

    @property
    def pull_number(self) -> int | None:
        """The pull request this loop fixes, when it was opened for one."""
        return pull_number_of(self.fix_branch, self.run_id)


@dataclass(frozen=True)
class Iteration:
    """One attempt at a fix: what ran, what it cost, what the guard and CI said."""

    loop_id: int
    n: int
    status: str = "running"  # running | published | rejected | no_change | failed | interrupted
    category: str = "unknown"
    fingerprint: str = ""
    model: str | None = None
    fixer: str | None = None
    cost_usd: float = 0.0
    tokens: int | None = None
    files_changed: int = 0
    lines_changed: int = 0
    guard_ok: bool | None = None
    guard_reasons: tuple[str, ...] = ()
    verify: dict[str, Any] | None = None
    fix_sha: str | None = None
    ci_run_id: int | None = None
    ci_conclusion: str | None = None
    outcome: str | None = None  # what the next iteration's prompt is told
    started_at: float = 0.0
    ended_at: float | None = None
    summary: str | None = None  # the fixer's own account of its change (shown in the PR)
    transcript: tuple[dict[str, Any], ...] = ()  # the built-in agent's steps, redacted
    model_calls: int = 0
    cache_read_tokens: int = 0


@dataclass(frozen=True)
class BreakerState:
    """A repository's circuit breaker: consecutive unsuccessful loops and the pause."""

    repo: str
    consecutive_failures: int = 0
    open_until: float | None = None


@dataclass(frozen=True)
class LoopEvent:
    """One line of a loop's history, for status pages and post-mortems."""

    loop_id: int
    at: float
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopRun:
    """One workflow that failed on a loop's commit, and how it did on the current fix."""

    loop_id: int
    workflow_id: int
    workflow_name: str
    workflow_path: str
    run_id: int
    run_attempt: int
    run_number: int = 0
    fix_sha: str | None = None
    fix_run_id: int | None = None
    fix_run_attempt: int | None = None
    fix_conclusion: str | None = None


@dataclass(frozen=True)
class BranchRun:
    """The newest completed run seen of one workflow on one branch (``run_marks``)."""

    repo: str
    branch: str
    workflow_id: int
    head_sha: str
    run_id: int
    run_number: int
    run_attempt: int
    created_at: float
    conclusion: str


@dataclass(frozen=True)
class ConfigPause:
    """A repository the app does nothing in, because its config is invalid (and why)."""

    repo: str
    problems: tuple[str, ...]
    source: str | None
    at: float
