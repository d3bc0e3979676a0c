"""The app itself: ``/app``, installation tokens, a repo's installation, manifests, rate limit."""

from __future__ import annotations

import secrets

from . import bodies
from .http import ApiError, Reply, not_found
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
