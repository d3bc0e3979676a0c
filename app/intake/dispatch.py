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
from collections.abc import Callable
from typing import Any

import orjson
from gidgethub import routing, sansio

from app.core.logctx import log_context
from app.core.metrics import Metrics
from app.store.base import Store

log = logging.getLogger(__name__)

IGNORED = "ignored"


class Dispatcher:
    def __init__(
        self,
        *,
        router: routing.Router,
        store: Store,
        metrics: Metrics,
        context: Any,
        clock: Callable[[], float],
    ) -> None:
        self._router = router
        self._store = store
        self._metrics = metrics
        self._context = context
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(self, event: sansio.Event, body: bytes) -> bool:
        """Record the delivery durably and start it; False when this id was already accepted.

        The HTTP answer does not wait for the handlers, which run in the background.
        """
        if not self._router.fetch(event):
            return await self._ignore(event)
        if not await self._store.add_delivery(event.delivery_id, event.event, body, self._clock()):
            return False
        self._start(event)
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
        action = event.data.get("action") if isinstance(event.data, dict) else None
        repo = (event.data.get("repository") or {}).get("full_name") if action is not None else None
        with log_context(delivery_id=event.delivery_id, event=event.event, repo=repo):
            try:
                await self._router.dispatch(event, self._context)
            except Exception as exc:
                # Recorded with its cause; the delivery is not retried
                # automatically (GitHub's redelivery is the operator's tool).
                log.exception("handling %s.%s failed", event.event, action)
                outcome = f"error: {type(exc).__name__}"
            else:
                outcome = "processed"
            await self._store.finish_delivery(event.delivery_id, outcome)
            self._metrics.deliveries.labels(event.event, outcome.split(":")[0]).inc()
            log.info("delivery %s.%s %s", event.event, action, outcome)

    async def replay_unfinished(self) -> int:
        """Process deliveries accepted before a crash but never finished."""
        pending = await self._store.unfinished_deliveries()
        for delivery_id, event_name, body in pending:
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                await self._store.finish_delivery(delivery_id, "error: unreadable body")
                continue
            log.info("replaying delivery %s (%s) interrupted by a restart", delivery_id, event_name)
            self._start(sansio.Event(data, event=event_name, delivery_id=delivery_id))
        return len(pending)

    async def drain(self) -> None:
        """Wait for deliveries in progress (graceful shutdown, and tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
