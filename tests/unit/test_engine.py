"""The loop engine driven through fakes of its ports: every transition, no network.

The store is the real one on a private SQLite file (the engine's only state);
diagnosing, attempting, reporting and scheduling are the recording fakes
below, so each test says exactly what the engine decided and asked for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import gidgethub
import pytest

from app.config.model import BudgetConfig, RepoConfig
from app.config.source import ConfigLoad
from app.core.errors import PublishError
from app.core.metrics import Metrics
from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.intake.payloads import RunFacts
from app.loop.engine import Engine
from app.loop.ports import AttemptInput, AttemptResult
from app.loop.runner import claim, recover
from app.settings import Settings
from app.store.base import Store
from app.store.records import Loop, LoopState
from app.store.sqlite import open_sqlite_store

REPO = "octo/calc"
INSTALLATION = 7
WORKFLOW = 11
HEAD = "a" * 40
NEWER = "b" * 40
FIX_SHA = "f" * 40

TEST_FAILURE = Diagnosis(
    category=Category.TEST,
    confidence=0.9,
    tool="pytest",
    key_lines=(KeyLine(text="assert 0 == 4", file="tests/test_calc.py", line=3),),
    failed_jobs=("test",),
)
OTHER_TEST_FAILURE = replace(
    TEST_FAILURE, key_lines=(KeyLine(text="KeyError: 'AT'", file="calc.py", line=9),)
)
INFRA_FAILURE = Diagnosis(category=Category.INFRA, confidence=0.9, failed_jobs=("test",))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class NoGitHub:
    """The engine's own GitHub calls (adoption after a crash) answer 'no such branch'."""

    async def getitem(self, url: str, url_vars: dict[str, str] | None = None) -> Any:
        raise gidgethub.BadRequest(status_code=HTTPStatus.NOT_FOUND)


@dataclass
class FakeDiagnoser:
    results: list[Diagnosis] = field(default_factory=lambda: [TEST_FAILURE])
    calls: list[int] = field(default_factory=list)

    async def diagnose(self, gh: Any, repo: str, run_id: int) -> Diagnosis:
        self.calls.append(run_id)
        return self.results[min(len(self.calls), len(self.results)) - 1]


@dataclass
class FakeConfigs:
    load_result: ConfigLoad = field(
        default_factory=lambda: ConfigLoad(config=RepoConfig(), source="octo/calc")
    )

    async def load(self, gh: Any, repo: str, head_sha: str) -> ConfigLoad:
        return self.load_result


@dataclass
class FakeAttempter:
    """Answers each attempt from a script; ``raises`` makes the next attempt raise."""

    results: list[AttemptResult] = field(
        default_factory=lambda: [AttemptResult(cost_usd=0.1, published_sha=FIX_SHA)]
    )
    inputs: list[AttemptInput] = field(default_factory=list)
    raises: BaseException | None = None

    async def attempt(
        self,
        gh: Any,
        request: AttemptInput,
        on_spend: Callable[[float], Awaitable[None]],
    ) -> AttemptResult:
        self.inputs.append(request)
        if self.raises is not None:
            raise self.raises
        result = self.results[min(len(self.inputs), len(self.results)) - 1]
        await on_spend(result.cost_usd)
        return result


@dataclass
class FakeReporter:
    calls: list[str] = field(default_factory=list)

    async def loop_started(self, gh: Any, loop: Loop) -> int | None:
        self.calls.append("started")
        return 99

    async def progress(self, gh: Any, loop: Loop, config: Any) -> None:
        self.calls.append(f"progress:{loop.state.value}")

    async def fix_published(self, gh: Any, loop: Loop, config: RepoConfig) -> int | None:
        self.calls.append("fix_published")
        return 5

    async def loop_ended(self, gh: Any, loop: Loop, config: RepoConfig | None) -> None:
        self.calls.append(f"ended:{loop.state.value}")

    async def escalated(self, gh: Any, loop: Loop, config: RepoConfig | None) -> int | None:
        self.calls.append("escalated")
        return 42

    async def gave_up(
        self, gh: Any, loop: Loop, config: RepoConfig | None, issue: int | None
    ) -> str | None:
        return None

    async def config_invalid(self, gh: Any, facts: RunFacts, load: ConfigLoad) -> None:
        self.calls.append("config_invalid")

    async def rerun_failed_jobs(self, gh: Any, loop: Loop) -> None:
        self.calls.append("rerun")


@dataclass
class FakeScheduler:
    scheduled: list[int] = field(default_factory=list)

    async def schedule(self, loop_id: int) -> None:
        self.scheduled.append(loop_id)

    async def close(self) -> None:
        pass


