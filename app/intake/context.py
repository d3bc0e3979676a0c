"""The bag of components handed to webhook handlers (gidgethub passes it through)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.admin.command_handler import CommandHandler
from app.admin.installations import InstallationHandler
from app.core.metrics import Metrics
from app.github.client import GitHubClients
from app.intake.dispatch import Dispatcher
from app.loop.engine import Engine
from app.loop.runner import LocalRunner
from app.settings import Settings
from app.store.base import Store


@dataclass
class AppContext:
    """Everything a webhook handler may use; passed to the router, never global."""

    settings: Settings
    store: Store
    clients: GitHubClients
    engine: Engine
    runner: LocalRunner | None
    commands: CommandHandler
    installations: InstallationHandler
    metrics: Metrics
    dispatcher: Dispatcher
    clock: Callable[[], float]
