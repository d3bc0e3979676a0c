"""Fix jobs on procrastinate, the PostgreSQL task queue the scale-out mode uses.

With ``DATABASE_URL`` set, a web instance does not work loops itself: when a
loop becomes ``queued`` it defers one ``work_loop`` job, and ``python -m app
worker`` processes run them.  Every job of a loop carries the lock
``loop-<id>``: procrastinate never starts a job while another with the same
lock is running, so one loop's iterations never run in parallel, and the
queueing lock of the same name collapses duplicate deferrals into the one job
already waiting.  A job that raises is retried with exponential backoff; a job
whose worker died (SIGKILL, lost machine) is found by its stale heartbeat and
retried by any other worker, which takes the loop back from the dead one's
lease (``Engine.recover_loop``) before working it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from procrastinate.jobs import Status

from app.loop.engine import Engine
from app.loop.runner import claim

log = logging.getLogger(__name__)

TASK_NAME = "work_loop"
QUEUE = "loops"
ENGINE_KEY = "engine"
CLOCK_KEY = "clock"
RETRY = RetryStrategy(max_attempts=5, exponential_wait=2)
# Taken (transaction-scoped) while installing the job tables, so instances
# starting together never run the DDL twice.
SCHEMA_LOCK_KEY = 0x0C1F1C5_0002


def loop_lock(loop_id: int) -> str:
    return f"loop-{loop_id}"


async def work_loop(context: JobContext, loop_id: int) -> None:
    """The job: take loop ``loop_id`` if it is queued, and move it as far as it goes."""
    engine: Engine = context.additional_context[ENGINE_KEY]
    clock: Callable[[], float] = context.additional_context[CLOCK_KEY]
    loop = await engine.store.get_loop(loop_id)
    if loop is None or loop.state.terminal:
        return
    if loop.lease_owner is not None:
        # This job holds the loop's lock, so no other job of this loop runs:
        # the lease is left by a worker that died or a job that failed.
        log.warning("loop %s: taking over from %s", loop_id, loop.lease_owner)
        await engine.recover_loop(loop)
    claimed = await claim(engine.store, owner=engine.worker_id, now=clock(), loop_id=loop_id)
    if claimed is None:
        return  # parked, ended or already moved on by an earlier job
    await engine.work_claimed(claimed)


def build_job_app(database_url: str, *, max_connections: int = 4) -> App:
    """A procrastinate App with the ``work_loop`` task, not yet opened."""
    app = App(connector=PsycopgConnector(conninfo=database_url, max_size=max_connections))
    app.task(name=TASK_NAME, queue=QUEUE, pass_context=True, retry=RETRY)(work_loop)
    return app


async def install_job_schema(database_url: str) -> bool:
    """Create procrastinate's tables unless they exist; True when this call created them."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cursor.fetchone()
        if row is not None and row[0]:
            return False
        await conn.execute(App(connector=PsycopgConnector()).schema_manager.get_schema())
        return True


@dataclass(frozen=True)
class RunningJob:
    loop_id: int
    worker: str | None
    attempts: int


@dataclass(frozen=True)
class JobsSummary:
    """What ``/status`` shows of the job queue."""

    queued: int
    running: tuple[RunningJob, ...]
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "running": [
                {"loop_id": j.loop_id, "worker": j.worker, "attempts": j.attempts}
                for j in self.running
            ],
            "failed": self.failed,
        }


class JobScheduler:
    """The engine's ``Scheduler`` in scale-out mode: defers one job per queued loop.

    The job App is opened on first use, so a web instance that never queues a
    loop never connects twice, and ``close`` is safe to call either way.
    """

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._app: App | None = None
        self._opening = asyncio.Lock()

    async def app(self) -> App:
        async with self._opening:
            if self._app is None:
                await install_job_schema(self._url)
                app = build_job_app(self._url)
                await app.open_async()
                self._app = app
            return self._app

    async def schedule(self, loop_id: int) -> None:
        app = await self.app()
        lock = loop_lock(loop_id)
        try:
            await (
                app.tasks[TASK_NAME]
                .configure(lock=lock, queueing_lock=lock)
                .defer_async(loop_id=loop_id)
            )
        except AlreadyEnqueued:
            log.debug("loop %s already has a job waiting", loop_id)

    async def retry_stalled(self, *, stalled_after_s: float) -> int:
        """Put back the running jobs of workers silent for ``stalled_after_s``; how many."""
        app = await self.app()
        stalled = list(
            await app.job_manager.get_stalled_jobs(
                task_name=TASK_NAME, seconds_since_heartbeat=stalled_after_s
            )
        )
        for job in stalled:
            log.warning("job %s (%s) lost its worker: retrying", job.id, job.task_kwargs)
            try:
                await app.job_manager.retry_job(job)
            except UniqueViolation:
                # A job for the same loop already waits (its queueing lock allows one):
                # end the dead one, and the waiting one, holding the lock next, takes over.
                await app.job_manager.finish_job(job, status=Status.ABORTED, delete_job=False)
        return len(stalled)

    async def summary(self) -> JobsSummary:
        app = await self.app()
        rows = await app.connector.execute_query_all_async(
            "SELECT j.status, j.args, j.attempts, w.id AS worker_id "
            "FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w ON w.id = j.worker_id "
            "WHERE j.task_name = %(task)s AND j.status IN ('todo', 'doing', 'failed')",
            task=TASK_NAME,
        )
        running = tuple(
            RunningJob(
                loop_id=int(r["args"]["loop_id"]),
                worker=None if r["worker_id"] is None else str(r["worker_id"]),
                attempts=int(r["attempts"]),
            )
            for r in rows
            if r["status"] == "doing"
        )
        return JobsSummary(
            queued=sum(r["status"] == "todo" for r in rows),
            running=running,
            failed=sum(r["status"] == "failed" for r in rows),
        )

    async def close(self) -> None:
        app, self._app = self._app, None
        if app is not None:
            await app.close_async()


async def summary_for(database_url: str) -> JobsSummary:
    """The queue's summary from a short-lived connection (``/status``, the CLI)."""
    scheduler = JobScheduler(database_url)
    try:
        return await scheduler.summary()
    finally:
        await scheduler.close()