@dataclass
class Rig:
    engine: Engine
    store: Store
    clock: Clock
    diagnoser: FakeDiagnoser
    configs: FakeConfigs
    attempter: FakeAttempter
    reporter: FakeReporter
    scheduler: FakeScheduler

    async def fail(self, sha: str = HEAD, **changes: Any) -> None:
        await self.engine.on_workflow_run(run(sha=sha, conclusion="failure", **changes))

    async def work_next(self) -> Loop | None:
        """What a worker does: claim the next queued loop and work it."""
        loop = await claim(self.store, owner=self.engine.worker_id, now=self.clock())
        if loop is not None:
            await self.engine.work_claimed(loop)
        return loop

    async def the_loop(self) -> Loop:
        loops = await self.store.recent_loops()
        assert len(loops) == 1, loops
        return loops[0]

    async def fix_ci(self, conclusion: str, run_id: int = 500) -> None:
        loop = await self.the_loop()
        await self.engine.on_workflow_run(
            run(
                sha=loop.fix_sha or FIX_SHA,
                branch=loop.fix_branch,
                conclusion=conclusion,
                run_id=run_id,
            )
        )


def run(
    *,
    sha: str = HEAD,
    conclusion: str = "failure",
    branch: str = "main",
    run_id: int = 100,
    run_attempt: int = 1,
    head_repo: str | None = REPO,
) -> RunFacts:
    return RunFacts(
        installation_id=INSTALLATION,
        repo=REPO,
        default_branch="main",
        head_repo=head_repo,
        workflow_id=WORKFLOW,
        workflow_name="CI",
        workflow_path=".github/workflows/ci.yml",
        run_id=run_id,
        run_attempt=run_attempt,
        run_url=f"https://github.example/{REPO}/actions/runs/{run_id}",
        head_branch=branch,
        head_sha=sha,
        status="completed",
        conclusion=conclusion,
        event="push",
        run_number=run_id,
        created_at=1_700_000_000.0 + run_id,
    )


@pytest.fixture
async def rig(tmp_path: Path) -> Any:
    store = await open_sqlite_store(tmp_path / "store.sqlite3")
    clock = Clock()
    settings = Settings(
        app_id=1, private_key="unused", webhook_secret="s", store_path=tmp_path / "s"
    )
    parts = dict(
        diagnoser=FakeDiagnoser(),
        configs=FakeConfigs(),
        attempter=FakeAttempter(),
        reporter=FakeReporter(),
        scheduler=FakeScheduler(),
    )
    engine = Engine(
        settings=settings,
        store=store,
        github=lambda installation_id: NoGitHub(),  # type: ignore[arg-type,return-value]
        metrics=Metrics(),
        clock=clock,
        worker_id="unit",
        **parts,  # type: ignore[arg-type]
    )
    try:
        yield Rig(engine=engine, store=store, clock=clock, **parts)  # type: ignore[arg-type]
    finally:
        await store.close()


async def test_a_failure_opens_a_queued_loop_with_a_check_run_and_schedules_it(rig: Rig) -> None:
    await rig.fail()
    loop = await rig.the_loop()
    assert loop.state is LoopState.QUEUED
    assert loop.check_run_id == 99
    assert rig.reporter.calls == ["started"]
    assert rig.scheduler.scheduled == [loop.id]


async def test_the_same_failure_delivered_twice_opens_one_loop(rig: Rig) -> None:
    await rig.fail()
    await rig.fail()
    assert len(await rig.store.recent_loops()) == 1
    assert rig.reporter.calls == ["started"]


async def test_an_invalid_config_is_reported_and_opens_nothing(rig: Rig) -> None:
    rig.configs.load_result = ConfigLoad(
        config=RepoConfig(enabled=False),
        source="x",
        problems=["bad"],  # type: ignore[list-item]
    )
    await rig.fail()
    assert await rig.store.recent_loops() == []
    assert rig.reporter.calls == ["config_invalid"]


async def test_an_unwatched_branch_and_a_fork_are_ignored(rig: Rig) -> None:
    await rig.engine.on_workflow_run(run(branch="feature/x"))
    await rig.engine.on_workflow_run(run(head_repo="someone/calc"))
    await rig.engine.on_workflow_run(run(head_repo=None))
    assert await rig.store.recent_loops() == []


async def test_published_fix_waits_for_ci_then_green_succeeds(rig: Rig) -> None:
    await rig.fail()
    await rig.work_next()
    loop = await rig.the_loop()
    assert loop.state is LoopState.AWAITING_CI
    assert loop.fix_sha == FIX_SHA and loop.pr_number == 5
    assert loop.lease_owner is None  # released after the work
    await rig.fix_ci("success")
    loop = await rig.the_loop()
    assert loop.state is LoopState.SUCCEEDED
    assert rig.reporter.calls[-1] == "ended:succeeded"


