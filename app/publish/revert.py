"""The revert fallback: a default branch whose loop gave up gets a pull request reverting
the one commit that broke the workflow, when that commit is certain.

The culprit comes from GitHub's record, not a guess: the workflow's runs on the
branch (newest first) give the last green run and the first red one after it,
and ``compare`` lists the commits between them; ``app.loop.policy.find_culprit``
accepts exactly one, non-merge commit.  The revert is ``git revert`` semantics,
file by file (``git merge-file`` of the commit → its parent onto the branch's
head), and any conflict means no revert.  It is committed through the Git Data
API on ``ci-fix/revert-<sha>`` (``publish_fix`` refuses anything outside
``ci-fix/``), and the pull request says which commit, why, and which run proves it.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

import gidgethub

from app.core.errors import PublishError, WorkspaceError
from app.fix.workspace import merge_three_way
from app.github.client import AppGitHubAPI
from app.loop.policy import Culprit, find_culprit
from app.publish.commit import FIX_LABEL, ensure_pull_request, publish_fix
from app.store.records import Loop

log = logging.getLogger(__name__)

# How many of the workflow's runs on the branch are read to find the last green one.
RUNS_READ = 100


@dataclass(frozen=True)
class RevertOutcome:
    """What the fallback did: a pull request for the culprit, or why there is none."""

    culprit: str | None
    reason: str
    pr_number: int | None = None
    pr_url: str | None = None
    proof_url: str | None = None


async def propose_revert(gh: AppGitHubAPI, loop: Loop) -> RevertOutcome:
    """Find the culprit of ``loop``'s workflow on its branch and open the revert's PR."""
    green, red = await _red_window(gh, loop)
    if red is None:
        return RevertOutcome(None, "no failing run of this workflow was found on the branch")
    red_sha, red_url = str(red["head_sha"]), str(red.get("html_url") or loop.run_url)
    commits: list[tuple[str, int]] = []
    if green is not None:
        compare = await gh.getitem(f"/repos/{loop.repo}/compare/{green['head_sha']}...{red_sha}")
        if compare.get("status") not in ("ahead", "identical"):
            return RevertOutcome(
                None,
                f"the first red commit {red_sha[:7]} does not descend from the last green "
                f"{str(green['head_sha'])[:7]} (history was rewritten): the culprit is not certain",
            )
        commits = [(str(c["sha"]), len(c.get("parents") or [])) for c in compare["commits"]]
    culprit: Culprit = find_culprit(
        last_green_sha=None if green is None else str(green["head_sha"]),
        first_red_sha=red_sha,
        commits=commits,
    )
    if culprit.sha is None:
        return RevertOutcome(None, culprit.reason, proof_url=red_url)
    changes = await _revert_changes(gh, loop.repo, culprit.sha, loop.head_sha)
    if isinstance(changes, str):
        return RevertOutcome(culprit.sha, changes, proof_url=red_url)
    branch = f"ci-fix/revert-{culprit.sha}"
    commit = await gh.getitem(f"/repos/{loop.repo}/git/commits/{culprit.sha}")
    subject = str(commit.get("message") or "").splitlines()[0] if commit.get("message") else ""
    message = (
        f'Revert "{subject}"\n\nThis reverts commit {culprit.sha}: {loop.workflow_name} '
        f"has failed since it landed ({red_url}) and ci-fix-loop could not fix it."
    )
    try:
        await publish_fix(
            gh, repo=loop.repo, base_sha=loop.head_sha, parent_sha=loop.head_sha,
            branch=branch, changes=changes, message=message,
        )  # fmt: skip
    except PublishError as exc:
        return RevertOutcome(culprit.sha, f"the revert could not be published: {exc}")
    pr = await ensure_pull_request(
        gh,
        repo=loop.repo,
        head_branch=branch,
        base_branch=loop.branch,
        title=f'Revert "{subject}" ({culprit.sha[:7]}): it broke {loop.workflow_name}',
        body=revert_body(loop, culprit, red_url, subject),
        labels=(FIX_LABEL,),
    )
    return RevertOutcome(
        culprit.sha,
        culprit.reason,
        pr_number=int(pr["number"]),
        pr_url=str(pr.get("html_url") or ""),
        proof_url=red_url,
    )


async def _red_window(
    gh: AppGitHubAPI, loop: Loop
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The workflow's last green push run on the branch and the first red one after it."""
    first_red: dict[str, Any] | None = None
    read = 0
    async for run in gh.getiter(
        f"/repos/{loop.repo}/actions/workflows/{loop.workflow_id}/runs"
        + "{?branch,event,status,per_page}",
        {"branch": loop.branch, "event": "push", "status": "completed", "per_page": 50},
        iterable_key="workflow_runs",
    ):
        read += 1
        if read > RUNS_READ:
            break
        if run.get("conclusion") in ("success", "neutral"):
            return run, first_red
        if run.get("conclusion") in ("failure", "timed_out", "startup_failure"):
            first_red = run
    return None, first_red


