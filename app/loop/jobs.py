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

from app.core.errors import StoreUnavailable
from app.loop.engine import Engine
from app.loop.runner import claim

log = logging.getLogger(__name__)

TASK_NAME = "work_loop"
TIMER_TASK_NAME = "expire_waits"
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
    """The job: take loop ``loop_id`` if it is queued, and move it as far as it goes.

    It never fails for the database being away: the loop is put back in the
    queue (a new job) once the store answers, and this job ends.  A job that
    raised would be retried by procrastinate, and a retry can collide with the
    job already queued for the same loop (its queueing lock), leaving it stuck.
    """
    engine: Engine = context.additional_context[ENGINE_KEY]
    clock: Callable[[], float] = context.additional_context[CLOCK_KEY]
    try:
        loop = await engine.store.get_loop(loop_id)
        if loop is None or loop.state.terminal:
            return
        if loop.lease_owner is not None and loop.lease_owner != engine.worker_id:
            # This job holds the loop's lock, so no other job of this loop runs:
            # the lease is left by a worker that died.
            log.warning("loop %s: taking over from %s", loop_id, loop.lease_owner)
            await engine.recover_loop(loop)
        elif loop.lease_owner == engine.worker_id:
            # This worker's own lease, left by an outage it lived through (its job was
            # cut off and retried): no one died, so nothing counts against the loop.
            await engine.put_back(loop)
        claimed = await claim(engine.store, owner=engine.worker_id, now=clock(), loop_id=loop_id)
    except StoreUnavailable as exc:
        log.warning("loop %s: store unavailable before the work began (%s)", loop_id, exc)
        await engine.requeue_after_outage(loop_id)
        return
    if claimed is None:
        return  # parked, ended or already moved on by an earlier job
    await engine.work_claimed(claimed)


async def expire_waits(context: JobContext, timestamp: int) -> None:
    """Every minute, on some worker: escalate loops whose CI result never came, on time."""
    engine: Engine = context.additional_context[ENGINE_KEY]
    try:
        await engine.expire_stale_waits(force=True)
    except StoreUnavailable as exc:
        log.warning("deadline check skipped: %s", exc)


def build_job_app(database_url: str, *, max_connections: int = 4) -> App:
    """A procrastinate App with the ``work_loop`` task and the deadline timer, not yet opened."""
    app = App(connector=PsycopgConnector(conninfo=database_url, max_size=max_connections))
    app.task(name=TASK_NAME, queue=QUEUE, pass_context=True, retry=RETRY)(work_loop)
    # procrastinate's periodic deferrer (a side task of every worker) defers it once a
    # minute across all workers; its queueing lock keeps one waiting at most.
    timer = app.task(
        name=TIMER_TASK_NAME, queue=QUEUE, pass_context=True, queueing_lock=TIMER_TASK_NAME
    )(expire_waits)
    app.periodic(cron="* * * * *", periodic_id=TIMER_TASK_NAME)(timer)
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
