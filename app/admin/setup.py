"""`python -m app setup`: register the GitHub App from `app.yml`, as Probot does.

GitHub's manifest flow has three steps, and this module serves the two that
happen on our side:

1. ``GET /setup`` shows a page whose button POSTs the manifest (``app.yml`` with
   this server's public URLs filled in) to ``{github}/settings/apps/new`` (or the
   organization's equivalent).  The person confirms on GitHub.
2. GitHub redirects back to ``/setup/callback?code=...&state=...``; we exchange
   the one-time code at ``POST /app-manifests/{code}/conversions`` for the App's
   id, private key and webhook secret, and write them to ``.env`` (mode 0600).

``state`` is a random value issued with each page and accepted once, so only a
registration started from this page can write credentials.  Secrets are never
logged or shown; failures render as a page that says what to do next.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import yaml
from aiohttp import web

from app.core.errors import SetupFailed

logger = logging.getLogger(__name__)

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "app.yml"
TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_WEB_URL = "https://github.com"
DEFAULT_API_URL = "https://api.github.com"
MAX_PENDING_STATES = 100
# What the conversion response holds -> the .env key the app's settings read.
ENV_KEYS: dict[str, str] = {
    "id": "APP_ID",
    "pem": "PRIVATE_KEY",
    "webhook_secret": "WEBHOOK_SECRET",
    "slug": "APP_SLUG",
    "client_id": "GITHUB_CLIENT_ID",
    "client_secret": "GITHUB_CLIENT_SECRET",
}
# Settings that would point at a previous App's key once a new App is registered.
SUPERSEDED_KEYS = ("PRIVATE_KEY_PATH",)
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_CODE = re.compile(r"[A-Za-z0-9_-]{1,200}")
_ENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_./:@+-]*")


@dataclass(frozen=True)
class SetupOptions:
    """Where the setup talks to and writes; one per setup server."""

    env_path: Path
    public_url: str
    github_web_url: str = DEFAULT_WEB_URL
    github_api_url: str = DEFAULT_API_URL
    manifest_path: Path = MANIFEST_PATH


OPTIONS_KEY = web.AppKey("setup_options", SetupOptions)
STATES_KEY = web.AppKey("setup_states", OrderedDict)
# Registrations that completed, by the code GitHub sent: reloading the callback
# page shows the result again instead of refusing a code that was already used.
DONE_KEY = web.AppKey("setup_done", OrderedDict)
# Credentials GitHub handed over for a code whose .env write then failed: GitHub
# accepts a code once, so a reload must retry the write, not the exchange.
CONVERTED_KEY = web.AppKey("setup_converted", OrderedDict)


def web_url_for_api(api_url: str) -> str:
    """GitHub's web host for an API root: github.com, or the Enterprise Server's own host.

    ``https://api.github.com`` -> ``https://github.com``; ``https://ghe.example/api/v3``
    -> ``https://ghe.example``; anything else (a test server) is its own web host.
    """
    root = api_url.rstrip("/")
    if root == DEFAULT_API_URL:
        return DEFAULT_WEB_URL
    return root.removesuffix("/api/v3")


def build_manifest(template: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    """The manifest GitHub receives: ``app.yml`` with this server's URLs filled in."""
    base = public_url.rstrip("/")
    return {
        **template,
        "url": base,
        "hook_attributes": {**(template.get("hook_attributes") or {}), "url": f"{base}/webhook"},
        "redirect_url": f"{base}/setup/callback",
    }


