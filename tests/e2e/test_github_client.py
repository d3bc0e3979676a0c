"""The GitHub client against a real loopback server that answers as scripted.

Each test scripts the server's answers (a status, headers, a body, or a dropped
connection), then checks what the client did: which requests reached the
server, with which token, and how long it asked to wait.  Waits go to a
recording sleeper and the clock is injected, so nothing here sleeps.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from gidgethub import BadRequest, GitHubBroken, RateLimitExceeded

from app.github.client import (
    MAX_ATTEMPTS,
    MAX_WAIT_S,
    AppGitHubAPI,
    RetryPolicy,
    post_reconciled,
)

NOW = 1_700_000_000.0
RESET = "reset"  # a scripted answer that drops the connection instead of replying

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
Scripted = Callable[..., Awaitable["ScriptedServer"]]


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON-encoded when not bytes

    def response(self) -> web.StreamResponse:
        if isinstance(self.body, bytes):
            return web.Response(status=self.status, headers=self.headers, body=self.body)
        text = json.dumps(self.body if self.body is not None else {"ok": True})
        return web.Response(
            status=self.status, headers=self.headers, text=text, content_type="application/json"
        )


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class ScriptedServer:
    """Answers requests in order from ``answers``; the last answer repeats."""

    server: TestServer
    answers: list[Answer | str]
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"


async def start_scripted(make_server: ServerFactory, answers: list[Answer | str]) -> ScriptedServer:
    scripted: ScriptedServer

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        scripted.seen.append(Seen(request.method, request.path_qs, headers))
        answer = scripted.answers[min(len(scripted.seen), len(scripted.answers)) - 1]
        if answer == RESET:
            assert request.transport is not None
            request.transport.abort()  # the client sees the connection dropped mid-request
            raise web.HTTPInternalServerError()  # never delivered: the socket is gone
        assert isinstance(answer, Answer)
        return answer.response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    scripted = ScriptedServer(await make_server(app), answers)
    return scripted


@dataclass
class Harness:
    """The client under test with its recorded token lookups, forgets and waits."""

    session: aiohttp.ClientSession
    tokens_issued: int = 0
    forgotten: int = 0
    waits: list[float] = field(default_factory=list)
    responses: list[tuple[str, int]] = field(default_factory=list)

    async def token(self) -> str:
        self.tokens_issued += 1
        return f"tok-{self.tokens_issued}"

    def forget(self) -> None:
        self.forgotten += 1

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def client(self, base_url: str, *, seed: int = 1) -> AppGitHubAPI:
        return AppGitHubAPI(
            self.session,
            base_url=base_url,
            token=self.token,
            on_unauthorized=self.forget,
            sleeper=self.sleep,
            clock=lambda: NOW,
            policy=RetryPolicy(rng=random.Random(seed)),
            on_response=lambda method, status, _headers: self.responses.append((method, status)),
        )


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    # force_close: every request gets a fresh connection, so aiohttp's own retry of a
    # request on a reused keep-alive connection can never hide what the client did.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Harness(session)


@pytest.fixture
def scripted(aiohttp_server: ServerFactory) -> Callable[..., Awaitable[ScriptedServer]]:
    async def start(*answers: Answer | str) -> ScriptedServer:
        return await start_scripted(aiohttp_server, list(answers))

    return start


def expected_backoffs(seed: int, attempts: list[int], policy: RetryPolicy) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0, min(policy.cap_s, policy.base_s * 2**a)) for a in attempts]


# --- tokens ------------------------------------------------------------------------------


async def test_every_request_carries_the_installation_token(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(body={"id": 1}))
    assert await harness.client(server.url).getitem("/repos/o/r") == {"id": 1}
    (seen,) = server.seen
    assert seen.headers["authorization"] == "token tok-1"
    assert seen.headers["x-github-api-version"] == "2022-11-28"
    assert harness.responses == [("GET", 200)]


async def test_a_401_forgets_the_token_and_retries_once_with_a_fresh_one(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(401, body={"message": "Bad credentials"}), Answer(body={"a": 1}))
    assert await harness.client(server.url).getitem("/repos/o/r") == {"a": 1}
    assert [s.headers["authorization"] for s in server.seen] == ["token tok-1", "token tok-2"]
    assert harness.forgotten == 1
    assert harness.waits == []


async def test_a_second_401_is_raised(harness: Harness, scripted: Scripted) -> None:
    server = await scripted(Answer(401, body={"message": "Bad credentials"}))
    with pytest.raises(BadRequest) as caught:
        await harness.client(server.url).getitem("/repos/o/r")
    assert caught.value.status_code == 401
    assert len(server.seen) == 2
    assert harness.forgotten == 1


# --- server errors and dropped connections -------------------------------------------------


async def test_502_twice_then_200_succeeds_after_backing_off(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(502), Answer(502), Answer(body={"ok": 1}))
    client = harness.client(server.url, seed=7)
    assert await client.getitem("/repos/o/r") == {"ok": 1}
    assert len(server.seen) == 3
    assert harness.waits == expected_backoffs(7, [1, 2], RetryPolicy())


async def test_persistent_5xx_is_raised_after_the_last_attempt(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(503))
    with pytest.raises(GitHubBroken):
        await harness.client(server.url).getitem("/repos/o/r")
    assert len(server.seen) == MAX_ATTEMPTS
    assert len(harness.waits) == MAX_ATTEMPTS - 1


async def test_dropped_connection_on_get_is_retried(harness: Harness, scripted: Scripted) -> None:
    # aiohttp itself resends an idempotent request once when the connection drops
    # (RFC 9112 section 9.3.1), so two drops in a row are what reach the client's own retry.
    server = await scripted(RESET, RESET, Answer(body={"ok": 1}))
    client = harness.client(server.url, seed=3)
    assert await client.getitem("/repos/o/r") == {"ok": 1}
    assert len(server.seen) == 3
    assert harness.waits == expected_backoffs(3, [1], RetryPolicy())


async def test_connection_dropping_every_time_is_raised_after_the_last_attempt(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(RESET)
    with pytest.raises(aiohttp.ClientConnectionError):
        await harness.client(server.url).getitem("/repos/o/r")
    assert len(harness.waits) == MAX_ATTEMPTS - 1
    assert len(server.seen) >= MAX_ATTEMPTS


async def test_dropped_connection_on_post_is_raised_without_retrying(
    harness: Harness, scripted: Scripted
) -> None:
    # The POST may have been applied before the connection dropped: a retry could
    # open a second pull request, so the caller reconciles instead.
    server = await scripted(RESET, Answer(201, body={"number": 1}))
    with pytest.raises(aiohttp.ClientConnectionError):
        await harness.client(server.url).post("/repos/o/r/issues", data={"title": "x"})
    assert [s.method for s in server.seen] == ["POST"]
    assert harness.waits == []


# --- rate limits -------------------------------------------------------------------------


async def test_429_with_retry_after_waits_that_long_then_succeeds(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(429, {"Retry-After": "3"}), Answer(body={"ok": 1}))
    assert await harness.client(server.url).getitem("/repos/o/r") == {"ok": 1}
    assert harness.waits == [3.0]
    assert len(server.seen) == 2


async def test_exhausted_rate_limit_waits_until_the_reset_time(
    harness: Harness, scripted: Scripted
) -> None:
    limited = Answer(
        403,
        {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(NOW) + 120),
        },
        {"message": "API rate limit exceeded for installation ID 1."},
    )
    server = await scripted(limited, Answer(body={"ok": 1}))
    assert await harness.client(server.url).getitem("/repos/o/r") == {"ok": 1}
    assert harness.waits == [120.0]
    assert len(server.seen) == 2


async def test_rate_limit_resetting_too_far_ahead_is_raised_without_waiting(
    harness: Harness, scripted: Scripted
) -> None:
    limited = Answer(
        403,
        {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(NOW + MAX_WAIT_S) + 60),
        },
        {"message": "API rate limit exceeded"},
    )
    server = await scripted(limited)
    with pytest.raises(RateLimitExceeded):
        await harness.client(server.url).getitem("/repos/o/r")
    assert harness.waits == []
    assert len(server.seen) == 1


async def test_secondary_rate_limit_without_hints_waits_a_minute(
    harness: Harness, scripted: Scripted
) -> None:
    secondary = Answer(403, body={"message": "You have exceeded a secondary rate limit."})
    server = await scripted(secondary, Answer(body={"ok": 1}))
    assert await harness.client(server.url).getitem("/repos/o/r") == {"ok": 1}
    assert harness.waits == [60.0]


async def test_repeated_secondary_limits_back_off_exponentially(
    harness: Harness, scripted: Scripted
) -> None:
    secondary = Answer(403, body={"message": "You have exceeded a secondary rate limit."})
    server = await scripted(secondary, secondary, secondary, Answer(body={"ok": 1}))
    assert await harness.client(server.url).getitem("/repos/o/r") == {"ok": 1}
    assert harness.waits == [60.0, 120.0, 240.0]


# --- POSTs that may have taken effect ------------------------------------------------------


async def test_a_post_answered_502_is_not_repeated_by_the_client(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(502, body={"message": "Bad Gateway"}), Answer(201))
    with pytest.raises(GitHubBroken):
        await harness.client(server.url).post("/repos/o/r/issues", data={"title": "t"})
    assert [s.method for s in server.seen] == ["POST"]


async def test_a_content_addressed_post_answered_502_is_repeated(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(502, body={"message": "Bad Gateway"}), Answer(201))
    await harness.client(server.url).post("/repos/o/r/git/blobs", data={"content": "x"})
    assert [s.method for s in server.seen] == ["POST", "POST"]


async def test_a_reconciled_post_that_took_effect_is_found_not_repeated(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(502, body={"message": "Bad Gateway"}))
    client = harness.client(server.url)
    looked: list[str] = []

    async def find() -> dict[str, Any] | None:
        looked.append("issues")
        return {"number": 7}

    made = await post_reconciled(client, "/repos/o/r/issues", data={"title": "t"}, find=find)
    assert made == {"number": 7}
    assert [s.method for s in server.seen] == ["POST"]
    assert looked == ["issues"]


async def test_a_reconciled_post_that_did_not_take_effect_is_made_again(
    harness: Harness, scripted: Scripted
) -> None:
    server = await scripted(Answer(502, body={"message": "x"}), Answer(201, body={"number": 8}))

    async def find() -> dict[str, Any] | None:
        return None

    client = harness.client(server.url)
    made = await post_reconciled(client, "/repos/o/r/issues", data={"title": "t"}, find=find)
    assert made == {"number": 8}
    assert [s.method for s in server.seen] == ["POST", "POST"]


async def test_plain_403_is_raised_without_retrying(harness: Harness, scripted: Scripted) -> None:
    forbidden = Answer(403, body={"message": "Resource not accessible by integration"})
    server = await scripted(forbidden, Answer(body={"ok": 1}))
    with pytest.raises(BadRequest) as caught:
        await harness.client(server.url).getitem("/repos/o/r")
    assert caught.value.status_code == 403
    assert len(server.seen) == 1
    assert harness.waits == []


# --- downloads ---------------------------------------------------------------------------


async def test_download_follows_the_redirect_without_the_token_and_streams_the_body(
    harness: Harness, scripted: Scripted
) -> None:
    blob = bytes(range(256)) * 1024  # 256 KiB: arrives in several chunks
    blobs = await scripted(Answer(200, {"Content-Type": "text/plain"}, blob))
    api = await scripted(Answer(302, {"Location": f"{blobs.url}/logs/1?sig=abc"}, b""))
    chunks: list[bytes] = []
    client = harness.client(api.url)
    job_logs = "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs"
    variables = {"owner": "o", "repo": "r", "job_id": 5}
    status = await client.download(job_logs, variables, chunks.append)
    assert status == 200
    assert b"".join(chunks) == blob
    assert len(chunks) > 1
    (to_api,) = api.seen
    assert to_api.path == "/repos/o/r/actions/jobs/5/logs"
    assert to_api.headers["authorization"] == "token tok-1"
    (to_blob,) = blobs.seen
    assert to_blob.path == "/logs/1?sig=abc"
    assert "authorization" not in to_blob.headers


async def test_download_returns_404_without_calling_the_sink(
    harness: Harness, scripted: Scripted
) -> None:
    api = await scripted(Answer(404, body={"message": "Not Found"}))
    chunks: list[bytes] = []
    assert await harness.client(api.url).download("/logs", {}, chunks.append) == 404
    assert chunks == []


async def test_download_returns_410_of_an_expired_redirect_target(
    harness: Harness, scripted: Scripted
) -> None:
    blobs = await scripted(Answer(410, body=b"gone"))
    api = await scripted(Answer(302, {"Location": f"{blobs.url}/expired"}, b""))
    chunks: list[bytes] = []
    assert await harness.client(api.url).download("/logs", {}, chunks.append) == 410
    assert chunks == []
    assert "authorization" not in blobs.seen[0].headers


async def test_download_gives_up_after_too_many_redirects(
    harness: Harness, scripted: Scripted
) -> None:
    loop_server = await scripted(Answer(302, {"Location": "/again"}, b""))
    chunks: list[bytes] = []
    status = await harness.client(loop_server.url).download(
        "/logs", {}, chunks.append, max_redirects=2
    )
    assert status == 310
    assert len(loop_server.seen) == 3
    assert chunks == []


async def test_download_retries_5xx_and_dropped_connections_before_streaming(
    harness: Harness, scripted: Scripted
) -> None:
    api = await scripted(Answer(502, body=b"bad gateway"), RESET, Answer(200, body=b"log"))
    chunks: list[bytes] = []
    assert await harness.client(api.url).download("/logs", {}, chunks.append) == 200
    assert b"".join(chunks) == b"log"
    assert len(api.seen) == 3
    # (aiohttp may resend the dropped GET itself, without asking the client to wait)
    assert 1 <= len(harness.waits) <= 2 and all(0 <= w <= 0.5 * 2**2 for w in harness.waits)


async def test_download_gets_a_fresh_token_after_a_401(
    harness: Harness, scripted: Scripted
) -> None:
    api = await scripted(Answer(401, body=b"Bad credentials"), Answer(200, body=b"log"))
    chunks: list[bytes] = []
    assert await harness.client(api.url).download("/logs", {}, chunks.append) == 200
    assert harness.forgotten == 1
    assert [s.headers["authorization"] for s in api.seen] == ["token tok-1", "token tok-2"]


async def test_download_waits_out_a_rate_limit_as_github_asks(
    harness: Harness, scripted: Scripted
) -> None:
    limited = Answer(429, {"Retry-After": "30"}, b"slow down")
    api = await scripted(limited, Answer(200, body=b"log"))
    chunks: list[bytes] = []
    assert await harness.client(api.url).download("/logs", {}, chunks.append) == 200
    assert harness.waits == [30.0]


async def test_download_gives_up_after_the_last_attempt_with_the_status(
    harness: Harness, scripted: Scripted
) -> None:
    api = await scripted(Answer(503, body=b"unavailable"))
    chunks: list[bytes] = []
    assert await harness.client(api.url).download("/logs", {}, chunks.append) == 503
    assert len(api.seen) == MAX_ATTEMPTS
    assert chunks == []


# --- RetryPolicy -------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(12))
def test_backoff_stays_within_the_exponential_bound_and_the_cap(attempt: int) -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=30.0, rng=random.Random(attempt))
    bound = min(30.0, 0.5 * 2**attempt)
    waits = [policy.backoff(attempt) for _ in range(200)]
    assert all(0.0 <= w <= bound for w in waits)
    assert max(waits) > bound / 2  # full jitter uses the whole range, not a sliver of it


def test_retry_after_is_read_before_the_rate_limit_reset() -> None:
    headers = {"retry-after": "7", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9999"}
    assert RetryPolicy().rate_limit_wait(headers, NOW) == 7.0


def test_reset_in_the_past_means_no_wait() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}
    assert RetryPolicy().rate_limit_wait(headers, NOW) == 0.0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"retry-after": "soon"},
        {"x-ratelimit-remaining": "12", "x-ratelimit-reset": "1"},
        {"x-ratelimit-remaining": "0"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "tomorrow"},
    ],
)
def test_answers_without_a_usable_rate_limit_hint_give_none(headers: dict[str, str]) -> None:
    assert RetryPolicy().rate_limit_wait(headers, NOW) is None
