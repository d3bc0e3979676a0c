"""Helpers shared by every test module: where the shared data lives, and optional components.

`require_or_skip` exists because a skipped test is a silent hole in CI: locally a missing
chromium or postgres should only skip the tests that need it, but with ``CI_REQUIRE_ALL=1``
(set by ``.ci/run``) the same absence must fail the run so nobody ships untested code.
"""

from __future__ import annotations

import io
import os
import select
import sys
import tarfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from gidgethub.aiohttp import GitHubAPI

from app.fix.sandbox import Sandbox

SHARED_DIR_ENV = "CI_FIX_SHARED_DIR"
REQUIRE_ALL_ENV = "CI_REQUIRE_ALL"


def shared_dir() -> Path:
    """The read-only ``shared/`` directory beside the clone (or ``$CI_FIX_SHARED_DIR``)."""
    override = os.environ.get(SHARED_DIR_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[1] / ".." / "shared"
    path = path.resolve()
    if not (path / "github" / "openapi-subset.json").is_file():
        raise FileNotFoundError(
            f"shared test data not found at {path}: clone the project with ../shared beside it "
            f"or point {SHARED_DIR_ENV} at the directory holding github/openapi-subset.json"
        )
    return path


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip the calling test unless ``condition`` holds; in CI (``CI_REQUIRE_ALL=1``) fail instead.

    Use it for optional system components, e.g.
    ``require_or_skip(shutil.which("chromium") is not None, "chromium is not installed")``.
    """
    if condition:
        return
    if os.environ.get(REQUIRE_ALL_ENV) == "1":
        pytest.fail(f"{reason} (required because {REQUIRE_ALL_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def actions_log(
    command: str,
    output: Sequence[str],
    *,
    exit_code: int | None = 1,
    before: Sequence[tuple[str, Sequence[str]]] = (),
    after: Sequence[tuple[str, Sequence[str]]] = (),
) -> str:
    """A job log in the shape the jobs API returns: timestamps, step groups, the exit marker."""
    lines = [
        "\ufeffCurrent runner version: '2.329.0'",
        "##[group]Operating System",
        "Ubuntu",
        "##[endgroup]",
    ]

    def step(cmd: str, out: Sequence[str], code: int | None) -> None:
        lines.extend(
            [
                f"##[group]Run {cmd}",
                cmd,
                "shell: /usr/bin/bash -e {0}",
                "env:",
                "  CI: true",
                "##[endgroup]",
            ]
        )
        lines.extend(out)
        if code is not None:
            lines.append(f"##[error]Process completed with exit code {code}.")

    for cmd, out in before:
        step(cmd, out, None)
    step(command, output, exit_code)
    for cmd, out in after:
        step(cmd, out, None)
    lines.extend(
        ["Post job cleanup.", "[command]/usr/bin/git version", "Cleaning up orphan processes"]
    )
    return "".join(
        f"2026-11-20T10:54:{i // 1000 % 60:02d}.{i % 1000:03d}1234Z {line}\n"
        for i, line in enumerate(lines)
    )


SECRETS = {
    "GITHUB_TOKEN": "ghs_secret_installation_token",
    "GH_TOKEN": "gho_secret_cli_token",
    "WEBHOOK_SECRET": "whsec_secret_value",
    "PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----secretpem",
    "GITHUB_APP_PRIVATE_KEY": "another_secret_pem",
    "DATABASE_URL": "postgres://user:secretpw@db/ci",
    "STATUS_TOKEN": "status_secret_token",
    "CI_HOOK_TOKEN": "hook_secret_token",
    "APP_ID": "123456789",
    "SOME_SERVICE_PASSWORD": "hunter2_secret",
    "MY_API_SECRET": "generic_secret_value",
}


def assert_process_gone(pid: int) -> None:
    """The process has exited: it cannot be found, or its pidfd reports the exit.

    A pidfd becomes readable when the process terminates, so this waits on an event
    (bounded), not on a guessed sleep.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        readable, _, _ = select.select([fd], [], [], 10)
        assert readable, f"process {pid} survived the timeout"
    finally:
        os.close(fd)


TOP = "octo-repo-abc1234"


def tarball_of(
    files: Mapping[str, bytes | str],
    *,
    executable: tuple[str, ...] = (),
    symlinks: Mapping[str, str] | None = None,
) -> bytes:
    """A gzipped tarball in GitHub's layout: everything under ``octo-repo-abc1234/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(tar_info(TOP, tarfile.DIRTYPE, mode=0o755))
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tar_info(f"{TOP}/{name}", mode=0o755 if name in executable else 0o644)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            tar.addfile(tar_info(f"{TOP}/{name}", tarfile.SYMTYPE, linkname=target))
    return buffer.getvalue()


def tar_info(
    name: str, kind: bytes = tarfile.REGTYPE, *, mode: int = 0o644, linkname: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    return info


@asynccontextmanager
async def installation_client(fake: Any, installation_id: int) -> AsyncIterator[GitHubAPI]:
    """A gidgethub client holding an installation token minted the way GitHub Apps do."""
    now = int(fake.clock().timestamp())
    app_jwt = jwt.encode(
        {"iat": now - 60, "exp": now + 540, "iss": str(fake.app_id)},
        fake.private_key_pem,
        algorithm="RS256",
    )
    async with aiohttp.ClientSession() as session:
        as_app = GitHubAPI(session, "ci-fix-loop-tests", base_url=fake.url)
        token = await as_app.post(
            f"/app/installations/{installation_id}/access_tokens", data={}, jwt=app_jwt
        )
        yield GitHubAPI(session, "ci-fix-loop-tests", oauth_token=token["token"], base_url=fake.url)


FAKES = Path(__file__).parent / "fakes"


def jail_tool_paths() -> tuple[Path, ...]:
    """What the tests' scripted agents need inside the jail: this interpreter and tests/fakes.

    Production agents live in system directories or in ``SANDBOX_READONLY_PATHS``;
    the test agents are scripts run by the test interpreter, so both are shown read-only.
    """
    return tuple(dict.fromkeys([Path(sys.prefix), Path(sys.base_prefix), FAKES]))


def sandbox_for_tests(*writable: Path, **changes: Any) -> Sandbox:
    """The production jail plus the test agents, and ``writable`` as a channel to the test."""
    return replace(
        Sandbox(readonly_paths=jail_tool_paths(), writable_paths=tuple(writable)), **changes
    )


def processes_with(marker: str) -> list[int]:
    """Host pids of processes whose command line contains ``marker`` (ours excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found
