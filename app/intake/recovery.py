"""Asking GitHub again for the deliveries it could not hand over.

GitHub does not retry a webhook delivery by itself: one that met a 5xx, a
timeout or a closed port (the app restarting, the database away so the intake
answered 503) stays failed in the App's delivery log.  At start-up and then
periodically the app lists its recent deliveries (``GET /app/hook/deliveries``,
newest first, authenticated as the App) and asks GitHub to send again
(``POST /app/hook/deliveries/{id}/attempts``) each one that failed, that no
later attempt delivered, and whose delivery id the store never recorded.
Asking twice is harmless: a delivery id is processed once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import gidgethub

from app.core.errors import StoreUnavailable
from app.github.client import GitHubClients
from app.intake.payloads import parse_timestamp
from app.store.base import Store

log = logging.getLogger(__name__)

LOOKBACK_S = 6 * 3600.0  # deliveries older than this are left to the operator
MAX_LISTED = 2000  # at most this many log entries read per round (20 pages)
MAX_ASKED = 100  # redeliveries asked for per round


@dataclass
class DeliveryRecovery:
    clients: GitHubClients
    store: Store
    clock: Callable[[], float]
    lookback_s: float = LOOKBACK_S

    async def run_once(self) -> list[str]:
        """Ask for every lost delivery of the lookback window; returns their delivery ids."""
        gh = self.clients.for_app()
        jwt = self.clients.auth.app_jwt()
        since = self.clock() - self.lookback_s
        delivered: set[str] = set()
        failed: dict[str, int] = {}  # delivery id (guid) -> the latest attempt's log id
        listed = 0
        async for entry in gh.getiter("/app/hook/deliveries?per_page=100", jwt=jwt):
            listed += 1
            at = parse_timestamp(entry.get("delivered_at"))
            if (at and at < since) or listed > MAX_LISTED:
                break
            guid, code = str(entry.get("guid") or ""), entry.get("status_code")
            if not guid:
                continue
            if isinstance(code, int) and 200 <= code < 400:
                delivered.add(guid)
            else:
                failed.setdefault(guid, int(entry["id"]))
        asked: list[str] = []
        for guid, log_id in failed.items():
            if guid in delivered or await self.store.delivery_known(guid):
                continue
            if len(asked) >= MAX_ASKED:
                break
            await gh.post(
                "/app/hook/deliveries/{delivery_id}/attempts",
                {"delivery_id": log_id},
                data=b"",
                jwt=jwt,
            )
            asked.append(guid)
        if asked:
            log.info("asked GitHub to redeliver %s lost deliveries", len(asked))
        return asked

    async def keep_asking(self, every_s: float) -> None:
        """At start-up, then every ``every_s`` seconds, for as long as the app runs."""
        while True:
            try:
                await self.run_once()
            except (gidgethub.GitHubException, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("could not check GitHub's delivery log: %r", exc)
            except StoreUnavailable as exc:
                log.warning("could not check lost deliveries: %s", exc)
            await asyncio.sleep(every_s)
