"""Crash safety: a killed app restarts into a consistent state and never doubles a PR."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.loop.runner import recover
from app.store.records import Iteration, Loop, LoopState
from app.store.sqlite import open_sqlite_store
from tests.fakes.github import FakeGitHub
from tests.harness import (
    INSTALLATION_ID,
    REPO,
    WEBHOOK_SECRET,
    HarnessFactory,
)
from tests.scenarios import CALC, TEST_CALC, ci_on_fix_branch, pytest_log, scripted_agent
from tests.webhooks import webhook_headers, workflow_run_payload

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(predicate: Any, what: str) -> None:
    """Wait for another process to reach a point (a file, a state); fail after a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def app_process(env: dict[str, str], port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    log_path = Path(env["CRASH_TEST_CWD"]) / f"app-{port}.log"
    with log_path.open("ab") as log_file:  # a file, not a pipe: a full pipe would block the app
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "serve",
            cwd=env["CRASH_TEST_CWD"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )

    async def healthy() -> bool:
        if process.returncode is not None:
            pytest.fail(f"app exited: {log_path.read_text()}")
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/healthz") as response,
            ):
                return response.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await wait_for(healthy, "the app to listen")
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_kill_9_while_the_agent_runs_resumes_with_one_pr(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    agent = scripted_agent(
        tmp_path,
        [{"block": True}, {"files": {"calc.py": "def add(a, b):\n    return a + b\n"}}],
    )
    head = fake_github.add_repo(
        REPO,
        files={"calc.py": CALC, "tests/test_calc.py": TEST_CALC},
        installation_id=INSTALLATION_ID,
    )
    run = fake_github.add_workflow_run(
        REPO, head_sha=head, head_branch="main", jobs=[_failed_job()]
    )
    store_path = tmp_path / "store.sqlite3"
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "APP_ID": str(fake_github.app_id),
        "PRIVATE_KEY": fake_github.private_key_pem,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_API_URL": fake_github.url,
        "STORE_PATH": str(store_path),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "FIXER_COMMAND": agent,
        # The scripted agent keeps its state beside its plan, which only the unjailed
        # mode can write from a separate process; the jail has its own tests.
        "SANDBOX": "none",
        "INSECURE_NO_SANDBOX": "1",
        "CRASH_TEST_CWD": str(tmp_path),
    }
    body = json.dumps(
        workflow_run_payload(fake_github, run, installation_id=INSTALLATION_ID)
    ).encode()
    blocked = tmp_path / "blocked-1.pid"

    async with app_process(env, port) as first:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/webhook",
                data=body,
                headers=webhook_headers("workflow_run", body, WEBHOOK_SECRET),
            ) as response,
        ):
            assert response.status == 202

        async def agent_started() -> bool:
            return blocked.exists()

        await wait_for(agent_started, "the agent to start")
        first.send_signal(signal.SIGKILL)
        await first.wait()
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(blocked.read_text()), signal.SIGKILL)  # the orphaned agent

    store = await open_sqlite_store(store_path)
    try:
        [loop] = await store.recent_loops()
        assert loop.state is LoopState.FIXING  # as the dead process left it
    finally:
        await store.close()

    async with app_process(env, port):
        store = await open_sqlite_store(store_path)
        try:

            async def published() -> bool:
                [current] = await store.recent_loops()
                return current.state is LoopState.AWAITING_CI

            await wait_for(published, "the restarted app to publish the fix")
            [loop] = await store.recent_loops()
            iterations = await store.iterations(loop.id)
        finally:
            await store.close()

    assert [i.status for i in iterations] == ["interrupted", "published"]
    assert len(fake_github.pulls(REPO)) == 1
    assert fake_github.ref(REPO, f"heads/{loop.fix_branch}") == loop.fix_sha
    assert fake_github.read_tree(REPO, loop.fix_sha)["calc.py"].endswith(b"return a + b\n")


def _failed_job() -> Any:
    from tests.fakes.github import FakeJob

    return FakeJob(
        "test",
        "failure",
        steps=[("Set up job", "success"), ("Run pytest -x", "failure")],
        log=pytest_log("assert 0 == 4"),
    )


async def test_a_fix_pushed_before_the_crash_is_adopted_not_pushed_again(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"files": {"calc.py": "def add(a, b):\n    return 9\n"}}])
    harness = await app_harness(fixer_command=agent)
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    store = harness.ctx.store
    # The dead worker had claimed the loop, started iteration 1 and pushed its commit,
    # then died before recording it.
    facts_loop = await left_fixing_by_a_dead_worker(harness, run)
    pushed = harness.fake.commit(REPO, facts_loop.fix_branch, {"calc.py": "fixed\n"})

    await recover(harness.ctx.engine, sole_worker=True)
    assert harness.ctx.runner is not None
    harness.ctx.runner.wake()
    await harness.settle()

    loop = await store.get_loop(facts_loop.id)
    assert loop is not None and loop.state is LoopState.AWAITING_CI
    assert loop.fix_sha == pushed
    assert harness.fake.ref(REPO, f"heads/{loop.fix_branch}") == pushed
    assert not (tmp_path / "prompt-1.txt").exists()  # no second attempt, no second commit
    assert len(harness.fake.pulls(REPO)) == 1
    # The adopted commit is iteration 1's, not a new iteration's.
    assert loop.iteration == 1
    recorded = [(i.n, i.status, i.fix_sha) for i in await store.iterations(loop.id)]
    assert recorded == [(1, "published", pushed)]
    await ci_on_fix_branch(harness, loop, "success")
    loop = await store.get_loop(facts_loop.id)
    assert loop is not None and loop.state is LoopState.SUCCEEDED


