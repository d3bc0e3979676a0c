"""Keeps the store's list of installations and their repositories current.

An uninstalled App must stop at once: its open loops are cancelled and its
cached token and ETag cache are dropped, so nothing acts on a repository the
App no longer has access to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.github.client import GitHubClients
from app.intake.payloads import InstallationChange, RepositoriesChange
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

    async def activated(self, change: InstallationChange) -> None:
        await self._store.put_installation(
            change.installation_id, change.account, suspended=False, now=self._clock()
        )
        if change.repositories:
            await self._store.set_installation_repos(
                change.installation_id, added=list(change.repositories), removed=()
            )

    async def suspended(self, change: InstallationChange) -> None:
        installation_id = change.installation_id
        await self._store.put_installation(
            installation_id, change.account, suspended=True, now=self._clock()
        )
        await self._engine.installation_removed(installation_id)
        self._clients.forget_installation(installation_id)

    async def removed(self, change: InstallationChange) -> None:
        installation_id = change.installation_id
        await self._engine.installation_removed(installation_id)
        self._clients.forget_installation(installation_id)
        await self._store.remove_installation(installation_id)
        log.info("installation %s removed: its loops were cancelled", installation_id)

    async def repositories_changed(self, change: RepositoriesChange) -> None:
        await self._store.set_installation_repos(
            change.installation_id, added=list(change.added), removed=list(change.removed)
        )
        for repo in change.removed:
            loops = await self._store.active_loops(repo=repo)
            await self._engine.access_lost(
                loops, "The repository was removed from the installation"
            )
