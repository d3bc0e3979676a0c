"""``python -m app doctor`` and the start-up sandbox check, against the fake GitHub."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from app.admin.doctor import Status, probe_jail, run_checks
from app.fix.sandbox import Sandbox, SandboxMode
from tests.fakes.github import FakeGitHub
from tests.harness import WEBHOOK_SECRET, HarnessFactory

ROOT = Path(__file__).resolve().parents[2]


def operator_env(fake: FakeGitHub, home: Path, **more: str) -> dict[str, str]:
    key = home / "app.pem"
    key.write_text(fake.private_key_pem)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "APP_ID": str(fake.app_id),
        "PRIVATE_KEY_PATH": str(key),
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "GITHUB_API_URL": fake.url,
        "STORE_PATH": str(home / "store.sqlite3"),
        "PORT": "3999",
        **more,
    }


async def test_every_check_passes_on_a_good_installation(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    env = operator_env(fake_github, tmp_path, FIXER_COMMAND="sh -c true")
    (tmp_path / ".env").write_text("STATUS_TOKEN=secret-in-dotenv\n")
    checks = await run_checks(env, tmp_path / ".env")
    assert [(c.name, c.status) for c in checks] == [
        ("settings", Status.OK),
        ("private key", Status.OK),
        ("store", Status.OK),
        ("sandbox", Status.OK),
        ("fixer", Status.OK),
        ("github", Status.OK),
    ]
    by_name = {c.name: c.detail for c in checks}
    assert "STORE_PATH=" in by_name["store"]
    # The probe tried the key file, .env, the store and the app's port from inside the jail.
    for target in ("app.pem", ".env", "store.sqlite3", "port 3999"):
        assert target in by_name["sandbox"]
    assert f"App {fake_github.app_id}" in by_name["github"]


async def test_a_wrong_app_id_a_missing_fixer_and_no_sandbox_fail(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    env = operator_env(
        fake_github,
        tmp_path,
        FIXER_COMMAND="no-such-agent -p",
        SANDBOX="none",
        INSECURE_NO_SANDBOX="1",
        APP_ID=str(fake_github.app_id + 1),
    )
    checks = {c.name: c for c in await run_checks(env, tmp_path / ".env")}
    assert checks["sandbox"].failed and "SANDBOX=none" in checks["sandbox"].detail
    assert checks["fixer"].failed
    assert checks["github"].failed


def test_the_cli_prints_one_line_per_check_and_exits_non_zero(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "APP_ID": "12",
        "PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
        "WEBHOOK_SECRET": "x",
        "STORE_PATH": str(tmp_path / "store.sqlite3"),
        "FIXER": "none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", "doctor", "--offline"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok    settings")
    assert lines[1].startswith("FAIL  private key: cannot be loaded")
    assert "Traceback" not in result.stderr


def test_start_up_refuses_a_sandbox_that_cannot_start(tmp_path: Path) -> None:
    """No bwrap on PATH: exit 2 with what to install, before listening, no traceback."""
    env = {
        "PATH": str(tmp_path),  # nothing there, bwrap included
        "PYTHONPATH": str(ROOT),
        "APP_ID": "12",
        "PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
        "WEBHOOK_SECRET": "x",
        "STORE_PATH": str(tmp_path / "store.sqlite3"),
        "FIXER": "none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "apt-get install bubblewrap" in result.stderr
    assert "Traceback" not in result.stderr


def test_unjailed_mode_is_refused_without_the_insecure_flag(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "APP_ID": "12",
        "PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
        "WEBHOOK_SECRET": "x",
        "SANDBOX": "none",
        "FIXER": "none",
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "INSECURE_NO_SANDBOX=1" in result.stderr


async def test_an_unjailed_app_says_so_at_start_and_on_status(
    tmp_path: Path, app_harness: HarnessFactory, fake_github: FakeGitHub
) -> None:
    env = operator_env(
        fake_github,
        tmp_path,
        HOST="127.0.0.1",
        PORT="0",
        FIXER="none",
        SANDBOX="none",
        INSECURE_NO_SANDBOX="1",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        said = ""
        async with asyncio.timeout(60):
            while "UNJAILED" not in said:
                line = await process.stderr.readline()
                assert line, f"the app ended without the warning:\n{said}"
                said += line.decode()
    finally:
        process.terminate()
        await process.wait()
    assert "Never use this in production" in said

    harness = await app_harness(sandbox="none", insecure_no_sandbox=True)
    response = await harness.client.get(
        "/status", headers={"Authorization": f"Bearer {harness.settings.status_token}"}
    )
    assert (await response.json())["sandbox"]["mode"] == "none"
    assert (await response.json())["sandbox"]["insecure"] is True


async def test_the_probe_reports_what_it_reaches_when_nothing_stops_it(tmp_path: Path) -> None:
    """The doctor's probe is not vacuous: unjailed, it reads the file and reaches the port."""
    secret = tmp_path / "key.pem"
    secret.write_text("PRIVATE\n")
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        unjailed = await probe_jail(Sandbox(mode=SandboxMode.NONE), [secret], [port])
        jailed = await probe_jail(Sandbox(), [secret], [port])
    finally:
        server.close()
    assert f"read {secret}" in unjailed
    assert f"connected to port {port}" in unjailed
    assert jailed == []
