"""One module per webhook event; this router joins them."""

from gidgethub import routing

from app.intake.events import (
    installation,
    installation_repositories,
    issue_comment,
    ping,
    push,
    workflow_run,
)

router = routing.Router(
    ping.router,
    workflow_run.router,
    issue_comment.router,
    installation.router,
    installation_repositories.router,
    push.router,
)
