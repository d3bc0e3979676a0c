"""``python -m app`` as an operator runs it: real subprocesses, a clean environment, no .env.

Each command runs in an empty temporary directory (so no stray ``.env`` is read) with an
environment holding only what the test gives it, never the developer's APP_ID and friends.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from app.store.records import LoopState, NewLoop
from app.store.sqlite import open_sqlite_store

ROOT = Path(__file__).resolve().parents[2]
SAFETY_TIMEOUT_S = 60  # a hung child fails the test instead of hanging the suite
SECRET = "cli-test-webhook-secret"


def clean_env(home: Path, **settings: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "HOME": str(home),
        **settings,
    }


def run_cli(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SAFETY_TIMEOUT_S,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "cwd"
    path.mkdir()
    return path


@pytest.fixture
def configured(workdir: Path, app_private_key: str) -> dict[str, str]:
    """A valid configuration whose store is a file in the test's directory."""
    return clean_env(
        workdir,
        APP_ID="12345",
        PRIVATE_KEY=app_private_key.replace("\n", "\\n"),
        WEBHOOK_SECRET=SECRET,
        STORE_PATH=str(workdir / "store.sqlite3"),
        FIXER="none",
    )


# --- configuration errors ----------------------------------------------------------------


def test_serve_with_malformed_and_missing_settings_exits_2_naming_each(workdir: Path) -> None:
    result = run_cli(workdir, clean_env(workdir, APP_ID="twelve"), "serve")
    assert result.returncode == 2
    assert "ci-fix-loop cannot start:" in result.stderr
    assert "APP_ID='twelve' is not a whole number." in result.stderr
    assert "PRIVATE_KEY is not set" in result.stderr
    assert "WEBHOOK_SECRET is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_webhook_secret_exits_2_naming_it(
    workdir: Path, configured: dict[str, str]
) -> None:
    env = {k: v for k, v in configured.items() if k != "WEBHOOK_SECRET"}
    result = run_cli(workdir, env, "serve")
    assert result.returncode == 2
    assert "WEBHOOK_SECRET is not set" in result.stderr
    assert "APP_ID" not in result.stderr
    assert "Traceback" not in result.stderr


def test_configuration_errors_never_print_the_private_key(
    workdir: Path, configured: dict[str, str]
) -> None:
    env = {**configured, "PORT": "not-a-port"}
    result = run_cli(workdir, env, "serve")
    assert result.returncode == 2
    assert "PORT='not-a-port' is not a whole number." in result.stderr
    assert "PRIVATE KEY" not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout


def test_status_needs_only_the_store_location_and_reads_it_from_dotenv(
    workdir: Path, tmp_path: Path
) -> None:
    store = tmp_path / "elsewhere.sqlite3"
    asyncio.run(_create_store(store))
    (workdir / ".env").write_text(f"STORE_PATH={store}\n")
    result = run_cli(workdir, clean_env(workdir), "status")  # no APP_ID, key or secret
    assert result.returncode == 0, result.stderr
    assert "holds no loops yet" in result.stdout and str(store) in result.stdout


def test_status_without_a_store_says_so_and_creates_nothing(workdir: Path) -> None:
    result = run_cli(workdir, clean_env(workdir), "status")
    assert result.returncode == 1
    assert "No store at STORE_PATH=ci-fix-loop.sqlite3" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(workdir.iterdir()) == []


async def _create_store(path: Path) -> None:
    store = await open_sqlite_store(path)
    await store.close()


@pytest.mark.parametrize("command", ["serve", "status"])
def test_an_unreachable_database_exits_2_saying_so(
    workdir: Path, configured: dict[str, str], command: str
) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**configured, "DATABASE_URL": f"postgresql://ci:pw@127.0.0.1:{port}/ci", "PORT": "0"}
    result = run_cli(workdir, env, command)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr  # unreachable, or the postgres extra is missing
    assert "Traceback" not in result.stderr
    assert "pw@" not in result.stderr + result.stdout


