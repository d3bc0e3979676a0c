"""`installation_repositories`: repositories added to or removed from an installation."""

from gidgethub import routing, sansio

from app.intake.context import AppContext

router = routing.Router()


@router.register("installation_repositories", action="added")
@router.register("installation_repositories", action="removed")
async def on_changed(event: sansio.Event, ctx: AppContext) -> None:
    await ctx.installations.repositories_changed(event.data)
