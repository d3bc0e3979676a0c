"""The webhook endpoint: prove the delivery came from GitHub, record it, answer at once.

Order matters: the size limit is enforced before the body is read, the
signature is checked (by gidgethub) before the body is trusted for anything,
and the answer is sent before any work on the event starts.  Every refusal is
a short JSON error with the right status, never a traceback.
"""

from __future__ import annotations

import logging

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from gidgethub import ValidationFailure, sansio

from app.core.errors import StoreUnavailable
from app.intake.body import Body, projector
from app.intake.dispatch import Dispatcher
from app.intake.payloads import ENVELOPE_SHAPE, Envelope

log = logging.getLogger(__name__)

HEAD = projector(ENVELOPE_SHAPE)  # what routing and the envelope check read
RETRY_AFTER_S = 5  # while the store is unreachable: what a 503 asks the sender to wait


def answer(document: dict[str, object], status: int) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type="application/json")


def error(status: int, message: str) -> web.Response:
    return answer({"error": message}, status)


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` (read no further than that)."""
    if request.content_length is not None:
        if request.content_length > limit:
            return None
        # Declared and small enough (GitHub always declares it): one read.  aiohttp
        # stops at the declared length, and its client_max_size is above ``limit``.
        return await request.read()
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
        raw = await read_limited(request, max_body_bytes)
        if raw is None:
            return error(413, f"payload larger than {max_body_bytes} bytes")
        if secret is not None:
            # Only the SHA-256 signature counts; GitHub's SHA-1 one is legacy.
            signature = request.headers.get("X-Hub-Signature-256")
            try:
                if signature is None:
                    raise ValidationFailure("signature is missing")
                sansio.validate_event(raw, signature=signature, secret=secret)
            except (ValidationFailure, TypeError):
                # TypeError: hmac.compare_digest refuses a signature that is not ASCII.
                return error(401, "invalid or missing X-Hub-Signature-256")
        if request.content_type != "application/json":
            # GitHub can also send a form encoding; this app is registered for
            # JSON only, so anything else is a misconfiguration.
            return error(415, "expected Content-Type: application/json")
        event_name = request.headers.get("X-GitHub-Event", "")
        delivery_id = request.headers.get("X-GitHub-Delivery", "")
        if not event_name or not delivery_id:
            return error(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
        body = Body.parse(raw)
        if isinstance(body, str):
            return error(400, body)
        # Signed is not well-formed: the envelope every handler reads is checked
        # here, and is all that routing reads.
        head = body.project(HEAD)
        envelope = Envelope.check(event_name, delivery_id, head)
        if isinstance(envelope, str):
            return error(400, envelope)
        probe = sansio.Event(head, event=event_name, delivery_id=delivery_id)
        try:
            accepted = await dispatcher.accept(probe, body, raw)
        except StoreUnavailable as exc:
            # GitHub shows the delivery as failed; the app asks for it again later.
            log.warning("delivery %s not recorded: %s", delivery_id, exc)
            response = error(503, "the store is unavailable; retry later")
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        if not accepted:
            return answer({"duplicate": True, "delivery": delivery_id}, 200)
        return answer({"accepted": True, "delivery": delivery_id}, 202)

    return handle