async def _revert_changes(
    gh: AppGitHubAPI, repo: str, culprit: str, head: str
) -> dict[str, bytes | None] | str:
    """The files of ``head`` with ``culprit`` undone, or why that cannot be done cleanly."""
    commit = await gh.getitem(f"/repos/{repo}/commits/{culprit}")
    parents = commit.get("parents") or []
    if len(parents) != 1:
        return f"{culprit[:7]} has {len(parents)} parents: not reverted"
    parent = str(parents[0]["sha"])
    changes: dict[str, bytes | None] = {}
    for entry in commit.get("files") or []:
        path = str(entry["filename"])
        if entry.get("status") == "renamed" or entry.get("previous_filename"):
            return f"{culprit[:7]} renames {path}: a rename is not reverted automatically"
        before = await _content(gh, repo, path, parent)  # what the revert restores
        after = await _content(gh, repo, path, culprit)  # what the culprit made
        now = await _content(gh, repo, path, head)
        if now == after:
            changes[path] = before
        elif now == before:
            continue  # already undone on the branch
        elif now is None or after is None or before is None:
            return f"{path} changed again after {culprit[:7]}: the revert conflicts"
        else:
            try:
                merged = await merge_three_way(now, after, before)
            except WorkspaceError as exc:
                return f"{path} could not be merged: {exc}"
            if merged is None:
                return f"{path} changed again after {culprit[:7]}: the revert conflicts"
            changes[path] = merged
    if not changes:
        return f"reverting {culprit[:7]} changes nothing on the branch's head"
    return changes


async def _content(gh: AppGitHubAPI, repo: str, path: str, ref: str) -> bytes | None:
    try:
        item = await gh.getitem(
            "/repos/{owner}/{repo}/contents/{+path}{?ref}",
            {"owner": repo.split("/")[0], "repo": repo.split("/")[1], "path": path, "ref": ref},
        )
    except gidgethub.BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise
    if not isinstance(item, dict) or item.get("type") != "file":
        raise PublishError(f"{path} is not a file at {ref[:7]}: not reverted")
    return base64.b64decode(str(item.get("content") or ""))


def revert_body(loop: Loop, culprit: Culprit, proof_url: str, subject: str) -> str:
    sha = culprit.sha or ""
    return "\n".join(
        [
            f"This reverts {sha} (*{subject}*) on `{loop.branch}`.",
            "",
            f"**Why:** `{loop.workflow_name}` has been red on `{loop.branch}` since this commit "
            f"landed, and ci-fix-loop gave up fixing it ({loop.reason or 'see the issue'}).",
            "",
            f"**Which commit:** {culprit.reason}.",
            "",
            f"**Proof:** the first red run, {proof_url}.",
            "",
            "Merge this to get the branch green again; the change can then come back with "
            "its fix. The revert was computed with `git revert` semantics and had no conflicts.",
        ]
    )