# --- status ------------------------------------------------------------------------------


def test_status_on_an_empty_store_says_it_is_empty(
    workdir: Path, configured: dict[str, str]
) -> None:
    asyncio.run(_create_store(Path(configured["STORE_PATH"])))
    result = run_cli(workdir, configured, "status")
    assert result.returncode == 0, result.stderr
    assert "holds no loops yet" in result.stdout


def test_status_json_is_valid_json(workdir: Path, configured: dict[str, str]) -> None:
    asyncio.run(_create_store(Path(configured["STORE_PATH"])))
    result = run_cli(workdir, configured, "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["active"] == []
    assert report["history"] == []
    assert report["budget"]["spend_today_usd"] == 0


async def test_status_lists_an_active_loop_from_the_store(
    workdir: Path, configured: dict[str, str]
) -> None:
    store = await open_sqlite_store(Path(configured["STORE_PATH"]))
    try:
        new = NewLoop(
            installation_id=1, repo="octo/app", workflow_id=5, workflow_name="CI",
            workflow_path=".github/workflows/ci.yml", branch="main", head_sha="a" * 40,
            run_id=777, run_attempt=1, run_url="https://github.com/octo/app/actions/runs/777",
        )  # fmt: skip
        await store.open_loop(new, state=LoopState.FIXING, now=1_700_000_000.0)
    finally:
        await store.close()
    result = await asyncio.to_thread(run_cli, workdir, configured, "status")
    assert result.returncode == 0, result.stderr
    assert "Active loops: 1" in result.stdout
    assert "octo/app fixing run 777" in result.stdout


def test_serve_with_an_unwritable_store_exits_2_naming_store_path(
    workdir: Path, configured: dict[str, str]
) -> None:
    env = {**configured, "STORE_PATH": str(workdir / "missing-dir" / "store.sqlite3")}
    result = run_cli(workdir, env, "serve")
    assert result.returncode == 2
    assert "STORE_PATH=" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    if os.geteuid() != 0:  # root can write anywhere
        locked = workdir / "locked"
        locked.mkdir(mode=0o500)
        env = {**configured, "STORE_PATH": str(locked / "store.sqlite3")}
        result = run_cli(workdir, env, "serve")
        assert result.returncode == 2 and "cannot write" in result.stderr


def test_a_python_without_the_dependencies_gets_guidance_not_a_traceback(workdir: Path) -> None:
    """``python -m app setup`` with the system Python, outside the project's .venv."""
    shadow = workdir / "shadow"
    shadow.mkdir()
    (shadow / "dotenv.py").write_text("raise ImportError('simulated', name='dotenv')\n")
    env = clean_env(workdir, PYTHONPATH=f"{shadow}{os.pathsep}{ROOT}")
    result = run_cli(workdir, env, "setup")
    assert result.returncode == 1
    assert "dependencies are not installed" in result.stderr
    assert "scripts/start.sh" in result.stderr and "dotenv is missing" in result.stderr
    assert "Traceback" not in result.stderr


# --- no App registered: the setup flow ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def cli_process(cwd: Path, env: dict[str, str], *args: str) -> AsyncIterator[
    asyncio.subprocess.Process
]:  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), SAFETY_TIMEOUT_S)


async def read_until(stream: asyncio.StreamReader, needle: str) -> str:
    """Lines from ``stream`` up to the one containing ``needle``."""
    seen = ""
    while needle not in seen:
        line = await asyncio.wait_for(stream.readline(), SAFETY_TIMEOUT_S)
        if not line:
            raise AssertionError(f"the process ended without printing {needle!r}:\n{seen}")
        seen += line.decode()
    return seen


async def get_when_listening(session: aiohttp.ClientSession, url: str) -> str:
    """GET ``url`` once the server behind it accepts connections.

    The setup command prints its URL just before it binds the port, and it has
    no other readiness signal, so a refused connection is retried until it is
    accepted (bounded by the safety timeout).
    """
    async with asyncio.timeout(SAFETY_TIMEOUT_S):
        while True:
            try:
                async with session.get(url) as response:
                    assert response.status == 200
                    return await response.text()
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.05)


