"""The running app, built as in production, pointed at the fake GitHub.

``app_harness`` starts ``app.server.build_app`` on loopback through
pytest-aiohttp's test client with a real SQLite file, real settings and the
fake GitHub as ``GITHUB_API_URL``; tests deliver signed webhooks to it and
inspect the fake's state.  The app's clock follows the fake's clock, so token
expiry and breaker cooldowns move only when a test advances time.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from app.server import CONTEXT, Overrides, Services, build_app
from app.settings import Settings
from tests.fakes.github import FakeGitHub, FakeJob
from tests.support import jail_tool_paths
from tests.webhooks import webhook_headers, workflow_run_payload

WEBHOOK_SECRET = "test-webhook-secret-0123456789"
INSTALLATION_ID = 9001
REPO = "acme/widgets"
AGENTS = Path(__file__).parent / "fakes" / "agents"


def make_settings(fake: FakeGitHub, tmp_path: Path, **changes: Any) -> Settings:
    settings = Settings(
        app_id=fake.app_id,
        private_key=fake.private_key_pem,
        webhook_secret=WEBHOOK_SECRET,
        github_api_url=fake.url,
        store_path=tmp_path / "store.sqlite3",
        status_token="status-token-for-tests",
        ci_hook_token="ci-hook-token-for-tests",
        # The scripted agents are scripts of this interpreter and keep state beside
        # their plan in tmp_path; the attack tests narrow this to a channel directory.
        sandbox_readonly_paths=jail_tool_paths(),
        sandbox_writable_paths=(tmp_path,),
    )
    return replace(settings, **changes)


def agent_command(script: str, *args: str) -> str:
    """A `command` fixer line running one of tests/agents with this interpreter."""
    return " ".join([sys.executable, str(AGENTS / script), *args])


async def no_sleep(_seconds: float) -> None:
    """Retries and rate-limit waits in tests pass instantly; the waits are asserted elsewhere."""


@dataclass
class Harness:
    fake: FakeGitHub
    client: TestClient
    settings: Settings

    @property
    def ctx(self) -> Services:
        return self.client.app[CONTEXT]  # type: ignore[index]

    async def post(
        self, event: str, payload: Any, *, delivery_id: str | None = None
    ) -> ClientResponse:
        body = json.dumps(payload).encode()
        headers = webhook_headers(event, body, WEBHOOK_SECRET, delivery_id)
        return await self.client.post(self.settings.webhook_path, data=body, headers=headers)

    async def deliver(self, event: str, payload: Any, *, delivery_id: str | None = None) -> None:
        """Deliver and wait until the app has done everything it will do without new events."""
        response = await self.post(event, payload, delivery_id=delivery_id)
        assert response.status in (200, 202), await response.text()
        await self.settle()

    async def settle(self) -> None:
        await self.ctx.dispatcher.drain()
        if self.ctx.runner is not None:
            await self.ctx.runner.idle()

    def seed_repo(self, files: dict[str, str], *, config: str | None = None) -> str:
        """The test repository with ``files`` (and a `.github/ci-fix-loop.yml`); its head sha."""
        if config is not None:
            files = {**files, ".github/ci-fix-loop.yml": config}
        return self.fake.add_repo(REPO, files=files, installation_id=INSTALLATION_ID)

    def failing_run(
        self,
        head_sha: str,
        *,
        log: str,
        branch: str = "main",
        job: str = "test",
        step: str = "Run tests",
        workflow_id: int = 1,
        conclusion: str = "failure",
    ) -> dict[str, Any]:
        return self.fake.add_workflow_run(
            REPO,
            head_sha=head_sha,
            head_branch=branch,
            conclusion=conclusion,
            workflow_id=workflow_id,
            jobs=[
                FakeJob(
                    name=job,
                    conclusion=conclusion if conclusion != "success" else "success",
                    steps=[("Set up job", "success"), (step, conclusion)],
                    log=log,
                )
            ],
        )

    def pull_request_run(
        self,
        head_sha: str,
        *,
        branch: str,
        log: str,
        head_repo: str | None = None,
        conclusion: str = "failure",
        workflow_id: int = 1,
    ) -> dict[str, Any]:
        """A ``pull_request`` run of the pull request whose head is ``branch`` (in a fork
        when ``head_repo`` is given: GitHub then attaches no pull request to the run)."""
        return self.fake.add_workflow_run(
            REPO,
            head_sha=head_sha,
            head_branch=branch,
            head_repo=head_repo,
            event="pull_request",
            conclusion=conclusion,
            workflow_id=workflow_id,
            jobs=[
                FakeJob(
                    name="test",
                    conclusion=conclusion,
                    steps=[("Set up job", "success"), ("Run tests", conclusion)],
                    log=log,
                )
            ],
        )

    def payload(self, run: dict[str, Any]) -> dict[str, Any]:
        return workflow_run_payload(self.fake, run, installation_id=INSTALLATION_ID)


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
def harness_backend() -> str:
    """The store the harness runs on; a module overrides this to run on both."""
    return "sqlite"


@pytest.fixture
def harness_database_url(harness_backend: str, request: pytest.FixtureRequest) -> str | None:
    """A fresh PostgreSQL database for the PostgreSQL runs; None means the SQLite file."""
    if harness_backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return None


@pytest.fixture
async def app_harness(
    fake_github: FakeGitHub,
    tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    harness_database_url: str | None,
) -> AsyncIterator[HarnessFactory]:
    """Call ``await app_harness(**settings_changes)`` to start the app against the fake.

    On PostgreSQL (``harness_backend == "postgres"``) each test gets a fresh
    database and the loops are still worked in-process, so a scenario runs the
    same way on both stores.
    """
    started: list[Harness] = []

    async def start(overrides: Overrides | None = None, **changes: Any) -> Harness:
        # A test that brings its own DATABASE_URL runs the scale-out mode (workers
        # read the job queue); otherwise loops are worked in this process.
        scale_out = "database_url" in changes
        changes.setdefault("database_url", harness_database_url)
        settings = make_settings(fake_github, tmp_path, **changes)
        options = overrides or Overrides(
            clock=lambda: fake_github.clock().timestamp(), sleeper=no_sleep, job_queue=scale_out
        )
        client = await aiohttp_client(build_app(settings, options))
        harness = Harness(fake=fake_github, client=client, settings=settings)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.client.close()
    for harness in started:
        assert_only_fix_branches_written(harness.fake)


def assert_only_fix_branches_written(fake: FakeGitHub) -> None:
    """Every test that runs the app also checks that it wrote no ref outside ``ci-fix/``."""
    for request in fake.requests:
        if request.method == "POST" and request.path.endswith("/git/refs"):
            ref = str((request.json or {}).get("ref", ""))
        elif request.method in ("PATCH", "DELETE") and "/git/refs/" in request.path:
            ref = "refs/" + request.path.split("/git/refs/", 1)[1]
        else:
            continue
        assert ref.startswith("refs/heads/ci-fix/"), f"the app wrote {ref}: {request}"


def env_without_secrets() -> dict[str, str]:
    """The test process's environment minus anything the app would treat as configuration."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("APP_", "GITHUB_"))}


SCRIPTED_AGENT = Path(__file__).parent / "fakes" / "loop_agents" / "scripted.py"


def scripted_agent(tmp_path: Path, steps: list[dict[str, Any]]) -> str:
    """A `command` fixer line that performs ``steps`` in order, one per invocation."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(steps))
    return f"{sys.executable} {SCRIPTED_AGENT} {plan}"


def failing_pytest_log(*error_lines: str, test_id: str = "tests/test_calc.py::test_add") -> str:
    """An Actions job log of a failing pytest run whose error is ``error_lines``."""
    stamp = "2024-05-01T10:00:01.0000000Z "
    body = [
        "##[group]Run pytest -x",
        "pytest -x",
        "##[endgroup]",
        "============================= test session starts",
        f"{test_id.split('::')[0]} F",
        "=================================== FAILURES",
        *(f"E       {line}" for line in error_lines),
        "=========================== short test summary info",
        f"FAILED {test_id} - {error_lines[-1]}",
        "##[error]Process completed with exit code 1.",
    ]
    return "".join(stamp + line + "\n" for line in body)