def load_manifest_template(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SetupFailed(
            f"The App manifest {path} cannot be read ({exc.strerror}).",
            "Run the setup from a checkout of ci-fix-loop, which has app.yml at its root.",
            status=500,
        ) from exc
    if not isinstance(data, dict):
        raise SetupFailed(
            f"The App manifest {path} is not a YAML mapping.", "Restore app.yml.", 500
        )
    return data


def build_setup_app(
    *,
    env_path: Path,
    public_url: str,
    github_web_url: str = DEFAULT_WEB_URL,
    github_api_url: str = DEFAULT_API_URL,
    manifest_path: Path = MANIFEST_PATH,
) -> web.Application:
    """The setup web app: ``GET /`` and ``/setup`` (the page), ``GET /setup/callback``."""
    app = web.Application()
    app[OPTIONS_KEY] = SetupOptions(
        env_path=env_path,
        public_url=public_url.rstrip("/"),
        github_web_url=github_web_url.rstrip("/"),
        github_api_url=github_api_url.rstrip("/"),
        manifest_path=manifest_path,
    )
    app[STATES_KEY] = OrderedDict()
    app[DONE_KEY] = OrderedDict()
    app[CONVERTED_KEY] = OrderedDict()
    app.router.add_get("/", _setup_page)
    app.router.add_get("/setup", _setup_page)
    app.router.add_get("/setup/callback", _callback)
    return app


def run_setup(
    host: str,
    port: int,
    env_path: Path,
    *,
    public_url: str | None = None,
    github_web_url: str | None = None,
    github_api_url: str = DEFAULT_API_URL,
    manifest_path: Path = MANIFEST_PATH,
) -> None:
    """Serve the setup until interrupted; the CLI's ``setup`` command calls this.

    With no ``github_web_url``, the web host follows ``github_api_url`` (GitHub
    Enterprise Server's API lives at ``https://HOST/api/v3``, its pages at ``https://HOST``).
    """
    local_host = "localhost" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    url = public_url or f"http://{local_host}:{port}"
    app = build_setup_app(
        env_path=env_path,
        public_url=url,
        github_web_url=github_web_url or web_url_for_api(github_api_url),
        github_api_url=github_api_url,
        manifest_path=manifest_path,
    )
    print(f"Open {url}/setup to register the GitHub App (Ctrl+C to stop).")
    if local_host not in ("localhost", "127.0.0.1", "::1"):
        print(
            f"The setup page listens on {host}: anyone who can reach it can register an App "
            "into this server's .env. Stop it as soon as the App is registered."
        )
    web.run_app(app, host=host, port=port, print=None)


async def _setup_page(request: web.Request) -> web.Response:
    options = request.app[OPTIONS_KEY]
    org = request.query.get("org", "").strip()
    notes: list[str] = []
    if org and not _LOGIN.fullmatch(org):
        notes.append(
            f"<div class='note bad'><code>{_e(org)}</code> is not an organization login.</div>"
        )
        org = ""
    try:
        manifest = build_manifest(load_manifest_template(options.manifest_path), options.public_url)
    except SetupFailed as exc:
        return _error_page(exc)
    state = _issue_state(request.app[STATES_KEY])
    target = f"/organizations/{quote(org)}/settings/apps/new" if org else "/settings/apps/new"
    action = f"{options.github_web_url}{target}?state={state}"

    if urlsplit(options.public_url).hostname in ("localhost", "127.0.0.1", "::1"):
        notes.append(
            "<div class='note'>The public URL is <code>"
            + _e(options.public_url)
            + "</code>: GitHub cannot deliver webhooks there. Start the setup with a public URL"
            " (for example a tunnel) if this App should receive real events.</div>"
        )
    app_id = _registered_app_id(options.env_path)
    if app_id:
        notes.append(
            f"<div class='note'><code>{_e(str(options.env_path))}</code> already names App ID"
            f" {_e(app_id)}; registering again replaces its credentials there.</div>"
        )
    permissions = "\n".join(
        f"<li><span>{_e(name)}</span><code>{_e(str(level))}</code></li>"
        for name, level in (manifest.get("default_permissions") or {}).items()
    )
    content = _render(
        "setup.html",
        notes="\n".join(notes),
        webhook_url=_e(manifest["hook_attributes"]["url"]),
        events=", ".join(f"<code>{_e(e)}</code>" for e in manifest.get("default_events") or []),
        owner=f"organization <code>{_e(org)}</code>" if org else "your personal account",
        permissions=permissions,
        org=_e(org),
        action=_e(action),
        manifest=_e(json.dumps(manifest)),
    )
    return _page("Register the GitHub App", content)


async def _callback(request: web.Request) -> web.Response:
    options = request.app[OPTIONS_KEY]
    done: OrderedDict[str, dict[str, str]] = request.app[DONE_KEY]
    code = request.query.get("code", "")
    if code in done:
        return _done_page(options, done[code])  # a reload after success: same page again
    try:
        if not _CODE.fullmatch(code):
            raise SetupFailed(
                "GitHub did not send back a registration code.",
                "Open this setup page and press “Register GitHub App” again.",
                400,
            )
        state = request.query.get("state", "")
        if state not in request.app[STATES_KEY]:
            raise SetupFailed(
                "This registration was not started from this setup server (unknown state).",
                "Start again from this page; each button press is valid for one registration.",
                400,
            )
        # The state is used up only once the code was exchanged and saved: after a
        # network error or an unwritable .env, reloading this page retries the same code.
        converted: OrderedDict[str, dict[str, Any]] = request.app[CONVERTED_KEY]
        app_info = converted.get(code) or await _convert(options.github_api_url, code)
        converted[code] = app_info
        while len(converted) > MAX_PENDING_STATES:
            converted.popitem(last=False)
        write_env(options.env_path, {key: str(app_info[f]) for f, key in ENV_KEYS.items()})
        converted.pop(code, None)
        _consume_state(request.app[STATES_KEY], state)
    except SetupFailed as exc:
        return _error_page(exc)
    except OSError as exc:
        return _error_page(
            SetupFailed(
                f"The credentials could not be written to {options.env_path}: {exc.strerror}.",
                "Make that file writable for this user, then reload this page: the credentials"
                " GitHub already handed over are written then (nothing is registered twice).",
                500,
            )
        )
    slug = str(app_info["slug"])
    logger.info("registered GitHub App %s (id %s); credentials written", slug, app_info["id"])
    shown = {
        "name": str(app_info.get("name") or slug),
        "id": str(app_info["id"]),
        # GitHub's own link to the App: right for github.com and Enterprise Server alike.
        "html_url": str(app_info.get("html_url") or f"{options.github_web_url}/apps/{slug}"),
    }
    done[code] = shown
    while len(done) > MAX_PENDING_STATES:
        done.popitem(last=False)
    return _done_page(options, shown)


def _done_page(options: SetupOptions, app: Mapping[str, str]) -> web.Response:
    content = _render(
        "done.html",
        name=_e(app["name"]),
        app_id=_e(app["id"]),
        env_path=_e(str(options.env_path)),
        keys=", ".join(f"<code>{key}</code>" for key in ENV_KEYS.values()),
        install_url=_e(f"{app['html_url'].rstrip('/')}/installations/new"),
    )
    return _page("App registered", content)


async def _convert(api_url: str, code: str) -> dict[str, Any]:
    """Exchange the one-time manifest code for the App's credentials."""
    url = f"{api_url}/app-manifests/{code}/conversions"
    headers = {
        "Accept": "application/vnd.github+json",
        "User-Agent": "ci-fix-loop-setup",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(url, headers=headers) as response,
        ):
            body = await response.text()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SetupFailed(
            f"GitHub's API at {api_url} could not be reached ({type(exc).__name__}).",
            "Check the network connection (and GITHUB_API_URL for GitHub Enterprise), then"
            " register again from this page.",
        ) from exc
    if status in (404, 422):
        raise SetupFailed(
            f"GitHub refused the registration code (HTTP {status}: {_message(body)}).",
            "Codes expire after an hour and work once. Register again from this page.",
        )
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if status != 201 or not isinstance(data, dict):
        raise SetupFailed(
            f"GitHub answered the code exchange with HTTP {status}: {_message(body)}.",
            "Try again in a minute; if it persists, check https://www.githubstatus.com.",
        )
    missing = [name for name in ENV_KEYS if not data.get(name)]
    if missing:
        raise SetupFailed(
            f"GitHub's answer lacks {', '.join(missing)}.",
            "Register again; if it persists, create the App manually and fill in .env.",
        )
    return data


def _message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200] or "no details"
    return str(data.get("message", "no details")) if isinstance(data, dict) else "no details"


