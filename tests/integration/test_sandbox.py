"""The jail itself: what a process inside can see, reach, and how long it lives."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.core.errors import SandboxUnavailable
from app.fix.egress import Endpoint
from app.fix.sandbox import Limits, Network, Sandbox, SandboxMode, explain_failure
from tests.support import processes_with, sandbox_for_tests

MODEL_KEY = "sk-ant-test-key-that-must-not-show-in-ps"
APP_SOURCE = Path(__file__).resolve().parents[2] / "app"


class Listener:
    """A loopback TCP server answering every connection with one line naming itself."""

    def __init__(self, name: str, host: str = "127.0.0.1") -> None:
        self.name = name
        self.host = host
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._answer, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(f"hello from {self.name}\n".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def app_port() -> AsyncIterator[Listener]:
    async with Listener("the app") as listener:
        yield listener


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


def reach(*ports: int) -> list[str]:
    """A bash command printing, per loopback port, what its server says, or UNREACHABLE."""
    tries = [
        f"( exec 3<>/dev/tcp/127.0.0.1/{port} && head -n 1 <&3 ) 2>/dev/null || echo UNREACHABLE"
        for port in ports
    ]
    return ["bash", "-c", "; ".join(tries)]


async def test_the_apps_files_and_process_are_out_of_reach(tmp_path: Path, workspace: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for name in (".env", "key.pem", "store.sqlite3"):
        (app_dir / name).write_text(f"secret {name}\n")
    other = tmp_path / "ci-fix-ws-other"
    other.mkdir()
    (other / "calc.py").write_text("another repository\n")
    probe = "\n".join(
        [
            *(f"cat {app_dir / n} && echo READ {n}" for n in (".env", "key.pem", "store.sqlite3")),
            f"ls {other} && echo LISTED other workspace",
            f"ls {APP_SOURCE} && echo LISTED app source",
            f"cat /proc/{os.getpid()}/environ && echo READ app environ",
            f"kill -0 {os.getpid()} && echo SIGNALLED the app",
            "id -u",
            "ls /proc | grep -E '^[0-9]+$' | wc -l",
            "echo written > inside.txt",
        ]
    )
    outcome = await Sandbox().run(["sh", "-c", probe], workspace=workspace, timeout_s=30)
    out = outcome.stdout.decode()
    assert "READ" not in out and "LISTED" not in out and "SIGNALLED" not in out, out
    uid, processes = out.split()[-2:]
    assert uid == "1000", "an unprivileged uid inside"
    assert int(processes) < 10, "a /proc of its own: only the jail's few processes"
    assert (workspace / "inside.txt").read_text() == "written\n", "the workspace is writable"


async def test_the_system_is_read_only_and_tmp_and_home_are_private(workspace: Path) -> None:
    probe = (
        "touch /usr/bin/planted 2>/dev/null && echo WROTE usr; "
        "touch /etc/planted 2>/dev/null && echo WROTE etc; "
        "echo x > /tmp/mine && echo $HOME && touch $HOME/.bashrc && echo ok"
    )
    outcome = await Sandbox().run(["sh", "-c", probe], workspace=workspace, timeout_s=30)
    assert outcome.stdout.decode().split() == ["/home/sandbox", "ok"]
    assert not await asyncio.to_thread(Path("/tmp/mine").exists)


async def test_verify_gets_no_network_unless_the_operator_allows_it(
    workspace: Path, app_port: Listener
) -> None:
    jailed = await Sandbox().run(
        reach(app_port.port), workspace=workspace, network=Network.HOST, timeout_s=30
    )
    assert jailed.stdout.decode().strip() == "UNREACHABLE"
    allowed = await Sandbox(allow_network=True).run(
        reach(app_port.port), workspace=workspace, network=Network.HOST, timeout_s=30
    )
    assert allowed.stdout.decode().strip() == "hello from the app"


async def test_the_agent_reaches_its_model_endpoint_and_nothing_else(
    workspace: Path, app_port: Listener
) -> None:
    async with Listener("the model") as model:
        sandbox = Sandbox(agent_endpoints=(Endpoint("127.0.0.1", model.port),))
        outcome = await sandbox.run(
            reach(model.port, app_port.port, 54330),
            workspace=workspace,
            network=Network.MODEL,
            timeout_s=30,
        )
    assert outcome.stdout.decode().splitlines() == [
        "hello from the model",
        "UNREACHABLE",
        "UNREACHABLE",
    ]
    assert model.connections == 1
    assert app_port.connections == 0


async def test_the_connect_proxy_tunnels_only_to_listed_endpoints(
    workspace: Path, app_port: Listener
) -> None:
    # 127.0.0.2 is not treated as loopback by the allow-list, so it goes through the proxy
    # exactly as api.anthropic.com:443 would.
    async with Listener("the remote model", host="127.0.0.2") as remote:
        sandbox = Sandbox(agent_endpoints=(Endpoint("127.0.0.2", remote.port),))
        ask = (
            "exec 3<>/dev/tcp/127.0.0.1/3128; printf 'CONNECT %s HTTP/1.1\\r\\n\\r\\n' \"$1\" >&3;"
            " head -n 3 <&3 | tr -d '\\r' | grep -v '^$'"
        )
        allowed = await sandbox.run(
            ["bash", "-c", ask, "ask", f"127.0.0.2:{remote.port}"],
            workspace=workspace,
            network=Network.MODEL,
            timeout_s=30,
            extra_env={"ANTHROPIC_API_KEY": MODEL_KEY},
        )
        refused = await sandbox.run(
            ["bash", "-c", ask, "ask", f"127.0.0.1:{app_port.port}"],
            workspace=workspace,
            network=Network.MODEL,
            timeout_s=30,
        )
    assert allowed.stdout.decode().splitlines() == [
        "HTTP/1.1 200 Connection Established",
        "hello from the remote model",
    ]
    assert refused.stdout.decode().splitlines()[0] == "HTTP/1.1 403 Forbidden"
    assert app_port.connections == 0


async def test_the_agent_is_told_the_proxy_and_keeps_loopback_direct(workspace: Path) -> None:
    sandbox = Sandbox(agent_endpoints=(Endpoint("api.anthropic.com", 443),))
    outcome = await sandbox.run(
        ["sh", "-c", "echo $HTTPS_PROXY $NO_PROXY"],
        workspace=workspace,
        network=Network.MODEL,
        timeout_s=30,
    )
    assert outcome.stdout.decode().split() == ["http://127.0.0.1:3128", "localhost,127.0.0.1,::1"]


async def test_nothing_outlives_a_cancelled_run_and_the_key_is_not_on_a_command_line(
    workspace: Path,
) -> None:
    started = workspace / "started"
    task = asyncio.create_task(
        Sandbox().run(
            ["sh", "-c", "setsid sleep 300.201 & touch started; sleep 300.202"],
            workspace=workspace,
            timeout_s=300,
            extra_env={"ANTHROPIC_API_KEY": MODEL_KEY},
        )
    )
    async with asyncio.timeout(30):
        while not started.exists():  # noqa: ASYNC110 - another process writes it
            await asyncio.sleep(0.02)
    assert processes_with("sleep 300.202"), "the step is running"
    assert processes_with(MODEL_KEY) == [], "env values travel in a file, not in argv"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_with("sleep 300.20") == []


async def test_limits_on_file_size_and_memory(workspace: Path) -> None:
    small = Sandbox(limits=Limits(file_bytes=1 << 20, memory_bytes=256 << 20))
    big_file = await small.run(
        ["sh", "-c", "head -c 2000000 /dev/zero > big; echo $?"], workspace=workspace, timeout_s=30
    )
    assert (workspace / "big").stat().st_size == 1 << 20
    assert big_file.stdout.decode().strip() != "0"
    hog = await small.run(
        ["python3", "-c", "b = bytearray(512 << 20); print('allocated')"],
        workspace=workspace,
        timeout_s=30,
    )
    assert b"MemoryError" in hog.stderr
    assert b"allocated" not in hog.stdout


async def test_cpu_time_is_limited(workspace: Path) -> None:
    outcome = await Sandbox(limits=Limits(cpu_seconds=1)).run(
        ["sh", "-c", "while :; do :; done"], workspace=workspace, timeout_s=60
    )
    assert not outcome.timed_out, "SIGXCPU/SIGKILL ended it, not the timeout"
    assert outcome.exit_code in (128 + 9, 128 + 24), "killed by SIGKILL or SIGXCPU"


async def test_a_missing_bwrap_says_how_to_install_it(workspace: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        await Sandbox(bwrap="/nonexistent/bwrap").check()


def test_a_host_without_user_namespaces_is_told_what_to_change() -> None:
    said = (
        "bwrap: No permissions to creating new namespace, likely because the kernel does not "
        "allow non-privileged user namespaces. On e.g. debian this can be enabled with "
        "'sysctl kernel.unprivileged_userns_clone=1'.\n"
    )
    advice = explain_failure(said)
    assert "kernel.unprivileged_userns_clone=1" in advice
    assert "--security-opt seccomp=unconfined" in advice
    assert "kernel.apparmor_restrict_unprivileged_userns=0" in advice


async def test_tools_outside_usr_are_visible_only_when_listed(workspace: Path) -> None:
    script = [sys.executable, "-c", "print('tool ran')"]
    with pytest.raises(FileNotFoundError):
        await Sandbox().run(script, workspace=workspace, timeout_s=30)
    listed = await sandbox_for_tests().run(script, workspace=workspace, timeout_s=30)
    assert listed.stdout.decode().strip() == "tool ran"


async def test_the_unjailed_mode_shows_what_the_probe_would_catch(
    tmp_path: Path, workspace: Path
) -> None:
    """SANDBOX=none is what the jail prevents: the same read succeeds without it."""
    secret = tmp_path / "key.pem"
    secret.write_text("PRIVATE\n")
    unjailed = Sandbox(mode=SandboxMode.NONE)
    outcome = await unjailed.run(["cat", str(secret)], workspace=workspace, timeout_s=30)
    assert outcome.stdout == b"PRIVATE\n"
