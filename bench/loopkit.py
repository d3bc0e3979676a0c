"""The app in-process against the fake GitHub, for benchmarks of one fix loop.

The same pieces the tests use (``tests.fakes.github``, ``tests.harness``), driven
without pytest: a fake GitHub on loopback, ``build_app`` on a loopback test
server, a repository with a failing test, and a scripted agent that fixes it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from app.server import Overrides, build_app
from tests.fakes.github import FakeGitHub, FakeJob
from tests.fakes.github.auth import generate_private_key_pem
from tests.harness import INSTALLATION_ID, REPO, Harness, make_settings, no_sleep

SCRIPTED = Path(__file__).resolve().parents[1] / "tests" / "fakes" / "loop_agents" / "scripted.py"
CALC = "def add(a, b):\n    return a - b\n"
TEST_CALC = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
# A 3-file fix: the bug, a test for it, and a changelog line.
THREE_FILES = {
    "calc.py": "def add(a, b):\n    return a + b\n",
    "tests/test_add_more.py": (
        "from calc import add\n\n\ndef test_more():\n    assert add(1, 2) == 3\n"
    ),
    "CHANGELOG.md": "- fix add()\n",
}
LOG = (
    "2024-05-01T10:00:01.0000000Z tests/test_calc.py F\n"
    "2024-05-01T10:00:01.5000000Z E       AssertionError: assert 0 == 4\n"
    "2024-05-01T10:00:01.8000000Z FAILED tests/test_calc.py::test_add - assert 0 == 4\n"
    "2024-05-01T10:00:01.9000000Z ##[error]Process completed with exit code 1.\n"
)


@asynccontextmanager
async def running_app(fixer_command: str, workdir: Path) -> AsyncIterator[Harness]:
    """The app serving on loopback, pointed at a fresh fake GitHub."""
    async with FakeGitHub(private_key_pem=generate_private_key_pem()) as fake:
        settings = make_settings(fake, workdir, fixer_command=fixer_command)
        overrides = Overrides(clock=lambda: fake.clock().timestamp(), sleeper=no_sleep)
        async with TestClient(TestServer(build_app(settings, overrides))) as client:
            yield Harness(fake=fake, client=client, settings=settings)


def scripted_agent(workdir: Path, files: dict[str, str], prelude: Path | None = None) -> str:
    """The command line of ``tests/loop_agents/scripted.py`` writing ``files``."""
    plan = workdir / "plan.json"
    plan.write_text(json.dumps([{"files": files, "cost": 0.0}]))
    if prelude is None:
        return f"{sys.executable} {SCRIPTED} {plan}"
    return f"{sys.executable} {prelude} {SCRIPTED} {plan}"


def failing_run(harness: Harness) -> dict[str, Any]:
    head = harness.fake.add_repo(
        REPO,
        files={"calc.py": CALC, "tests/test_calc.py": TEST_CALC},
        installation_id=INSTALLATION_ID,
    )
    return harness.fake.add_workflow_run(
        REPO,
        head_sha=head,
        head_branch="main",
        conclusion="failure",
        jobs=[FakeJob("test", "failure", steps=[("Run pytest", "failure")], log=LOG)],
    )


def temporary_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="bench-loop-")
