"""Committing a fix and opening its pull request, through the REST API only.

The app never runs ``git push``: a push needs credentials inside a workspace
where an agent just ran.  Instead the changed files become blobs, a tree on
top of the parent commit's tree, a commit, and a ref, all through the Git Data
API with the installation token held by this process.  A 3-file fix costs
seven requests (parent commit, three blobs, tree, commit, ref).

Both operations are idempotent so a loop resumed after a crash can repeat them:
an existing branch is fast-forwarded, a commit already published with the same
tree and parent is reused, an existing pull request is updated.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import gidgethub
from gidgethub.abc import GitHubAPI

from app.core.errors import PublishError

FILE_MODE = "100644"
FIX_LABEL = "ci-fix-loop"
FIX_REF_PREFIX = "refs/heads/ci-fix/"
# One or more plain path segments below ci-fix/: no "..", no "@{", no control characters.
_SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_FIX_REF = re.compile(rf"refs/heads/ci-fix/{_SEGMENT}(?:/{_SEGMENT})*")


def _is_422(exc: gidgethub.BadRequest, *fragments: str) -> bool:
    text = str(exc).lower()
    return exc.status_code == 422 and any(f.lower() in text for f in fragments)


class RefRefused(PublishError):
    """A write to a ref outside ``refs/heads/ci-fix/`` was attempted and refused."""


def fix_ref(branch: str) -> str:
    """``refs/heads/<branch>``, if and only if it lies under ``refs/heads/ci-fix/``.

    Checked immediately before every ref write (and pull request head): whatever
    text reached this point, the app writes no other branch.
    """
    ref = f"refs/heads/{branch}"
    if not _FIX_REF.fullmatch(ref) or ".." in ref or ref.endswith((".lock", ".")):
        raise RefRefused(
            f"Refusing to write {ref!r}: the app only ever writes branches under "
            f"{FIX_REF_PREFIX}. The loop's record may have been tampered with."
        )
    return ref


def _branch_path(branch: str) -> str:
    return quote(fix_ref(branch).removeprefix("refs/heads/"), safe="/")


async def _blob_entry(
    gh: GitHubAPI, repo: str, path: str, content: bytes | None, mode: str
) -> dict[str, Any]:
    if content is None:
        return {"path": path, "mode": mode, "type": "blob", "sha": None}
    try:
        data = {"content": content.decode("utf-8"), "encoding": "utf-8"}
    except UnicodeDecodeError:
        data = {"content": base64.b64encode(content).decode("ascii"), "encoding": "base64"}
    blob = await gh.post(f"/repos/{repo}/git/blobs", data=data)
    return {"path": path, "mode": mode, "type": "blob", "sha": blob["sha"]}


async def publish_fix(
    gh: GitHubAPI,
    *,
    repo: str,
    base_sha: str,
    parent_sha: str,
    branch: str,
    changes: Mapping[str, bytes | None],
    message: str,
    modes: Mapping[str, str] | None = None,
) -> str:
    """Commit ``changes`` (path -> new content, None deletes) on ``parent_sha``; move ``branch``.

    ``base_sha`` is the failing commit the loop started from.  When the parent is
    that commit this is the first fix and the branch is created; otherwise the
    branch already carries the previous fix and is fast-forwarded.  ``modes``
    keeps an executable bit or other mode the workspace reported (default 100644).
    Returns the new commit's sha.
    """
    if not changes:
        raise PublishError("There are no changed files to publish; the fixer changed nothing.")
    fix_ref(branch)  # before anything is written: no blob or commit for a refused branch
    modes = modes or {}
    parent = await gh.getitem(f"/repos/{repo}/git/commits/{parent_sha}")
    entries = await asyncio.gather(
        *(
            _blob_entry(gh, repo, path, content, modes.get(path, FILE_MODE))
            for path, content in sorted(changes.items())
        )
    )
    tree = await gh.post(
        f"/repos/{repo}/git/trees",
        data={"base_tree": parent["tree"]["sha"], "tree": list(entries)},
    )
    if tree["sha"] == parent["tree"]["sha"]:
        raise PublishError(
            f"The changes to {', '.join(sorted(changes))} leave the tree of {parent_sha[:12]} "
            "as it was; there is nothing to commit."
        )
    commit = await gh.post(
        f"/repos/{repo}/git/commits",
        data={"message": message, "tree": tree["sha"], "parents": [parent_sha]},
    )
    return await _move_branch(
        gh,
        repo=repo,
        branch=branch,
        commit_sha=commit["sha"],
        tree_sha=tree["sha"],
        parent_sha=parent_sha,
        create_first=parent_sha == base_sha,
    )


async def _move_branch(
    gh: GitHubAPI,
    *,
    repo: str,
    branch: str,
    commit_sha: str,
    tree_sha: str,
    parent_sha: str,
    create_first: bool,
) -> str:
    """Point ``branch`` at the commit: create it, or fast-forward it, whichever applies.

    Trying the likely operation first (create on the first iteration, update
    later) saves a request; the other is the fallback.
    """
    if create_first and await _create_ref(gh, repo, branch, commit_sha):
        return commit_sha
    try:
        await gh.patch(
            f"/repos/{repo}/git/refs/heads/{_branch_path(branch)}",
            data={"sha": commit_sha, "force": False},
        )
        return commit_sha
    except gidgethub.BadRequest as exc:
        if _is_422(exc, "does not exist") and await _create_ref(gh, repo, branch, commit_sha):
            return commit_sha
        if not _is_422(exc, "fast forward"):
            raise
    return await _already_published(gh, repo, branch, tree_sha, parent_sha)


async def _create_ref(gh: GitHubAPI, repo: str, branch: str, sha: str) -> bool:
    """Create ``refs/heads/<branch>``; False when it already exists, or may.

    A create whose connection dropped may or may not have been applied by
    GitHub (the client does not resend a POST).  Answering False sends the
    caller to the fast-forward, which settles it either way: it moves a branch
    that exists and recreates one that does not.
    """
    try:
        await gh.post(f"/repos/{repo}/git/refs", data={"ref": fix_ref(branch), "sha": sha})
    except gidgethub.BadRequest as exc:
        if _is_422(exc, "already exists"):
            return False
        raise
    except (aiohttp.ClientConnectionError, TimeoutError, gidgethub.GitHubBroken):
        return False
    return True


async def _already_published(
    gh: GitHubAPI, repo: str, branch: str, tree_sha: str, parent_sha: str
) -> str:
    """The branch moved elsewhere: accept it only if it holds this very fix (a repeated publish)."""
    ref = await gh.getitem(f"/repos/{repo}/git/ref/heads/{_branch_path(branch)}")
    head_sha = ref["object"]["sha"]
    head = await gh.getitem(f"/repos/{repo}/git/commits/{head_sha}")
    parents = [p["sha"] for p in head.get("parents", [])]
    if head["tree"]["sha"] == tree_sha and parents == [parent_sha]:
        return head_sha
    raise PublishError(
        f"The branch {branch} points at {head_sha[:12]}, which does not lead to the fix built "
        f"on {parent_sha[:12]}: someone else pushed to it. Stop the loop (`/ci-fix stop`) or "
        "delete the branch so the app can recreate it."
    )


async def ensure_pull_request(
    gh: GitHubAPI,
    *,
    repo: str,
    head_branch: str,
    base_branch: str,
    title: str,
    body: str,
    labels: Iterable[str] = (FIX_LABEL,),
    draft: bool = True,
) -> dict[str, Any]:
    """Open the loop's pull request, or update the open one for ``head_branch``; label it.

    Opening is tried first because it is the common case (two requests with the
    label); GitHub's 422 for an existing pull request sends us to update it.
    The pull request opens as a draft (CI has not run on it yet) unless the
    repository's plan has no drafts, when it opens as an ordinary one.
    """
    wanted = list(dict.fromkeys([FIX_LABEL, *labels]))
    fix_ref(head_branch)  # a pull request only ever proposes a fix branch
    data: dict[str, Any] = {"title": title, "body": body, "head": head_branch, "base": base_branch}
    if draft:
        data["draft"] = True
    try:
        pr = await _open_pull_request(gh, repo, data)
    except gidgethub.BadRequest as exc:
        if not _is_422(exc, "already exists"):
            raise
        pr = await _update_open_pull_request(gh, repo, head_branch, title, body)
    except (aiohttp.ClientConnectionError, TimeoutError, gidgethub.GitHubBroken):
        # The create may or may not have reached GitHub: look before opening another.
        pr = await _find_open_pull_request(gh, repo, head_branch) or await gh.post(
            f"/repos/{repo}/pulls", data=data
        )
    present = {label["name"] for label in pr.get("labels", [])}
    missing = [label for label in wanted if label not in present]
    if missing:
        pr["labels"] = await gh.post(
            f"/repos/{repo}/issues/{pr['number']}/labels", data={"labels": missing}
        )
    return pr


async def _open_pull_request(gh: GitHubAPI, repo: str, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return await gh.post(f"/repos/{repo}/pulls", data=data)
    except gidgethub.BadRequest as exc:
        if data.get("draft") and _is_422(exc, "draft pull requests are not supported"):
            return await gh.post(f"/repos/{repo}/pulls", data={**data, "draft": False})
        raise


async def _find_open_pull_request(
    gh: GitHubAPI, repo: str, head_branch: str
) -> dict[str, Any] | None:
    owner = repo.split("/", 1)[0]
    query = urlencode({"head": f"{owner}:{head_branch}", "state": "open"})
    async for pr in gh.getiter(f"/repos/{repo}/pulls?{query}"):
        return pr
    return None


async def _update_open_pull_request(
    gh: GitHubAPI, repo: str, head_branch: str, title: str, body: str
) -> dict[str, Any]:
    pr = await _find_open_pull_request(gh, repo, head_branch)
    if pr is not None:
        return await gh.patch(
            f"/repos/{repo}/pulls/{pr['number']}", data={"title": title, "body": body}
        )
    raise PublishError(
        f"GitHub says a pull request for {head_branch} already exists, but no open one was "
        "found; it may be closed. Reopen it or delete the branch."
    )
