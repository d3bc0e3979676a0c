"""The App's outgoing webhooks: sending one signed delivery to a registered URL.

GitHub records the outcome of every delivery (listed by ``/app/hook/deliveries``) and can
be asked to send one again; the fake does the same for real, so a test sees the app
recover a delivery through the same endpoint GitHub would hit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.webhooks import webhook_headers

SEND_TIMEOUT_S = 10


@dataclass(frozen=True)
class Outcome:
    status_code: int  # 0 when the receiver could not be reached
    status: str
    duration: float
    response_body: str
    request_headers: dict[str, str]


async def send(
    url: str, secret: str, event: str, guid: str, payload: dict[str, Any], app_id: int
) -> Outcome:
    """POST ``payload`` to ``url`` signed with ``secret``, as GitHub's hookshot does."""
    body = json.dumps(payload).encode()
    headers = {
        **webhook_headers(event, body, secret, guid),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-GitHub-Hook-Installation-Target-ID": str(app_id),
    }
    started = time.monotonic()
    try:
        timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            text = await response.text(errors="replace")
            status = "OK" if response.status < 300 else f"Invalid HTTP Response: {response.status}"
            code = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        text, code, status = "", 0, f"failed to connect to host ({type(error).__name__})"
    return Outcome(code, status, round(time.monotonic() - started, 3), text[:2000], headers)
