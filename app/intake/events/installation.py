"""`installation`: keep the store's view of who installed the App current."""

import logging

from gidgethub import routing, sansio

from app.intake.context import HandlerContext
from app.intake.payloads import InstallationChange

router = routing.Router()
log = logging.getLogger(__name__)


def _change(event: sansio.Event) -> InstallationChange | None:
    change = InstallationChange.from_payload(event.data)
    if change is None:
        log.warning("installation payload is malformed: ignored")
    return change


@router.register("installation", action="created")
@router.register("installation", action="new_permissions_accepted")
@router.register("installation", action="unsuspend")
async def on_active(event: sansio.Event, ctx: HandlerContext) -> None:
    if change := _change(event):
        await ctx.installations.activated(change)


@router.register("installation", action="suspend")
async def on_suspend(event: sansio.Event, ctx: HandlerContext) -> None:
    if change := _change(event):
        await ctx.installations.suspended(change)


@router.register("installation", action="deleted")
async def on_deleted(event: sansio.Event, ctx: HandlerContext) -> None:
    if change := _change(event):
        await ctx.installations.removed(change)
