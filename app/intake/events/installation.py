"""`installation`: keep the store's view of who installed the App current."""

from gidgethub import routing, sansio

from app.intake.context import AppContext

router = routing.Router()


@router.register("installation", action="created")
@router.register("installation", action="new_permissions_accepted")
@router.register("installation", action="unsuspend")
async def on_active(event: sansio.Event, ctx: AppContext) -> None:
    await ctx.installations.activated(event.data)


@router.register("installation", action="suspend")
async def on_suspend(event: sansio.Event, ctx: AppContext) -> None:
    await ctx.installations.suspended(event.data)


@router.register("installation", action="deleted")
async def on_deleted(event: sansio.Event, ctx: AppContext) -> None:
    await ctx.installations.removed(event.data)
