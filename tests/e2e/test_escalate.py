"""Escalation issues on the fake GitHub: one open issue per workflow and branch."""

from __future__ import annotations

from collections.abc import AsyncIterator

import gidgethub.aiohttp
import pytest

from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.publish.commit import FIX_LABEL
from app.publish.escalate import escalate
from app.publish.render import IterationSummary, LoopSummary, escalation_marker
from tests.support import installation_client

REPO = "octo/widgets"
INSTALLATION = 77


@pytest.fixture
async def gh(fake_github) -> AsyncIterator[gidgethub.aiohttp.GitHubAPI]:
    fake_github.add_installation(INSTALLATION, "octo")
    fake_github.add_repo(REPO, installation_id=INSTALLATION)
    async with installation_client(fake_github, INSTALLATION) as gh:
        yield gh


def summary(run_id: int = 500, *, workflow_id: int = 7, branch: str = "main") -> LoopSummary:
    return LoopSummary(
        loop_id=str(run_id),
        repo=REPO,
        workflow_name="CI",
        workflow_id=workflow_id,
        branch=branch,
        head_sha="d" * 40,
        run_id=run_id,
        run_url=f"https://github.com/{REPO}/actions/runs/{run_id}",
        diagnosis=Diagnosis(
            category=Category.TEST,
            confidence=0.8,
            tool="pytest",
            key_lines=(KeyLine("FAILED tests/test_core.py::test_add"),),
            failed_jobs=("test",),
        ),
        iterations=(IterationSummary(1, "claude-opus-4-6", "command", 0.9, "ci failed"),),
        total_cost_usd=0.9,
        state="escalated",
        reason=f"Exhausted 1 iteration on run {run_id}",
    )


async def test_first_escalation_files_one_labelled_issue(fake_github, gh):
    number = await escalate(
        gh, repo=REPO, summary=summary(), labels=(FIX_LABEL, "ci"), assignees=()
    )
    (issue,) = fake_github.issues(REPO)
    assert issue.number == number
    assert issue.title == "CI Fix Loop: tests/test_core.py::test_add fails on main needs a person"
    assert issue.labels == [FIX_LABEL, "ci"]
    assert escalation_marker(REPO, 7, "main") in issue.body
    assert "Exhausted 1 iteration on run 500" in issue.body


async def test_second_escalation_comments_on_the_open_issue(fake_github, gh):
    first = await escalate(gh, repo=REPO, summary=summary(500), labels=(FIX_LABEL,))
    second = await escalate(gh, repo=REPO, summary=summary(501), labels=(FIX_LABEL,))
    assert second == first
    assert len(fake_github.issues(REPO)) == 1
    (comment,) = fake_github.issue_comments(REPO, first)
    assert "failed again" in comment.body and "runs/501" in comment.body


async def test_other_workflow_or_branch_gets_its_own_issue(fake_github, gh):
    a = await escalate(gh, repo=REPO, summary=summary(workflow_id=7), labels=())
    b = await escalate(gh, repo=REPO, summary=summary(workflow_id=8), labels=())
    c = await escalate(gh, repo=REPO, summary=summary(workflow_id=7, branch="release"), labels=())
    assert len({a, b, c}) == 3
    assert all(FIX_LABEL in issue.labels for issue in fake_github.issues(REPO))


async def test_closed_escalation_is_not_reused(fake_github, gh):
    first = await escalate(gh, repo=REPO, summary=summary(500))
    await gh.patch(f"/repos/{REPO}/issues/{first}", data={"state": "closed"})
    second = await escalate(gh, repo=REPO, summary=summary(501))
    assert second != first


async def test_escalation_found_beyond_the_first_page(fake_github, gh):
    target = await escalate(gh, repo=REPO, summary=summary(500))
    for i in range(105):  # newer labelled issues push the escalation to page two
        await gh.post(f"/repos/{REPO}/issues", data={"title": f"noise {i}", "labels": [FIX_LABEL]})
    again = await escalate(gh, repo=REPO, summary=summary(501))
    assert again == target
    pages = fake_github.calls("GET", f"/repos/{REPO}/issues")
    assert any(r.query.get("page") == "2" for r in pages)


async def test_fix_pull_request_is_told_about_the_escalation(fake_github, gh):
    pr = await gh.post(f"/repos/{REPO}/issues", data={"title": "stand-in for the fix PR"})
    number = await escalate(gh, repo=REPO, summary=summary(), pr_number=pr["number"])
    (note,) = fake_github.issue_comments(REPO, pr["number"])
    assert f"/issues/{number}" in note.body


async def test_assignees_are_set_on_the_issue(fake_github, gh):
    fake_github.set_permission(REPO, "maintainer1", "write")
    number = await escalate(gh, repo=REPO, summary=summary(), assignees=("maintainer1",))
    (issue,) = fake_github.issues(REPO)
    assert issue.number == number and issue.assignees == ["maintainer1"]


async def test_refused_assignee_does_not_stop_the_escalation(fake_github, gh):
    refusal = {
        "message": "Validation Failed",
        "errors": [
            {"value": "gone-user", "resource": "Issue", "field": "assignees", "code": "invalid"}
        ],
    }
    fake_github.inject("POST", f"/repos/{REPO}/issues", status=422, body=refusal)
    number = await escalate(gh, repo=REPO, summary=summary(), assignees=("gone-user",))
    (issue,) = fake_github.issues(REPO)
    assert issue.number == number and issue.assignees == []
    creates = fake_github.calls("POST", f"/repos/{REPO}/issues")
    assert [c.json.get("assignees") for c in creates] == [["gone-user"], None]