async def test_red_fix_ci_with_a_new_failure_iterates_from_the_fix(rig: Rig) -> None:
    rig.diagnoser.results = [TEST_FAILURE, OTHER_TEST_FAILURE]
    second_fix = "e" * 40
    rig.attempter.results = [
        AttemptResult(cost_usd=0.1, published_sha=FIX_SHA),
        AttemptResult(cost_usd=0.1, published_sha=second_fix),
    ]
    await rig.fail()
    await rig.work_next()
    await rig.fix_ci("failure", run_id=501)
    assert (await rig.the_loop()).state is LoopState.QUEUED
    await rig.work_next()
    loop = await rig.the_loop()
    assert loop.state is LoopState.AWAITING_CI and loop.fix_sha == second_fix
    assert rig.diagnoser.calls == [100, 501]  # the second diagnosis is of the fix's own run
    assert [i.iteration for i in rig.attempter.inputs] == [1, 2]
    assert rig.attempter.inputs[1].previous_outcome is not None


async def test_the_same_failure_after_a_fix_escalates_with_an_issue(rig: Rig) -> None:
    await rig.fail()
    await rig.work_next()
    await rig.fix_ci("failure", run_id=501)
    await rig.work_next()
    loop = await rig.the_loop()
    assert loop.state is LoopState.ESCALATED
    assert loop.issue_number == 42
    assert "escalated" in rig.reporter.calls


async def test_running_out_of_iterations_exhausts_the_loop(rig: Rig) -> None:
    rig.configs.load_result = ConfigLoad(config=RepoConfig(max_iterations=1), source="x")
    rig.diagnoser.results = [TEST_FAILURE, OTHER_TEST_FAILURE]
    await rig.fail()
    await rig.work_next()
    await rig.fix_ci("failure", run_id=501)
    await rig.work_next()
    assert (await rig.the_loop()).state is LoopState.EXHAUSTED


async def test_an_infra_failure_is_rerun_first_and_a_green_rerun_is_flaky(rig: Rig) -> None:
    rig.diagnoser.results = [INFRA_FAILURE]
    await rig.fail()
    await rig.work_next()
    assert (await rig.the_loop()).state is LoopState.RERUNNING
    assert rig.reporter.calls[-2:] == ["rerun", "progress:rerunning"]
    await rig.engine.on_workflow_run(run(conclusion="success", run_attempt=2))
    loop = await rig.the_loop()
    assert loop.state is LoopState.FLAKY
    assert rig.attempter.inputs == []  # no money spent


async def test_a_red_rerun_goes_on_to_fix_using_the_reruns_logs(rig: Rig) -> None:
    rig.diagnoser.results = [INFRA_FAILURE, TEST_FAILURE]
    await rig.fail()
    await rig.work_next()
    await rig.engine.on_workflow_run(run(conclusion="failure", run_attempt=2))
    assert (await rig.the_loop()).state is LoopState.QUEUED
    await rig.work_next()
    assert (await rig.the_loop()).state is LoopState.AWAITING_CI
    assert len(rig.attempter.inputs) == 1


async def test_an_agent_asking_to_escalate_escalates_at_once(rig: Rig) -> None:
    rig.attempter.results = [AttemptResult(escalate_reason="needs a human")]
    await rig.fail()
    await rig.work_next()
    loop = await rig.the_loop()
    assert loop.state is LoopState.ESCALATED
    assert loop.reason is not None and "needs a human" in loop.reason


async def test_an_unpublished_attempt_is_queued_for_another_try(rig: Rig) -> None:
    rig.attempter.results = [
        AttemptResult(guard_ok=False, problem="The guard rejected the change"),
        AttemptResult(published_sha=FIX_SHA),
    ]
    await rig.fail()
    await rig.work_next()
    assert (await rig.the_loop()).state is LoopState.QUEUED
    await rig.work_next()
    assert (await rig.the_loop()).state is LoopState.AWAITING_CI
    iterations = await rig.store.iterations((await rig.the_loop()).id)
    assert [i.status for i in iterations] == ["rejected", "published"]


