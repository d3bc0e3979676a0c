"""The gidgethub client the app uses for every REST call to GitHub.

It differs from a plain ``gidgethub.aiohttp.GitHubAPI`` in what an App needs:
the installation token is looked up per request (so an expired one is
replaced transparently), a 401 drops the cached token and retries once, and
transient faults are survived: 5xx answers and connection failures are retried
with exponential backoff and jitter, rate limits are waited out as GitHub asks
(``Retry-After`` or ``x-ratelimit-reset``) instead of hammered.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import cachetools
from gidgethub import BadRequest, GitHubBroken, HTTPException, RateLimitExceeded, sansio
from gidgethub.aiohttp import GitHubAPI
from yarl import URL

from app.github.auth import USER_AGENT, AppAuth

MAX_ATTEMPTS = 4
MAX_WAIT_S = 15 * 60.0

Sleeper = Callable[[float], Awaitable[None]]
TokenSource = Callable[[], Awaitable[str]]
ResponseHook = Callable[[str, int, Mapping[str, str]], None]


class RetryPolicy:
    """How long to wait before retrying; pure arithmetic so it can be tested alone."""

    def __init__(self, base_s: float = 0.5, cap_s: float = 30.0, rng: random.Random | None = None):
        self.base_s = base_s
        self.cap_s = cap_s
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return self.rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))

    def rate_limit_wait(self, headers: Mapping[str, str], now: float) -> float | None:
        """Seconds GitHub asked us to wait, or None when the answer was no rate limit."""
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                return None
        if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
            try:
                return max(0.0, float(headers["x-ratelimit-reset"]) - now)
            except ValueError:
                return None
        return None


class AppGitHubAPI(GitHubAPI):
    """A gidgethub client authenticated as one installation (or as the App)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        token: TokenSource | None,
        on_unauthorized: Callable[[], None] = lambda: None,
        cache: cachetools.Cache[str, Any] | None = None,
        sleeper: Sleeper = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy | None = None,
        on_response: ResponseHook | None = None,
    ) -> None:
        super().__init__(session, USER_AGENT, base_url=base_url, cache=cache)
        self._token = token
        self._on_unauthorized = on_unauthorized
        self._sleeper = sleeper
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._on_response = on_response

    async def sleep(self, seconds: float) -> None:
        await self._sleeper(seconds)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        request_headers = dict(headers)
        if self._token is not None:
            request_headers["authorization"] = f"token {await self._token()}"
        request_headers.setdefault("x-github-api-version", "2022-11-28")
        attempt = 0
        while True:
            attempt += 1
            try:
                status, response_headers, data = await super()._request(
                    method, url, request_headers, body
                )
            except (aiohttp.ClientConnectionError, TimeoutError):
                if not self._may_retry_transport(method, attempt):
                    raise
                await self.sleep(self._policy.backoff(attempt))
                continue
            if self._on_response is not None:
                self._on_response(method, status, response_headers)
            return status, response_headers, data

    async def download(
        self,
        url: str,
        url_vars: Mapping[str, str | int],
        sink: Callable[[bytes], None],
        *,
        max_redirects: int = 3,
    ) -> int:
        """Stream a file GitHub serves by redirect (job logs, tarballs) into ``sink``.

        GitHub answers these endpoints with a 302 to a short-lived signed URL
        on another host; the redirect is followed by hand so the installation
        token is never sent there.  Returns the final HTTP status; the body is
        only streamed when it is 200.
        """
        target = sansio.format_url(url, url_vars, base_url=self.base_url)
        headers: dict[str, str] = {"user-agent": USER_AGENT, "accept": "*/*"}
        if self._token is not None:
            headers["authorization"] = f"token {await self._token()}"
        for _ in range(max_redirects + 1):
            async with self._session.get(target, headers=headers, allow_redirects=False) as resp:
                if self._on_response is not None and "authorization" in headers:
                    self._on_response("GET", resp.status, resp.headers)
                if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                    target = str(resp.url.join(URL(resp.headers["Location"])))
                    headers = {"user-agent": USER_AGENT, "accept": "*/*"}
                    continue
                if resp.status == 200:
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        sink(chunk)
                return resp.status
        return 310  # too many redirects

    @staticmethod
    def _may_retry_transport(method: str, attempt: int) -> bool:
        # A POST whose connection dropped may already have been applied by
        # GitHub; callers that create things reconcile instead (find the
        # existing PR, issue or ref), so only idempotent methods retry here.
        return attempt < MAX_ATTEMPTS and method in ("GET", "HEAD", "PUT", "PATCH", "DELETE")

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        if attempt >= MAX_ATTEMPTS:
            return False
        status = exception.status_code
        headers = {k.lower(): v for k, v in (exception.headers or {}).items()}
        if status == 401 and attempt == 1 and self._token is not None:
            self._on_unauthorized()
            return True
        if isinstance(exception, RateLimitExceeded) or status in (403, 429):
            wait = self._policy.rate_limit_wait(headers, self._clock())
            if wait is None:
                if status == 429 or _is_secondary_limit(exception):
                    wait = 60.0  # GitHub's advice when it gives no hint
                else:
                    return False  # a plain permission error: retrying cannot help
            if wait > MAX_WAIT_S:
                return False
            await self.sleep(wait)
            return True
        if isinstance(exception, GitHubBroken):
            await self.sleep(self._policy.backoff(attempt))
            return True
        return False


def _is_secondary_limit(exception: HTTPException) -> bool:
    if not isinstance(exception, BadRequest):
        return False
    message = " ".join(str(arg) for arg in exception.args).lower()
    return "secondary rate limit" in message or "abuse" in message


class GitHubClients:
    """Hands out clients per installation, sharing the token cache and ETag caches.

    One ETag cache per installation keeps one installation's cached answers
    from ever being served to another.
    """

    def __init__(
        self,
        *,
        auth: AppAuth,
        session: aiohttp.ClientSession,
        api_url: str,
        sleeper: Sleeper = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        on_response: ResponseHook | None = None,
    ) -> None:
        self.auth = auth
        self.session = session
        self.api_url = api_url
        self._sleeper = sleeper
        self._clock = clock
        self._on_response = on_response
        self._caches: cachetools.LRUCache[int, cachetools.LRUCache[str, Any]] = cachetools.LRUCache(
            maxsize=1000
        )

    def for_installation(self, installation_id: int) -> AppGitHubAPI:
        cache = self._caches.get(installation_id)
        if cache is None:
            cache = self._caches[installation_id] = cachetools.LRUCache(maxsize=500)
        return AppGitHubAPI(
            self.session,
            base_url=self.api_url,
            token=lambda: self.auth.installation_token(installation_id),
            on_unauthorized=lambda: self.auth.forget(installation_id),
            cache=cache,
            sleeper=self._sleeper,
            clock=self._clock,
            on_response=self._on_response,
        )

    def forget_installation(self, installation_id: int) -> None:
        """The App was uninstalled: no token or cached answer of it may be reused."""
        self.auth.forget(installation_id)
        self._caches.pop(installation_id, None)
