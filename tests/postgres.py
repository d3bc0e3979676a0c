"""A fresh PostgreSQL database per test, on the server ``TEST_DATABASE_URL`` points at.

``.ci/run`` starts a private server and sets ``TEST_DATABASE_URL``; locally,
tests that need PostgreSQL skip without it (and fail with ``CI_REQUIRE_ALL=1``).
Import the fixture into a test module: ``from tests.postgres import pg_url``.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import AsyncIterator
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
