"""The webhook endpoint: signature first, clear refusals, at-most-once processing."""

from __future__ import annotations

import asyncio
import json

from app.store.retention import RetentionPolicy
from tests.harness import WEBHOOK_SECRET, HarnessFactory
from tests.webhooks import load_payload, sign, webhook_headers

PING = load_payload("ping", "event.1")


async def test_ping_with_a_valid_signature_is_accepted_and_processed(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    response = await harness.post("ping", PING, delivery_id="ping-1")
    assert response.status == 202
    assert (await response.json()) == {"accepted": True, "delivery": "ping-1"}
    await harness.settle()
    assert await harness.ctx.store.unfinished_deliveries() == []
    assert await harness.ctx.store.delivery_outcome("ping-1") == "processed"


async def test_wrong_signature_is_refused_with_401_and_nothing_recorded(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    body = json.dumps(PING).encode()
    headers = webhook_headers("ping", body, "not-the-secret", "forged-1")
    response = await harness.client.post("/webhook", data=body, headers=headers)
    assert response.status == 401
    assert "Signature" in (await response.json())["error"]
    # A forged delivery id must not block the genuine delivery that reuses it.
    genuine = await harness.post("ping", PING, delivery_id="forged-1")
    assert genuine.status == 202


async def test_missing_signature_is_refused_with_401(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    headers = webhook_headers("ping", b"{}", WEBHOOK_SECRET)
    del headers["X-Hub-Signature-256"]
    response = await harness.client.post("/webhook", data=b"{}", headers=headers)
    assert response.status == 401


async def test_sha1_only_signature_is_not_accepted(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    body = json.dumps(PING).encode()
    headers = webhook_headers("ping", body, WEBHOOK_SECRET)
    del headers["X-Hub-Signature-256"]
    headers["X-Hub-Signature"] = "sha1=0000"
    response = await harness.client.post("/webhook", data=body, headers=headers)
    assert response.status == 401


async def test_form_encoded_delivery_is_refused_with_415(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    body = b"payload=" + json.dumps(PING).encode()
    headers = webhook_headers("ping", body, WEBHOOK_SECRET)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = await harness.client.post("/webhook", data=body, headers=headers)
    assert response.status == 415


async def test_malformed_json_is_refused_with_400(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    body = b'{"zen": "unterminated'
    response = await harness.client.post(
        "/webhook", data=body, headers=webhook_headers("ping", body, WEBHOOK_SECRET)
    )
    assert response.status == 400
    assert "JSON" in (await response.json())["error"]


async def test_json_that_is_not_an_object_is_refused_with_400(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    body = b"[1, 2, 3]"
    response = await harness.client.post(
        "/webhook", data=body, headers=webhook_headers("ping", body, WEBHOOK_SECRET)
    )
    assert response.status == 400


async def test_missing_event_or_delivery_header_is_refused_with_400(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    body = json.dumps(PING).encode()
    for missing in ("X-GitHub-Event", "X-GitHub-Delivery"):
        headers = webhook_headers("ping", body, WEBHOOK_SECRET)
        del headers[missing]
        response = await harness.client.post("/webhook", data=body, headers=headers)
        assert response.status == 400, missing


async def test_body_over_the_limit_is_refused_with_413_by_its_content_length(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(max_body_bytes=4096)
    body = json.dumps({"zen": "x" * 10_000}).encode()
    response = await harness.client.post(
        "/webhook", data=body, headers=webhook_headers("ping", body, WEBHOOK_SECRET)
    )
    assert response.status == 413


async def test_chunked_body_over_the_limit_is_refused_with_413(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(max_body_bytes=4096)
    body = json.dumps({"zen": "x" * 10_000}).encode()
    headers = webhook_headers("ping", body, WEBHOOK_SECRET)

    async def chunks():  # no Content-Length: the server must count as it reads
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await harness.client.post("/webhook", data=chunks(), headers=headers)
    assert response.status == 413


async def test_unknown_event_is_acknowledged_and_ignored(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    response = await harness.post("star", {"action": "created"}, delivery_id="star-1")
    assert response.status == 202
    await harness.settle()
    assert await harness.ctx.store.unfinished_deliveries() == []
    assert await harness.ctx.store.delivery_outcome("star-1") == "ignored"
    assert harness.fake.requests == []  # nothing was asked of GitHub
    again = await harness.post("star", {"action": "created"}, delivery_id="star-1")
    assert again.status == 200  # recorded, so a redelivery is still a duplicate


async def test_redelivered_id_is_answered_as_duplicate_and_not_processed_again(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    sha = harness.seed_repo({"a.py": "x = 1\n"}, config="dry_run: true\n")
    run = harness.failing_run(sha, log="##[error]Process completed with exit code 1.\n")
    first = await harness.post("workflow_run", harness.payload(run), delivery_id="same")
    second = await harness.post("workflow_run", harness.payload(run), delivery_id="same")
    assert first.status == 202
    assert second.status == 200
    assert (await second.json())["duplicate"] is True
    await harness.settle()
    assert len(harness.fake.check_runs("acme/widgets")) == 1


async def test_concurrent_identical_deliveries_are_processed_once(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    sha = harness.seed_repo({"a.py": "x = 1\n"}, config="dry_run: true\n")
    run = harness.failing_run(sha, log="##[error]Process completed with exit code 1.\n")
    payload = harness.payload(run)
    responses = await asyncio.gather(
        *(harness.post("workflow_run", payload, delivery_id="burst") for _ in range(20))
    )
    assert sorted(r.status for r in responses) == [200] * 19 + [202]
    await harness.settle()
    assert len(await harness.ctx.store.recent_loops()) == 1


async def test_workflow_run_failure_reaches_the_engine_with_an_installation_token(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    sha = harness.seed_repo({"a.py": "x = 1\n"}, config="dry_run: true\n")
    run = harness.failing_run(sha, log="##[error]Process completed with exit code 1.\n")
    await harness.deliver("workflow_run", harness.payload(run))

    token_calls = harness.fake.calls("POST", "/app/installations/*/access_tokens")
    assert len(token_calls) == 1
    jobs_calls = harness.fake.calls("GET", f"/repos/acme/widgets/actions/runs/{run['id']}/jobs")
    headers = {k.lower(): v for k, v in jobs_calls[0].headers.items()}
    assert headers["authorization"].startswith("token ghs_")
    loops = await harness.ctx.store.recent_loops()
    assert [loop.run_id for loop in loops] == [run["id"]]


async def test_signature_is_checked_over_the_exact_bytes_received(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    body = json.dumps(PING).encode()
    headers = webhook_headers("ping", body, WEBHOOK_SECRET)
    tampered = body.replace(b"}", b', "extra": 1}', 1)
    headers["X-Hub-Signature-256"] = sign(body, WEBHOOK_SECRET)
    response = await harness.client.post("/webhook", data=tampered, headers=headers)
    assert response.status == 401


async def test_healthz_answers_ok(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    response = await harness.client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"ok": True}


async def test_status_requires_the_bearer_token(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    assert (await harness.client.get("/status")).status == 401
    wrong = await harness.client.get("/status", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    right = await harness.client.get(
        "/status", headers={"Authorization": f"Bearer {harness.settings.status_token}"}
    )
    assert right.status == 200
    report = await right.json()
    assert set(report) >= {"active", "history", "budget", "breakers"}


async def test_a_redelivery_after_a_retention_pass_inside_the_window_is_a_duplicate(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    first = await harness.post("ping", PING, delivery_id="kept-1")
    assert first.status == 202
    await harness.settle()
    six_days_later = harness.ctx.clock() + 6 * 86400
    await harness.ctx.store.prune(RetentionPolicy(deliveries_s=7 * 86400), six_days_later)

    again = await harness.post("ping", PING, delivery_id="kept-1")

    assert again.status == 200
    assert (await again.json()) == {"duplicate": True, "delivery": "kept-1"}


async def test_status_and_metrics_show_the_store_size_and_oldest_row(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    await harness.post("ping", PING, delivery_id="sized-1")
    await harness.settle()
    status = await harness.client.get(
        "/status", headers={"Authorization": f"Bearer {harness.settings.status_token}"}
    )
    store = (await status.json())["store"]
    assert store["database_bytes"] > 0
    assert store["wal_bytes"] is not None
    assert store["oldest"]["delivery"] is not None
    metrics = await (await harness.client.get("/metrics")).text()
    assert "cifix_store_bytes " in metrics
    assert 'cifix_store_oldest_row_timestamp_seconds{kind="delivery"}' in metrics
