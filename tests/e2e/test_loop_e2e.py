"""The fix loop end to end: real webhooks in, real agent subprocesses, the fake GitHub out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from app.store.records import LoopState
from tests.harness import REPO, Harness, HarnessFactory
from tests.scenarios import (
    CALC,
    INFRA_LOG,
    TEST_CALC,
    ci_on_fix_branch,
    only_loop,
    pytest_log,
    rerun_attempt,
    scripted_agent,
)


@pytest.fixture(params=["sqlite", "postgres"])
def harness_backend(request: pytest.FixtureRequest) -> str:
    """Every loop scenario runs on both stores."""
    return str(request.param)


def parents(harness: Harness, sha: str) -> tuple[str, ...]:
    return harness.fake.repo(REPO).objects.commit(sha).parents


async def loop_awaiting_ci(
    app_harness: HarnessFactory, tmp_path: Path, **settings: Any
) -> tuple[Harness, str]:
    """A test failure on main whose one-step fix was published; the harness and head sha."""
    agent = scripted_agent(tmp_path, [{"files": {"calc.py": "def add(a, b):\n    return 4\n"}}])
    harness = await app_harness(fixer_command=agent, **settings)
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))
    return harness, head


async def test_test_failure_fixed_in_two_iterations_by_a_command_fixer(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(
        tmp_path,
        [
            {"files": {"calc.py": "def add(a, b):\n    return a * b\n"}, "cost": 0.10},
            {"files": {"calc.py": "def add(a, b):\n    return a + b\n"}, "cost": 0.15},
        ],
    )
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))

    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI
    first_fix = loop.fix_sha
    assert harness.fake.ref(REPO, f"heads/ci-fix/{run['id']}") == first_fix
    pulls = harness.fake.pulls(REPO)
    assert len(pulls) == 1

    # CI on the fix branch fails differently (2 * 2 == 4 passes, but say 3 * 3 failed).
    await ci_on_fix_branch(harness, loop, "failure", pytest_log("assert 9 == 6"))
    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI
    assert loop.iteration == 2
    assert loop.fix_sha != first_fix
    second = harness.fake.read_tree(REPO, loop.fix_sha)
    assert second["calc.py"] == b"def add(a, b):\n    return a + b\n"
    assert parents(harness, loop.fix_sha) == (first_fix,)
    assert len(harness.fake.pulls(REPO)) == 1  # the same PR, a second commit
    assert f"Iteration 1 pushed commit {first_fix[:7]}" in (tmp_path / "prompt-2.txt").read_text()

    await ci_on_fix_branch(harness, loop, "success")
    loop = await only_loop(harness)
    assert loop.state is LoopState.SUCCEEDED
    assert abs(loop.cost_usd - 0.25) < 1e-9
    [check] = harness.fake.check_runs(REPO)
    assert check.conclusion == "success"
    assert harness.fake.ref(REPO, "heads/main") == head  # main never moved
    iterations = await harness.ctx.store.iterations(loop.id)
    assert [i.status for i in iterations] == ["published", "published"]
    assert [i.ci_conclusion for i in iterations] == ["failure", "success"]


RUFF_LOG = (
    "2024-05-01T10:00:00.0000000Z ##[group]Run ruff check .\n"
    "2024-05-01T10:00:00.1000000Z ruff check .\n"
    "2024-05-01T10:00:00.2000000Z ##[endgroup]\n"
    "2024-05-01T10:00:01.0000000Z app.py:1:8: F401 [*] `os` imported but unused\n"
    "2024-05-01T10:00:01.1000000Z Found 1 error.\n"
    "2024-05-01T10:00:01.2000000Z [*] 1 fixable with the `--fix` option.\n"
    "2024-05-01T10:00:01.3000000Z ##[error]Process completed with exit code 1.\n"
)


def ruff_binary() -> str:
    return str(Path(sys.executable).with_name("ruff"))


async def test_lint_failure_fixed_by_autofix_at_no_cost(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    config = f"autofix:\n  - {ruff_binary()} check --fix --select F401 .\nfixer:\n  kind: none\n"
    head = harness.seed_repo({"app.py": "import os\n\nVALUE = 1\n"}, config=config)
    run = harness.failing_run(head, log=RUFF_LOG, job="lint", step="Run ruff check .")
    await harness.deliver("workflow_run", harness.payload(run))

    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI
    assert loop.cost_usd == 0
    tree = harness.fake.read_tree(REPO, loop.fix_sha)
    assert tree["app.py"] == b"\nVALUE = 1\n"  # the unused import is gone
    assert parents(harness, loop.fix_sha) == (head,)
    [pr] = harness.fake.pulls(REPO)
    assert pr.pull is not None
    assert pr.pull.head_ref == loop.fix_branch
    assert pr.pull.base_ref == "main"
    assert "ci-fix-loop" in pr.labels
    [iteration] = await harness.ctx.store.iterations(loop.id)
    assert iteration.fixer == "autofix"
    assert iteration.category == "lint"


async def test_a_diff_that_deletes_a_test_is_rejected_and_never_published(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"files": {"tests/test_calc.py": None}, "cost": 0.05}])
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo(
        {"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config="max_iterations: 2\n"
    )
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))

    loop = await only_loop(harness)
    assert loop.state is LoopState.EXHAUSTED
    assert harness.fake.ref(REPO, f"heads/{loop.fix_branch}") is None
    assert harness.fake.pulls(REPO) == []
    iterations = await harness.ctx.store.iterations(loop.id)
    assert [i.status for i in iterations] == ["rejected", "rejected"]
    assert any("test" in reason for reason in iterations[0].guard_reasons)
    # The second attempt was told why the first was refused.
    second_prompt = (tmp_path / "prompt-2.txt").read_text()
    assert "guard rejected" in second_prompt
    [issue] = harness.fake.issues(REPO)
    assert "ci-fix-loop" in issue.labels


async def test_five_failed_iterations_file_one_issue_and_a_second_loop_comments_on_it(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    steps = [{"files": {"calc.py": f"def add(a, b):\n    return a - b - {n}\n"}, "cost": 0.01}
             for n in range(10)]  # fmt: skip
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, steps))
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))
    for n in range(1, 5):
        loop = await only_loop(harness)
        assert loop.state is LoopState.AWAITING_CI, loop
        await ci_on_fix_branch(harness, loop, "failure", pytest_log(f"assert {-n} == 4"))
    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI and loop.iteration == 5
    await ci_on_fix_branch(harness, loop, "failure", pytest_log("assert -5 == 4"))

    loop = await only_loop(harness)
    assert loop.state is LoopState.EXHAUSTED
    assert "Exhausted 5 iterations" in (loop.reason or "")
    [issue] = harness.fake.issues(REPO)
    assert loop.issue_number == issue.number
    assert run["html_url"] in issue.body
    [pr] = harness.fake.pulls(REPO)
    pr_comments = harness.fake.issue_comments(REPO, pr.number)
    assert any(f"/issues/{issue.number}" in c.body for c in pr_comments)

    # A later failure of the same workflow on the same branch adds to the open issue.
    newer = harness.fake.commit(REPO, "main", {"calc.py": "def add(a, b):\n    return 0\n"})
    run2 = harness.failing_run(newer, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run2))
    loops = await harness.ctx.store.recent_loops()
    assert len(loops) == 2
    latest = loops[0]
    for _ in range(5):
        if latest.state is not LoopState.AWAITING_CI:
            break
        await ci_on_fix_branch(
            harness, latest, "failure", pytest_log(f"assert {latest.iteration} == 7")
        )
        latest = (await harness.ctx.store.recent_loops())[0]
    assert latest.state is LoopState.EXHAUSTED
    assert len(harness.fake.issues(REPO)) == 1
    assert latest.issue_number == issue.number
    assert len(harness.fake.issue_comments(REPO, issue.number)) == 1


async def test_a_fix_that_does_not_change_the_failure_escalates_at_once(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"files": {"notes.txt": "tried\n"}, "cost": 0.02}])
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))
    loop = await only_loop(harness)
    await ci_on_fix_branch(harness, loop, "failure", pytest_log("assert 0 == 4"))

    loop = await only_loop(harness)
    assert loop.state is LoopState.ESCALATED
    assert "did not change the failure" in (loop.reason or "")
    assert loop.iteration == 1  # no second attempt was paid for
    assert not (tmp_path / "prompt-2.txt").exists()


async def test_agent_escalation_files_an_issue_with_its_reason(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"say": "ESCALATE: needs a product decision", "cost": 0.3}])
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))

    loop = await only_loop(harness)
    assert loop.state is LoopState.ESCALATED
    assert "needs a product decision" in (loop.reason or "")
    assert abs(loop.cost_usd - 0.3) < 1e-9
    [issue] = harness.fake.issues(REPO)
    assert "needs a product decision" in issue.body
    [check] = harness.fake.check_runs(REPO)
    assert check.conclusion == "failure"


async def test_infra_failure_is_rerun_first_and_a_green_rerun_ends_flaky_at_no_cost(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"files": {"x.txt": "never\n"}, "cost": 1.0}])
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo({"requirements.txt": "requests\n"})
    run = harness.failing_run(head, log=INFRA_LOG, job="build", step="Run pip install")
    await harness.deliver("workflow_run", harness.payload(run))

    loop = await only_loop(harness)
    assert loop.state is LoopState.RERUNNING
    assert harness.fake.calls("POST", f"/repos/{REPO}/actions/runs/{run['id']}/rerun-failed-jobs")
    [check] = harness.fake.check_runs(REPO)  # the step is shown while the jobs run again
    assert check.output["title"] == "infra failure: re-running the failed jobs"
    await rerun_attempt(harness, run, "success")

    loop = await only_loop(harness)
    assert loop.state is LoopState.FLAKY
    assert loop.cost_usd == 0
    assert not (tmp_path / "prompt-1.txt").exists()
    assert harness.fake.pulls(REPO) == [] and harness.fake.issues(REPO) == []


async def test_a_red_rerun_proceeds_to_fixing(app_harness: HarnessFactory, tmp_path: Path) -> None:
    agent = scripted_agent(tmp_path, [{"files": {"calc.py": "def add(a, b):\n    return a + b\n"}}])
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo(
        {"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config="rerun_flaky_tests: true\n"
    )
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))
    assert (await only_loop(harness)).state is LoopState.RERUNNING
    await rerun_attempt(harness, run, "failure")

    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI
    assert len(harness.fake.calls("POST", "/repos/*/actions/runs/*/rerun-failed-jobs")) == 1


async def test_upstream_success_cancels_the_open_loop(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, _head = await loop_awaiting_ci(app_harness, tmp_path)
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI

    fixed = harness.fake.commit(REPO, "main", {"calc.py": "def add(a, b):\n    return a + b\n"})
    green = harness.failing_run(fixed, log="", conclusion="success")
    await harness.deliver("workflow_run", harness.payload(green))

    loop = await only_loop(harness)
    assert loop.state is LoopState.CANCELLED
    assert "Fixed upstream" in (loop.reason or "")
    [check] = harness.fake.check_runs(REPO)
    assert check.conclusion == "neutral"


async def test_a_newer_failing_commit_supersedes_the_older_loop(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, _head = await loop_awaiting_ci(app_harness, tmp_path)
    newer = harness.fake.commit(REPO, "main", {"README.md": "more\n"})
    run2 = harness.failing_run(newer, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run2))

    older, latest = sorted(await harness.ctx.store.recent_loops(), key=lambda loop: loop.id)
    assert older.state is LoopState.SUPERSEDED
    assert latest.state is LoopState.AWAITING_CI
    active = await harness.ctx.store.active_loops(repo=REPO)
    assert [loop.id for loop in active] == [latest.id]


async def test_fifty_concurrent_deliveries_of_one_failure_open_one_loop(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"files": {"calc.py": "def add(a, b):\n    return 4\n"}}])
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    payload = harness.payload(run)
    import asyncio

    responses = await asyncio.gather(*(harness.post("workflow_run", payload) for _ in range(50)))
    assert all(r.status == 202 for r in responses)  # distinct delivery ids: all accepted
    await harness.settle()
    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI
    assert len(harness.fake.pulls(REPO)) == 1
    assert len(harness.fake.check_runs(REPO)) == 1
    assert (tmp_path / "plan.count").read_text() == "1"


async def test_loop_budget_exhausted_mid_loop_escalates_with_the_figures(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    steps = [{"files": {"calc.py": f"def add(a, b):\n    return {n}\n"}, "cost": 0.15}
             for n in range(5)]  # fmt: skip
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, steps))
    head = harness.seed_repo(
        {"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config="budget:\n  per_loop_usd: 0.2\n"
    )
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))
    loop = await only_loop(harness)
    await ci_on_fix_branch(harness, loop, "failure", pytest_log("assert 1 == 4"))
    loop = await only_loop(harness)
    assert loop.iteration == 2  # $0.15 < $0.20: a second attempt was allowed
    await ci_on_fix_branch(harness, loop, "failure", pytest_log("assert 2 == 4"))

    loop = await only_loop(harness)
    assert loop.state is LoopState.ESCALATED
    assert loop.reason == "Loop budget exhausted: $0.30 / $0.20"
    assert loop.iteration == 2
    assert (
        await harness.ctx.store.loop_spend(loop.id) == 0.30000000000000004
        or abs(await harness.ctx.store.loop_spend(loop.id) - 0.30) < 1e-9
    )


async def test_daily_budget_is_shared_by_the_installations_loops(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"files": {"calc.py": "def add(a, b):\n    return 4\n"},
                                       "cost": 0.6}])  # fmt: skip
    harness = await app_harness(fixer_command=agent)
    config = "branches: [main, release]\nbudget:\n  per_loop_usd: 5\n  per_day_usd: 1\n"
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config=config)
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"), workflow_id=1)
    await harness.deliver("workflow_run", harness.payload(run))
    # A second loop of the same installation: one loop per commit and branch.
    release = harness.fake.commit(REPO, "release", {"notes.txt": "1.0"})
    run2 = harness.failing_run(
        release, log=pytest_log("assert 0 == 4"), workflow_id=2, branch="release"
    )
    await harness.deliver("workflow_run", harness.payload(run2))
    first = await harness.ctx.store.loop_for_run(REPO, run["id"])
    assert first is not None
    await ci_on_fix_branch(harness, first, "failure", pytest_log("assert 1 == 4"))

    first = await harness.ctx.store.loop_for_run(REPO, run["id"])
    assert first is not None and first.state is LoopState.ESCALATED
    assert first.reason == "Daily budget exhausted: $1.20 / $1.00"


async def test_breaker_pauses_new_loops_after_three_failures_until_the_cooldown_ends(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"say": "ESCALATE: no idea"}])
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    for n in range(3):
        sha = harness.fake.commit(REPO, "main", {"n.txt": str(n)})
        run = harness.failing_run(sha, log=pytest_log("assert 0 == 4"))
        await harness.deliver("workflow_run", harness.payload(run))
    assert head
    breaker = await harness.ctx.store.get_breaker(REPO)
    assert breaker.consecutive_failures == 3 and breaker.open_until is not None

    sha = harness.fake.commit(REPO, "main", {"n.txt": "paused"})
    paused_run = harness.failing_run(sha, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(paused_run))
    paused = await harness.ctx.store.loop_for_run(REPO, paused_run["id"])
    assert paused is not None and paused.state is LoopState.CANCELLED
    assert "Circuit breaker open for 60 more minutes" in (paused.reason or "")
    assert (tmp_path / "plan.count").read_text() == "3"

    harness.fake.clock.advance(minutes=61)
    sha = harness.fake.commit(REPO, "main", {"n.txt": "later"})
    later_run = harness.failing_run(sha, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(later_run))
    later = await harness.ctx.store.loop_for_run(REPO, later_run["id"])
    assert later is not None and later.state is LoopState.ESCALATED
    assert (tmp_path / "plan.count").read_text() == "4"


async def test_a_loop_whose_ci_never_reports_escalates_after_the_wait_limit(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, head = await loop_awaiting_ci(app_harness, tmp_path, ci_wait_timeout_s=3600.0)
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI

    # The workflow only runs on main, so no run on the fix branch ever comes; later
    # an unrelated event arrives after the wait limit has passed.
    harness.fake.clock.advance(hours=2)
    other = harness.failing_run(head, log="", conclusion="success", workflow_id=99)
    await harness.deliver("workflow_run", harness.payload(other))

    loop = await only_loop(harness)
    assert loop.state is LoopState.ESCALATED
    assert "No CI result arrived within 1 hour." in (loop.reason or "")
    assert len(harness.fake.issues(REPO)) == 1