async def test_a_spent_budget_escalates_before_the_next_attempt(rig: Rig) -> None:
    config = RepoConfig(budget=BudgetConfig(per_loop_usd=0.05))
    rig.configs.load_result = ConfigLoad(config=config, source="x")
    rig.diagnoser.results = [TEST_FAILURE, OTHER_TEST_FAILURE]
    await rig.fail()
    await rig.work_next()  # spends $0.10
    await rig.fix_ci("failure", run_id=501)
    await rig.work_next()
    loop = await rig.the_loop()
    assert loop.state is LoopState.ESCALATED
    assert loop.reason is not None and "budget" in loop.reason.lower()
    assert len(rig.attempter.inputs) == 1


async def test_a_loop_error_escalates_with_its_own_sentence(rig: Rig) -> None:
    rig.attempter.raises = PublishError("Branch protection refused the fix branch: allow ci-fix/*")
    await rig.fail()
    await rig.work_next()
    loop = await rig.the_loop()
    assert loop.state is LoopState.ESCALATED
    assert loop.reason == "Branch protection refused the fix branch: allow ci-fix/*"
    assert loop.lease_owner is None


async def test_an_unexpected_error_escalates_as_an_internal_error(rig: Rig) -> None:
    rig.attempter.raises = KeyError("boom")
    await rig.fail()
    await rig.work_next()
    loop = await rig.the_loop()
    assert loop.state is LoopState.ESCALATED
    assert loop.reason is not None and "internal error (KeyError)" in loop.reason


async def test_a_disabled_config_cancels_the_loop_when_worked(rig: Rig) -> None:
    await rig.fail()
    rig.configs.load_result = ConfigLoad(config=RepoConfig(enabled=False), source="x")
    rig.engine._fresh_configs.clear()  # the next step reads the config again
    await rig.work_next()
    assert (await rig.the_loop()).state is LoopState.CANCELLED


async def test_dry_run_records_the_plan_and_spends_nothing(rig: Rig) -> None:
    rig.configs.load_result = ConfigLoad(config=RepoConfig(dry_run=True), source="x")
    await rig.fail()
    await rig.work_next()
    loop = await rig.the_loop()
    assert loop.state is LoopState.CANCELLED
    assert loop.reason is not None and loop.reason.startswith("Dry run")
    assert rig.attempter.inputs == []


async def test_the_workflow_passing_on_the_branch_cancels_the_loop(rig: Rig) -> None:
    await rig.fail()
    await rig.engine.on_workflow_run(run(sha=NEWER, conclusion="success", run_id=101))
    loop = await rig.the_loop()
    assert loop.state is LoopState.CANCELLED
    assert loop.reason is not None and "Fixed upstream" in loop.reason


async def test_a_maintainer_stop_cancels_and_retry_requeues_a_given_up_loop(rig: Rig) -> None:
    rig.attempter.results = [AttemptResult(escalate_reason="stuck")]
    await rig.fail()
    await rig.work_next()
    escalated = await rig.the_loop()
    retried = await rig.engine.retry(escalated, by="maintainer")
    assert retried is not None and retried.state is LoopState.QUEUED
    stopped = await rig.engine.stop(retried, "Stopped by @maintainer")
    assert stopped is not None and stopped.state is LoopState.CANCELLED
    assert await rig.engine.retry(stopped, by="maintainer") is None  # cancelled stays ended


async def test_uninstalling_cancels_active_loops_without_writing_to_github(rig: Rig) -> None:
    await rig.fail()
    before = list(rig.reporter.calls)
    await rig.engine.installation_removed(INSTALLATION)
    assert (await rig.the_loop()).state is LoopState.CANCELLED
    assert rig.reporter.calls == before


async def test_an_interrupted_iteration_is_retried_then_escalated_the_second_time(
    rig: Rig,
) -> None:
    await rig.fail()
    loop = await rig.the_loop()
    await rig.store.update_loop(loop.id, now=rig.clock(), state=LoopState.FIXING, iteration=1)
    await recover(rig.engine, sole_worker=True)
    requeued = await rig.the_loop()
    assert requeued.state is LoopState.QUEUED and requeued.attempts_interrupted == 1
    await rig.store.update_loop(loop.id, now=rig.clock(), state=LoopState.FIXING)
    await recover(rig.engine, sole_worker=True)
    ended = await rig.the_loop()
    assert ended.state is LoopState.ESCALATED
    assert ended.reason is not None and "interrupted 2 times" in ended.reason


async def test_a_loop_whose_ci_never_reports_escalates_after_the_wait(rig: Rig) -> None:
    await rig.fail()
    await rig.work_next()
    rig.clock.now += rig.engine.settings.ci_wait_timeout_s + 61
    await rig.engine.expire_stale_waits()
    loop = await rig.the_loop()
    assert loop.state is LoopState.ESCALATED
    assert loop.reason is not None and "No CI result arrived" in loop.reason
