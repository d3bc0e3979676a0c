"""One module per webhook event; this router joins them."""

from collections.abc import Mapping

from gidgethub import routing

from app.intake.events import (
    installation,
    installation_repositories,
    issue_comment,
    ping,
    push,
    workflow_run,
)
from app.intake.payloads import RUN_SHAPE, Shape

router = routing.Router(
    ping.router,
    workflow_run.router,
    issue_comment.router,
    installation.router,
    installation_repositories.router,
    push.router,
)

# What a restart needs of a delivery to replay it, by event, where that is much
# less than the body: a workflow run's handler reads only its RunFacts.  Events
# not named here keep their whole body until they are processed.
replay_shapes: Mapping[str, Shape] = {"workflow_run": RUN_SHAPE}
