"""`issue_comment.created`: maintainer commands (`/ci-fix retry|stop|status`)."""

import logging

from gidgethub import routing, sansio

from app.intake.context import HandlerContext
from app.intake.payloads import Comment

router = routing.Router()
log = logging.getLogger(__name__)


@router.register("issue_comment", action="created")
async def on_comment(event: sansio.Event, ctx: HandlerContext) -> None:
    comment = Comment.from_payload(event.data)
    if comment is None:
        log.warning("issue_comment payload is malformed: ignored")
        return
    await ctx.comments.on_comment(comment)
