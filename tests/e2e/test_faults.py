"""GitHub misbehaving during a fix loop: every fault class, through the real app and fake.

Each test injects one kind of fault into the fake GitHub (``fake.inject``), runs a
real loop (webhook in, scripted agent subprocess, Git Data API out) and checks two
things: the loop ends in the right state, and GitHub holds no duplicate pull
request, issue or comment.  The app's sleeper records the waits it was asked to do
instead of sleeping, so backoff and rate-limit waits are asserted, never waited.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.server import GITHUB_TIMEOUT, Overrides
from app.store.records import Loop, LoopState
from tests.fakes.github import FakeGitHub, FakeJob
from tests.harness import INSTALLATION_ID, REPO, Harness, HarnessFactory

SCRIPTED = Path(__file__).parents[1] / "fakes" / "loop_agents" / "scripted.py"
CALC = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TEST_CALC = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
FIX = {"calc.py": FIXED}
LOG = (
    "2024-05-01T10:00:01.0000000Z ============================= test session starts\n"
    "2024-05-01T10:00:01.1000000Z tests/test_calc.py F\n"
    "2024-05-01T10:00:01.5000000Z E       AssertionError: assert 0 == 4\n"
    "2024-05-01T10:00:01.8000000Z FAILED tests/test_calc.py::test_add - assert 0 == 4\n"
    "2024-05-01T10:00:01.9000000Z ##[error]Process completed with exit code 1.\n"
)
SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
    "you try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}


@dataclass
class RecordingSleeper:
    """The app's sleeper: remembers each wait and returns at once."""

    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Scenario:
    harness: Harness
    sleeper: RecordingSleeper
    head: str

    @property
    def fake(self) -> FakeGitHub:
        return self.harness.fake

    async def loop(self) -> Loop:
        loops = await self.harness.ctx.store.recent_loops()
        assert len(loops) == 1, loops
        return loops[0]

    def count(self, method: str, glob: str) -> int:
        return len(self.fake.calls(method, glob))


StartScenario = Callable[..., Awaitable[Scenario]]


@pytest.fixture
def start(app_harness: HarnessFactory, fake_github: FakeGitHub, tmp_path: Path) -> StartScenario:
    """``await start(github_timeout=...)``: the app with a recording sleeper and a scripted agent
    fixing the bug in the seeded repository."""

    async def begin(github_timeout: aiohttp.ClientTimeout = GITHUB_TIMEOUT) -> Scenario:
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps([{"files": FIX, "cost": 0.1}]))
        sleeper = RecordingSleeper()
        harness = await app_harness(
            Overrides(
                clock=lambda: fake_github.clock().timestamp(),
                sleeper=sleeper,
                github_timeout=github_timeout,
            ),
            fixer_command=f"{sys.executable} {SCRIPTED} {plan}",
        )
        head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
        return Scenario(harness=harness, sleeper=sleeper, head=head)

    return begin


def failing_run(scenario: Scenario, *, log: str | None = LOG) -> dict[str, Any]:
    """A failing run on main, seeded in the fake (not delivered yet)."""
    return scenario.fake.add_workflow_run(
        REPO,
        head_sha=scenario.head,
        head_branch="main",
        conclusion="failure",
        jobs=[FakeJob("test", "failure", steps=[("Run pytest", "failure")], log=log)],
    )


