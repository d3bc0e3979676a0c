"""The fix loop end to end: real webhooks in, real agent subprocesses, the fake GitHub out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app.store.records import Loop, LoopState
from tests.fakegithub import FakeJob
from tests.harness import REPO, Harness, HarnessFactory

SCRIPTED = Path(__file__).parent / "loop_agents" / "scripted.py"

CALC = "def add(a, b):\n    return a - b\n"
TEST_CALC = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"


def pytest_log(assertion: str) -> str:
    return (
        "2024-05-01T10:00:00.0000000Z ##[group]Run pytest -x\n"
        "2024-05-01T10:00:00.1000000Z pytest -x\n"
        "2024-05-01T10:00:00.2000000Z ##[endgroup]\n"
        "2024-05-01T10:00:01.0000000Z ============================= test session starts\n"
        "2024-05-01T10:00:01.1000000Z tests/test_calc.py F\n"
        "2024-05-01T10:00:01.2000000Z =================================== FAILURES\n"
        "2024-05-01T10:00:01.3000000Z     def test_add():\n"
        f"2024-05-01T10:00:01.4000000Z >       {assertion}\n"
        f"2024-05-01T10:00:01.5000000Z E       AssertionError: {assertion}\n"
        "2024-05-01T10:00:01.6000000Z tests/test_calc.py:5: AssertionError\n"
        "2024-05-01T10:00:01.7000000Z =========================== short test summary info\n"
        f"2024-05-01T10:00:01.8000000Z FAILED tests/test_calc.py::test_add - {assertion}\n"
        "2024-05-01T10:00:01.9000000Z ##[error]Process completed with exit code 1.\n"
    )


def scripted_agent(tmp_path: Path, steps: list[dict[str, Any]]) -> str:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(steps))
    return f"{sys.executable} {SCRIPTED} {plan}"


def parents(harness: Harness, sha: str) -> tuple[str, ...]:
    return harness.fake.repo(REPO).objects.commit(sha).parents


async def only_loop(harness: Harness) -> Loop:
    loops = await harness.ctx.store.recent_loops()
    assert len(loops) == 1, loops
    return loops[0]


async def ci_on_fix_branch(
    harness: Harness, loop: Loop, conclusion: str, log: str = ""
) -> dict[str, Any]:
    """GitHub ran the workflow on the fix branch's tip; deliver its completion."""
    assert loop.fix_sha is not None
    run = harness.fake.add_workflow_run(
        REPO,
        head_sha=loop.fix_sha,
        head_branch=loop.fix_branch,
        conclusion=conclusion,
        workflow_id=loop.workflow_id,
        jobs=[FakeJob("test", conclusion, steps=[("Run pytest -x", conclusion)], log=log)],
    )
    await harness.deliver("workflow_run", harness.payload(run))
    return run


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
