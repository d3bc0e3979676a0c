"""In-process fakes of the loop's diagnose and attempt ports, for tests about event order.

Reading logs and running agents are tested on their own; tests that deliver
many events (property tests, ordering cases) replace them with these so an
example takes milliseconds, while everything else (intake, store, engine,
reporter, the fake GitHub) stays real.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.github.client import AppGitHubAPI
from app.loop.ports import AttemptInput, AttemptResult
from tests.fakes.github import FakeGitHub


class InstantDiagnoser:
    """Every run failed a test; ``diagnosed`` lists the run ids asked about."""

    def __init__(self) -> None:
        self.diagnosed: list[int] = []

    async def diagnose(self, gh: AppGitHubAPI, repo: str, run_id: int) -> Diagnosis:
        self.diagnosed.append(run_id)
        return Diagnosis(Category.TEST, 0.9, key_lines=(KeyLine(f"FAILED test_{run_id}"),))


@dataclass
class RecordingAttempter:
    """Publishes a one-line fix on the loop's branch and notes which commit it fixed.

    ``before`` runs first (a check, or a wait on a gate); ``attempted`` holds the
    failing commit of each attempt, ``requests`` the whole inputs.
    """

    fake: FakeGitHub
    repo: str
    attempted: list[str] = field(default_factory=list)
    requests: list[AttemptInput] = field(default_factory=list)
    before: Callable[[str], Awaitable[None]] | None = None

    async def attempt(
        self, gh: AppGitHubAPI, request: AttemptInput, on_spend: Callable[[float], Awaitable[None]]
    ) -> AttemptResult:
        loop = request.loop
        self.attempted.append(loop.head_sha)
        self.requests.append(request)
        if self.before is not None:
            await self.before(loop.head_sha)
        sha = self.fake.commit(self.repo, loop.fix_branch, {"fix.txt": f"{loop.id}\n"})
        return AttemptResult(published_sha=sha, fixer="fake", files_changed=1, lines_changed=1)
