"""``/ci-fix stop`` during an iteration: the fixer is killed and nothing is pushed after it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from app.store.records import LoopState
from tests.harness import REPO, HarnessFactory

# Says it started, then waits for the test's gate before "fixing" (which it must never reach).
GATED = """\
import os, sys, time
from pathlib import Path

marks = Path(sys.argv[1])
sys.stdin.read()
(marks / "pid").write_text(str(os.getpid()))
while not (marks / "go").exists():
    time.sleep(0.02)
Path("calc.py").write_text("def add(a, b):\\n    return a + b\\n")
(marks / "fixed").touch()
"""


async def test_stop_during_an_iteration_kills_the_fixer_and_pushes_nothing(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    agent = tmp_path / "gated.py"
    agent.write_text(GATED)
    harness = await app_harness(fixer_command=f"{sys.executable} {agent} {marks}")
    head = harness.seed_repo({"calc.py": "def add(a, b):\n    return a - b\n"})
    run = harness.failing_run(head, log="E   assert 0 == 4\n")
    assert (await harness.post("workflow_run", harness.payload(run))).status == 202
    await harness.ctx.dispatcher.drain()
    deadline = asyncio.get_running_loop().time() + 60
    while not (marks / "pid").exists():
        assert asyncio.get_running_loop().time() < deadline, "the fixer never started"
        await asyncio.sleep(0.02)
    [loop] = await harness.ctx.store.active_loops()
    assert loop.state is LoopState.FIXING

    stopped = await harness.ctx.engine.stop(loop, "Stopped by @octocat")
    (marks / "go").touch()  # were the fixer still alive, it would now write its fix
    await harness.settle()

    assert stopped is not None and stopped.state is LoopState.CANCELLED
    assert not (marks / "fixed").exists()
    assert harness.fake.ref(REPO, f"heads/{loop.fix_branch}") is None  # nothing pushed
    assert harness.fake.pulls(REPO) == []
    [iteration] = await harness.ctx.store.iterations(loop.id)
    assert iteration.status == "cancelled"
    final = await harness.ctx.store.get_loop(loop.id)
    assert final is not None and final.state is LoopState.CANCELLED
