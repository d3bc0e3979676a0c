"""Keeps the store small while the app runs: retention, then giving freed space back.

One pass every ``interval_s`` (and one at start-up): delete what the retention
policy no longer keeps, in short batches, then ``incremental_vacuum`` on SQLite
(autovacuum does that part on PostgreSQL).  Several web instances on one
PostgreSQL database may all run it; the deletes are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable

from app.store.base import Store
from app.store.retention import PruneReport, RetentionPolicy

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 300.0


class Housekeeper:
    def __init__(
        self,
        *,
        store: Store,
        policy: RetentionPolicy,
        clock: Callable[[], float],
        sleeper: Callable[[float], Awaitable[None]] = asyncio.sleep,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._sleeper = sleeper
        self._interval_s = interval_s
        self.last: PruneReport | None = None

    async def once(self) -> PruneReport:
        """One retention pass and one reclaim; what was deleted."""
        report = await self._store.prune(self._policy, self._clock())
        freed = await self._store.reclaim()
        self.last = report
        if report.total or freed:
            log.info(
                "retention removed %d deliveries, %d loops (%d iterations, %d events, "
                "%d ledger rows); %d bytes given back",
                report.deliveries, report.loops, report.iterations, report.events,
                report.ledger, freed,
            )  # fmt: skip
        return report

    async def run(self) -> None:
        """Forever: a pass, then wait ``interval_s``; a failed pass is logged and retried."""
        while True:
            try:
                await self.once()
            except store_errors() as exc:
                # The database may be unreachable for a while; the next pass retries.
                log.warning("retention pass failed (%s): %s", type(exc).__name__, exc)
            await self._sleeper(self._interval_s)


def store_errors() -> tuple[type[Exception], ...]:
    """The database errors a pass may meet: SQLite's, and psycopg's when that store is in use."""
    errors: list[type[Exception]] = [sqlite3.Error, OSError]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors.append(psycopg.Error)
    return tuple(errors)
