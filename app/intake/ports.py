"""What intake hands typed events to: protocols the later stages implement.

Intake verifies, records and parses; it does not know the loop engine or the
admin handlers.  ``app.server`` wires the real ones (the engine, the maintainer
command handler, the installation handler) into a ``HandlerContext``.
"""

from __future__ import annotations

from typing import Protocol

from app.intake.payloads import (
    Comment,
    InstallationChange,
    PushFacts,
    RepositoriesChange,
    RunFacts,
)


class WorkflowRuns(Protocol):
    """Reacts to a completed workflow run (``app.loop.engine.Engine``)."""

    async def on_workflow_run(self, run: RunFacts) -> None: ...


class Comments(Protocol):
    """Reacts to a new comment (``app.admin.command_handler.CommandHandler``)."""

    async def on_comment(self, comment: Comment) -> None: ...


class Installations(Protocol):
    """Keeps track of who installed the App (``app.admin.installations``)."""

    async def activated(self, change: InstallationChange) -> None: ...

    async def suspended(self, change: InstallationChange) -> None: ...

    async def removed(self, change: InstallationChange) -> None: ...

    async def repositories_changed(self, change: RepositoriesChange) -> None: ...


class Pushes(Protocol):
    """Checks a repository's config when a push changes it (``app.admin.config_check``)."""

    async def on_push(self, push: PushFacts) -> None: ...
