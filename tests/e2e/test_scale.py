"""Scale-out: web instances and worker processes sharing one PostgreSQL.

Two web instances (the real app, in this process) take the webhooks; two
``python -m app worker`` subprocesses work the loops; the fake GitHub stands in
for GitHub.  The agent every worker runs waits at a gate the test opens, so a
worker can be killed (SIGKILL) while it is in the middle of an iteration.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.errors import StoreUnavailable
from app.store.records import LoopState
from app.store.sql import SqlStore
from tests.fakes.github import FakeGitHub, FakeJob
from tests.harness import REPO, WEBHOOK_SECRET, HarnessFactory
from tests.postgres import PrivateCluster
from tests.support import require_or_skip

ROOT = Path(__file__).resolve().parents[2]
FAILURES = 20
DELIVERIES_PER_FAILURE = 10
DEADLINE_S = 60.0

CALC = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
LOG = (
    "2024-05-01T10:00:01.0000000Z ============================= test session starts\n"
    "2024-05-01T10:00:01.1000000Z tests/test_calc.py F\n"
    "2024-05-01T10:00:01.4000000Z >       assert add(2, 2) == 4\n"
    "2024-05-01T10:00:01.5000000Z E       AssertionError: assert 0 == 4\n"
    "2024-05-01T10:00:01.8000000Z FAILED tests/test_calc.py::test_add - assert 0 == 4\n"
    "2024-05-01T10:00:01.9000000Z ##[error]Process completed with exit code 1.\n"
)

# Records which worker process ran it, then waits for the test's gate before fixing.
GATED_AGENT = f"""\
import json, os, sys, time, uuid
from pathlib import Path

marks = Path(sys.argv[1])
sys.stdin.read()
(marks / f"started-{{os.getppid()}}-{{uuid.uuid4().hex}}").touch()
while not (marks / "go").exists():
    time.sleep(0.02)
Path("calc.py").write_text({FIXED!r})
print(json.dumps({{"type": "result", "total_cost_usd": 0.01}}))
"""


async def until(what: str, condition: Callable[[], Awaitable[bool]]) -> None:
    """Wait for ``condition`` (checked every 50 ms) or fail after DEADLINE_S, saying what."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


StartWorker = Callable[[str, str, str], Awaitable[Worker]]


WORKER_STOP_GRACE_S = 5.0


def gated_agent(tmp_path: Path) -> tuple[Path, str]:
    """The folder the gated agent leaves its marks in, and its fixer command line."""
    marks = tmp_path / "marks"
    marks.mkdir()
    agent_file = tmp_path / "gated_agent.py"
    agent_file.write_text(GATED_AGENT)
    return marks, f"{sys.executable} {agent_file} {marks}"


