"""What the event routers hand each handler (gidgethub passes it through)."""

from __future__ import annotations

from dataclasses import dataclass

from app.intake.ports import Comments, Installations, Pushes, WorkflowRuns


@dataclass(frozen=True)
class HandlerContext:
    """The ports an event handler may call; built once by ``app.server``, never global."""

    workflow_runs: WorkflowRuns
    comments: Comments
    installations: Installations
    pushes: Pushes | None = None
