"""The gidgethub client the app uses for every REST call to GitHub.

It differs from a plain ``gidgethub.aiohttp.GitHubAPI`` in what an App needs:
the installation token is looked up per request (so an expired one is
replaced transparently), a 401 drops the cached token and retries once, and
transient faults are survived: 5xx answers and connection failures are retried
with exponential backoff and jitter, rate limits are waited out as GitHub asks
(``Retry-After`` or ``x-ratelimit-reset``) instead of hammered, and secondary
limits without a hint back off exponentially from a minute.

A POST is not blindly repeated: after a 5xx or a dropped connection GitHub may
already have applied it (one 502 must not file the issue twice).  Only POSTs
that are idempotent by nature (content-addressed git objects, tokens, labels,
reactions, redeliveries) are retried here; the rest go through
``post_reconciled``, which first looks for what the failed POST may have made.
Downloads (logs, tarballs) get the same retries, token refresh and waits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import cachetools
from gidgethub import BadRequest, GitHubBroken, HTTPException, RateLimitExceeded, sansio
from gidgethub import abc as gidgethub_abc
from gidgethub.aiohttp import GitHubAPI
from yarl import URL

from app.core.redact import Redactor
from app.github.auth import USER_AGENT, AppAuth

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
MAX_WAIT_S = 15 * 60.0
SECONDARY_LIMIT_WAIT_S = 60.0  # GitHub: "wait at least one minute", then exponentially longer
# POSTs GitHub applies idempotently: repeating one after a lost answer makes nothing twice.
_IDEMPOTENT_POSTS = re.compile(
    r"/git/(?:blobs|trees|commits)$|/access_tokens$|/labels$|/reactions$"
    r"|/hook/deliveries/\d+/attempts$"
)
_REDIRECTS = (301, 302, 303, 307, 308)

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

    @staticmethod
    def secondary_limit_wait(attempt: int) -> float:
        """A secondary limit without ``Retry-After``: 1 minute, then 2, 4, ... (GitHub's advice)."""
        return SECONDARY_LIMIT_WAIT_S * 2 ** (attempt - 1)

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


def graphql_endpoint(api_url: str) -> str:
    """The GraphQL URL that belongs to a REST API root (github.com, GHES or a test server)."""
    root = api_url.rstrip("/")
    if root.endswith("/api/v3"):
        return root.removesuffix("/v3") + "/graphql"
    return root + "/graphql"


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
        redactor: Redactor | None = None,
    ) -> None:
        super().__init__(session, USER_AGENT, base_url=base_url, cache=cache)
        self._token = token
        self._redactor = redactor
        self._on_unauthorized = on_unauthorized
        self._sleeper = sleeper
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._on_response = on_response

    async def sleep(self, seconds: float) -> None:
        await self._sleeper(seconds)

    @property
    def graphql_url(self) -> str:
        """GitHub's GraphQL endpoint for this API: ``/graphql`` beside the REST root.

        On GitHub Enterprise Server the REST root is ``https://HOST/api/v3`` and
        GraphQL is ``https://HOST/api/graphql``.
        """
        return graphql_endpoint(self.base_url)

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        request_headers = dict(headers)
        if self._token is not None:
            request_headers["authorization"] = f"token {await self._token()}"
        request_headers.setdefault("x-github-api-version", "2022-11-28")
        body = self._redacted(url, body)
        attempt = 0
        while True:
            attempt += 1
            try:
                status, response_headers, data = await super()._request(
                    method, url, request_headers, body
                )
            except (aiohttp.ClientConnectionError, TimeoutError):
                if not self._may_retry_transport(method, url, attempt):
                    raise
                await self.sleep(self._policy.backoff(attempt))
                continue
            if self._on_response is not None:
                self._on_response(method, status, response_headers)
            return status, response_headers, data

    def _redacted(self, url: str, body: bytes) -> bytes:
        """The request body with every secret removed from its text, blobs excepted.

        Every issue, comment, pull request and check run the app writes passes
        here, so no text reaches GitHub without redaction.  A blob is a file of
        the fix, committed byte for byte as the guard judged it (the attempt
        refuses a fix holding a secret value instead of altering it).
        """
        if self._redactor is None or not body or URL(url).path.endswith("/git/blobs"):
            return body
        try:
            data = json.loads(body)
        except ValueError:  # not JSON: nothing this app sends, but never sent unredacted
            return self._redactor(body.decode("utf-8", errors="replace")).encode()
        return json.dumps(self._redactor.data(data)).encode()

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
        only streamed when it is 200.  Until the first byte reaches ``sink``,
        5xx answers and network errors are retried with backoff, a 401 gets a
        fresh token once, and rate limits are waited out; a failure mid-stream
        is raised (``sink`` cannot take bytes back).
        """
        target = sansio.format_url(url, url_vars, base_url=self.base_url)
        attempt = 0
        while True:
            attempt += 1
            streamed = False

            def counted(chunk: bytes) -> None:
                nonlocal streamed
                streamed = True
                sink(chunk)

            try:
                status, headers, message = await self._download_once(target, counted, max_redirects)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError):
                if streamed or attempt >= MAX_ATTEMPTS:
                    raise
                await self.sleep(self._policy.backoff(attempt))
                continue
            if status == 200 or attempt >= MAX_ATTEMPTS:
                return status
            if status == 401 and attempt == 1 and self._token is not None:
                self._on_unauthorized()
                continue
            wait = self._retry_wait(status, headers, message, attempt)
            if wait is None:
                return status
            await self.sleep(wait)

    async def _download_once(
        self, target: str, sink: Callable[[bytes], None], max_redirects: int
    ) -> tuple[int, Mapping[str, str], str]:
        """One try: the final status, its headers and (for errors) the start of its body."""
        headers: dict[str, str] = {"user-agent": USER_AGENT, "accept": "*/*"}
        if self._token is not None:
            headers["authorization"] = f"token {await self._token()}"
        for _ in range(max_redirects + 1):
            async with self._session.get(target, headers=headers, allow_redirects=False) as resp:
                if self._on_response is not None and "authorization" in headers:
                    self._on_response("GET", resp.status, resp.headers)
                if resp.status in _REDIRECTS and "Location" in resp.headers:
                    target = str(resp.url.join(URL(resp.headers["Location"])))
                    headers = {"user-agent": USER_AGENT, "accept": "*/*"}
                    continue
                lowered = {k.lower(): v for k, v in resp.headers.items()}
                if resp.status == 200:
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        sink(chunk)
                    return 200, lowered, ""
                message = (await resp.content.read(4096)).decode("utf-8", "replace")
                return resp.status, lowered, message
        return 310, {}, ""  # too many redirects

    def _retry_wait(
        self, status: int, headers: Mapping[str, str], message: str, attempt: int
    ) -> float | None:
        """How long to wait before repeating a request that got ``status``; None: don't."""
        if status in (403, 429):
            wait = self._policy.rate_limit_wait(headers, self._clock())
            if wait is None:
                lowered = message.lower()
                secondary = "secondary rate limit" in lowered or "abuse" in lowered
                if status != 429 and not secondary:
                    return None  # a plain permission error: retrying cannot help
                wait = self._policy.secondary_limit_wait(attempt)
            return wait if wait <= MAX_WAIT_S else None
        if status >= 500:
            return self._policy.backoff(attempt)
        return None

    @staticmethod
    def _may_retry_transport(method: str, url: str, attempt: int) -> bool:
        # A POST whose connection dropped may already have been applied by
        # GitHub; callers that create things reconcile instead (find the
        # existing PR, issue or ref), so only idempotent requests retry here.
        return attempt < MAX_ATTEMPTS and _idempotent(method, url)

    async def handle_rate_limit_error(
        self, *, method: str, url: str, exception: HTTPException, attempt: int
    ) -> bool:
        if attempt >= MAX_ATTEMPTS:
            return False
        status = int(exception.status_code)
        headers = {k.lower(): v for k, v in (exception.headers or {}).items()}
        if status == 401 and attempt == 1 and self._token is not None:
            self._on_unauthorized()
            return True
        if isinstance(exception, RateLimitExceeded) or status in (403, 429):
            # Refused before GitHub did anything, so even a POST is safe to repeat.
            message = " ".join(str(arg) for arg in exception.args)
            if _is_secondary_limit(exception) and status not in (403, 429):
                status = 403
            wait = self._retry_wait(status, headers, message, attempt)
            if wait is None:
                return False
            await self.sleep(wait)
            return True
        if isinstance(exception, GitHubBroken):
            if not _idempotent(method, url):
                return False  # it may have taken effect: the caller reconciles
            await self.sleep(self._policy.backoff(attempt))
            return True
        return False


