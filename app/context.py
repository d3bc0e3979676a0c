"""The bag of components handed to webhook handlers (gidgethub passes it through)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.commands import CommandHandler
from app.dispatch import Dispatcher
from app.engine import Engine
from app.github_client import GitHubClients
from app.installations import InstallationHandler
from app.metrics import Metrics
from app.settings import Settings
from app.store.base import Store


@dataclass
class AppContext:
    """Everything a webhook handler may use; passed to the router, never global."""

    settings: Settings
    store: Store
    clients: GitHubClients
    engine: Engine
    commands: CommandHandler
    installations: InstallationHandler
    metrics: Metrics
    dispatcher: Dispatcher
    clock: Callable[[], float]
