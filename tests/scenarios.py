"""The loop scenario's cast, shared by the end-to-end tests: a broken calculator, its test,
the CI log its failure prints, a scripted agent, and the events GitHub sends around a fix."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app.store.records import Loop
from tests.fakes.github import FakeJob
from tests.harness import REPO, Harness

SCRIPTED = Path(__file__).parent / "fakes" / "loop_agents" / "scripted.py"


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


INFRA_LOG = (
    "2024-05-01T10:00:00.0000000Z ##[group]Run pip install -r requirements.txt\n"
    "2024-05-01T10:00:00.1000000Z pip install -r requirements.txt\n"
    "2024-05-01T10:00:00.2000000Z ##[endgroup]\n"
    "2024-05-01T10:00:05.0000000Z WARNING: Retrying (Retry(total=0)) after connection broken by "
    "'NewConnectionError(\"Failed to establish a new connection: [Errno -3] Temporary failure "
    "in name resolution\")': /simple/requests/\n"
    "2024-05-01T10:00:06.0000000Z ERROR: Could not find a version that satisfies the "
    "requirement requests (from versions: none)\n"
    "2024-05-01T10:00:06.1000000Z ##[error]Process completed with exit code 1.\n"
)


async def rerun_attempt(harness: Harness, run: dict[str, Any], conclusion: str) -> None:
    """GitHub reran the failed jobs: the same run id, the next attempt, delivered again."""
    record = harness.fake.runs[run["id"]]
    record.run_attempt += 1
    record.conclusion = conclusion
    payload = harness.payload(harness.fake.run_body(record))
    await harness.deliver("workflow_run", payload)