_RECONCILE_POLICY = RetryPolicy()


def _idempotent(method: str, url: str) -> bool:
    """Whether repeating the request can never make anything twice."""
    if method in ("GET", "HEAD", "PUT", "PATCH", "DELETE"):
        return True
    return method == "POST" and _IDEMPOTENT_POSTS.search(URL(url).path) is not None


async def post_reconciled(
    gh: gidgethub_abc.GitHubAPI,
    url: str,
    *,
    data: Any,
    find: Callable[[], Awaitable[Any | None]],
    url_vars: Mapping[str, str | int] | None = None,
    attempts: int = 3,
) -> Any:
    """POST ``data`` once; after a 5xx or a dropped connection, repeat it only if ``find``
    (which looks for what the POST creates) says the first try did not take effect."""
    for attempt in range(1, attempts + 1):
        try:
            return await gh.post(url, url_vars or {}, data=data)
        except (GitHubBroken, aiohttp.ClientConnectionError, TimeoutError) as exc:
            if attempt == attempts:
                raise
            log.warning("POST %s failed (%r): checking whether it took effect", url, exc)
            await gh.sleep(_RECONCILE_POLICY.backoff(attempt))
            existing = await find()
            if existing is not None:
                return existing
    raise AssertionError("unreachable")  # pragma: no cover


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
        redactor: Redactor | None = None,
    ) -> None:
        self.auth = auth
        self.redactor = redactor or Redactor()
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
            redactor=self.redactor,
        )

    def for_app(self) -> AppGitHubAPI:
        """A client for the App's own endpoints; pass ``jwt=clients.auth.app_jwt()`` per call."""
        return AppGitHubAPI(
            self.session,
            base_url=self.api_url,
            token=None,
            sleeper=self._sleeper,
            clock=self._clock,
            on_response=self._on_response,
            redactor=self.redactor,
        )

    def forget_installation(self, installation_id: int) -> None:
        """The App was uninstalled: no token or cached answer of it may be reused."""
        self.auth.forget(installation_id)
        self._caches.pop(installation_id, None)
