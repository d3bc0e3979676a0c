"""`push`: a change to `.github/ci-fix-loop.yml` on the default branch is checked at once."""

import logging

from gidgethub import routing, sansio

from app.intake.context import HandlerContext
from app.intake.payloads import PushFacts

router = routing.Router()
log = logging.getLogger(__name__)


@router.register("push")
async def on_push(event: sansio.Event, ctx: HandlerContext) -> None:
    push = PushFacts.from_payload(event.data)
    if push is None:
        log.warning("push payload is malformed: ignored")
        return
    if ctx.pushes is not None and push.to_default_branch and push.config_changed:
        await ctx.pushes.on_push(push)
