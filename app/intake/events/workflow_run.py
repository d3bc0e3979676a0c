"""`workflow_run.completed`: a failure opens a loop; a run on a fix branch drives one."""

import logging

from gidgethub import routing, sansio

from app.intake.context import HandlerContext
from app.intake.payloads import RunFacts

router = routing.Router()
log = logging.getLogger(__name__)


@router.register("workflow_run", action="completed")
async def on_completed(event: sansio.Event, ctx: HandlerContext) -> None:
    run = RunFacts.from_payload(event.data)
    if run is None:
        log.warning("workflow_run payload lacks what a loop needs: ignored")
        return
    await ctx.workflow_runs.on_workflow_run(run)
