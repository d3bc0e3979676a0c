"""`workflow_run.completed`: a failure opens a loop; a run on a fix branch drives one."""

from gidgethub import routing, sansio

from app.intake.context import AppContext

router = routing.Router()


@router.register("workflow_run", action="completed")
async def on_completed(event: sansio.Event, ctx: AppContext) -> None:
    await ctx.engine.on_workflow_run(event.data)
