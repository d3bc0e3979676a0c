"""Gathering the evidence of a failed run from the fake GitHub, and which runs count."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from app.diagnosis.gather import LogGatherer
from app.diagnosis.model import Category
from app.github.auth import AppAuth
from app.github.client import AppGitHubAPI, GitHubClients
from app.store.records import LoopState
from tests.fakes.github import FakeGitHub, FakeJob
from tests.harness import REPO, HarnessFactory, no_sleep
from tests.scenarios import CALC, TEST_CALC, pytest_log

INSTALLATION = 5


@pytest.fixture
async def gh(fake_github: FakeGitHub) -> AsyncIterator[AppGitHubAPI]:
    fake_github.add_repo(REPO, installation_id=INSTALLATION)
    async with aiohttp.ClientSession() as session:
        auth = AppAuth(
            app_id=fake_github.app_id,
            private_key=fake_github.private_key_pem,
            api_url=fake_github.url,
            session=session,
            clock=lambda: fake_github.clock().timestamp(),
        )
        clients = GitHubClients(
            auth=auth, session=session, api_url=fake_github.url, sleeper=no_sleep
        )
        yield clients.for_installation(INSTALLATION)


def passing(n: int) -> FakeJob:
    return FakeJob(f"shard {n}", "success", steps=[("Run tests", "success")], log="ok\n")


def failing(name: str, log: str | None) -> FakeJob:
    return FakeJob(name, "failure", steps=[("Set up job", "success"), ("Run pytest -x", "failure")],
                   log=log)  # fmt: skip


async def test_jobs_are_read_across_pages_and_the_failed_ones_diagnosed(
    fake_github: FakeGitHub, gh: AppGitHubAPI
) -> None:
    jobs = [passing(n) for n in range(140)] + [failing("shard 140", pytest_log("assert 0 == 4"))]
    run = fake_github.add_workflow_run(REPO, head_sha="a" * 40, head_branch="main", jobs=jobs)

    diagnosis = await LogGatherer(tail_bytes=64 * 1024).diagnose(gh, REPO, run["id"])

    pages = fake_github.calls("GET", f"/repos/{REPO}/actions/runs/{run['id']}/jobs")
    assert len(pages) == 2  # 100 per page, the failure is on the second
    assert all(p.query.get("filter") == "latest" for p in pages)
    assert diagnosis.category is Category.TEST
    assert diagnosis.failed_jobs == ("shard 140",)
    assert "Run pytest -x" in diagnosis.failed_steps
    assert any("assert 0 == 4" in k.text for k in diagnosis.key_lines[:3])
    # The log came by the 302 to the blob host; the fixture fails the test if the
    # token went along (fake.leaks).
    assert len(fake_github.calls("GET", "/repos/*/actions/jobs/*/logs")) == 1


async def test_a_job_github_timed_out_is_infra_though_its_log_shows_a_test_failing(
    fake_github: FakeGitHub, gh: AppGitHubAPI
) -> None:
    stopped = FakeJob(
        "integration",
        "timed_out",
        steps=[("Set up job", "success"), ("Run pytest -x", "cancelled")],
        log=pytest_log("assert 0 == 4").replace(
            "##[error]Process completed with exit code 1.\n", ""
        ),
    )
    run = fake_github.add_workflow_run(REPO, head_sha="b" * 40, head_branch="main", jobs=[stopped])

    diagnosis = await LogGatherer(tail_bytes=64 * 1024).diagnose(gh, REPO, run["id"])

    assert diagnosis.category is Category.INFRA
    assert diagnosis.failed_jobs == ("integration",)
    assert any("timed out" in note for note in diagnosis.notes)


async def test_a_job_that_failed_in_set_up_job_is_infra(
    fake_github: FakeGitHub, gh: AppGitHubAPI
) -> None:
    log = (
        "2024-05-01T10:00:00.0000000Z Current runner version: '2.329.0'\n"
        "2024-05-01T10:00:00.1000000Z ##[group]Operating System\n"
        "2024-05-01T10:00:00.2000000Z ##[endgroup]\n"
        "2024-05-01T10:00:00.3000000Z ##[error]Could not fetch acme/deploy@v9\n"
    )
    job = FakeJob("deploy", "failure", steps=[("Set up job", "failure")], log=log)
    run = fake_github.add_workflow_run(REPO, head_sha="c" * 40, head_branch="main", jobs=[job])

    diagnosis = await LogGatherer(tail_bytes=64 * 1024).diagnose(gh, REPO, run["id"])

    assert diagnosis.category is Category.INFRA
    assert diagnosis.failed_steps == ("Set up job",)
    assert diagnosis.key_lines[0].text == "##[error]Could not fetch acme/deploy@v9"


async def test_an_expired_log_gives_a_diagnosis_that_says_so(
    fake_github: FakeGitHub, gh: AppGitHubAPI
) -> None:
    run = fake_github.add_workflow_run(
        REPO, head_sha="b" * 40, head_branch="main", jobs=[failing("test", None)]
    )
    diagnosis = await LogGatherer(tail_bytes=64 * 1024).diagnose(gh, REPO, run["id"])
    assert diagnosis.failed_jobs == ("test",)
    assert any("no longer available (HTTP 410)" in note for note in diagnosis.notes)


async def test_failure_annotations_become_evidence_with_file_and_line(
    fake_github: FakeGitHub, gh: AppGitHubAPI
) -> None:
    job = FakeJob(
        "typecheck",
        "failure",
        steps=[("Run mypy", "failure")],
        log="##[error]Process completed with exit code 1.\n",
        annotations=[
            {"path": "src/app.py", "start_line": 12, "end_line": 12,
             "annotation_level": "failure", "message": "Incompatible return value type",
             "title": "mypy"},
            {"path": "src/app.py", "start_line": 3, "end_line": 3,
             "annotation_level": "warning", "message": "unused import", "title": "lint"},
        ],
    )  # fmt: skip
    run = fake_github.add_workflow_run(REPO, head_sha="c" * 40, head_branch="main", jobs=[job])
    diagnosis = await LogGatherer(tail_bytes=64 * 1024).diagnose(gh, REPO, run["id"])
    located = [(k.file, k.line) for k in diagnosis.key_lines]
    assert ("src/app.py", 12) in located
    assert ("src/app.py", 3) not in located  # warnings are not the cause


async def test_annotations_lost_to_a_dropped_connection_leave_the_log_evidence(
    fake_github: FakeGitHub, gh: AppGitHubAPI
) -> None:
    run = fake_github.add_workflow_run(
        REPO,
        head_sha="d" * 40,
        head_branch="main",
        jobs=[failing("test", pytest_log("assert 0 == 4"))],
    )
    dropped = fake_github.inject("GET", "*/check-runs/*/annotations", status=200,
                                 reset_connection=True, times=100)  # fmt: skip
    diagnosis = await LogGatherer(tail_bytes=64 * 1024).diagnose(gh, REPO, run["id"])
    assert dropped.times < 100  # the annotations were asked for, and never came
    assert diagnosis.category is Category.TEST
    assert any("assert 0 == 4" in k.text for k in diagnosis.key_lines[:3])


async def test_a_run_from_a_fork_is_ignored(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    payload = harness.payload(run)
    payload["workflow_run"]["head_repository"] = {
        **payload["workflow_run"]["head_repository"],
        "full_name": "mallory/widgets",
    }
    before = len(harness.fake.requests)
    await harness.deliver("workflow_run", payload)
    assert await harness.ctx.store.recent_loops() == []
    assert len(harness.fake.requests) == before  # not even a token was minted for it


async def test_a_failure_on_an_unwatched_branch_is_ignored(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"), branch="feature/x")
    await harness.deliver("workflow_run", harness.payload(run))
    assert await harness.ctx.store.recent_loops() == []
    assert harness.fake.check_runs(REPO) == []


async def test_configured_branches_replace_the_default_branch(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    head = harness.seed_repo(
        {"calc.py": CALC, "tests/test_calc.py": TEST_CALC},
        config="branches: [release]\ndry_run: true\n",
    )
    on_main = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(on_main))
    assert await harness.ctx.store.recent_loops() == []
    on_release = harness.failing_run(head, log=pytest_log("assert 0 == 4"), branch="release")
    await harness.deliver("workflow_run", harness.payload(on_release))
    [loop] = await harness.ctx.store.recent_loops()
    assert loop.branch == "release"
    assert loop.state is LoopState.CANCELLED  # the dry run recorded its plan and stopped
    assert (loop.reason or "").startswith("Dry run")
