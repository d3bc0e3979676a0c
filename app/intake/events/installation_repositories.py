"""`installation_repositories`: repositories added to or removed from an installation."""

import logging

from gidgethub import routing, sansio

from app.intake.context import HandlerContext
from app.intake.payloads import RepositoriesChange

router = routing.Router()
log = logging.getLogger(__name__)


@router.register("installation_repositories", action="added")
@router.register("installation_repositories", action="removed")
async def on_changed(event: sansio.Event, ctx: HandlerContext) -> None:
    change = RepositoriesChange.from_payload(event.data)
    if change is None:
        log.warning("installation_repositories payload is malformed: ignored")
        return
    await ctx.installations.repositories_changed(change)
