"""Who works queued loops, and the one way a worker claims one.

A loop is worked only by the holder of its lease (``lease_owner`` and
``lease_until`` on the loop row), taken by ``claim``: the in-process
``LocalRunner`` (SQLite, or PostgreSQL without workers) claims the next queued
loop; a procrastinate job (``app.loop.jobs``) claims the loop it was deferred
for.  Both then call ``Engine.work_claimed``, which releases the lease.

``recover`` is what a starting process does about loops a dead one held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from app.core.errors import StoreUnavailable
from app.loop.engine import Engine
from app.loop.ports import Scheduler
from app.store.base import Store
from app.store.records import Loop, LoopState

log = logging.getLogger(__name__)

# How long a claim on a loop lasts; an expired lease is taken to be a dead process's.
LEASE_S = 3 * 3600.0


async def claim(store: Store, *, owner: str, now: float, loop_id: int | None = None) -> Loop | None:
    """Take the lease of a queued loop (``loop_id``, or the one waiting longest)."""
    return await store.claim_loop(
        states=[LoopState.QUEUED], owner=owner, lease_s=LEASE_S, now=now, loop_id=loop_id
    )


async def unclaimed_loops(store: Store) -> list[Loop]:
    """Queued loops no worker holds: what a worker may claim, or a scheduler must hand out."""
    return [
        loop
        for loop in await store.active_loops()
        if loop.state is LoopState.QUEUED and loop.lease_owner is None
    ]


async def recover(engine: Engine, *, sole_worker: bool) -> None:
    """After a crash: loops whose worker died mid-iteration are retried or failed.

    A loop left ``fixing`` had an iteration interrupted; ``Engine.recover_loop``
    marks it so and queues it again (the retry reconciles with the fix branch,
    so a commit the dead worker already pushed is adopted, not pushed twice).
    ``sole_worker``: this process is the only one working loops (the embedded
    store), so every lease left from before the start is a dead process's.
    """
    await engine.expire_stale_waits()
    now = engine.now()
    for loop in await engine.store.active_loops():
        if loop.lease_owner is None:
            # Only a worker that was cancelled mid-fix leaves ``fixing`` unleased.
            if loop.state is LoopState.FIXING:
                await engine.recover_loop(loop)
            continue
        expired = loop.lease_until is None or loop.lease_until < now
        if expired or sole_worker:
            await engine.recover_loop(loop)


async def hand_out(engine: Engine, scheduler: Scheduler) -> None:
    """A web instance's start when workers elsewhere work loops.

    Recover what a stopped instance left, and re-schedule queued loops that
    have no job (one deferred while the queue was unreachable, say).
    """
    await recover(engine, sole_worker=False)
    for loop in await unclaimed_loops(engine.store):
        await scheduler.schedule(loop.id)


class LocalRunner:
    """Works queued loops in this process, at most ``concurrency`` at a time.

    It is the engine's ``Scheduler`` when there is no job queue: ``schedule``
    only wakes the claim loop, which then claims from the store, so a loop
    queued by any path (an event, a retry, a restart) is found the same way.
    """

    def __init__(
        self,
        store: Store,
        *,
        concurrency: int,
        clock: Callable[[], float],
        sole_worker: bool,
    ) -> None:
        self._store = store
        self._sole_worker = sole_worker
        self._clock = clock
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._claim: asyncio.Future[Loop | None] | None = None

    async def schedule(self, loop_id: int) -> None:
        self.wake()

    async def close(self) -> None:
        """Nothing to let go: the runner's tasks end in ``shutdown``."""

    def wake(self) -> None:
        self._wake.set()

    async def run(self, engine: Engine) -> None:
        """Recover, then claim and work queued loops until ``shutdown``."""
        await recover(engine, sole_worker=self._sole_worker)
        while not self._stopping:
            await self._slots.acquire()
            # Cleared before claiming: a wake() that arrives during the claim is kept.
            self._wake.clear()
            self._claim = asyncio.ensure_future(
                claim(self._store, owner=engine.worker_id, now=self._clock())
            )
            try:
                loop = await self._claim
            finally:
                self._claim = None
            if loop is None:
                self._slots.release()
                await self._wake.wait()
                continue
            task = asyncio.create_task(self._work(engine, loop), name=f"loop-{loop.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _work(self, engine: Engine, loop: Loop) -> None:
        try:
            await engine.work_claimed(loop)
        finally:
            self._slots.release()

    async def keep_time(self, engine: Engine, *, every_s: float = 60.0) -> None:
        """The in-process timer: deadlines (the CI-wait timeout) fire on time, not on
        the next webhook.  Scaled out, a procrastinate periodic job does this."""
        while not self._stopping:
            await asyncio.sleep(every_s)
            try:
                await engine.expire_stale_waits(force=True)
            except StoreUnavailable as exc:
                log.warning("deadline check skipped: %s", exc)

    async def shutdown(self) -> None:
        self._stopping = True
        self.wake()
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def idle(self, max_idle_turns: int = 1000) -> None:
        """Wait until this process works no loop and has none left to claim (tests, bench).

        If queued loops stay unclaimed for ``max_idle_turns`` event-loop turns,
        the runner's task is not running: that is raised rather than waited on
        forever.
        """
        turns = 0
        while True:
            while self._running or self._claim is not None:
                turns = 0
                pending: list[asyncio.Future[Any]] = [*self._running]
                if self._claim is not None:
                    pending.append(self._claim)
                await asyncio.gather(*pending, return_exceptions=True)
            claimable = await unclaimed_loops(self._store)
            if not claimable:
                return
            turns += 1
            if turns > max_idle_turns:
                raise RuntimeError(f"{len(claimable)} queued loop(s) but no worker claims them")
            self.wake()
            await asyncio.sleep(0)
