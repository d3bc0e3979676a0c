"""Handing a failure to people: one open issue per workflow and branch.

A workflow that keeps failing must not file an issue per run; the open
escalation for the same repository, workflow and branch is found by the
hidden marker in its body and gets a comment instead.  Only issues carrying
the app's label are searched, so the scan stays small and never matches an
issue a person wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import gidgethub
from gidgethub.abc import GitHubAPI

from app.github.client import post_reconciled
from app.publish.commit import FIX_LABEL
from app.publish.render import (
    LoopSummary,
    escalation_body,
    escalation_comment,
    escalation_marker,
    escalation_title,
    pr_escalation_comment,
)

log = logging.getLogger(__name__)


async def find_open_escalation(
    gh: GitHubAPI, *, repo: str, workflow_id: int, branch: str
) -> dict[str, Any] | None:
    """The open escalation issue for this workflow and branch, if there is one."""
    marker = escalation_marker(repo, workflow_id, branch)
    query = urlencode({"labels": FIX_LABEL, "state": "open", "per_page": 100})
    async for issue in gh.getiter(f"/repos/{repo}/issues?{query}"):
        # The issues endpoint also lists pull requests; the fix PRs carry the same label.
        if "pull_request" not in issue and marker in (issue.get("body") or ""):
            return issue
    return None


async def escalate(
    gh: GitHubAPI,
    *,
    repo: str,
    summary: LoopSummary,
    labels: Iterable[str] = (FIX_LABEL,),
    assignees: Iterable[str] = (),
    pr_number: int | None = None,
) -> int:
    """File (or add to) the escalation issue, note it on the fix PR; return the issue number."""
    existing = await find_open_escalation(
        gh, repo=repo, workflow_id=summary.workflow_id, branch=summary.branch
    )
    if existing is not None:
        issue = existing
        await comment_once(gh, repo, issue["number"], escalation_comment(summary))
    else:
        issue = await _open_issue(gh, repo, summary, labels, assignees)
    if pr_number is not None:
        await comment_once(gh, repo, pr_number, pr_escalation_comment(summary, issue["html_url"]))
    return int(issue["number"])


async def comment_once(gh: GitHubAPI, repo: str, number: int, body: str) -> dict[str, Any]:
    """Comment on an issue or pull request; after a 5xx, only if the comment is not there."""

    async def find() -> dict[str, Any] | None:
        async for comment in gh.getiter(f"/repos/{repo}/issues/{number}/comments?per_page=100"):
            if comment.get("body") == body:
                return dict(comment)
        return None

    url = f"/repos/{repo}/issues/{number}/comments"
    return dict(await post_reconciled(gh, url, data={"body": body}, find=find))


async def _open_issue(
    gh: GitHubAPI,
    repo: str,
    summary: LoopSummary,
    labels: Iterable[str],
    assignees: Iterable[str],
) -> dict[str, Any]:
    data = {
        "title": escalation_title(summary),
        "body": escalation_body(summary),
        # The app's label is what find_open_escalation searches by; it is always added.
        "labels": list(dict.fromkeys([FIX_LABEL, *labels])),
    }
    people = list(assignees)

    async def find() -> dict[str, Any] | None:
        return await find_open_escalation(
            gh, repo=repo, workflow_id=summary.workflow_id, branch=summary.branch
        )

    url = f"/repos/{repo}/issues"
    if not people:
        return dict(await post_reconciled(gh, url, data=data, find=find))
    try:
        return dict(await post_reconciled(gh, url, data={**data, "assignees": people}, find=find))
    except gidgethub.BadRequest as exc:
        if exc.status_code != 422:
            raise
        # An assignee without access must not cost the escalation itself.
        log.warning(
            "escalation issue in %s filed without assignees %s: GitHub refused them (%s); "
            "check escalation.assignees in .github/ci-fix-loop.yml",
            repo,
            people,
            exc,
        )
        return dict(await post_reconciled(gh, url, data=data, find=find))
