"""`ping`: GitHub's hello when the webhook is created or tested."""

import logging

from gidgethub import routing, sansio

router = routing.Router()
log = logging.getLogger(__name__)


@router.register("ping")
async def on_ping(event: sansio.Event, ctx: object) -> None:
    hook = event.data.get("hook") or {}
    log.info("ping from GitHub (hook %s): %s", hook.get("id"), event.data.get("zen", ""))
