"""App authentication: JWTs, the installation-token cache, and refresh on 401."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import jwt
import pytest
from aiohttp import web

from app.core.errors import GitHubAuthError
from app.github.auth import AppAuth
from app.github.client import GitHubClients
from tests.fakes.github import FakeGitHub
from tests.fakes.github.auth import generate_private_key_pem

INSTALLATION = 77


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def make_auth(fake: FakeGitHub, session: aiohttp.ClientSession) -> AppAuth:
    return AppAuth(
        app_id=fake.app_id,
        private_key=fake.private_key_pem,
        api_url=fake.url,
        session=session,
        clock=lambda: fake.clock().timestamp(),
    )


def test_app_jwt_is_rs256_backdated_and_short_lived(fake_github: FakeGitHub) -> None:
    auth = AppAuth(
        app_id=fake_github.app_id,
        private_key=fake_github.private_key_pem,
        api_url=fake_github.url,
        session=None,  # type: ignore[arg-type]  # no request is made
        clock=time.time,
        wall_clock=lambda: 1_700_000_000.0,
    )
    token = auth.app_jwt()
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, fake_github.public_key_pem, algorithms=["RS256"],
                        options={"verify_exp": False, "verify_iat": False})  # fmt: skip
    assert header["alg"] == "RS256"
    assert claims["iss"] == str(fake_github.app_id)
    assert claims["iat"] == 1_700_000_000 - 60
    assert claims["exp"] - claims["iat"] <= 600


async def test_fifty_concurrent_callers_share_one_token_request(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    fake_github.add_installation(INSTALLATION, "acme")
    auth = make_auth(fake_github, session)
    tokens = await asyncio.gather(*(auth.installation_token(INSTALLATION) for _ in range(50)))
    assert len(set(tokens)) == 1
    assert fake_github.token_requests[INSTALLATION] == 1
    assert auth.token_requests == 1


async def test_token_is_reused_until_five_minutes_before_it_expires(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    fake_github.add_installation(INSTALLATION, "acme")
    auth = make_auth(fake_github, session)
    first = await auth.installation_token(INSTALLATION)
    fake_github.clock.advance(minutes=54)  # GitHub's tokens live 60 minutes
    assert await auth.installation_token(INSTALLATION) == first
    fake_github.clock.advance(minutes=2)  # now within the last 5 minutes
    second = await auth.installation_token(INSTALLATION)
    assert second != first
    assert fake_github.token_requests[INSTALLATION] == 2


async def test_each_installation_has_its_own_token(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    fake_github.add_installation(1, "acme")
    fake_github.add_installation(2, "globex")
    auth = make_auth(fake_github, session)
    assert await auth.installation_token(1) != await auth.installation_token(2)


async def test_a_401_drops_the_cached_token_and_retries_once(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    fake_github.add_repo("acme/widgets", installation_id=INSTALLATION)
    auth = make_auth(fake_github, session)
    clients = GitHubClients(auth=auth, session=session, api_url=fake_github.url)
    gh = clients.for_installation(INSTALLATION)
    await gh.getitem("/repos/acme/widgets")
    fake_github.expire_tokens()  # GitHub revoked it early; the cache still believes in it

    repo = await gh.getitem("/repos/acme/widgets")
    assert repo["full_name"] == "acme/widgets"
    assert fake_github.token_requests[INSTALLATION] == 2
    statuses = [
        r.path for r in fake_github.requests if r.path == "/repos/acme/widgets"
    ]  # fmt: skip
    assert len(statuses) == 3  # ok, 401, retried ok


async def test_a_refused_token_request_raises_a_clear_error(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    auth = make_auth(fake_github, session)  # installation 77 does not exist
    with pytest.raises(GitHubAuthError, match="installation 77"):
        await auth.installation_token(INSTALLATION)
    assert fake_github.token_requests[INSTALLATION] <= 1


async def test_uninstall_forgets_the_token_and_the_etag_cache(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    fake_github.add_repo("acme/widgets", installation_id=INSTALLATION)
    auth = make_auth(fake_github, session)
    clients = GitHubClients(auth=auth, session=session, api_url=fake_github.url)
    await clients.for_installation(INSTALLATION).getitem("/repos/acme/widgets")
    clients.forget_installation(INSTALLATION)
    await clients.for_installation(INSTALLATION).getitem("/repos/acme/widgets")
    assert fake_github.token_requests[INSTALLATION] == 2
    second = fake_github.calls("GET", "/repos/acme/widgets")[-1]
    assert "if-none-match" not in second.headers  # no cached answer survived


async def test_etag_cache_revalidates_repeated_gets(
    fake_github: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    fake_github.add_repo("acme/widgets", installation_id=INSTALLATION)
    auth = make_auth(fake_github, session)
    gh = GitHubClients(auth=auth, session=session, api_url=fake_github.url).for_installation(
        INSTALLATION
    )
    first = await gh.getitem("/repos/acme/widgets")
    second = await gh.getitem("/repos/acme/widgets")
    assert first == second
    last = fake_github.calls("GET", "/repos/acme/widgets")[-1]
    assert "if-none-match" in last.headers


async def test_a_cancelled_caller_does_not_cancel_the_shared_token_request(
    session: aiohttp.ClientSession,
) -> None:
    """The first caller starts the request; cancelling it leaves the others their token."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def access_tokens(_request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response(
            {"token": "ghs_shared", "expires_at": "2099-01-01T00:00:00Z"}, status=201
        )

    app = web.Application()
    app.router.add_post("/app/installations/{id}/access_tokens", access_tokens)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        auth = AppAuth(
            app_id=1,
            private_key=generate_private_key_pem(),
            api_url=f"http://127.0.0.1:{port}",
            session=session,
            clock=time.time,
        )
        first = asyncio.create_task(auth.installation_token(INSTALLATION))
        await arrived.wait()
        second = asyncio.create_task(auth.installation_token(INSTALLATION))
        first.cancel()
        release.set()
        assert await second == "ghs_shared"
        assert first.cancelled()
        assert auth.token_requests == 1
    finally:
        await runner.cleanup()
