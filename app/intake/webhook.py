"""The webhook endpoint: prove the delivery came from GitHub, record it, answer at once.

Order matters: the size limit is enforced before the body is read, the
signature is checked (by gidgethub) before the body is trusted for anything,
and the answer is sent before any work on the event starts.  Every refusal is
a short JSON error with the right status, never a traceback.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from gidgethub import BadRequest, ValidationFailure, sansio

from app.intake.dispatch import Dispatcher

log = logging.getLogger(__name__)


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def make_webhook_handler(
    *, dispatcher: Dispatcher, secret: str | None, max_body_bytes: int
) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await read_limited(request, max_body_bytes)
        if body is None:
            return error(413, f"payload larger than {max_body_bytes} bytes")
        headers = {
            "content-type": request.headers.get("Content-Type", ""),
            "x-github-event": request.headers.get("X-GitHub-Event", ""),
            "x-github-delivery": request.headers.get("X-GitHub-Delivery", ""),
        }
        signature = request.headers.get("X-Hub-Signature-256")
        if signature is not None and secret is not None:
            headers["x-hub-signature-256"] = signature
        try:
            event = sansio.Event.from_http(headers, body, secret=secret)
        except ValidationFailure:
            return error(401, "invalid or missing X-Hub-Signature-256")
        except BadRequest:
            if request.content_type != "application/json":
                return error(415, "expected Content-Type: application/json")
            return error(400, "body is not valid JSON")
        if request.content_type != "application/json":
            # gidgethub also accepts GitHub's form encoding; this app is
            # registered for JSON only, so anything else is a misconfiguration.
            return error(415, "expected Content-Type: application/json")
        if not headers["x-github-event"] or not headers["x-github-delivery"]:
            return error(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
        if not isinstance(event.data, dict):
            return error(400, "body must be a JSON object")
        if not await dispatcher.accept(event, body):
            return web.json_response({"duplicate": True, "delivery": event.delivery_id})
        return web.json_response({"accepted": True, "delivery": event.delivery_id}, status=202)

    return handle
