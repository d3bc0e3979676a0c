"""A fresh PostgreSQL database per test, on the server ``TEST_DATABASE_URL`` points at.

``.ci/run`` starts a private server and sets ``TEST_DATABASE_URL``; locally,
tests that need PostgreSQL skip without it (and fail with ``CI_REQUIRE_ALL=1``).
Import the fixture into a test module: ``from tests.postgres import pg_url``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support import require_or_skip

TEST_DATABASE_URL_ENV = "TEST_DATABASE_URL"


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped (connections and all) after the test."""
    admin_url = os.environ.get(TEST_DATABASE_URL_ENV, "")
    require_or_skip(bool(admin_url), f"{TEST_DATABASE_URL_ENV} is not set (no PostgreSQL)")
    require_or_skip(
        importlib.util.find_spec("psycopg") is not None,
        "psycopg is not installed: pip install 'ci-fix-loop[postgres]'",
    )
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(admin_url, name)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@dataclass
class PrivateCluster:
    """A PostgreSQL server of this test's own, which the test may stop and restart.

    The shared server (``TEST_DATABASE_URL``) must never be restarted: other
    tests and other people use it.  ``restart`` is ``pg_ctl restart -m fast``:
    every connection is cut, as in a real failover or upgrade.
    """

    bin_dir: Path
    data: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
             "-l", str(self.log), "-w", *args],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-k {self.data.parent} -p {self.port} -h 127.0.0.1 -c max_connections=200"
        self.ctl("-o", options, "start")

    def restart(self) -> None:
        self.ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")


@pytest.fixture
def private_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster started for this test alone (initdb as user ``postgres``)."""
    require_or_skip(bool(os.environ.get(TEST_DATABASE_URL_ENV)), "no PostgreSQL in this run")
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    require_or_skip(bool(bins) and shutil.which("runuser") is not None,
                    "PostgreSQL server binaries or runuser are missing")  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="ci-fix-loop-private-pg-"))
    shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(bins[-1] / "initdb"), "-D", str(data),
         "-A", "trust", "-U", "postgres"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cluster = PrivateCluster(bins[-1], data, port, root / "server.log")
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
