"""``/hooks/ci``: every answer it gives, against the running app and a real store."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.admin.ci_hook import MAX_BODY_BYTES, RECORDED_REASON, CiReport, token_ok
from app.admin.status import build_status
from app.core.errors import ReportError
from app.diagnosis.classify import classify_text
from app.loop.budget import utc_day_start
from tests.harness import INSTALLATION_ID, REPO, Harness, HarnessFactory

TOKEN = "ci-hook-token-for-tests"  # what tests/harness.py configures
PYTEST_TAIL = (
    "=================================== FAILURES\n"
    "    def test_add():\n"
    ">       assert add(2, 2) == 4\n"
    "E       AssertionError: assert 0 == 4\n"
    "tests/test_calc.py:5: AssertionError\n"
    "FAILED tests/test_calc.py::test_add - AssertionError: assert 0 == 4\n"
)


def report(**changes: Any) -> dict[str, Any]:
    """The seed's payload shape, as a CI step would send it."""
    body: dict[str, Any] = {
        "event": "ci.failure",
        "repo": REPO,
        "ref": "refs/heads/main",
        "sha": "a" * 40,
        "run_id": 4711,
        "run_url": "https://ci.example.com/runs/4711",
        "failed_jobs": ["unit tests"],
        "logs_tail": PYTEST_TAIL,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_report(harness: Harness, body: Any, headers: dict[str, str] | None = None) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await harness.client.post(
        "/hooks/ci", data=data, headers=bearer() if headers is None else headers
    )
    return response


@pytest.fixture
async def harness(app_harness: HarnessFactory) -> AsyncIterator[Harness]:
    yield await app_harness()


# ------------------------------------------------------------------ 401 and 405


async def test_report_without_a_token_is_refused_with_401(harness: Harness) -> None:
    response = await post_report(harness, report(), headers={})
    assert response.status == 401
    assert "CI_HOOK_TOKEN" in (await response.json())["error"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Bot-Token": "not-the-token"},
    ],
)
async def test_report_with_a_wrong_token_is_refused_with_401(
    harness: Harness, headers: dict[str, str]
) -> None:
    assert (await post_report(harness, report(), headers=headers)).status == 401
    assert await harness.ctx.store.recent_loops() == []


async def test_endpoint_is_closed_when_no_token_is_configured(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(ci_hook_token=None)
    for headers in ({}, bearer(""), bearer("anything"), {"X-Bot-Token": "anything"}):
        assert (await post_report(harness, report(), headers=headers)).status == 401


async def test_seed_style_x_bot_token_header_is_accepted(harness: Harness) -> None:
    response = await post_report(harness, report(), headers={"X-Bot-Token": TOKEN})
    assert response.status == 202


async def test_non_post_methods_get_405_once_authenticated(harness: Harness) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await harness.client.request(method, "/hooks/ci", headers=bearer())
        assert response.status == 405, method
    assert (await harness.client.get("/hooks/ci")).status == 401  # the token comes first


async def test_token_is_compared_in_constant_time(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert (await post_report(harness, report(), headers=bearer("wrong-token"))).status == 401
    assert (await post_report(harness, report(), headers={"X-Bot-Token": TOKEN})).status == 202
    assert seen == [(b"wrong-token", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer s3cret-token"}, True),
        ({"Authorization": "bearer s3cret-token"}, True),
        ({"X-Bot-Token": "s3cret-token"}, True),
        ({"Authorization": "Bearer s3cret-tokeN"}, False),
        ({"Authorization": "Bearer "}, False),
        ({"Authorization": "token s3cret-token"}, False),
        ({}, False),
    ],
)
def test_token_ok_accepts_only_the_configured_token(
    headers: dict[str, str], expected: bool
) -> None:
    assert token_ok(headers, "s3cret-token") is expected
    assert token_ok(headers, None) is False
    assert token_ok(headers, "") is False


# ------------------------------------------------------------------------ 413


async def test_body_over_512_kb_is_refused_with_413_by_its_content_length(
    harness: Harness,
) -> None:
    body = json.dumps(report(logs_tail="x" * MAX_BODY_BYTES)).encode()
    response = await post_report(harness, body)
    assert response.status == 413
    assert await harness.ctx.store.recent_loops() == []


async def test_chunked_body_over_512_kb_is_refused_with_413(harness: Harness) -> None:
    body = json.dumps(report(logs_tail="x" * MAX_BODY_BYTES)).encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = await harness.client.post("/hooks/ci", data=chunks(), headers=bearer())
    assert response.status == 413


async def test_body_just_under_512_kb_is_accepted(harness: Harness) -> None:
    padding = MAX_BODY_BYTES - len(json.dumps(report(logs_tail="")).encode())
    body = json.dumps(report(logs_tail="x" * padding)).encode()
    assert len(body) == MAX_BODY_BYTES
    assert (await post_report(harness, body)).status == 202


# ------------------------------------------------------------------------ 400


async def test_invalid_json_is_refused_with_400(harness: Harness) -> None:
    response = await post_report(harness, b'{"run_id": 1, ')
    assert response.status == 400
    assert "JSON" in (await response.json())["error"]


async def test_missing_fields_are_refused_with_400_naming_each_of_them(harness: Harness) -> None:
    response = await post_report(harness, report(run_id=..., failed_jobs=...))
    assert response.status == 400
    assert (await response.json())["error"] == "missing required fields: run_id, failed_jobs"
    response = await post_report(harness, report(repo=""))
    assert (await response.json())["error"] == "missing required fields: repo"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ([1, 2], "JSON object"),
        (report(run_id="abc"), "run_id"),
        (report(run_id=True), "run_id"),
        (report(repo="no-slash"), "owner/name"),
        (report(failed_jobs="unit tests"), "failed_jobs"),
        (report(logs_tail=["not", "text"]), "logs_tail"),
    ],
)
async def test_malformed_report_is_refused_with_400_saying_what_is_wrong(
    harness: Harness, body: Any, complaint: str
) -> None:
    response = await post_report(harness, body)
    assert response.status == 400
    assert complaint in (await response.json())["error"]


