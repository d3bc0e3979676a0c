"""`issue_comment.created`: maintainer commands (`/ci-fix retry|stop|status`)."""

from gidgethub import routing, sansio

from app.intake.context import AppContext

router = routing.Router()


@router.register("issue_comment", action="created")
async def on_comment(event: sansio.Event, ctx: AppContext) -> None:
    await ctx.commands.on_comment(event.data)