def format_env_value(value: str) -> str:
    """A `.env` value python-dotenv reads back unchanged; newlines become ``\\n``."""
    if _PLAIN_VALUE.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def write_env(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` in the `.env` at ``path``, keeping other lines; the file ends up 0600.

    The new content goes to a temporary file created 0600 and then replaces the
    old one, so the secrets are never readable by others, not even briefly.
    """
    replaced = set(values) | set(SUPERSEDED_KEYS)
    kept = [line for key, line in _env_entries(path) if key is None or key not in replaced]
    if kept and kept[-1].strip():
        kept.append("")
    lines = kept + [f"{key}={format_env_value(value)}" for key, value in values.items()]
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


def _env_entries(path: Path) -> list[tuple[str | None, str]]:
    """The file's logical entries as (key or None, text), multi-line quoted values joined."""
    try:
        raw_lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    entries: list[tuple[str | None, str]] = []
    index = 0
    while index < len(raw_lines):
        line = raw_lines[index]
        match = _ENV_LINE.fullmatch(line)
        key = match.group(1) if match else None
        parts = [line]
        value = match.group(2) if match else ""
        quote_char = value[:1] if value[:1] in ('"', "'") else ""
        if quote_char and not _closes(value[1:], quote_char):
            # A quoted value spanning lines (python-dotenv allows it): keep it whole.
            while index + 1 < len(raw_lines):
                index += 1
                parts.append(raw_lines[index])
                if _closes(raw_lines[index], quote_char):
                    break
        entries.append((key, "\n".join(parts)))
        index += 1
    return entries


def _closes(text: str, quote_char: str) -> bool:
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quote_char == '"':
            escaped = True
        elif char == quote_char:
            return True
    return False


def _registered_app_id(path: Path) -> str | None:
    """The APP_ID already in ``path`` (not a secret), to warn before replacing it."""
    for key, text in _env_entries(path):
        match = _ENV_LINE.fullmatch(text)
        if key == "APP_ID" and match and match.group(2).strip():
            return match.group(2).strip().strip("\"'")
    return None


def _issue_state(states: OrderedDict[str, None]) -> str:
    state = secrets.token_urlsafe(24)
    states[state] = None
    while len(states) > MAX_PENDING_STATES:
        states.popitem(last=False)
    return state


def _consume_state(states: OrderedDict[str, None], state: str) -> bool:
    """True once for each issued state: a code exchange cannot be replayed."""
    if state not in states:
        return False
    del states[state]
    return True


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _render(template: str, **values: str) -> str:
    """Fill a template; callers pass values already escaped (some are HTML fragments)."""
    return Template((TEMPLATES / template).read_text(encoding="utf-8")).substitute(values)


def _page(title: str, content: str, status: int = 200) -> web.Response:
    body = _render("layout.html", title=_e(title), content=content)
    return web.Response(text=body, status=status, content_type="text/html")


def _error_page(exc: SetupFailed) -> web.Response:
    content = _render("error.html", message=_e(exc.message), advice=_e(exc.advice))
    return _page("Registration did not complete", content, status=exc.status)
