"""Intake under bad input and failing handlers: 400 with a reason, parked, 503, one line.

A signed body still gets its shape checked before anything reads it; a delivery
whose handler keeps failing is tried a bounded number of times and then parked
(``/status`` lists it) instead of failing at every start; while the store cannot
be reached the intake answers 503 with ``Retry-After`` so GitHub sends it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import pytest

from app.core.errors import StoreUnavailable
from app.core.logctx import OneLineRequestErrors
from app.intake.dispatch import MAX_HANDLER_ATTEMPTS
from tests.fakes.github import FakeJob
from tests.harness import REPO, WEBHOOK_SECRET, HarnessFactory
from tests.webhooks import webhook_headers


def deep(depth: int) -> bytes:
    return b'{"action": "completed", "x": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (deep(100_000), "nested too deeply"),
        (b'{"action": ["completed"], "workflow_run": {}}', '"action" must be a string'),
        (b'{"action": "completed", "repository": [1, "a", null]}', '"repository" must be an'),
        (b'{"action": "completed", "installation": {"id": "9001"}}', '"installation.id" must'),
        (b'{"action": "completed", "repository": {"full_name": 7}}', '"repository.full_name"'),
        (b'{"action": "completed", "sender": "octocat"}', '"sender" must be an object'),
        (b'{"zen": "\xff\xfe"}', "not valid JSON"),
    ],
    ids=["nested", "action-list", "repository-list", "installation-id-string",
         "full-name-number", "sender-string", "invalid-utf8-body"],
)  # fmt: skip
async def test_a_signed_but_malformed_body_gets_400_with_a_reason(
    app_harness: HarnessFactory, body: bytes, reason: str
) -> None:
    harness = await app_harness()
    headers = webhook_headers("workflow_run", body, WEBHOOK_SECRET, "bad-1")
    response = await harness.client.post("/webhook", data=body, headers=headers)

    assert response.status == 400
    assert reason in (await response.json())["error"]
    assert await harness.ctx.store.delivery_outcome("bad-1") is None  # nothing recorded


async def raw_post(port: int, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """POST with header bytes as given (invalid UTF-8 included), returning the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [b"POST /webhook HTTP/1.1", b"Host: x", b"Connection: close",
             b"Content-Length: " + str(len(body)).encode()]  # fmt: skip
    lines += [name + b": " + value for name, value in headers]
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize("header", [b"X-GitHub-Delivery", b"X-GitHub-Event"])
async def test_invalid_utf8_in_a_header_gets_400_not_500(
    app_harness: HarnessFactory, header: bytes
) -> None:
    harness = await app_harness()
    body = b'{"zen": "hi", "hook_id": 1}'
    signed = webhook_headers("ping", body, WEBHOOK_SECRET, "ok-id")
    headers = [(k.encode(), v.encode()) for k, v in signed.items()]
    headers = [(k, b"\xff\xfe\xc3(" if k == header else v) for k, v in headers]
    assert harness.client.port is not None
    assert await raw_post(harness.client.port, headers, body) == 400


