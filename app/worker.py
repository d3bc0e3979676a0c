"""``python -m app worker``: one process that works fix loops off the PostgreSQL job queue.

Run as many as the load needs, beside any number of web instances
(``python -m app serve``) sharing the same ``DATABASE_URL``.  Each worker runs
up to ``MAX_CONCURRENT_FIXES`` jobs at once and, besides working them, keeps
the queue healthy: it retries the jobs of workers whose heartbeat stopped
(killed, lost) and re-schedules queued loops that have no job (a web instance
died between opening a loop and deferring its job).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import procrastinate
import psycopg
from aiohttp import web
from procrastinate.exceptions import ConnectorException

from app.admin.status import metrics_from_store
from app.assemble import GITHUB_TIMEOUT, build_engine
from app.core.metrics import Metrics
from app.core.redact import Redactor
from app.loop.engine import Engine
from app.loop.jobs import CLOCK_KEY, ENGINE_KEY, QUEUE, JobScheduler
from app.loop.runner import unclaimed_loops
from app.settings import Settings
from app.store.base import Store
from app.store.open import open_store

log = logging.getLogger(__name__)
# The port Prometheus exporters commonly use; METRICS_PORT or --metrics-port change it.
DEFAULT_METRICS_PORT = 9464


@dataclass(frozen=True)
class WorkerOptions:
    """How many jobs at once, how often to look for jobs, when a silent worker is dead.

    New jobs arrive by LISTEN/NOTIFY; ``poll_s`` bounds the wait for the ones
    no notification announces (a retried job, one waiting on its loop's lock).
    ``stalled_after_s`` must comfortably exceed ``heartbeat_s``: a live worker
    taken for dead would have its loop taken over while it still works on it.
    """

    concurrency: int = 2
    poll_s: float = 5.0
    heartbeat_s: float = 10.0
    stalled_after_s: float = 60.0
    metrics_port: int = DEFAULT_METRICS_PORT  # 0: any free port (logged)

    def __post_init__(self) -> None:
        if self.stalled_after_s < 3 * self.heartbeat_s:
            raise ValueError(
                f"stalled_after_s={self.stalled_after_s} must be at least three heartbeats "
                f"({3 * self.heartbeat_s}s): otherwise a busy worker may be taken for dead"
            )


async def run_worker(
    settings: Settings,
    options: WorkerOptions,
    *,
    clock: Callable[[], float] = time.time,
    redactor: Redactor | None = None,
) -> None:
    """Work loop jobs until SIGINT/SIGTERM, then let running jobs finish."""
    if not settings.database_url:
        raise ValueError(
            "DATABASE_URL is not set: workers share loops through PostgreSQL. Set DATABASE_URL "
            "(the same for every web instance and worker), or run `python -m app serve` alone, "
            "which works loops in-process."
        )
    store = await open_store(settings)
    scheduler = JobScheduler(settings.database_url)
    session = aiohttp.ClientSession(timeout=GITHUB_TIMEOUT)
    metrics = Metrics()
    engine = build_engine(
        settings,
        store=store,
        session=session,
        metrics=metrics,
        clock=clock,
        scheduler=scheduler,
        worker_id=f"{socket.gethostname()}-{os.getpid()}",
        redactor=redactor,
    ).engine
    upkeep = asyncio.create_task(keep_queue_healthy(store, scheduler, options), name="upkeep")
    metrics_site = await serve_metrics(metrics, store, settings.host, options.metrics_port, clock)
    try:
        app = await scheduler.app()
        log.info("worker %s: up to %s jobs at once", engine.worker_id, options.concurrency)
        await run_jobs(app, engine, options, clock)
    finally:
        upkeep.cancel()
        await asyncio.gather(upkeep, return_exceptions=True)
        await metrics_site.cleanup()
        await engine.close()  # closes the scheduler
        await session.close()
        await store.close()


async def serve_metrics(
    metrics: Metrics, store: Store, host: str, port: int, clock: Callable[[], float]
) -> web.AppRunner:
    """``GET /metrics`` of this worker: its fixer durations and GitHub calls, the store's rates.

    Several workers on one machine cannot share a port: when ``port`` is taken the
    worker takes a free one and logs it, rather than refusing to work.
    """

    async def endpoint(_: web.Request) -> web.Response:
        body = await metrics_from_store(metrics, store, clock())
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", endpoint)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError as exc:
        log.warning("metrics port %s is not free (%s): using another one", port, exc.strerror)
        site = web.TCPSite(runner, host, 0)
        await site.start()
    ports = [address[1] for address in runner.addresses if isinstance(address, tuple)]
    log.info("worker metrics at http://%s:%s/metrics", host, ports[0] if ports else port)
    return runner


async def run_jobs(
    app: procrastinate.App, engine: Engine, options: WorkerOptions, clock: Callable[[], float]
) -> None:
    """Run procrastinate's worker until a signal stops it, through database outages.

    When the database restarts, procrastinate's worker stops (a connector error,
    or a side task such as LISTEN losing its connection); this starts it again
    (with backoff) in the same process, so no process has to be restarted.
    Jobs it was running are found stalled and retried, and their loops taken
    back by this same worker.
    """
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        running.add_signal_handler(signum, stop.set)
    wait = 1.0
    try:
        while not stop.is_set():
            worker = asyncio.create_task(
                app.run_worker_async(
                    queues=[QUEUE],
                    name=engine.worker_id,
                    concurrency=options.concurrency,
                    fetch_job_polling_interval=options.poll_s,
                    additional_context={ENGINE_KEY: engine, CLOCK_KEY: clock},
                    update_heartbeat_interval=options.heartbeat_s,
                    stalled_worker_timeout=options.stalled_after_s,
                    # shutdown_graceful_timeout left at its default (none): a stopping
                    # worker finishes its jobs; one killed meanwhile has them retried by
                    # another worker once its heartbeat goes stale.
                    install_signal_handlers=False,
                ),
                name="procrastinate-worker",
            )
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                worker.cancel()  # procrastinate stops gracefully: running jobs finish first
                await asyncio.gather(worker, return_exceptions=True)
                return
            stopping.cancel()
            try:
                worker.result()
                # Not asked to stop: procrastinate stopped itself because a side task
                # (the LISTEN connection, the heartbeat) lost the database.
                reason = "a connection of the worker was lost"
            except (ConnectorException, psycopg.OperationalError) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            log.warning("the job queue's database went away (%s); resuming in %.0fs",
                        reason, wait)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            wait = min(30.0, wait * 2)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            running.remove_signal_handler(signum)


async def keep_queue_healthy(store: Store, scheduler: JobScheduler, options: WorkerOptions) -> None:
    """Every half stall-period: retry dead workers' jobs, re-schedule job-less queued loops."""
    while True:
        try:
            await scheduler.retry_stalled(stalled_after_s=options.stalled_after_s)
            for loop in await unclaimed_loops(store):
                await scheduler.schedule(loop.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The database may be briefly unreachable; the next round tries again.
            log.exception("queue upkeep failed; retrying in %ss", options.stalled_after_s / 2)
        await asyncio.sleep(options.stalled_after_s / 2)
