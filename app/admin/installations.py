"""Keeps the store's list of installations and their repositories current.

An uninstalled App must stop at once: its open loops are cancelled and its
cached token and ETag cache are dropped, so nothing acts on a repository the
App no longer has access to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.github.client import GitHubClients
from app.loop.engine import Engine
from app.store.base import Store

log = logging.getLogger(__name__)


class InstallationHandler:
    def __init__(
        self, *, store: Store, engine: Engine, clients: GitHubClients, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._engine = engine
        self._clients = clients
        self._clock = clock

    async def activated(self, payload: dict[str, Any]) -> None:
        installation = payload["installation"]
        await self._store.put_installation(
            int(installation["id"]),
            _account(installation),
            suspended=False,
            now=self._clock(),
        )
        repos = [r["full_name"] for r in payload.get("repositories") or []]
        if repos:
            await self._store.set_installation_repos(
                int(installation["id"]), added=repos, removed=()
            )

    async def suspended(self, payload: dict[str, Any]) -> None:
        installation = payload["installation"]
        installation_id = int(installation["id"])
        await self._store.put_installation(
            installation_id, _account(installation), suspended=True, now=self._clock()
        )
        await self._engine.installation_removed(installation_id)
        self._clients.forget_installation(installation_id)

    async def removed(self, payload: dict[str, Any]) -> None:
        installation_id = int(payload["installation"]["id"])
        await self._engine.installation_removed(installation_id)
        self._clients.forget_installation(installation_id)
        await self._store.remove_installation(installation_id)
        log.info("installation %s removed: its loops were cancelled", installation_id)

    async def repositories_changed(self, payload: dict[str, Any]) -> None:
        installation_id = int(payload["installation"]["id"])
        added = [r["full_name"] for r in payload.get("repositories_added") or []]
        removed = [r["full_name"] for r in payload.get("repositories_removed") or []]
        await self._store.set_installation_repos(installation_id, added=added, removed=removed)
        for repo in removed:
            loops = await self._store.active_loops(repo=repo)
            await self._engine.access_lost(
                loops, "The repository was removed from the installation"
            )


def _account(installation: dict[str, Any]) -> str:
    return str((installation.get("account") or {}).get("login") or "")
