"""Authenticating as the GitHub App and as its installations.

GitHub hands out installation tokens that live one hour.  Minting one per
webhook would cost a request each time and, when fifty deliveries arrive at
once, fifty identical requests; so tokens are cached until five minutes before
they expire and concurrent callers for one installation share a single
in-flight request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import cachetools
import jwt

from app.core.errors import GitHubAuthError

JWT_BACKDATE_S = 60
JWT_LIFETIME_S = 9 * 60  # GitHub accepts at most 10 minutes; leave room for clock drift
TOKEN_REFRESH_MARGIN_S = 5 * 60
USER_AGENT = "ci-fix-loop (+https://github.com/apps/ci-fix-loop)"


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: float

    def __str__(self) -> str:
        return "InstallationToken(<redacted>)"


class AppAuth:
    """Issues App JWTs and cached installation tokens.

    ``clock`` returns Unix seconds and decides when a cached token is stale;
    tests pass their own to move time without sleeping.  JWTs always use the
    wall clock: GitHub checks them against its own.  The cache is bounded so a
    very large number of installations cannot grow memory without limit.
    """

    def __init__(
        self,
        *,
        app_id: int,
        private_key: str,
        api_url: str,
        session: aiohttp.ClientSession,
        clock: Callable[[], float],
        wall_clock: Callable[[], float] = time.time,
        max_installations: int = 10_000,
        on_token: Callable[[str], None] = lambda _token: None,
    ) -> None:
        self._app_id = app_id
        self._private_key = private_key
        self._api_url = api_url.rstrip("/")
        self._session = session
        self._clock = clock
        self._wall_clock = wall_clock
        # Told every token minted, so the redactor can remove it from outbound text.
        self._on_token = on_token
        self._tokens: cachetools.TLRUCache[int, InstallationToken] = cachetools.TLRUCache(
            maxsize=max_installations,
            ttu=lambda _key, value, _now: value.expires_at - TOKEN_REFRESH_MARGIN_S,
            timer=clock,
        )
        self._inflight: dict[int, asyncio.Task[InstallationToken]] = {}
        self.token_requests = 0

    def app_jwt(self) -> str:
        """A JWT that identifies the App itself (for /app endpoints)."""
        now = int(self._wall_clock())
        payload = {
            "iat": now - JWT_BACKDATE_S,
            "exp": now + JWT_LIFETIME_S,
            "iss": str(self._app_id),
        }
        return jwt.encode(payload, self._private_key, algorithm="RS256")

    async def installation_token(self, installation_id: int) -> str:
        """A valid token for ``installation_id``, minted at most once per lifetime.

        Concurrent callers share one request, run as its own task: a caller that is
        cancelled stops waiting for it without cancelling it for the others.
        """
        cached = self._tokens.get(installation_id)
        if cached is not None:
            return cached.token
        minting = self._inflight.get(installation_id)
        if minting is None:
            minting = asyncio.create_task(self._mint(installation_id))
            self._inflight[installation_id] = minting
            minting.add_done_callback(lambda task: self._minted(installation_id, task))
        return (await asyncio.shield(minting)).token

    def _minted(self, installation_id: int, task: asyncio.Task[InstallationToken]) -> None:
        del self._inflight[installation_id]
        if not task.cancelled():
            # Retrieve a failure here so it does not warn when every waiter was cancelled.
            task.exception()

    def forget(self, installation_id: int) -> None:
        """Drop a cached token: GitHub said it is no longer valid, or the App was removed."""
        self._tokens.pop(installation_id, None)

    async def _mint(self, installation_id: int) -> InstallationToken:
        """Request a new token from GitHub and cache it."""
        self.token_requests += 1
        url = f"{self._api_url}/app/installations/{installation_id}/access_tokens"
        headers = {
            "Authorization": f"Bearer {self.app_jwt()}",
            "Accept": "application/vnd.github+json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Api-Version": "2022-11-28",
        }
        async with self._session.post(url, headers=headers) as response:
            if response.status != 201:
                # GitHub's message is safe to show; the JWT is never part of it.
                detail = (await response.text())[:300]
                raise GitHubAuthError(
                    f"GitHub refused an installation token for installation {installation_id} "
                    f"(HTTP {response.status}): {detail}"
                )
            data = await response.json()
        expires = datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00")).timestamp()
        token = InstallationToken(token=data["token"], expires_at=expires)
        self._on_token(token.token)
        self._tokens[installation_id] = token
        return token
