"""The app itself: ``/app``, installation tokens, a repo's installation, manifests, rate limit,
and the webhook deliveries GitHub made for it (list, one, redeliver)."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from . import bodies
from .http import ApiError, Reply, not_found
from .models import HookDelivery
from .routing import Auth, Ctx, RouteTable

routes = RouteTable()
RATE_LIMIT = 5000


@routes.add("GET", "/app", Auth.JWT)
def get_app(ctx: Ctx) -> Reply:
    return Reply(200, bodies.integration(ctx.state))


@routes.add("POST", "/app/installations/{installation_id}/access_tokens", Auth.JWT)
def create_access_token(ctx: Ctx) -> Reply:
    installation = ctx.state.installations.get(ctx.params["installation_id"])
    if installation is None:
        raise not_found()
    names = ctx.body_dict().get("repositories")
    for name in names or ():
        if f"{installation.account}/{name}".lower() not in installation.repos:
            raise ApiError(
                422,
                f"There is at least one repository that does not exist or is not "
                f"accessible to the parent installation: {name}",
            )
    token = ctx.state.issue_token(installation.id, names)
    return Reply(
        201,
        {
            "token": token.value,
            "expires_at": bodies.iso(token.expires_at),
            "permissions": bodies.APP_PERMISSIONS,
            "repository_selection": "selected",
        },
    )


@routes.add("GET", "/repos/{owner}/{repo}/installation", Auth.JWT)
def get_repo_installation(ctx: Ctx) -> Reply:
    installation = ctx.state.installation_for(ctx.the_repo)
    if installation is None:
        raise not_found()
    return Reply(200, bodies.installation(ctx.state, installation))


@routes.add("POST", "/app-manifests/{code}/conversions", Auth.NONE)
def convert_manifest(ctx: Ctx) -> Reply:
    """Hands out the fake's own app credentials, so an app set up this way can then log in."""
    code = ctx.state.manifest_codes.pop(ctx.params["code"], None)
    if code is None:
        raise not_found()
    if code.on_conversion:
        code.on_conversion(code.code)
    return Reply(
        201,
        {
            **bodies.integration(ctx.state),
            "client_id": f"Iv1.{secrets.token_hex(8)}",
            "client_secret": secrets.token_hex(20),
            "webhook_secret": ctx.state.webhook_secret,
            "pem": ctx.state.private_key_pem,
        },
    )


@routes.add("GET", "/rate_limit", Auth.NONE)
def get_rate_limit(ctx: Ctx) -> Reply:
    used = ctx.state.rate_used[ctx.extra["rate_identity"]]
    core = {
        "limit": RATE_LIMIT,
        "used": used,
        "remaining": max(RATE_LIMIT - used, 0),
        "reset": ctx.extra["rate_reset"],
    }
    return Reply(
        200,
        {
            "resources": {
                "core": core,
                "search": {**core, "limit": 30, "used": 0, "remaining": 30},
            },
            "rate": core,
        },
    )


# -- webhook deliveries ------------------------------------------------------------------

CURSOR_PREFIX = "v1_"


@routes.add("GET", "/app/hook/deliveries", Auth.JWT)
def list_deliveries(ctx: Ctx) -> Reply:
    """Newest first, paged by an opaque ``cursor`` from the ``Link`` header, as GitHub does.

    ``status=success`` keeps status codes 200-399, ``failure`` 400-599 (not 0: a receiver
    that could not be reached is neither, exactly as the description defines the filter).
    """
    query = ctx.query
    cursor = query.get("cursor")
    before: int | None = None
    if cursor:
        if not cursor.startswith(CURSOR_PREFIX) or not cursor[len(CURSOR_PREFIX) :].isdigit():
            raise ApiError(400, "Bad Request: the cursor is not one this API handed out")
        before = int(cursor[len(CURSOR_PREFIX) :])
    status = query.get("status")
    selected = [
        delivery
        for delivery in sorted(ctx.state.deliveries.values(), key=lambda d: d.id, reverse=True)
        if (before is None or delivery.id < before)
        and (
            status is None
            or (status == "success" and 200 <= delivery.status_code <= 399)
            or (status == "failure" and 400 <= delivery.status_code <= 599)
        )
    ]
    per_page = max(1, min(int(query.get("per_page") or 30), 100))
    page = selected[:per_page]
    headers = {}
    if len(selected) > per_page:
        params = {**ctx.raw_query, "per_page": str(per_page), "cursor": f"v1_{page[-1].id}"}
        headers["Link"] = f'<{ctx.state.api_url}{ctx.path}?{urlencode(params)}>; rel="next"'
    return Reply(200, [bodies.hook_delivery(ctx.state, d, full=False) for d in page], headers)


def _delivery(ctx: Ctx) -> HookDelivery:
    delivery = ctx.state.deliveries.get(ctx.params["delivery_id"])
    if delivery is None:
        raise not_found()
    return delivery


@routes.add("GET", "/app/hook/deliveries/{delivery_id}", Auth.JWT)
def get_delivery(ctx: Ctx) -> Reply:
    return Reply(200, bodies.hook_delivery(ctx.state, _delivery(ctx), full=True))


@routes.add("POST", "/app/hook/deliveries/{delivery_id}/attempts", Auth.JWT)
def redeliver(ctx: Ctx) -> Reply:
    """202 at once; the re-send itself happens after (see ``FakeGitHub.redeliver``)."""
    ctx.state.redeliver(_delivery(ctx))
    return Reply(202, {})
