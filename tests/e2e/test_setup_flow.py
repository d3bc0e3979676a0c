"""The manifest setup flow: the page, GitHub's redirect back, `.env`, and a real browser click.

The setup server runs on loopback for real.  GitHub's API (the code conversion)
is the shared fake; github.com's "create an App from a manifest" page, which a
person confirms, is a small stand-in that redirects back the way GitHub does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import yaml
from aiohttp import web
from dotenv import dotenv_values

from app.admin.setup import (
    MANIFEST_PATH,
    build_setup_app,
    format_env_value,
    web_url_for_api,
    write_env,
)
from tests.browser import chromium, click, navigate

SETUP_KEYS = (
    "APP_ID",
    "PRIVATE_KEY",
    "WEBHOOK_SECRET",
    "APP_SLUG",
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
)


# --- helpers ------------------------------------------------------------------------------


@asynccontextmanager
async def serve(build: Callable[[str], web.Application]) -> AsyncIterator[str]:
    """Serve ``build(base_url)`` on a loopback port known before the app is built.

    The setup app must know its own public URL (it goes into the manifest), so the
    socket is bound first and the app built for that address.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    runner = web.AppRunner(build(base_url))
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield base_url
    finally:
        await runner.cleanup()


@dataclass
class Form:
    attrs: dict[str, str]
    inputs: dict[str, str] = field(default_factory=dict)