async def left_fixing_by_a_dead_worker(
    harness: Any, run: dict[str, Any], *, attempts_interrupted: int = 0
) -> Loop:
    """The loop for ``run`` as a worker that died in iteration 1 left it in the store."""
    from app.intake.payloads import RunFacts

    facts = RunFacts.from_payload(harness.payload(run))
    assert facts is not None
    store = harness.ctx.store
    now = harness.ctx.clock()
    loop, _ = await store.open_loop(facts.new_loop(), state=LoopState.QUEUED, now=now)
    left = await store.update_loop(
        loop.id,
        now=now,
        state=LoopState.FIXING,
        iteration=1,
        attempts_interrupted=attempts_interrupted,
        lease_owner="dead-worker",
        lease_until=now + 3600,
    )
    await store.add_iteration(Iteration(loop_id=loop.id, n=1, started_at=now))
    assert left is not None
    return left


async def test_a_delivery_accepted_before_a_crash_is_replayed_at_start(
    fake_github: FakeGitHub, tmp_path: Path, app_harness: HarnessFactory
) -> None:
    head = fake_github.add_repo(
        REPO, files={"a.py": "x = 1\n", ".github/ci-fix-loop.yml": "dry_run: true\n"},
        installation_id=INSTALLATION_ID,
    )  # fmt: skip
    run = fake_github.add_workflow_run(
        REPO, head_sha=head, head_branch="main", jobs=[_failed_job()]
    )
    payload = workflow_run_payload(fake_github, run, installation_id=INSTALLATION_ID)
    store = await open_sqlite_store(tmp_path / "store.sqlite3")
    await store.add_delivery("accepted-then-crashed", "workflow_run", json.dumps(payload).encode(),
                             0.0)  # fmt: skip
    await store.close()

    harness = await app_harness()
    await harness.settle()
    assert await harness.ctx.store.unfinished_deliveries() == []
    [loop] = await harness.ctx.store.recent_loops()
    assert loop.run_id == run["id"]
    # The replayed delivery counts as processed: a redelivery is still a duplicate.
    again = await harness.post("workflow_run", payload, delivery_id="accepted-then-crashed")
    assert again.status == 200


async def test_restart_while_awaiting_ci_continues_on_the_next_event(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    agent = scripted_agent(tmp_path, [{"files": {"calc.py": "def add(a, b):\n    return 4\n"}}])
    first = await app_harness(fixer_command=agent)
    head = first.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = first.failing_run(head, log=pytest_log("assert 0 == 4"))
    await first.deliver("workflow_run", first.payload(run))
    [loop] = await first.ctx.store.recent_loops()
    assert loop.state is LoopState.AWAITING_CI
    await first.client.close()

    second = await app_harness(fixer_command=agent)
    await ci_on_fix_branch(second, loop, "success")
    [loop] = await second.ctx.store.recent_loops()
    assert loop.state is LoopState.SUCCEEDED
    assert len(second.fake.pulls(REPO)) == 1


async def test_restart_while_rerunning_continues_on_the_rerun_result(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    from tests.scenarios import INFRA_LOG, rerun_attempt

    first = await app_harness()
    head = first.seed_repo({"requirements.txt": "requests\n"})
    run = first.failing_run(head, log=INFRA_LOG, job="build", step="Run pip install")
    await first.deliver("workflow_run", first.payload(run))
    [loop] = await first.ctx.store.recent_loops()
    assert loop.state is LoopState.RERUNNING
    await first.client.close()

    second = await app_harness()
    await rerun_attempt(second, run, "success")
    [loop] = await second.ctx.store.recent_loops()
    assert loop.state is LoopState.FLAKY


async def test_a_loop_interrupted_twice_escalates_instead_of_looping(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness()
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    store = harness.ctx.store
    loop = await left_fixing_by_a_dead_worker(harness, run, attempts_interrupted=1)
    await recover(harness.ctx.engine, sole_worker=True)
    await harness.settle()

    ended = await store.get_loop(loop.id)
    assert ended is not None and ended.state is LoopState.ESCALATED
    assert "interrupted 2 times" in (ended.reason or "")
    assert len(harness.fake.issues(REPO)) == 1
