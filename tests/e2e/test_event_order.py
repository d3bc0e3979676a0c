"""GitHub's real event order: late, repeated, reordered and lost ``workflow_run`` deliveries.

A branch gets a few commits, each with one or two workflows whose runs fail or
pass (some re-run once).  Hypothesis delivers those runs' ``completed`` events
to the real app, against the fake GitHub (which answers the compare API from
the commits' real ancestry), in any order, some twice (as GitHub redelivers,
same delivery id, or as a second delivery), some never; run creation times are
shuffled too, so only ancestry tells which commit is newer.  The checks:

* at most one loop is active on the branch, at any time;
* a fix is only ever attempted for the newest commit any delivered run was on,
  so nothing is fixed once a newer commit has reported (green or red);
* in the end the active loop, if any, is the newest commit's, and there is
  one exactly when a workflow's latest delivered run on that commit failed;
* every acknowledged delivery is handled exactly once.

The agent and the log reading are replaced by in-process fakes (they are
tested elsewhere) so each example takes a fraction of a second.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.server import Overrides, build_app
from app.store.records import ACTIVE_STATES, Loop, LoopState
from tests.fakes.github import FakeGitHub, OpenAPI
from tests.fakes.ports import InstantDiagnoser, RecordingAttempter
from tests.harness import REPO, Harness, HarnessFactory, make_settings, no_sleep

EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Run:
    commit: int  # index in the branch's history: higher is newer
    workflow: int
    conclusion: str
    attempt: int = 1


@dataclass(frozen=True)
class Delivery:
    run: int  # index into the scenario's runs
    delivery_id: str


@dataclass(frozen=True)
class Scenario:
    commits: int
    runs: tuple[Run, ...]
    created_order: tuple[int, ...]  # the order GitHub created the runs in (clock skew, manual runs)
    deliveries: tuple[Delivery, ...]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    commits = draw(st.integers(1, 3))
    workflows = draw(st.integers(1, 2))
    runs: list[Run] = []
    for commit in range(commits):
        for workflow in range(workflows):
            conclusion = draw(st.sampled_from(["failure", "success"]))
            runs.append(Run(commit, workflow, conclusion))
            if draw(st.booleans()) and draw(st.booleans()):  # a re-run, a quarter of the time
                runs.append(Run(commit, workflow, draw(st.sampled_from(["failure", "success"])), 2))
    created_order = tuple(draw(st.permutations(range(len(runs)))))
    sent: list[Delivery] = []
    for index in range(len(runs)):
        copies = draw(st.sampled_from([0, 1, 1, 1, 2]))  # dropped, once, or twice
        for copy in range(copies):
            redelivery = copy and draw(st.booleans())  # same id: GitHub's redelivery
            suffix = "" if redelivery else f"-{copy}"
            sent.append(Delivery(index, f"run-{index}{suffix}"))
    order = draw(st.permutations(range(len(sent))))
    return Scenario(commits, tuple(runs), created_order, tuple(sent[i] for i in order))


async def play(spec: OpenAPI, key: str, scenario: Scenario) -> None:
    fake = FakeGitHub(private_key_pem=key, spec=spec)
    await fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            await _play(fake, Path(tmp), scenario)
    finally:
        await fake.stop()
    assert not fake.problems(), fake.problems()


async def _play(fake: FakeGitHub, tmp: Path, scenario: Scenario) -> None:
    attempter = RecordingAttempter(fake, REPO)
    options = Overrides(
        clock=lambda: fake.clock().timestamp(),
        sleeper=no_sleep,
        attempter=attempter,
        diagnoser=InstantDiagnoser(),
        job_queue=False,
    )
    settings_ = make_settings(fake, tmp)
    client = TestClient(TestServer(build_app(settings_, options)))
    await client.start_server()
    try:
        harness = Harness(fake=fake, client=client, settings=settings_)
        await _deliver_all(harness, attempter, scenario)
    finally:
        await client.close()


async def _deliver_all(harness: Harness, attempter: RecordingAttempter, scenario: Scenario) -> None:
    fake = harness.fake
    shas = [harness.seed_repo({"calc.py": "x = 1\n"})]
    for n in range(1, scenario.commits):
        fake.clock.advance(60)
        shas.append(fake.commit(REPO, "main", {"calc.py": f"x = {n + 1}\n"}))
    bodies: dict[int, dict[str, Any]] = {}
    first_attempts: dict[tuple[int, int], dict[str, Any]] = {}
    for index in scenario.created_order:
        run = scenario.runs[index]
        fake.clock.advance(10)
        if run.attempt == 1:
            body = fake.add_workflow_run(
                REPO,
                head_sha=shas[run.commit],
                head_branch="main",
                conclusion=run.conclusion,
                workflow_id=100 + run.workflow,
                name=f"CI {run.workflow}",
                path=f".github/workflows/ci{run.workflow}.yml",
            )
            first_attempts[(run.commit, run.workflow)] = body
    for index, run in enumerate(scenario.runs):
        first = first_attempts[(run.commit, run.workflow)]
        bodies[index] = {**first, "run_attempt": run.attempt, "conclusion": run.conclusion}

    # Checked at each attempt: the commit fixed is the newest any handled delivery was on.
    handled: list[int] = []

    async def before(sha: str) -> None:
        newest = max(scenario.runs[i].commit for i in handled)
        assert sha == shas[newest], f"fixed {sha[:7]} but commit {newest} had reported"

    attempter.before = before
    processed: Counter[str] = Counter()
    dispatcher = harness.ctx.dispatcher
    original = dispatcher.process

    async def counting(event: Any) -> None:
        processed[event.delivery_id] += 1
        await original(event)

    dispatcher.process = counting  # type: ignore[method-assign]
    accepted: set[str] = set()
    for delivery in scenario.deliveries:
        payload = harness.payload(bodies[delivery.run])
        response = await harness.post("workflow_run", payload, delivery_id=delivery.delivery_id)
        assert response.status in (200, 202), await response.text()
        if response.status == 202:
            accepted.add(delivery.delivery_id)
            handled.append(delivery.run)
        await harness.settle()
        active = await harness.ctx.store.active_loops(repo=REPO, branch="main")
        assert len(active) <= 1, active

    # Every acknowledged delivery handled exactly once; repeats answered as duplicates.
    assert set(processed) == accepted and set(processed.values()) <= {1}
    for delivery_id in accepted:
        assert await harness.ctx.store.delivery_outcome(delivery_id) == "processed"

    delivered = {d.run for d in scenario.deliveries}
    active = await harness.ctx.store.active_loops(repo=REPO, branch="main")
    if not delivered:
        assert active == [] and attempter.attempted == []
        return
    newest = max(scenario.runs[i].commit for i in delivered)
    latest: dict[int, Run] = {}
    for i in sorted(delivered, key=lambda i: scenario.runs[i].attempt):
        run = scenario.runs[i]
        if run.commit == newest:
            latest[run.workflow] = run
    should_fix = any(run.conclusion == "failure" for run in latest.values())
    assert [loop.head_sha for loop in active] == ([shas[newest]] if should_fix else [])
    assert all(loop.state in ACTIVE_STATES for loop in active)
    if should_fix:
        [loop] = active
        failing = {100 + w for w, run in latest.items() if run.conclusion == "failure"}
        loop_workflows = {r.workflow_id for r in await harness.ctx.store.loop_runs(loop.id)}
        assert failing <= loop_workflows
    # At most one pull request open: those of ended loops are closed.  (A loop whose
    # workflows passed on re-runs and that another failing workflow reopened gets a
    # new one, its first having been closed.)
    open_pulls = [p for p in fake.pulls(REPO) if p.state == "open"]
    assert len(open_pulls) <= len(active) <= 1


@EXAMPLES
@given(scenario=scenarios())
def test_any_order_of_deliveries_fixes_only_the_newest_failing_commit_once(
    openapi_spec: OpenAPI, app_private_key: str, scenario: Scenario
) -> None:
    asyncio.run(play(openapi_spec, app_private_key, scenario))


# ----------------------------------------------------------- each finding, one by one


@dataclass
class Branch:
    """The app with in-process ports, and a repository whose main has commits ``shas``."""

    harness: Harness
    attempter: RecordingAttempter
    diagnoser: InstantDiagnoser
    shas: list[str]

    @property
    def fake(self) -> FakeGitHub:
        return self.harness.fake

    def run(
        self, commit: int, conclusion: str, *, workflow: int = 1, branch: str = "main",
        sha: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        self.fake.clock.advance(5)
        return self.fake.add_workflow_run(
            REPO, head_sha=sha or self.shas[commit], head_branch=branch, conclusion=conclusion,
            workflow_id=workflow, name=f"CI {workflow}", path=f".github/workflows/ci{workflow}.yml",
        )  # fmt: skip

    async def deliver(self, run: dict[str, Any], **changes: Any) -> None:
        await self.harness.deliver("workflow_run", self.harness.payload({**run, **changes}))

    async def active(self) -> list[Loop]:
        return await self.harness.ctx.store.active_loops(repo=REPO)


@pytest.fixture
async def branch(app_harness: HarnessFactory, fake_github: FakeGitHub) -> Branch:
    attempter = RecordingAttempter(fake_github, REPO)
    diagnoser = InstantDiagnoser()
    harness = await app_harness(
        Overrides(
            clock=lambda: fake_github.clock().timestamp(), sleeper=no_sleep,
            attempter=attempter, diagnoser=diagnoser, job_queue=False,
        )
    )  # fmt: skip
    shas = [harness.seed_repo({"calc.py": "x = 1\n"})]
    for n in range(2):
        fake_github.clock.advance(60)
        shas.append(fake_github.commit(REPO, "main", {"calc.py": f"x = {n + 2}\n"}))
    return Branch(harness, attempter, diagnoser, shas)


async def test_a_late_failure_of_an_older_commit_leaves_the_newest_loop_alone(
    branch: Branch,
) -> None:
    old = branch.run(0, "failure")
    new = branch.run(1, "failure")
    await branch.deliver(new)
    await branch.deliver(old)  # late

    [loop] = await branch.active()
    assert loop.head_sha == branch.shas[1]
    assert branch.attempter.attempted == [branch.shas[1]]
    assert [loop.head_sha for loop in await branch.harness.ctx.store.recent_loops()] == [
        branch.shas[1]
    ]


async def test_a_late_success_of_an_older_commit_does_not_cancel_the_newest_loop(
    branch: Branch,
) -> None:
    old = branch.run(0, "success")
    new = branch.run(1, "failure")
    await branch.deliver(new)
    await branch.deliver(old)

    [loop] = await branch.active()
    assert loop.head_sha == branch.shas[1]


async def test_a_re_run_of_an_old_failed_run_leaves_the_newest_loop_active(
    branch: Branch,
) -> None:
    old = branch.run(0, "failure")
    await branch.deliver(old)
    new = branch.run(1, "failure")
    await branch.deliver(new)
    await branch.deliver(old, run_attempt=2)  # someone re-ran the old run; it failed again

    [loop] = await branch.active()
    assert loop.head_sha == branch.shas[1]


async def test_a_failure_whose_successor_is_already_green_is_not_fixed(branch: Branch) -> None:
    old = branch.run(0, "failure")
    new = branch.run(1, "success")
    await branch.deliver(new)
    await branch.deliver(old)

    assert await branch.active() == []
    assert await branch.harness.ctx.store.recent_loops() == []
    assert branch.attempter.attempted == [] and branch.fake.pulls(REPO) == []


async def test_the_newer_commit_wins_by_ancestry_even_when_its_run_was_created_first(
    branch: Branch,
) -> None:
    new = branch.run(2, "failure")
    old = branch.run(0, "failure")  # created later (a manual re-dispatch, a skewed clock)
    await branch.deliver(new)
    await branch.deliver(old)

    [loop] = await branch.active()
    assert loop.head_sha == branch.shas[2]


async def test_a_green_newer_commit_ends_a_loop_mid_way_and_nothing_more_is_fixed(
    branch: Branch,
) -> None:
    await branch.deliver(branch.run(0, "failure"))
    [loop] = await branch.active()
    await branch.deliver(branch.run(1, "success"))

    assert await branch.active() == []
    ended = await branch.harness.ctx.store.get_loop(loop.id)
    assert ended is not None and ended.state is LoopState.CANCELLED
    assert (ended.reason or "").startswith("Fixed upstream")
    assert branch.attempter.attempted == [branch.shas[0]]


async def test_a_workflow_passing_on_a_re_run_ends_the_loop_and_a_new_failure_reopens_it(
    branch: Branch,
) -> None:
    ci = branch.run(0, "failure", workflow=1)
    await branch.deliver(ci)
    await branch.deliver(ci, run_attempt=2, conclusion="success")
    assert await branch.active() == []

    await branch.deliver(branch.run(0, "failure", workflow=2))
    [loop] = await branch.active()
    assert loop.head_sha == branch.shas[0]
    assert [r.workflow_id for r in await branch.harness.ctx.store.loop_runs(loop.id)] == [2]


async def test_several_workflows_failing_on_one_commit_share_one_loop_run_and_pull_request(
    branch: Branch,
) -> None:
    ci, lint = branch.run(1, "failure", workflow=1), branch.run(1, "failure", workflow=2)
    await branch.harness.post("workflow_run", branch.harness.payload(ci))
    await branch.harness.post("workflow_run", branch.harness.payload(lint))
    await branch.harness.settle()

    [loop] = await branch.active()
    store = branch.harness.ctx.store
    assert {r.workflow_id for r in await store.loop_runs(loop.id)} == {1, 2}
    assert len(branch.fake.pulls(REPO)) == 1
    assert loop.state is LoopState.AWAITING_CI and loop.fix_sha is not None
    # The one attempt saw both workflows' failures.
    assert len(branch.attempter.attempted) == 1
    assert sorted(branch.diagnoser.diagnosed[-2:]) == sorted([ci["id"], lint["id"]])

    # The fix branch is green only once both workflows pass on the fix.
    await branch.deliver(branch.run(1, "success", workflow=1, branch=loop.fix_branch,
                                    sha=loop.fix_sha))  # fmt: skip
    assert (await store.get_loop(loop.id)).state is LoopState.AWAITING_CI  # type: ignore[union-attr]
    await branch.deliver(branch.run(1, "success", workflow=2, branch=loop.fix_branch,
                                    sha=loop.fix_sha))  # fmt: skip
    done = await store.get_loop(loop.id)
    assert done is not None and done.state is LoopState.SUCCEEDED
    assert done.reason == "CI passed on the fix branch (2 workflows)"


async def test_one_failing_workflow_on_the_fix_branch_sends_the_loop_round_again(
    branch: Branch,
) -> None:
    await branch.deliver(branch.run(1, "failure", workflow=1))
    await branch.deliver(branch.run(1, "failure", workflow=2))
    [loop] = await branch.active()
    store = branch.harness.ctx.store
    await branch.deliver(branch.run(1, "success", workflow=1, branch=loop.fix_branch,
                                    sha=loop.fix_sha))  # fmt: skip
    red = branch.run(1, "failure", workflow=2, branch=loop.fix_branch, sha=loop.fix_sha)
    await branch.deliver(red)

    again = await store.get_loop(loop.id)
    assert again is not None and again.state is LoopState.AWAITING_CI and again.iteration == 2
    assert branch.diagnoser.diagnosed[-1] == red["id"]  # only the still-failing run is read


async def test_a_skipped_run_on_the_fix_branch_is_not_green(branch: Branch) -> None:
    await branch.deliver(branch.run(1, "failure"))
    [loop] = await branch.active()
    await branch.deliver(branch.run(1, "skipped", branch=loop.fix_branch, sha=loop.fix_sha))

    ended = await branch.harness.ctx.store.get_loop(loop.id)
    assert ended is not None and ended.state is LoopState.ESCALATED
    assert "skipped" in (ended.reason or "")


async def test_a_skipped_run_on_a_newer_commit_does_not_end_the_loop(branch: Branch) -> None:
    await branch.deliver(branch.run(0, "failure"))
    await branch.deliver(branch.run(1, "skipped"))

    [loop] = await branch.active()
    assert loop.head_sha == branch.shas[0]


async def test_a_run_whose_head_repository_is_unknown_is_ignored_as_a_fork(
    branch: Branch,
) -> None:
    await branch.deliver(branch.run(1, "failure"), head_repository=None)

    assert await branch.harness.ctx.store.recent_loops() == []


async def test_replay_creates_the_check_run_a_crash_left_out(branch: Branch) -> None:
    run = branch.run(1, "failure")
    await branch.deliver(run)
    [loop] = await branch.active()
    store = branch.harness.ctx.store
    # As if the process died between opening the loop and recording its check run.
    await store.update_loop(loop.id, now=branch.harness.ctx.clock(), check_run_id=None)
    before = len(branch.fake.check_runs(REPO))
    branch.fake.clock.advance(120)  # the restart; within a minute the opener may still be at it

    await branch.deliver(run)  # GitHub's redelivery, or a replay after the restart

    repaired = await store.get_loop(loop.id)
    assert repaired is not None and repaired.check_run_id is not None
    assert len(branch.fake.check_runs(REPO)) == before + 1
    kinds = [e.kind for e in await store.events(loop.id)]
    assert "check_run_repaired" in kinds


# ----------------------------------------------------------------- timers on time


async def test_the_ci_wait_timeout_fires_on_time_without_another_event(
    app_harness: HarnessFactory, fake_github: FakeGitHub
) -> None:
    attempter = RecordingAttempter(fake_github, REPO)
    harness = await app_harness(
        Overrides(
            clock=lambda: fake_github.clock().timestamp(), sleeper=no_sleep,
            attempter=attempter, diagnoser=InstantDiagnoser(), job_queue=False, timer_s=0.01,
        ),
        ci_wait_timeout_s=3600.0,
    )  # fmt: skip
    head = harness.seed_repo({"calc.py": "x = 1\n"})
    run = fake_github.add_workflow_run(REPO, head_sha=head, head_branch="main")
    await harness.deliver("workflow_run", harness.payload(run))
    [loop] = await harness.ctx.store.active_loops()
    assert loop.state is LoopState.AWAITING_CI

    fake_github.clock.advance(3601)  # CI never reports on the fix branch; no event arrives

    deadline = asyncio.get_running_loop().time() + 30
    while (current := await harness.ctx.store.get_loop(loop.id)) and not current.state.terminal:
        assert asyncio.get_running_loop().time() < deadline, "the timer never fired"
        await asyncio.sleep(0.01)
    assert current is not None and current.state is LoopState.ESCALATED
    assert "No CI result arrived within 1 hour" in (current.reason or "")


def test_workers_check_deadlines_every_minute_through_a_periodic_job() -> None:
    pytest.importorskip("procrastinate")
    from app.loop.jobs import TIMER_TASK_NAME, build_job_app

    app = build_job_app("postgresql://unused")
    [periodic] = [
        p for p in app.periodic_registry.periodic_tasks.values()
        if p.task.name == TIMER_TASK_NAME
    ]  # fmt: skip
    assert periodic.cron == "* * * * *"
    assert periodic.task.queueing_lock == TIMER_TASK_NAME  # one waiting at most


async def test_a_repeat_of_an_older_commits_run_after_a_newer_commit_failed_changes_nothing(
    branch: Branch,
) -> None:
    """Found by the property test: a repeat used to count as "the newest" for its workflow."""
    old = branch.run(0, "failure", workflow=1)
    await branch.deliver(old)
    await branch.deliver(branch.run(1, "failure", workflow=2))
    await branch.deliver(old)  # the same run again, under another delivery id

    [loop] = await branch.active()
    assert loop.head_sha == branch.shas[1]
