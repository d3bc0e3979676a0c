"""The ports of the loop: what the engine needs from the other stages, as protocols.

The engine decides and records; diagnosing a run, attempting a fix, showing a
loop on GitHub and handing queued loops to a worker are done elsewhere
(``app.diagnosis``, ``app.fix``, ``app.publish``, ``app.loop.runner`` or
``app.loop.jobs``), behind these protocols.  The engine is tested through fakes
of them (``tests/unit/test_engine.py``); the app wires the real ones in
``app.assemble``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.config.model import RepoConfig
from app.config.source import ConfigLoad
from app.diagnosis.model import Diagnosis
from app.github.client import AppGitHubAPI
from app.intake.payloads import PullFacts, RunFacts
from app.store.records import Loop

GitHubFor = Callable[[int], AppGitHubAPI]
"""The REST client of one installation, by installation id."""


class Diagnoser(Protocol):
    async def diagnose(self, gh: AppGitHubAPI, repo: str, run_id: int) -> Diagnosis: ...


class ConfigLoader(Protocol):
    async def load(self, gh: AppGitHubAPI, repo: str, head_sha: str) -> ConfigLoad:
        """The repo's effective config, or the problems that make it invalid."""


@dataclass(frozen=True)
class AttemptInput:
    loop: Loop
    config: RepoConfig
    diagnosis: Diagnosis
    iteration: int
    previous_outcome: str | None
    budget_usd: float | None = None  # what this attempt may spend before a limit is reached
    # A pull request in ``suggest`` mode: verify as usual, publish nothing, hand back
    # the verified change (``AttemptResult.suggestion``) for a review of suggestions.
    suggest_only: bool = False
    # Asked right before anything is published or handed back: a reason not to (the
    # pull request's head moved since the failure), or None.
    before_publish: Callable[[], Awaitable[str | None]] | None = None


SuggestedFile = tuple[str, bytes | None, bytes | None]
"""One file of a verified change: path, content before (None: new), after (None: deleted)."""


@dataclass(frozen=True)
class AttemptResult:
    """What one fix attempt did; ``problem`` says why nothing was published."""

    cost_usd: float = 0.0
    fixer: str | None = None
    model: str | None = None
    tokens: int | None = None
    escalate_reason: str | None = None
    published_sha: str | None = None
    files_changed: int = 0
    lines_changed: int = 0
    guard_ok: bool | None = None
    guard_reasons: tuple[str, ...] = ()
    verify: dict[str, Any] | None = None
    problem: str | None = None
    # For the pull request: the agent's own account of its change and the published
    # diff's per-file line counts (path, added, removed).
    summary: str | None = None
    diffstat: tuple[tuple[str, int, int], ...] = ()
    transcript: tuple[dict[str, Any], ...] = ()  # the built-in agent's steps, redacted
    model_calls: int = 0
    cache_read_tokens: int = 0
    # ``suggest_only``: the verified change, file by file; empty when not verified.
    suggestion: tuple[SuggestedFile, ...] = ()
    stale: str | None = None  # ``before_publish`` said no: why nothing was published

    @property
    def iteration_status(self) -> str:
        """How the iteration is recorded: published, suggested, rejected by the guard, or failed."""
        if self.published_sha:
            return "published"
        if self.suggestion:
            return "suggested"
        return "rejected" if self.guard_ok is False else "failed"


class Attempter(Protocol):
    async def attempt(
        self,
        gh: AppGitHubAPI,
        request: AttemptInput,
        on_spend: Callable[[float], Awaitable[None]],
    ) -> AttemptResult: ...


class Publisher(Protocol):
    """Commits a judged change on the fix branch (``app.publish.commit.publish_fix``)."""

    async def __call__(
        self,
        gh: AppGitHubAPI,
        *,
        repo: str,
        base_sha: str,
        parent_sha: str,
        branch: str,
        changes: Mapping[str, bytes | None],
        message: str,
        modes: Mapping[str, str] | None = None,
    ) -> str: ...


class Reporter(Protocol):
    """Everything the loop shows on GitHub: check run, pull request, escalation issue."""

    async def loop_started(self, gh: AppGitHubAPI, loop: Loop) -> int | None: ...

    async def progress(self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig | None) -> None:
        """A step began: show it where people look (the check run, the PR's status line)."""

    async def fix_published(
        self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig
    ) -> int | None: ...

    async def loop_ended(self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig | None) -> None: ...

    async def escalated(
        self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig | None
    ) -> int | None: ...

    async def config_invalid(self, gh: AppGitHubAPI, facts: RunFacts, load: ConfigLoad) -> None: ...

    async def rerun_failed_jobs(self, gh: AppGitHubAPI, loop: Loop) -> None: ...

    async def suggest(
        self, gh: AppGitHubAPI, loop: Loop, pull: PullFacts, result: AttemptResult
    ) -> int | None:
        """Post the verified change as ONE review of suggested changes; its id."""

    async def pull_head(self, gh: AppGitHubAPI, repo: str, number: int) -> str | None:
        """The pull request's current head sha, or None when it is closed or gone."""

    async def same_failure_on_base(
        self, gh: AppGitHubAPI, loop: Loop, pull: PullFacts, base_loop: Loop | None
    ) -> None:
        """Tell the pull request its failure is on its base branch too."""

    async def base_fixed(self, gh: AppGitHubAPI, base_loop: Loop, numbers: list[int]) -> None:
        """Tell those pull requests the base branch is green again: update from it."""

    async def gave_up(
        self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig | None, issue: int | None
    ) -> str | None:
        """After the escalation issue: the revert fallback, if asked; what it did, or None."""


class Scheduler(Protocol):
    """Hands a loop that became ``queued`` to whoever works loops.

    In one process that is ``app.loop.runner.LocalRunner`` (it wakes its
    claim loop); scaled out, ``app.loop.jobs.JobScheduler`` defers a job.
    """

    async def schedule(self, loop_id: int) -> None: ...

    async def close(self) -> None: ...