class FormParser(HTMLParser):
    """The forms, inputs and buttons of a page, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, Form] = {}
        self.buttons: list[dict[str, str]] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(values)
            self.forms[values.get("id", f"form{len(self.forms)}")] = self._current
        elif tag == "input" and self._current is not None and "name" in values:
            self._current.inputs[values["name"]] = values.get("value", "")
        elif tag == "button":
            self.buttons.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html_text: str) -> FormParser:
    parser = FormParser()
    parser.feed(html_text)
    return parser


def app_template() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST_PATH.read_text())


@dataclass
class Setup:
    """A running setup server and what it needs."""

    url: str
    env_path: Path
    fake: Any


@pytest.fixture
async def setup(fake_github: Any, tmp_path: Path) -> AsyncIterator[Setup]:
    env_path = tmp_path / ".env"

    def build(base_url: str) -> web.Application:
        return build_setup_app(
            env_path=env_path,
            public_url=base_url,
            github_web_url="https://github.example",
            github_api_url=fake_github.url,
        )

    async with serve(build) as url:
        yield Setup(url=url, env_path=env_path, fake=fake_github)


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def start_registration(setup: Setup, query: str = "") -> tuple[Form, dict[str, Any], str]:
    """Load the page; return the register form, its manifest and its state."""
    status, text = await get(f"{setup.url}/setup{query}")
    assert status == 200
    form = parse_forms(text).forms["register-form"]
    state = parse_qs(urlsplit(form.attrs["action"]).query)["state"][0]
    return form, json.loads(form.inputs["manifest"]), state


# --- the page -----------------------------------------------------------------------------


async def test_page_posts_the_manifest_with_this_servers_urls(setup: Setup) -> None:
    form, manifest, state = await start_registration(setup)

    assert form.attrs["method"] == "post"
    action = urlsplit(form.attrs["action"])
    assert f"{action.scheme}://{action.netloc}{action.path}" == (
        "https://github.example/settings/apps/new"
    )
    assert len(state) >= 24
    template = app_template()
    assert manifest["hook_attributes"] == {"url": f"{setup.url}/webhook", "active": True}
    assert manifest["redirect_url"] == f"{setup.url}/setup/callback"
    assert manifest["url"] == setup.url
    assert manifest["default_events"] == template["default_events"]
    assert manifest["default_permissions"] == template["default_permissions"]
    assert manifest["name"] == "ci-fix-loop"


async def test_page_shows_the_register_button_and_a_localhost_warning(setup: Setup) -> None:
    _, text = await get(f"{setup.url}/")
    page = parse_forms(text)
    assert {"id": "register", "class": "primary", "type": "submit"} in page.buttons
    assert "Register GitHub App" in text
    assert "GitHub cannot deliver webhooks there" in text
    assert "<link" not in text and "<script" not in text  # no external assets


async def test_an_organization_registers_under_its_settings(setup: Setup) -> None:
    form, _, _ = await start_registration(setup, "?org=acme-inc")
    assert urlsplit(form.attrs["action"]).path == "/organizations/acme-inc/settings/apps/new"


async def test_an_invalid_organization_is_refused_on_the_page(setup: Setup) -> None:
    status, text = await get(f"{setup.url}/setup?org=not%20an%20org%3Cb%3E")
    assert status == 200
    assert "is not an organization login" in text
    assert "<b>" not in text
    form = parse_forms(text).forms["register-form"]
    assert urlsplit(form.attrs["action"]).path == "/settings/apps/new"


def test_app_yml_asks_for_the_documented_minimum() -> None:
    template = app_template()
    assert template["default_permissions"] == {
        "metadata": "read",
        "actions": "write",
        "checks": "write",
        "contents": "write",
        "issues": "write",
        "pull_requests": "write",
    }
    # GitHub delivers installation events to every App and rejects them in a manifest.
    assert template["default_events"] == ["workflow_run", "issue_comment", "push"]
    assert template["public"] is False


# --- the callback -------------------------------------------------------------------------


async def test_callback_writes_the_credentials_to_a_private_env_file(setup: Setup) -> None:
    setup.env_path.write_text(
        "# operator settings\nPORT=8080\nPRIVATE_KEY_PATH=/old/app.pem\n"
        'PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\nold\n-----END RSA PRIVATE KEY-----"\n'
        "APP_ID=1\n"
    )
    setup.env_path.chmod(0o644)
    _, _, state = await start_registration(setup)
    setup.fake.add_manifest_code("code-123")

    status, text = await get(f"{setup.url}/setup/callback?code=code-123&state={state}")

    assert status == 200, text
    assert "ci-fix-loop is registered" in text
    values = dotenv_values(setup.env_path)
    assert values["PORT"] == "8080"
    assert "PRIVATE_KEY_PATH" not in values  # it would point at the previous App's key
    assert values["APP_ID"] == str(setup.fake.app_id)
    assert values["PRIVATE_KEY"] == setup.fake.private_key_pem
    assert values["PRIVATE_KEY"].startswith("-----BEGIN")
    assert values["APP_SLUG"] == setup.fake.app_slug
    for key in SETUP_KEYS:
        assert values[key], key
        assert values[key] not in text or key in ("APP_ID", "APP_SLUG")
    content = setup.env_path.read_text()
    assert content.startswith("# operator settings\n")
    assert content.count("APP_ID=") == 1
    assert stat.S_IMODE(setup.env_path.stat().st_mode) == 0o600
    assert f"/apps/{setup.fake.app_slug}/installations/new" in text


async def test_a_new_env_file_is_created_0600(setup: Setup) -> None:
    _, _, state = await start_registration(setup)
    setup.fake.add_manifest_code("fresh")
    status, _ = await get(f"{setup.url}/setup/callback?code=fresh&state={state}")
    assert status == 200
    assert stat.S_IMODE(setup.env_path.stat().st_mode) == 0o600
    assert set(dotenv_values(setup.env_path)) == set(SETUP_KEYS)


async def test_a_code_github_does_not_know_shows_an_error_page(setup: Setup) -> None:
    _, _, state = await start_registration(setup)
    status, text = await get(f"{setup.url}/setup/callback?code=expired&state={state}")
    assert status == 502
    assert "GitHub refused the registration code (HTTP 404" in text
    assert "Register again" in text
    assert "Traceback" not in text
    assert not setup.env_path.exists()


@pytest.mark.parametrize("state", ["", "forged"])
async def test_a_callback_not_started_here_is_refused(setup: Setup, state: str) -> None:
    setup.fake.add_manifest_code("code-1")
    status, text = await get(f"{setup.url}/setup/callback?code=code-1&state={state}")
    assert status == 400
    assert "not started from this setup server" in text
    assert not setup.env_path.exists()


async def test_each_state_is_good_for_one_registration(setup: Setup) -> None:
    _, _, state = await start_registration(setup)
    setup.fake.add_manifest_code("first")
    setup.fake.add_manifest_code("second")
    assert (await get(f"{setup.url}/setup/callback?code=first&state={state}"))[0] == 200
    status, text = await get(f"{setup.url}/setup/callback?code=second&state={state}")
    assert status == 400
    assert "unknown state" in text


async def test_a_callback_that_failed_on_the_network_is_retried_with_the_same_code(
    setup: Setup,
) -> None:
    _, _, state = await start_registration(setup)
    setup.fake.add_manifest_code("flaky-code")
    setup.fake.inject("POST", "/app-manifests/*/conversions", status=0, reset_connection=True)
    callback = f"{setup.url}/setup/callback?code=flaky-code&state={state}"
    status, text = await get(callback)
    assert status == 502 and "could not be reached" in text
    assert not setup.env_path.exists()

    status, text = await get(callback)  # the person reloads the page
    assert status == 200 and "ci-fix-loop is registered" in text
    assert dotenv_values(setup.env_path)["APP_ID"] == str(setup.fake.app_id)
    status, text = await get(callback)  # and again: the same page, nothing registered twice
    assert status == 200 and "ci-fix-loop is registered" in text


async def test_a_failed_env_write_is_retried_without_asking_github_again(setup: Setup) -> None:
    _, _, state = await start_registration(setup)
    setup.fake.add_manifest_code("once")
    setup.env_path.mkdir()  # .env cannot be replaced: the write fails after the exchange
    callback = f"{setup.url}/setup/callback?code=once&state={state}"
    status, text = await get(callback)
    assert status == 500 and "could not be written" in text and "reload this page" in text
    setup.env_path.rmdir()

    status, text = await get(callback)
    assert status == 200 and "ci-fix-loop is registered" in text
    conversions = [r for r in setup.fake.requests if r.path.endswith("/conversions")]
    assert len(conversions) == 1  # GitHub accepts a code once; the reload did not reuse it
    assert dotenv_values(setup.env_path)["WEBHOOK_SECRET"] == setup.fake.webhook_secret


async def test_links_come_from_githubs_html_url_and_the_last_step_names_the_fixer(
    setup: Setup,
) -> None:
    _, _, state = await start_registration(setup)
    setup.fake.add_manifest_code("c")
    status, text = await get(f"{setup.url}/setup/callback?code=c&state={state}")
    assert status == 200
    assert f'href="https://github.com/apps/{setup.fake.app_slug}/installations/new"' in text
    for option in ("FIXER_COMMAND", "ANTHROPIC_API_KEY", "FIXER=none"):
        assert option in text


@pytest.mark.parametrize(
    ("api", "web_host"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_the_github_web_host_follows_the_api_url(api: str, web_host: str) -> None:
    assert web_url_for_api(api) == web_host


async def test_a_missing_code_is_explained(setup: Setup) -> None:
    status, text = await get(f"{setup.url}/setup/callback")
    assert status == 400
    assert "did not send back a registration code" in text


async def test_an_unreachable_api_shows_a_network_error_page(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_api = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there now

    def build(base_url: str) -> web.Application:
        return build_setup_app(
            env_path=tmp_path / ".env", public_url=base_url, github_api_url=dead_api
        )

    async with serve(build) as url:
        _, text = await get(f"{url}/setup")
        form = parse_forms(text).forms["register-form"]
        state = parse_qs(urlsplit(form.attrs["action"]).query)["state"][0]
        status, text = await get(f"{url}/setup/callback?code=abc&state={state}")
    assert status == 502
    assert "could not be reached" in text
    assert not (tmp_path / ".env").exists()


# --- .env writing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "12345",
        "Iv1.abc",
        "a b c",
        'quote " and back\\slash',
        "-----BEGIN RSA PRIVATE KEY-----\nAAA\nBBB=\n-----END RSA PRIVATE KEY-----\n",
    ],
)
def test_env_values_read_back_unchanged(tmp_path: Path, value: str) -> None:
    path = tmp_path / ".env"
    write_env(path, {"KEY": value})
    assert dotenv_values(path)["KEY"] == value
    assert "\n" not in format_env_value(value)


def test_write_env_keeps_other_settings_and_replaces_its_own(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("HOST=0.0.0.0\nexport APP_ID=7\n\n# keep me\nLOG_LEVEL=debug")
    write_env(path, {"APP_ID": "8"})
    assert path.read_text() == "HOST=0.0.0.0\n\n# keep me\nLOG_LEVEL=debug\n\nAPP_ID=8\n"


# --- a real browser -----------------------------------------------------------------------


def github_new_app_page(
    code: str, received: asyncio.Future[dict[str, str]]
) -> Callable[[str], web.Application]:
    """github.com's "create App from manifest" page, after the person pressed "Create".

    It records the form the browser posted and redirects to the manifest's
    ``redirect_url`` with a code and the ``state`` from the form's action, as GitHub does.
    """

    async def create(request: web.Request) -> web.Response:
        form = await request.post()
        manifest = json.loads(str(form["manifest"]))
        received.set_result({"manifest": str(form["manifest"]), **request.query})
        location = f"{manifest['redirect_url']}?code={code}&state={request.query['state']}"
        raise web.HTTPFound(location)

    def build(_: str) -> web.Application:
        app = web.Application()
        app.router.add_post("/settings/apps/new", create)
        return app

    return build


async def test_a_browser_renders_the_page_and_registers_end_to_end(
    fake_github: Any, tmp_path: Path
) -> None:
    env_path = tmp_path / ".env"
    received: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
    fake_github.add_manifest_code("browser-code")

    async with serve(github_new_app_page("browser-code", received)) as github_web:

        def build(base_url: str) -> web.Application:
            return build_setup_app(
                env_path=env_path,
                public_url=base_url,
                github_web_url=github_web,
                github_api_url=fake_github.url,
            )

        async with serve(build) as setup_url, chromium(tmp_path) as (tools, page):
            await navigate(tools, page, f"{setup_url}/setup")
            rendered = await tools.evaluate(
                page,
                """(() => {
                    const form = document.getElementById('register-form');
                    const button = document.getElementById('register');
                    const box = button.getBoundingClientRect();
                    return {action: form.action, method: form.method,
                            button: button.innerText, visible: box.width > 0 && box.height > 0,
                            background: getComputedStyle(button).backgroundColor};
                })()""",
            )
            shot = await tools.send(
                "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, page
            )
            (tmp_path / "setup.png").write_bytes(base64.b64decode(shot["data"]))

            await click(tools, page, "#register")
            posted = await asyncio.wait_for(received, 30)
            await tools.event("Page.loadEventFired")
            done = await tools.evaluate(
                page,
                "({path: location.pathname, title: document.querySelector('h1').innerText,"
                " install: document.getElementById('install').href})",
            )

    assert rendered["action"].startswith(f"{github_web}/settings/apps/new?state=")
    assert rendered["method"] == "post"
    assert rendered["button"] == "Register GitHub App"
    assert rendered["visible"]
    assert rendered["background"] == "rgb(31, 136, 61)"  # the styled primary button
    assert (tmp_path / "setup.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    manifest = json.loads(posted["manifest"])
    assert manifest["hook_attributes"]["url"] == f"{setup_url}/webhook"
    assert manifest["default_permissions"] == app_template()["default_permissions"]
    assert posted["state"] in rendered["action"]

    assert done["path"] == "/setup/callback"
    assert done["title"] == "ci-fix-loop is registered"
    assert done["install"].endswith(f"/apps/{fake_github.app_slug}/installations/new")
    values = dotenv_values(env_path)
    assert values["APP_ID"] == str(fake_github.app_id)
    assert values["PRIVATE_KEY"] == fake_github.private_key_pem
    assert stat.S_IMODE(os.stat(env_path).st_mode) == 0o600