async def fail_ci(
    scenario: Scenario, *, log: str | None = LOG, run: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A failing run on main is delivered; the app does everything it will do for it."""
    run = run or failing_run(scenario, log=log)
    await scenario.harness.deliver("workflow_run", scenario.harness.payload(run))
    return run


async def pass_ci_on_fix(scenario: Scenario) -> None:
    loop = await scenario.loop()
    assert loop.fix_sha is not None
    run = scenario.fake.add_workflow_run(
        REPO,
        head_sha=loop.fix_sha,
        head_branch=loop.fix_branch,
        conclusion="success",
        workflow_id=loop.workflow_id,
        jobs=[FakeJob("test", "success", steps=[("Run pytest", "success")])],
    )
    await scenario.harness.deliver("workflow_run", scenario.harness.payload(run))


async def assert_fix_published_once(scenario: Scenario) -> Loop:
    """The loop waits for CI on its one fix commit, shown in exactly one PR and check run."""
    loop = await scenario.loop()
    assert loop.state is LoopState.AWAITING_CI, (loop.state, loop.reason)
    assert loop.fix_sha is not None
    assert scenario.fake.ref(REPO, f"heads/{loop.fix_branch}") == loop.fix_sha
    assert scenario.fake.read_tree(REPO, loop.fix_sha)["calc.py"] == FIXED.encode()
    assert_no_duplicates(scenario)
    [pull] = scenario.fake.pulls(REPO)
    assert loop.pr_number == pull.number
    return loop


def assert_no_duplicates(scenario: Scenario) -> None:
    fake = scenario.fake
    assert len(fake.pulls(REPO)) <= 1
    assert len(fake.issues(REPO)) <= 1
    assert len(fake.check_runs(REPO)) <= 1
    for issue in [*fake.pulls(REPO), *fake.issues(REPO)]:
        bodies = Counter(c.body for c in fake.issue_comments(REPO, issue.number))
        assert all(n == 1 for n in bodies.values()), bodies


def assert_backoff(waits: list[float], attempts: list[int]) -> None:
    """Full-jitter exponential backoff: the n-th retry waits within [0, 0.5 * 2**n]."""
    assert len(waits) == len(attempts), waits
    for wait, attempt in zip(waits, attempts, strict=True):
        assert 0 <= wait <= 0.5 * 2**attempt, (wait, attempt)


# ---------------------------------------------------------------------------- 5xx


async def test_5xx_answers_during_the_loop_are_retried_with_backoff(
    start: StartScenario,
) -> None:
    scenario = await start()
    scenario.fake.inject("GET", "*/actions/runs/*/jobs", status=502, times=2)
    scenario.fake.inject("POST", "*/git/trees", status=503)
    scenario.fake.inject("POST", "*/pulls", status=500)
    await fail_ci(scenario)

    await assert_fix_published_once(scenario)
    assert scenario.count("GET", "*/actions/runs/*/jobs") == 3
    assert scenario.count("POST", "*/git/trees") == 2  # content-addressed: safe to repeat
    # A 500 on opening the pull request may have opened it: the app looks first.
    assert scenario.count("POST", "*/pulls") == 2
    assert scenario.count("GET", "*/pulls") == 1
    assert_backoff(scenario.sleeper.waits, [1, 2, 1])


async def test_persistent_5xx_escalates_the_loop_once_github_answers_again(
    start: StartScenario,
) -> None:
    scenario = await start()
    scenario.fake.inject("POST", "*/git/commits", status=502, times=4)
    await fail_ci(scenario)

    loop = await scenario.loop()
    assert loop.state is LoopState.ESCALATED
    assert "internal error" in (loop.reason or "")
    assert scenario.count("POST", "*/git/commits") == 4  # MAX_ATTEMPTS, then it gave up
    assert scenario.fake.ref(REPO, f"heads/{loop.fix_branch}") is None
    assert scenario.fake.pulls(REPO) == []
    [issue] = scenario.fake.issues(REPO)
    assert loop.issue_number == issue.number
    assert_no_duplicates(scenario)


# ------------------------------------------------------------------ connection drops


async def test_dropped_connections_on_reads_are_retried_with_backoff(
    start: StartScenario,
) -> None:
    scenario = await start()
    scenario.fake.inject("GET", "*/contents/.github/ci-fix-loop.yml", status=500,
                         reset_connection=True)  # fmt: skip
    scenario.fake.inject("GET", "*/git/commits/*", status=500, times=2, reset_connection=True)
    await fail_ci(scenario)

    await assert_fix_published_once(scenario)
    assert scenario.count("GET", "*/git/commits/*") == 3
    assert scenario.count("GET", "/repos/acme/widgets/contents/*") >= 2
    # aiohttp itself resends an idempotent request once when a reused keep-alive
    # connection drops, so not every drop reaches the app's backoff; those that do
    # wait a jittered, exponentially bounded time.
    assert 1 <= len(scenario.sleeper.waits) <= 3
    assert all(0 <= wait <= 0.5 * 2**3 for wait in scenario.sleeper.waits)


async def test_a_dropped_connection_on_creating_the_branch_is_reconciled(
    start: StartScenario,
) -> None:
    scenario = await start()
    # GitHub may or may not have created the ref before the connection dropped; the
    # client does not resend a POST, so the publisher settles it with the fast-forward.
    scenario.fake.inject("POST", "*/git/refs", status=201, reset_connection=True)
    await fail_ci(scenario)

    await assert_fix_published_once(scenario)
    assert scenario.count("PATCH", "*/git/refs/heads/ci-fix/*") == 1  # 422: does not exist
    assert scenario.count("POST", "*/git/refs") == 2  # so it was created after all


async def test_a_dropped_connection_on_opening_the_pull_request_opens_exactly_one(
    start: StartScenario,
) -> None:
    scenario = await start()
    # The create may or may not have been applied: the publisher looks for an open
    # pull request of the fix branch before opening one.
    scenario.fake.inject("POST", "*/pulls", status=201, reset_connection=True)
    await fail_ci(scenario)

    await assert_fix_published_once(scenario)
    assert scenario.count("GET", "*/pulls") == 1


# ------------------------------------------------------------------------ rate limits


async def test_rate_limits_are_waited_out_as_github_asks_not_hammered(
    start: StartScenario,
) -> None:
    scenario = await start()
    reset = int(scenario.fake.clock().timestamp()) + 120
    scenario.fake.inject(
        "GET",
        "*/actions/runs/*/jobs",
        status=403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        body={"message": "API rate limit exceeded for installation ID 9001."},
    )
    scenario.fake.inject("POST", "*/git/blobs", status=429, headers={"Retry-After": "30"})
    await fail_ci(scenario)

    await assert_fix_published_once(scenario)
    assert scenario.sleeper.waits == [120, 30]
    assert scenario.count("GET", "*/actions/runs/*/jobs") == 2  # one retry, after the reset
    assert scenario.count("POST", "*/git/blobs") == 2


async def test_secondary_rate_limits_are_waited_out(
    start: StartScenario,
) -> None:
    scenario = await start()
    scenario.fake.inject("POST", "*/git/commits", status=403, body=SECONDARY,
                         headers={"Retry-After": "45"})  # fmt: skip
    scenario.fake.inject("POST", "*/pulls", status=403, body=SECONDARY)
    await fail_ci(scenario)

    await assert_fix_published_once(scenario)
    # With Retry-After the wait is GitHub's; without any hint, a minute as GitHub advises.
    assert scenario.sleeper.waits == [45, 60]
    assert scenario.count("POST", "*/git/commits") == 2
    assert scenario.count("POST", "*/pulls") == 2


async def test_a_rate_limit_resetting_too_far_ahead_escalates_instead_of_stalling(
    start: StartScenario,
) -> None:
    scenario = await start()
    reset = int(scenario.fake.clock().timestamp()) + 3 * 3600
    scenario.fake.inject(
        "POST",
        "*/git/trees",
        status=403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        body={"message": "API rate limit exceeded for installation ID 9001."},
    )
    await fail_ci(scenario)

    loop = await scenario.loop()
    assert loop.state is LoopState.ESCALATED
    assert scenario.sleeper.waits == []  # never asked to sleep for three hours
    assert scenario.count("POST", "*/git/trees") == 1
    assert_no_duplicates(scenario)


# ------------------------------------------------------------------------- 401


async def test_a_token_expired_mid_loop_is_refreshed_once(
    start: StartScenario,
) -> None:
    scenario = await start()
    await fail_ci(scenario)
    await assert_fix_published_once(scenario)
    assert scenario.count("POST", "/app/installations/*/access_tokens") == 1

    scenario.fake.expire_tokens()  # revoked behind the app's back: it still caches the token
    await pass_ci_on_fix(scenario)

    loop = await scenario.loop()
    assert loop.state is LoopState.SUCCEEDED
    assert scenario.count("POST", "/app/installations/*/access_tokens") == 2
    refused = [r for r in scenario.fake.requests if r.path.startswith("/repos/")]
    tokens = {r.headers["authorization"] for r in refused}
    assert len(tokens) == 2  # the revoked token once, then only the fresh one
    [check] = scenario.fake.check_runs(REPO)
    assert check.conclusion == "success"
    assert_no_duplicates(scenario)


# -------------------------------------------------------------------- missing logs


async def test_an_expired_log_is_noted_and_the_loop_goes_on(
    start: StartScenario,
) -> None:
    scenario = await start()
    await fail_ci(scenario, log=None)  # GitHub answers 410 Gone for an expired log

    loop = await scenario.loop()
    assert loop.diagnosis is not None
    notes = " ".join(loop.diagnosis["notes"])
    assert "no longer available (HTTP 410)" in notes
    # Without a log the agent still gets the failed job and step; here it fixes the bug.
    await assert_fix_published_once(scenario)


async def test_a_log_answering_404_is_noted_not_retried_and_the_loop_goes_on(
    start: StartScenario,
) -> None:
    scenario = await start()
    scenario.fake.inject("GET", "*/actions/jobs/*/logs", status=404)
    await fail_ci(scenario)

    loop = await scenario.loop()
    assert loop.diagnosis is not None
    assert "no longer available (HTTP 404)" in " ".join(loop.diagnosis["notes"])
    assert scenario.count("GET", "*/actions/jobs/*/logs") == 1
    await assert_fix_published_once(scenario)


# ------------------------------------------------------------- 422: already exists


async def test_a_fix_branch_left_by_a_crashed_attempt_is_fast_forwarded(
    start: StartScenario,
) -> None:
    scenario = await start()
    run = failing_run(scenario)
    scenario.fake.repo(REPO).refs[f"refs/heads/ci-fix/{run['id']}"] = scenario.head
    await fail_ci(scenario, run=run)

    loop = await assert_fix_published_once(scenario)
    assert scenario.count("POST", "*/git/refs") == 1  # 422: it exists
    assert scenario.count("PATCH", "*/git/refs/heads/ci-fix/*") == 1
    assert scenario.fake.repo(REPO).objects.commit(loop.fix_sha).parents == (scenario.head,)


async def test_the_same_fix_already_on_the_branch_is_adopted_not_pushed_again(
    start: StartScenario,
) -> None:
    scenario = await start()
    run = failing_run(scenario)
    earlier = scenario.fake.commit(REPO, f"ci-fix/{run['id']}", FIX, message="crashed attempt")
    await fail_ci(scenario, run=run)

    loop = await assert_fix_published_once(scenario)
    assert loop.fix_sha == earlier  # the crashed attempt's identical commit, reused


async def test_a_pull_request_left_by_a_crashed_attempt_is_updated_not_duplicated(
    start: StartScenario,
) -> None:
    scenario = await start()
    run = failing_run(scenario)
    branch = f"ci-fix/{run['id']}"
    scenario.fake.commit(REPO, branch, FIX, message="crashed attempt")
    token = scenario.fake.issue_token(INSTALLATION_ID, None)
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{scenario.fake.url}/repos/{REPO}/pulls",
            json={"title": "half-made", "head": branch, "base": "main"},
            headers={"Authorization": f"token {token.value}"},
        )
        assert response.status == 201, await response.text()
    await fail_ci(scenario, run=run)

    await assert_fix_published_once(scenario)
    [pull] = scenario.fake.pulls(REPO)
    assert pull.title != "half-made"  # the app's title and body replaced the stub
    assert scenario.count("PATCH", f"*/pulls/{pull.number}") == 1


# --------------------------------------------------------------------------- timeouts


async def test_a_request_slower_than_the_client_timeout_is_retried(
    start: StartScenario,
) -> None:
    scenario = await start(github_timeout=aiohttp.ClientTimeout(total=0.2))
    scenario.fake.inject("GET", "*/actions/runs/*/jobs", status=200, delay_s=0.6)
    scenario.fake.inject("GET", "*/git/commits/*", status=200, delay_s=0.6)
    await fail_ci(scenario)

    await assert_fix_published_once(scenario)
    assert scenario.count("GET", "*/actions/runs/*/jobs") == 2
    assert scenario.count("GET", "*/git/commits/*") == 2
    assert_backoff(scenario.sleeper.waits, [1, 1])


# ------------------------------------------------------------ issues disabled (410)


async def test_issues_disabled_ends_the_loop_cleanly_and_says_it_on_the_pull_request(
    app_harness: HarnessFactory, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    # The first iteration publishes a fix; CI fails on it the same way: escalate.
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"files": FIX, "cost": 0.1}]))
    harness = await app_harness(fixer_command=f"{sys.executable} {SCRIPTED} {plan}")
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = fake_github.add_workflow_run(
        REPO, head_sha=head, head_branch="main", conclusion="failure",
        jobs=[FakeJob("test", "failure", steps=[("Run pytest", "failure")], log=LOG)],
    )  # fmt: skip
    await harness.deliver("workflow_run", harness.payload(run))
    [loop] = await harness.ctx.store.recent_loops()
    assert loop.fix_sha is not None and loop.pr_number is not None
    gone = {"message": "Issues are disabled for this repo", "documentation_url": "https://docs"}
    fake_github.inject("GET", "/repos/acme/widgets/issues", status=410, body=gone, times=5)
    fake_github.inject("POST", "/repos/acme/widgets/issues", status=410, body=gone, times=5)
    red = fake_github.add_workflow_run(
        REPO, head_sha=loop.fix_sha, head_branch=loop.fix_branch, conclusion="failure",
        jobs=[FakeJob("test", "failure", steps=[("Run pytest", "failure")], log=LOG)],
    )  # fmt: skip
    await harness.deliver("workflow_run", harness.payload(red))

    ended = await harness.ctx.store.get_loop(loop.id)
    assert ended is not None and ended.state is LoopState.ESCALATED
    assert "internal error" not in (ended.reason or "")
    assert ended.issue_number is None and fake_github.issues(REPO) == []
    assert fake_github.calls("GET", "/repos/acme/widgets/issues*")  # answered 410
    comments = [c.body for c in fake_github.issue_comments(REPO, loop.pr_number)]
    assert any((ended.reason or "").split(":")[0] in body for body in comments)


async def test_dropped_connections_to_the_archive_host_are_retried(start: StartScenario) -> None:
    scenario = await start()
    scenario.fake.inject("GET", "*/tarball/*", status=500, reset_connection=True, times=3)
    await fail_ci(scenario)

    loop = await assert_fix_published_once(scenario)
    [iteration] = await scenario.harness.ctx.store.iterations(loop.id)
    assert iteration.status == "published"
    assert scenario.count("GET", "*/tarball/*") >= 4  # (aiohttp may resend one itself)


async def test_an_unreachable_archive_host_fails_iterations_not_with_an_internal_error(
    start: StartScenario,
) -> None:
    scenario = await start()
    scenario.fake.inject("GET", "*/tarball/*", status=500, reset_connection=True, times=10_000)
    await fail_ci(scenario)

    loop = await scenario.loop()
    assert loop.state is LoopState.EXHAUSTED, (loop.state, loop.reason)
    assert "internal error" not in (loop.reason or "")
    iterations = await scenario.harness.ctx.store.iterations(loop.id)
    assert iterations and all(
        "archive host could not be reached" in (i.outcome or "") for i in iterations
    )
    scenario.fake.faults.pending.clear()