async def test_serve_without_any_app_starts_the_setup_page(workdir: Path) -> None:
    port = free_port()
    async with cli_process(workdir, clean_env(workdir), "serve", "--port", str(port)) as process:
        assert process.stderr is not None and process.stdout is not None
        notice = await read_until(process.stderr, "Starting the setup flow")
        assert "No GitHub App is registered yet" in notice
        announced = await read_until(process.stdout, "/setup")
        url = f"http://127.0.0.1:{port}/setup"
        assert url in announced
        async with aiohttp.ClientSession() as session:
            page = await get_when_listening(session, url)
        assert "Register GitHub App" in page
        assert process.returncode is None
    assert not (workdir / ".env").exists()


# --- bad keys are caught at start-up (the doctor's checks) --------------------------------


def _ec_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _truncated(pem: str) -> str:
    lines = pem.strip().splitlines()
    return "\n".join(lines[:3] + lines[-1:]) + "\n"  # header, two body lines, footer


@pytest.mark.parametrize(
    ("make_key", "expected"),
    [(lambda _: _ec_key(), "is not an RSA key"), (_truncated, "cannot be loaded as PEM")],
    ids=["ec-key", "truncated-key"],
)
def test_serve_with_an_unusable_key_exits_2_saying_why(
    workdir: Path, configured: dict[str, str], app_private_key: str, make_key, expected
) -> None:
    env = {**configured, "PRIVATE_KEY": make_key(app_private_key).replace("\n", "\\n")}
    result = run_cli(workdir, env, "serve")
    assert result.returncode == 2, result.stderr
    assert f"PRIVATE_KEY {expected}" in result.stderr
    assert "Traceback" not in result.stderr and "PRIVATE KEY-----" not in result.stderr


async def test_serve_with_another_apps_key_exits_2_naming_the_app(
    workdir: Path, configured: dict[str, str], fake_github
) -> None:
    from tests.fakes.github.auth import generate_private_key_pem

    other = await asyncio.to_thread(generate_private_key_pem)
    env = {
        **configured,
        "APP_ID": str(fake_github.app_id),
        "PRIVATE_KEY": other.replace("\n", "\\n"),
        "GITHUB_API_URL": fake_github.url,
    }
    result = await asyncio.to_thread(run_cli, workdir, env, "serve")
    assert result.returncode == 2, result.stderr
    assert "GET /app answered 401" in result.stderr and fake_github.url in result.stderr
    assert not (workdir / "store.sqlite3").exists()  # refused before anything was opened


async def test_serve_starts_when_github_is_unreachable_and_says_so(
    workdir: Path, configured: dict[str, str]
) -> None:
    port = free_port()
    env = {**configured, "GITHUB_API_URL": f"http://127.0.0.1:{free_port()}", "PORT": str(port)}
    async with cli_process(workdir, env, "serve") as process:
        assert process.stderr is not None
        seen = await read_until(process.stderr, "listening on")
    assert "unreachable" in seen and "starting anyway" in seen


async def test_start_sh_options_reach_the_setup_flow(workdir: Path) -> None:
    """`bash scripts/start.sh --host ... --public-url ...` ends up as `serve` with both."""
    port = free_port()
    public = "https://ci-fix.example.org"
    args = ("serve", "--host", "127.0.0.1", "--port", str(port), "--public-url", public)
    async with cli_process(workdir, clean_env(workdir), *args) as process:
        assert process.stdout is not None
        announced = await read_until(process.stdout, "/setup")
        async with aiohttp.ClientSession() as session:
            page = await get_when_listening(session, f"http://127.0.0.1:{port}/setup")
    assert f"{public}/setup" in announced
    assert f"{public}/webhook" in page
