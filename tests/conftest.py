"""Fixtures shared by the whole suite: the fake GitHub and the shared test data.

``fake_github`` is the one fake GitHub every test talks to (see ``tests/fakegithub``). It
fails the test at teardown if the code under test sent GitHub anything GitHub would refuse
(``fake.violations``) or leaked credentials to the blob host (``fake.leaks``); a test that
provokes a violation on purpose clears ``fake.violations`` before it ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.fix.sandbox import Sandbox
from tests.fakes.github import FakeGitHub, OpenAPI, load_spec
from tests.fakes.github.auth import generate_private_key_pem
from tests.support import sandbox_for_tests
from tests.support import shared_dir as locate_shared_dir


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``shared/`` directory (``$CI_FIX_SHARED_DIR`` overrides)."""
    return locate_shared_dir()


@pytest.fixture
def jail(tmp_path: Path) -> Sandbox:
    """The production sandbox, showing the test agents read-only and ``tmp_path`` writable."""
    return sandbox_for_tests(tmp_path)


@pytest.fixture(scope="session")
def openapi_spec() -> OpenAPI:
    """GitHub's OpenAPI description, loaded once (its validators are cached inside)."""
    return load_spec()


@pytest.fixture(scope="session")
def app_private_key() -> str:
    """One RSA key for the session: generating one per test would cost seconds in total."""
    return generate_private_key_pem()


@pytest.fixture
async def fake_github(openapi_spec: OpenAPI, app_private_key: str) -> AsyncIterator[FakeGitHub]:
    """A started FakeGitHub (``fake.url``, ``fake.blob_url``) that must end without problems."""
    fake = FakeGitHub(private_key_pem=app_private_key, spec=openapi_spec)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    problems = fake.problems()
    if problems:
        pytest.fail(
            "the fake GitHub saw requests GitHub would refuse, answered off-schema, or saw "
            "leaked credentials:\n  " + "\n  ".join(problems),
            pytrace=False,
        )


pytest_plugins = ["tests.harness", "tests.postgres"]