def test_report_parse_accepts_a_numeric_string_run_id_and_strips_the_branch_ref() -> None:
    parsed = CiReport.parse(report(run_id="4711"))
    assert parsed.run_id == 4711
    assert parsed.branch == "main"
    with pytest.raises(ReportError, match="missing required fields: run_id, repo, failed_jobs"):
        CiReport.parse({})


# ------------------------------------------------------------------------ 202


async def test_accepted_report_answers_202_with_category_and_installation_budget(
    harness: Harness,
) -> None:
    store = harness.ctx.store
    now = harness.ctx.clock()
    await store.put_installation(INSTALLATION_ID, "acme", suspended=False, now=now)
    await store.set_installation_repos(INSTALLATION_ID, added=[REPO], removed=())
    await store.add_spend(
        installation_id=INSTALLATION_ID, repo=REPO, loop_id=1, amount_usd=1.25, at=now
    )
    await store.add_spend(installation_id=77, repo="other/repo", loop_id=2, amount_usd=3.0, at=now)
    yesterday = utc_day_start(now) - 60
    await store.add_spend(
        installation_id=INSTALLATION_ID, repo=REPO, loop_id=1, amount_usd=5.0, at=yesterday
    )

    response = await post_report(harness, report())

    assert response.status == 202
    expected = classify_text(PYTEST_TAIL, ["unit tests"]).category.value
    assert expected == "test"
    assert await response.json() == {
        "accepted": True,
        "run_id": 4711,
        "category": expected,
        "budget_remaining": 8.75,  # $10 default per day less today's $1.25 of this installation
    }


async def test_budget_remaining_counts_everyone_when_the_repo_installation_is_unknown(
    harness: Harness,
) -> None:
    now = harness.ctx.clock()
    await harness.ctx.store.add_spend(
        installation_id=77, repo="other/repo", loop_id=2, amount_usd=3.0, at=now
    )
    await harness.ctx.store.add_spend(
        installation_id=78, repo="third/repo", loop_id=3, amount_usd=8.5, at=now
    )
    response = await post_report(harness, report(repo="unknown/repo"))
    assert (await response.json())["budget_remaining"] == 0.0  # never negative


async def test_operator_global_cap_lowers_the_budget_remaining(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(global_daily_budget_usd=4.0)
    now = harness.ctx.clock()
    await harness.ctx.store.add_spend(
        installation_id=77, repo="other/repo", loop_id=2, amount_usd=1.5, at=now
    )
    response = await post_report(harness, report())
    assert (await response.json())["budget_remaining"] == 2.5


async def test_accepted_report_is_recorded_durably_and_shown_by_status(harness: Harness) -> None:
    assert (await post_report(harness, report())).status == 202
    assert (await post_report(harness, report(failed_jobs=["lint"]))).status == 202  # same sha

    status = await build_status(harness.ctx.store, harness.settings, harness.ctx.clock())
    assert status["active"] == []
    [entry] = status["history"]
    assert entry["repo"] == REPO
    assert entry["run_id"] == 4711
    assert entry["run_url"] == "https://ci.example.com/runs/4711"
    assert entry["category"] == "test"
    assert entry["state"] == "cancelled"
    assert entry["reason"] == RECORDED_REASON
    assert entry["fix_branch"] == ""

    events = await harness.ctx.store.events(entry["id"])
    assert [(e.kind, e.detail["failed_jobs"]) for e in events] == [
        ("ci_hook_report", ["unit tests"]),
        ("ci_hook_report", ["lint"]),
    ]
    served = await harness.client.get(
        "/status", headers={"Authorization": "Bearer status-token-for-tests"}
    )
    assert [loop["run_id"] for loop in (await served.json())["history"]] == [4711]


async def test_recorded_report_is_never_taken_up_by_the_engine(harness: Harness) -> None:
    assert (await post_report(harness, report())).status == 202
    await harness.settle()
    [loop] = await harness.ctx.store.recent_loops()
    assert loop.state.terminal
    assert await harness.ctx.store.loop_for_fix_branch(REPO, "ci-fix/4711") is None
    assert harness.fake.requests == []  # nothing was sent to GitHub for it


async def test_store_failure_answers_503_never_500(harness: Harness) -> None:
    await harness.ctx.store.close()
    response = await post_report(harness, report())
    assert response.status == 503
    assert "retry" in (await response.json())["error"]


async def test_answers_are_counted_in_the_deliveries_metric(harness: Harness) -> None:
    await post_report(harness, report())
    await post_report(harness, report(), headers={})
    text = (await (await harness.client.get("/metrics")).read()).decode()
    assert 'cifix_deliveries_total{event="ci_hook",outcome="processed"} 1.0' in text
    assert 'cifix_deliveries_total{event="ci_hook",outcome="rejected"} 1.0' in text