async def test_a_handler_that_keeps_failing_is_retried_a_bounded_number_of_times_then_parked(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    head = harness.seed_repo({"calc.py": "x = 1\n"})
    run = harness.failing_run(head, log="boom\n")
    # Reading the repository's config fails every time: GitHub is broken for this repo.
    harness.fake.inject("GET", "*/contents/*", status=500, times=10_000)

    await harness.deliver("workflow_run", harness.payload(run), delivery_id="poison")

    outcome = await harness.ctx.store.delivery_outcome("poison")
    assert outcome is not None and outcome.startswith("failed: GitHubBroken")
    config_reads = harness.fake.calls("GET", "*/contents/*")
    assert len(config_reads) == MAX_HANDLER_ATTEMPTS * 4  # each try: the client's 4 attempts
    assert await harness.ctx.store.unfinished_deliveries() == []  # not replayed at the next start
    status = await harness.client.get(
        "/status", headers={"Authorization": f"Bearer {harness.settings.status_token}"}
    )
    [parked] = (await status.json())["failed_deliveries"]
    assert parked["delivery_id"] == "poison" and parked["event"] == "workflow_run"


async def test_a_poison_delivery_left_from_before_a_restart_is_parked_not_replayed_forever(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    store = harness.ctx.store
    body = json.dumps({"action": "completed", "repository": [1, "a", None]}).encode()
    await store.add_delivery("poison-old", "workflow_run", body, harness.ctx.clock())

    await harness.ctx.dispatcher.replay_unfinished()  # what the next start does
    await harness.settle()

    outcome = await store.delivery_outcome("poison-old")
    assert outcome == 'failed: "repository" must be an object'
    assert await store.unfinished_deliveries() == []


async def test_a_handler_failing_once_is_retried_and_then_processed(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(fixer_command=f"{sys.executable} -c 'import sys; sys.stdin.read()'")
    head = harness.seed_repo({"calc.py": "x = 1\n"})
    run = harness.fake.add_workflow_run(
        REPO, head_sha=head, head_branch="main", conclusion="failure",
        jobs=[FakeJob("test", "failure", steps=[("Run tests", "failure")], log="boom\n")],
    )  # fmt: skip
    harness.fake.inject("GET", "*/contents/*", status=500, times=4)  # one whole try fails

    await harness.deliver("workflow_run", harness.payload(run), delivery_id="flaky")

    assert await harness.ctx.store.delivery_outcome("flaky") == "processed"
    assert len(await harness.ctx.store.recent_loops()) == 1


async def test_the_intake_answers_503_with_retry_after_while_the_store_is_unreachable(
    app_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = await app_harness()

    async def unreachable(*args: Any, **kwargs: Any) -> bool:
        raise StoreUnavailable("PostgreSQL is unavailable (the database system is shutting down)")

    monkeypatch.setattr(harness.ctx.store, "add_delivery", unreachable)
    response = await harness.post("ping", {"zen": "hi", "hook_id": 1}, delivery_id="later")

    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert "retry later" in (await response.json())["error"]


def test_a_malformed_request_is_logged_as_one_line_without_a_traceback() -> None:
    try:
        raise ValueError("Invalid method encountered:\n\n  b'GARBAGE'\n    ^")
    except ValueError:
        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
            ("203.0.113.9",), sys.exc_info(),
        )  # fmt: skip

    assert OneLineRequestErrors().filter(record)

    assert record.exc_info is None and record.exc_text is None
    assert record.getMessage() == (
        "Error handling request from 203.0.113.9 (ValueError: Invalid method encountered:)"
    )
    assert "\n" not in logging.Formatter().format(record)


# ------------------------------------------------- deliveries GitHub could not hand over


async def test_lost_deliveries_are_asked_for_again_once_and_processed(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    fake = harness.fake
    fake.webhook_url = str(harness.client.make_url(harness.settings.webhook_path))
    fake.webhook_secret = WEBHOOK_SECRET
    head = harness.seed_repo({"calc.py": "x = 1\n"})
    run = harness.failing_run(head, log="boom\n")
    payload = harness.payload(run)
    # GitHub could not hand these over (the app was down, or answered 503) ...
    fake.add_failed_delivery("workflow_run", payload, status_code=503, guid="lost")
    fake.add_failed_delivery("ping", {"zen": "hi", "hook_id": 1}, status_code=0, guid="refused")
    # ... and these it could not at first, but then did, or the app has them anyway.
    fake.add_failed_delivery("ping", {"zen": "a", "hook_id": 1}, status_code=502, guid="later")
    fake.add_delivery("ping", {"zen": "a", "hook_id": 1}, guid="later", redelivery=True)
    await harness.deliver("ping", {"zen": "b", "hook_id": 1}, delivery_id="recorded")
    fake.add_failed_delivery("ping", {"zen": "b", "hook_id": 1}, status_code=504,
                             guid="recorded")  # fmt: skip

    asked = await harness.ctx.recovery.run_once()
    await fake.settle_deliveries()
    await harness.settle()

    assert sorted(asked) == ["lost", "refused"]
    assert len(fake.redelivery_requests) == 2
    assert await harness.ctx.store.delivery_outcome("lost") == "processed"
    assert await harness.ctx.store.delivery_outcome("refused") == "processed"
    [loop] = await harness.ctx.store.recent_loops()
    assert loop.run_id == run["id"]
    # Asked again, nothing more is asked: both are recorded now.
    assert await harness.ctx.recovery.run_once() == []
    assert len(fake.redelivery_requests) == 2
