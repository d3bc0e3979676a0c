"""The repository's verify command in the jail: pass, fail, timeout (all killed), clean env."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from app.fix.sandbox import Sandbox, SandboxMode, clean_env, private_env
from app.fix.verify import run_verify
from tests.support import SECRETS, processes_with


@pytest.fixture
def app_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The app's secrets, present in this process's environment as in production."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


async def test_passing_command(tmp_path: Path, jail: Sandbox) -> None:
    (tmp_path / "marker").write_text("present")
    result = await run_verify("test -f marker && echo checks passed", tmp_path, 30, jail)
    assert result.ok
    assert result.exit_code == 0
    assert not result.timed_out
    assert "checks passed" in result.output_tail


async def test_failing_command_reports_exit_code_and_output(tmp_path: Path, jail: Sandbox) -> None:
    result = await run_verify("echo 'E501 line too long' >&2; exit 3", tmp_path, 30, jail)
    assert not result.ok
    assert result.exit_code == 3
    assert "E501 line too long" in result.output_tail


async def test_timeout_kills_everything_the_command_started(tmp_path: Path, jail: Sandbox) -> None:
    command = "sleep 300.101 & touch started; wait"
    result = await run_verify(command, tmp_path, 0.5, jail)
    assert result.timed_out
    assert not result.ok
    assert result.exit_code is None
    assert "timed out" in result.output_tail
    assert (tmp_path / "started").exists()
    assert processes_with("sleep 300.101") == []


async def test_daemon_left_behind_is_killed_and_does_not_hold_the_run(
    tmp_path: Path, jail: Sandbox
) -> None:
    """A finished command is finished, even if a child it left still holds its output."""
    result = await run_verify("sleep 300.102 & echo started", tmp_path, 60, jail)
    assert result.ok
    assert not result.timed_out
    assert processes_with("sleep 300.102") == []


async def test_a_setsid_daemon_does_not_outlive_the_run(tmp_path: Path, jail: Sandbox) -> None:
    """Leaving the process group (setsid) does not leave the jail's pid namespace."""
    command = (
        "setsid sh -c 'echo $$ > daemon.pid; exec sleep 300.103' & "
        "while [ ! -s daemon.pid ]; do :; done; sleep 300"
    )
    # wait_for only turns a hang into a failure; the run itself times out at 0.5 s.
    result = await asyncio.wait_for(run_verify(command, tmp_path, 0.5, jail), 60)
    assert result.timed_out
    assert result.exit_code is None
    assert (tmp_path / "daemon.pid").read_text().strip()
    assert processes_with("sleep 300.103") == []


async def test_a_setsid_daemon_after_a_clean_exit_is_gone_too(
    tmp_path: Path, jail: Sandbox
) -> None:
    command = "setsid sh -c 'exec sleep 300.104' < /dev/null > /dev/null 2>&1 & echo ok"
    result = await run_verify(command, tmp_path, 30, jail)
    assert result.ok
    assert processes_with("sleep 300.104") == []


async def test_output_is_bounded_to_the_tail(tmp_path: Path, jail: Sandbox) -> None:
    command = "i=0; while [ $i -lt 3000 ]; do echo line $i of noise; i=$((i+1)); done; echo LAST"
    result = await run_verify(command, tmp_path, 30, jail)
    assert result.ok
    assert len(result.output_tail.encode()) <= 4096
    assert result.output_tail.rstrip().endswith("LAST")
    assert "line 0 of noise" not in result.output_tail


async def test_verify_sees_none_of_the_apps_secrets(
    tmp_path: Path, app_secrets: dict[str, str], jail: Sandbox
) -> None:
    result = await run_verify("env", tmp_path, 30, jail)
    assert result.ok
    for name, value in app_secrets.items():
        assert value not in result.output_tail, f"{name} leaked into verify's environment"
    assert "CI=true" in result.output_tail
    assert "HOME=/home/sandbox\n" in result.output_tail


async def test_home_is_private_fresh_and_writable_each_run(tmp_path: Path, jail: Sandbox) -> None:
    fresh_and_writable = 'test -z "$(ls -A "$HOME")" && touch "$HOME/state" && test -d "$TMPDIR"'
    first = await run_verify(fresh_and_writable, tmp_path, 30, jail)
    second = await run_verify(fresh_and_writable, tmp_path, 30, jail)
    assert first.ok, first.output_tail
    assert second.ok, "the second run must not see the first run's HOME"


async def test_private_env_home_is_fresh_and_removed_without_the_jail(tmp_path: Path) -> None:
    unjailed = Sandbox(mode=SandboxMode.NONE)
    with private_env() as env:
        home = env["HOME"]
        assert home != str(Path.home())
    assert not await asyncio.to_thread(os.path.exists, home)
    result = await run_verify('touch "$HOME/state" && echo "$HOME"', tmp_path, 30, unjailed)
    assert result.ok, result.output_tail
    assert result.output_tail.strip() != str(Path.home())


def test_clean_env_refuses_app_secrets_even_when_asked() -> None:
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "WEBHOOK_SECRET", "APP_PRIVATE_KEY", "DATABASE_URL"):
        with pytest.raises(ValueError, match="never passed"):
            clean_env({name: "x"})
    env = clean_env({"ANTHROPIC_API_KEY": "sk-ant-model-key"})
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-model-key"
    assert env["NO_COLOR"] == "1"
    assert "HOME" not in env
