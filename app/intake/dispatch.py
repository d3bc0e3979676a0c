"""Runs accepted deliveries through the router, off the request path.

A delivery is written to the store before GitHub gets its 202, and marked
done after its handlers ran; on start-up the ones a crash interrupted are
replayed.  So a delivery is processed at most once per id, and none that was
acknowledged is lost.

Accepted deliveries wait in a bounded queue for a fixed number of workers, so
a burst costs the door no more than one queue entry each, and memory stays
bounded however long the burst: past ``QUEUE_SIZE`` a delivery waits in the
store only (it is recorded there anyway) and is swept back into the queue,
oldest first, once the workers have made room.

The door comes first. Once ``DOOR_BUSY`` or more deliveries were at the door at
once (being recorded), the door counts as busy for ``BUSY_HOLD_S``; while it is,
a worker waits before it takes the next delivery, but never longer than
``DEFER_S``: under a burst GitHub's requests are answered at the rate the door
alone allows, handlers still run (at least ``WORKERS / DEFER_S`` a second), and
the backlog, recorded in the store, is worked off when the burst ends. A steady
stream, however busy, rarely has several deliveries at the door at once, so it
is handled as it comes.

A delivery no handler consumes (most of them: a workflow run alone sends
``requested`` and ``in_progress`` before ``completed``) is recorded finished in
one small write, without its body: there is nothing to replay.  A handled
delivery keeps what its handlers read (a ``workflow_run``: its replay shape,
about 700 bytes; other events: the whole body) in a table of its own until it
is processed, and then that row is deleted, so nothing of it remains in the file.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from gidgethub import routing, sansio

from app.core.errors import StoreUnavailable
from app.core.logctx import log_context
from app.core.metrics import Metrics
from app.intake.body import Body, projector
from app.intake.payloads import Envelope, Shape
from app.store.base import Store

log = logging.getLogger(__name__)

IGNORED = "ignored"
MAX_HANDLER_ATTEMPTS = 3  # a handler failing this often is parked, not replayed forever
MAX_OUTAGE_RETRIES = 12  # store outages waited out (about 5 minutes in all) before giving up
QUEUE_SIZE = 1000  # accepted deliveries waiting in memory; more wait in the store
WORKERS = 16  # deliveries processed at once (handlers mostly wait on GitHub)
DOOR_BUSY = 4  # deliveries being recorded at once that make workers defer to the door
BUSY_HOLD_S = 0.02  # how long the door counts as busy after that was last seen
DEFER_S = 0.25  # the longest a worker defers to the door before each delivery


def _backoff(attempt: int) -> float:
    """1, 2, 4, ... seconds, at most 30."""
    return float(min(30, 2 ** (attempt - 1)))


class Dispatcher:
    def __init__(
        self,
        *,
        router: routing.Router,
        store: Store,
        metrics: Metrics,
        context: Any,
        clock: Callable[[], float],
        sleeper: Callable[[float], Awaitable[None]] = asyncio.sleep,
        replay_shapes: Mapping[str, Shape] | None = None,
        workers: int = WORKERS,
        queue_size: int = QUEUE_SIZE,
        door_busy: int = DOOR_BUSY,
        busy_hold_s: float = BUSY_HOLD_S,
        defer_s: float = DEFER_S,
    ) -> None:
        self._door_busy, self._busy_hold_s, self._defer_s = door_busy, busy_hold_s, defer_s
        self._keep = {event: projector(shape) for event, shape in (replay_shapes or {}).items()}
        self._sleeper = sleeper
        self._router = router
        self._store = store
        self._metrics = metrics
        self._context = context
        self._clock = clock
        self._queue: asyncio.Queue[sansio.Event] = asyncio.Queue(queue_size)
        self._held: set[str] = set()  # ids queued or being processed here
        self._workers: list[asyncio.Task[None]] = []
        self._worker_count = workers
        # Some accepted deliveries wait in the store only (the queue was full).
        self._behind = False
        self._sweeping: asyncio.Task[int] | None = None
        # Finished while a sweep reads the store: the sweep may have listed them.
        self._finished: set[str] = set()
        self._at_door = 0  # deliveries being recorded right now
        self._busy_until = 0.0  # time.monotonic() until which the door counts as busy

    async def accept(self, probe: sansio.Event, body: Body, raw: bytes) -> bool:
        """Record the delivery durably and start it; False when this id was already accepted.

        ``probe`` carries the checked envelope only, enough to route by.  A
        delivery no handler takes is recorded without its body.  One that is
        handled keeps what its handlers read: for an event with a replay shape
        that is all they are given, here and after a restart alike (a 20 KB
        ``workflow_run`` body becomes under 1 KB, and writing bodies was most of
        what intake cost); other events keep their whole body.  The HTTP answer
        does not wait for the handlers, which run in the background.
        """
        self._at_door += 1
        if self._at_door >= self._door_busy:
            self._busy_until = time.monotonic() + self._busy_hold_s
        try:
            return await self._record(probe, body, raw)
        finally:
            self._at_door -= 1

    async def _record(self, probe: sansio.Event, body: Body, raw: bytes) -> bool:
        if not self._router.fetch(probe):
            return await self._ignore(probe)
        keep = self._keep.get(probe.event)
        if keep is None:
            data, kept = body.whole(), raw
        else:
            data = body.project(keep)
            kept = orjson.dumps(data)
        if not await self._store.add_delivery(probe.delivery_id, probe.event, kept, self._clock()):
            return False
        self._start(sansio.Event(data, event=probe.event, delivery_id=probe.delivery_id))
        return True

    async def _ignore(self, event: sansio.Event) -> bool:
        # One small write: recorded finished, the body never stored.
        if not await self._store.add_delivery(
            event.delivery_id, event.event, None, self._clock(), outcome=IGNORED
        ):
            return False
        self._metrics.deliveries.labels(event.event, IGNORED).inc()
        if log.isEnabledFor(logging.DEBUG):
            # Two deliveries in three are of no use to any handler (a workflow
            # run's ``requested`` and ``in_progress``): the metric counts them,
            # the store keeps their ids, and a line each is only worth DEBUG.
            with log_context(delivery_id=event.delivery_id, event=event.event):
                log.debug("delivery %s.%s %s", event.event, event.data.get("action"), IGNORED)
        return True

    def _start(self, event: sansio.Event) -> None:
        """Queue an accepted delivery for the workers; when the queue is full it
        waits in the store, where it is recorded already, and is swept later."""
        if event.delivery_id in self._held:
            return
        if self._queue.full():
            self._behind = True
            return
        self._held.add(event.delivery_id)
        self._queue.put_nowait(event)
        if len(self._workers) < self._worker_count:
            self._workers.append(
                asyncio.create_task(self._work(), name=f"deliveries-{len(self._workers)}")
            )

    async def _door_first(self) -> None:
        """While the door is busy, wait for it to calm down, at most ``DEFER_S``."""
        now = time.monotonic()
        deadline = now + self._defer_s
        while now < min(self._busy_until, deadline):
            await asyncio.sleep(min(self._busy_until, deadline) - now)
            now = time.monotonic()

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            await self._door_first()
            try:
                await self.process(event)
            except Exception:  # process settles every failure itself; this is a last guard
                log.exception("processing delivery %s failed", event.delivery_id)
            finally:
                self._held.discard(event.delivery_id)
                if self._sweeping is not None and not self._sweeping.done():
                    self._finished.add(event.delivery_id)
                self._queue.task_done()
            if self._behind and self._queue.qsize() <= self._queue.maxsize // 2:
                self._sweep_soon()

    def _sweep_soon(self) -> asyncio.Task[int]:
        """The sweep under way, or a new one: one at a time, always as this task (a
        worker finishing meanwhile knows to tell it, see ``_finished``)."""
        if self._sweeping is None or self._sweeping.done():
            self._sweeping = asyncio.create_task(self._sweep(), name="deliveries-sweep")
        return self._sweeping

    async def _sweep(self) -> int:
        """Queue deliveries that wait in the store, oldest first, as many as fit."""
        self._behind = False
        room = self._queue.maxsize - self._queue.qsize()
        if room <= 0:
            self._behind = True
            return 0
        wanted = room + len(self._held)  # the held ones are listed too, and skipped
        self._finished.clear()
        try:
            pending = await self._store.unfinished_deliveries(limit=wanted)
        except StoreUnavailable as exc:
            self._behind = True  # tried again when a worker next finishes
            log.warning("unfinished deliveries not read: %s", exc)
            return 0
        queued = 0
        for delivery_id, event_name, body in pending:
            if delivery_id in self._held or delivery_id in self._finished:
                continue
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                await self._store.finish_delivery(delivery_id, "failed: unreadable body")
                continue
            self._start(sansio.Event(data, event=event_name, delivery_id=delivery_id))
            queued += 1
        if len(pending) >= wanted:
            self._behind = True  # there may be more
        return queued

    async def process(self, event: sansio.Event) -> None:
        """Run the delivery's handlers until they succeed, a bounded number of times.

        A handler that raises is tried again after a backoff, up to
        ``MAX_HANDLER_ATTEMPTS`` times over restarts (the count is stored);
        then the delivery is parked as ``failed: ...`` (shown by ``/status``)
        instead of failing at every start.  The store being unreachable is not
        the handler's fault: that is waited out with backoff, uncounted, so an
        acknowledged delivery converges once the database is back.
        """
        envelope = Envelope.check(event.event, event.delivery_id, event.data)
        action = envelope.action if isinstance(envelope, Envelope) else None
        repo = envelope.repo if isinstance(envelope, Envelope) else None
        with log_context(delivery_id=event.delivery_id, event=event.event, repo=repo):
            if isinstance(envelope, str):
                await self._settle(event, action, f"failed: {envelope}")
                return
            outages = 0
            while True:
                try:
                    await self._router.dispatch(event, self._context)
                except StoreUnavailable as exc:
                    outages += 1
                    if outages > MAX_OUTAGE_RETRIES:
                        # Left unfinished: the next start (or GitHub's redelivery) retries it.
                        log.warning("delivery %s.%s left for later: %s", event.event, action, exc)
                        return
                    log.warning("store unavailable handling %s.%s (%s); retrying",
                                event.event, action, exc)  # fmt: skip
                    await self._sleeper(_backoff(outages))
                    continue
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {str(exc)[:200]}"
                    failures = await self._count_failure(event.delivery_id, reason)
                    if failures is None:
                        return  # the store went away too: left unfinished for later
                    if failures >= MAX_HANDLER_ATTEMPTS:
                        log.exception("handling %s.%s failed %s times: parked",
                                      event.event, action, failures)  # fmt: skip
                        await self._settle(event, action, f"failed: {reason}")
                        return
                    log.warning(
                        "handling %s.%s failed (%s); attempt %s of %s",
                        event.event, action, reason, failures, MAX_HANDLER_ATTEMPTS,
                    )  # fmt: skip
                    await self._sleeper(_backoff(failures))
                    continue
                await self._settle(event, action, "processed")
                return

    async def _count_failure(self, delivery_id: str, reason: str) -> int | None:
        try:
            return await self._store.count_delivery_failure(delivery_id, reason)
        except StoreUnavailable:
            return None

    async def _settle(self, event: sansio.Event, action: str | None, outcome: str) -> None:
        """Record how the delivery ended; while the store is away, keep trying a while."""
        for outage in range(MAX_OUTAGE_RETRIES + 1):
            try:
                await self._store.finish_delivery(event.delivery_id, outcome)
                break
            except StoreUnavailable:
                if outage == MAX_OUTAGE_RETRIES:
                    return  # replayed at the next start; handling it again is idempotent
                await self._sleeper(_backoff(outage + 1))
        self._metrics.deliveries.labels(event.event, outcome.split(":")[0]).inc()
        log.info("delivery %s.%s %s", event.event, action, outcome)

    async def replay_unfinished(self) -> int:
        """Queue deliveries accepted before a crash but never finished; how many."""
        queued = await self._sweep_soon()
        if queued:
            log.info("replaying %d deliveries a restart interrupted", queued)
        return queued

    async def drain(self) -> None:
        """Wait until every accepted delivery is processed (graceful shutdown, and tests).

        Deliveries that wait in the store are swept in as room appears; one the
        store cannot give back now (it is unreachable) is left for the next start.
        """
        while True:
            await self._queue.join()
            if self._sweeping is not None and not self._sweeping.done():
                await self._sweeping
                continue
            swept = await self._sweep_soon() if self._behind else 0
            if not swept and self._queue.empty() and not self._held:
                return

    async def close(self) -> None:
        """Stop the workers (after :meth:`drain`)."""
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