@pytest.fixture
async def start_worker(fake_github: FakeGitHub, tmp_path: Path) -> AsyncIterator[StartWorker]:
    """``await start_worker(name, fixer_command, database_url)``: a ``python -m app worker``."""
    require_or_skip(
        importlib.util.find_spec("procrastinate") is not None,
        "procrastinate is not installed: pip install 'ci-fix-loop[postgres]'",
    )
    started: list[Worker] = []

    async def start(name: str, fixer_command: str, database_url: str) -> Worker:
        home = tmp_path / name
        home.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "APP_ID": str(fake_github.app_id),
            "PRIVATE_KEY": fake_github.private_key_pem,
            "WEBHOOK_SECRET": WEBHOOK_SECRET,
            "GITHUB_API_URL": fake_github.url,
            "DATABASE_URL": database_url,
            "FIXER_COMMAND": fixer_command,
            # The scripted agent keeps its state beside its plan, which only the unjailed
            # mode can write from a separate process; the jail has its own tests.
            "SANDBOX": "none",
            "INSECURE_NO_SANDBOX": "1",
            "MAX_CONCURRENT_FIXES": "2",
        }
        log = home / "worker.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app",
                "worker",
                "--poll",
                "0.2",
                "--heartbeat",
                "0.5",
                "--stalled-after",
                "3",
                cwd=home,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        worker = Worker(process, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.returncode is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in started:
        # A stopping worker lets running jobs finish; a test's gated agent may never
        # finish, and what a graceful stop does is not what these tests are about.
        try:
            await asyncio.wait_for(worker.process.wait(), timeout=WORKER_STOP_GRACE_S)
        except TimeoutError:
            worker.process.kill()
            await worker.process.wait()


async def job_states(store: SqlStore) -> dict[str, int]:
    rows = await store._conn.fetchall(
        "SELECT status, COUNT(*) AS n FROM procrastinate_jobs GROUP BY status"
    )
    return {r["status"]: int(r["n"]) for r in rows}


async def test_two_webs_and_two_workers_fix_each_failure_once_despite_a_killed_worker(
    app_harness: HarnessFactory,
    start_worker: StartWorker,
    fake_github: FakeGitHub,
    pg_url: str,
    tmp_path: Path,
) -> None:
    from app.store.postgres import open_postgres_store

    marks, agent = gated_agent(tmp_path)

    webs = [await app_harness(database_url=pg_url) for _ in range(2)]
    store = await open_postgres_store(pg_url)
    try:
        # One failing commit per branch (one loop per failing commit and branch).
        branches = [f"release-{n}" for n in range(FAILURES)]
        config = f"branches: [{', '.join(branches)}]\n"
        files = {"calc.py": CALC, "tests/test_calc.py": "from calc import add\n"}
        webs[0].seed_repo(files, config=config)
        heads = [fake_github.commit(REPO, b, {"notes.txt": f"{b}\n"}) for b in branches]
        runs = [
            fake_github.add_workflow_run(
                REPO,
                head_sha=heads[n],
                head_branch=branches[n],
                workflow_id=100 + n,
                name=f"CI {n}",
                path=f".github/workflows/ci{n}.yml",
                jobs=[FakeJob("test", "failure", steps=[("Run pytest", "failure")], log=LOG)],
            )
            for n in range(FAILURES)
        ]

        # 200 deliveries: each failure sent 10 times, half as GitHub redeliveries
        # (same delivery id), half as distinct deliveries of the same run, all at
        # once and spread over both web instances.
        sends = []
        for n, run in enumerate(runs):
            payload = webs[0].payload(run)
            for k in range(DELIVERIES_PER_FAILURE):
                delivery = f"redelivered-{n}" if k % 2 else f"delivery-{n}-{k}"
                web = webs[(n + k) % 2]
                sends.append(web.post("workflow_run", payload, delivery_id=delivery))
        responses = await asyncio.gather(*sends)
        assert all(r.status in (200, 202) for r in responses)
        for web in webs:
            await web.ctx.dispatcher.drain()

        first = await start_worker("worker-a", agent, pg_url)
        second = await start_worker("worker-b", agent, pg_url)

        def started_by(worker: Worker) -> list[Path]:
            return list(marks.glob(f"started-{worker.pid}-*"))

        async def first_is_mid_iteration() -> bool:
            return bool(started_by(first))

        await until("worker A to start an iteration", first_is_mid_iteration)
        first.process.send_signal(signal.SIGKILL)
        await first.process.wait()
        # What the dead worker held mid-iteration (its lease names its pid): with two
        # jobs at once, a second loop may be mid-checkout, before its agent started.
        held = {
            loop.id
            for loop in await store.active_loops()
            if loop.state is LoopState.FIXING and (loop.lease_owner or "").endswith(f"-{first.pid}")
        }
        (marks / "go").touch()

        async def all_published() -> bool:
            loops = await store.recent_loops(limit=1000)
            return len(loops) == FAILURES and all(
                loop.state is LoopState.AWAITING_CI for loop in loops
            )

        await until("every loop to publish a fix", all_published)

        async def queue_drained() -> bool:
            states = await job_states(store)
            return not states.get("todo") and not states.get("doing")

        await until("the job queue to drain", queue_drained)

        loops = await store.recent_loops(limit=1000)
        assert len(loops) == FAILURES
        assert await store.count_loops() == {"awaiting_ci": FAILURES}
        assert {loop.run_id for loop in loops} == {run["id"] for run in runs}

        # At most one PR per loop, each from its own fix branch, with one fix commit.
        pulls = fake_github.pulls(REPO)
        assert len(pulls) == FAILURES
        assert sorted(p.number for p in pulls) == sorted(loop.pr_number for loop in loops)
        for loop in loops:
            assert loop.fix_sha is not None
            assert fake_github.ref(REPO, f"heads/{loop.fix_branch}") == loop.fix_sha
            assert fake_github.repo(REPO).objects.commit(loop.fix_sha).parents == (loop.head_sha,)
            assert loop.head_sha == heads[branches.index(loop.branch)]
            assert fake_github.read_tree(REPO, loop.fix_sha)["calc.py"] == FIXED.encode()
            assert loop.lease_owner is None

        # The killed worker's iterations were taken over and finished by the other.
        statuses = {loop.id: [i.status for i in await store.iterations(loop.id)] for loop in loops}
        taken_over = [loop_id for loop_id, seen in statuses.items() if seen[0] == "interrupted"]
        assert set(taken_over) == held
        assert len(held) >= len(started_by(first)) > 0
        for loop_id in taken_over:
            assert statuses[loop_id] == ["interrupted", "published"]
            kinds = [e.kind for e in await store.events(loop_id)]
            assert kinds.count("interrupted") == 1 and kinds.count("published") == 1
        assert all(
            seen == ["published"] for loop_id, seen in statuses.items() if loop_id not in taken_over
        )
        assert second.process.returncode is None  # the survivor did it all, and is still up

        # Nothing lost, nothing doubled: no job failed, each delivery recorded once, all done.
        states = await job_states(store)
        assert states.get("failed", 0) == 0 and states.get("succeeded", 0) >= FAILURES
        deliveries = await store._conn.fetchall("SELECT outcome FROM deliveries")
        assert len(deliveries) == FAILURES * (DELIVERIES_PER_FAILURE // 2 + 1)
        assert all(d["outcome"] is not None for d in deliveries)
    finally:
        await store.close()


RESTART_FAILURES = 6


async def test_a_postgresql_restart_mid_fix_converges_without_restarting_anything(
    app_harness: HarnessFactory,
    start_worker: StartWorker,
    fake_github: FakeGitHub,
    private_pg: PrivateCluster,
    tmp_path: Path,
) -> None:
    """``pg_ctl restart -m fast`` while workers are mid-iteration: every connection is cut.

    Nothing is restarted afterwards, and still every loop publishes its fix, none
    escalates, no job is left failed or stuck, and every delivery is finished;
    while the database is down the intake answers 503 with ``Retry-After``.
    """
    from app.store.postgres import open_postgres_store

    url = private_pg.url
    marks, agent = gated_agent(tmp_path)

    webs = [await app_harness(database_url=url) for _ in range(2)]
    store = await open_postgres_store(url)
    try:
        branches = [f"release-{n}" for n in range(RESTART_FAILURES)]
        files = {"calc.py": CALC, "tests/test_calc.py": "from calc import add\n"}
        webs[0].seed_repo(files, config=f"branches: [{', '.join(branches)}]\n")
        heads = [fake_github.commit(REPO, b, {"notes.txt": f"{b}\n"}) for b in branches]
        runs = [
            fake_github.add_workflow_run(
                REPO, head_sha=heads[n], head_branch=branches[n], workflow_id=100 + n,
                name=f"CI {n}", path=f".github/workflows/ci{n}.yml",
                jobs=[FakeJob("test", "failure", steps=[("Run pytest", "failure")], log=LOG)],
            )
            for n in range(RESTART_FAILURES)
        ]  # fmt: skip
        for n, run in enumerate(runs):
            response = await webs[n % 2].post("workflow_run", webs[0].payload(run))
            assert response.status == 202
        for web in webs:
            await web.ctx.dispatcher.drain()
        workers = [await start_worker(f"worker-{n}", agent, url) for n in range(2)]

        async def mid_iteration() -> bool:
            return len(list(marks.glob("started-*"))) >= 2

        await until("two iterations to be running", mid_iteration)
        private_pg.restart()  # every connection of every process is cut
        (marks / "go").touch()

        async def converged() -> bool:
            try:
                loops = await store.recent_loops(limit=100)
                states = await job_states(store)
            except StoreUnavailable:
                return False
            return (
                len(loops) == RESTART_FAILURES
                and all(loop.state is LoopState.AWAITING_CI for loop in loops)
                and not states.get("todo")
                and not states.get("doing")
            )

        await until("every loop to publish its fix after the restart", converged)
        loops = await store.recent_loops(limit=100)
        assert {loop.state for loop in loops} == {LoopState.AWAITING_CI}  # none escalated
        assert all(loop.lease_owner is None for loop in loops)
        assert len(fake_github.pulls(REPO)) == RESTART_FAILURES
        assert fake_github.issues(REPO) == []  # no escalation issue
        for loop in loops:
            assert fake_github.ref(REPO, f"heads/{loop.fix_branch}") == loop.fix_sha
        states = await job_states(store)
        assert states.get("failed", 0) == 0
        deliveries = await store._conn.fetchall("SELECT outcome FROM deliveries")
        assert len(deliveries) == RESTART_FAILURES
        assert {d["outcome"] for d in deliveries} == {"processed"}
        assert all(w.process.returncode is None for w in workers)  # no process restarted

        # While the database is down, a delivery is refused with 503, not lost as a 500.
        private_pg.stop()
        try:
            refused = await webs[0].post("ping", {"zen": "hi", "hook_id": 1}, delivery_id="down")
            assert refused.status == 503
            assert refused.headers["Retry-After"] == "5"
        finally:
            private_pg.start()
        accepted = await webs[0].post("ping", {"zen": "hi", "hook_id": 1}, delivery_id="down")
        assert accepted.status == 202  # GitHub's redelivery once it is back
    finally:
        await store.close()


async def test_a_loop_scheduled_many_times_waits_as_one_job(pg_url: str) -> None:
    from app.loop.jobs import JobScheduler

    schedulers = [JobScheduler(pg_url) for _ in range(3)]
    try:
        await asyncio.gather(*(s.schedule(loop_id) for s in schedulers for loop_id in (5, 5, 6)))
        summary = await schedulers[0].summary()
        assert summary.queued == 2  # loop 5 once, loop 6 once
        assert summary.running == () and summary.failed == 0
        assert summary.to_dict() == {"queued": 2, "running": [], "failed": 0}
    finally:
        await asyncio.gather(*(s.close() for s in schedulers))


async def test_a_worker_without_database_url_says_what_to_set(tmp_path: Path) -> None:
    from tests.fakes.github.auth import generate_private_key_pem

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "APP_ID": "1",
        "PRIVATE_KEY": generate_private_key_pem(),
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FIXER": "none",  # everything else is in order: only the database is missing
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "worker",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "DATABASE_URL is not set" in stderr.decode()
    assert "Traceback" not in stderr.decode()


def test_a_stall_timeout_shorter_than_three_heartbeats_is_refused() -> None:
    from app.worker import WorkerOptions

    with pytest.raises(ValueError, match="at least three heartbeats"):
        WorkerOptions(heartbeat_s=10.0, stalled_after_s=20.0)
