"""The Git Data API (blobs, trees, commits, refs) plus ``commits/{ref}`` and ``compare``.

GitHub's rules the app relies on are enforced: parents and trees must exist, a ref update
without ``force`` must be a fast-forward, an existing ref cannot be created twice.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from . import bodies, diffs
from .bodies import Body
from .gitobjects import Change, Commit, GitObjectError, Signature
from .http import ApiError, Reply, not_found, validation_failed
from .models import Repo
from .routing import Ctx, RouteTable

routes = RouteTable()


def _ref_name(ref: str) -> str:
    return f"refs/{ref}"


# -- blobs and trees -------------------------------------------------------------------


@routes.add("POST", "/repos/{owner}/{repo}/git/blobs")
def create_blob(ctx: Ctx) -> Reply:
    fields = ctx.body_dict()
    encoding = fields.get("encoding", "utf-8")
    if encoding == "base64":
        try:
            data = base64.b64decode(fields["content"], validate=False)
        except binascii.Error as error:
            raise ApiError(422, f"content is not valid Base64: {error}") from error
    elif encoding in ("utf-8", "utf8"):
        data = fields["content"].encode()
    else:
        raise ApiError(422, f"encoding must be 'utf-8' or 'base64', not {encoding!r}")
    sha = ctx.the_repo.objects.put_blob(data)
    url = f"{ctx.state.api_url}/repos/{ctx.the_repo.full_name}/git/blobs/{sha}"
    return Reply(201, {"url": url, "sha": sha}, {"Location": url})


def _tree_body(ctx: Ctx, repo: Repo, sha: str, recursive: bool) -> dict[str, Any]:
    if recursive:
        entries = list(repo.objects.walk(sha))
    else:
        entries = [(entry.name, entry) for entry in repo.objects.tree(sha).values()]
    return {
        "sha": sha,
        "url": f"{ctx.state.api_url}/repos/{repo.full_name}/git/trees/{sha}",
        "tree": [bodies.tree_entry(ctx.state, repo, path, entry) for path, entry in entries],
        "truncated": False,
    }


@routes.add("POST", "/repos/{owner}/{repo}/git/trees")
def create_tree(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    fields = ctx.body_dict()
    base_tree = fields.get("base_tree")
    if base_tree is not None and repo.objects.kind(base_tree) != "tree":
        raise validation_failed("Tree", "invalid", field="base_tree", value=base_tree)
    changes: dict[str, Change] = {}
    for item in fields["tree"]:
        path, mode = item.get("path"), item.get("mode", "100644")
        if not path:
            raise validation_failed("Tree", "missing_field", field="path")
        if "sha" in item and "content" in item:
            raise ApiError(422, "Must supply either tree.sha or tree.content, not both")
        if "content" in item:
            changes[path] = Change(repo.objects.put_blob(item["content"].encode()), mode)
        elif "sha" in item:
            changes[path] = Change(item["sha"], mode)
        else:
            raise ApiError(422, "Must supply either tree.sha or tree.content")
    try:
        sha = repo.objects.apply(base_tree, changes)
    except GitObjectError as error:
        raise ApiError(422, f"GitRPC::BadObjectState: {error}") from error
    body = _tree_body(ctx, repo, sha, recursive=False)
    return Reply(201, body, {"Location": body["url"]})


@routes.add("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}")
def get_tree(ctx: Ctx) -> Reply:
    """Any ``recursive`` value recurses (even ``0``/``false``), exactly as GitHub documents."""
    repo = ctx.the_repo
    ref = ctx.params["tree_sha"]
    sha = ref if repo.objects.kind(ref) == "tree" else None
    if sha is None:
        commit = ctx.state.resolve_commit(repo, ref)
        if commit is None:
            raise not_found()
        sha = repo.objects.commit(commit).tree
    return Reply(200, _tree_body(ctx, repo, sha, recursive="recursive" in ctx.query))


# -- commits ---------------------------------------------------------------------------


def _signature(raw: dict[str, Any] | None, default: Signature) -> Signature:
    if not raw:
        return default
    date = bodies.parse_time(raw.get("date")) or default.date
    return Signature(raw.get("name", default.name), raw.get("email", default.email), date)


@routes.add("POST", "/repos/{owner}/{repo}/git/commits")
def create_commit(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    fields = ctx.body_dict()
    bot = Signature(
        ctx.state.bot_login,
        f"{bodies.user_id(ctx.state.bot_login)}+{ctx.state.bot_login}@users.noreply.github.com",
        ctx.state.clock(),
    )
    author = _signature(fields.get("author"), bot)
    committer = _signature(fields.get("committer"), author)
    if repo.objects.kind(fields["tree"]) != "tree":
        raise ApiError(422, "Tree SHA does not exist")
    parents = tuple(fields.get("parents", []))
    if any(repo.objects.kind(p) != "commit" for p in parents):
        raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    sha = repo.objects.put_commit(fields["tree"], parents, fields["message"], author, committer)
    body = bodies.git_commit(ctx.state, repo, repo.objects.commit(sha))
    return Reply(201, body, {"Location": body["url"]})


@routes.add("GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}")
def get_git_commit(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    sha = ctx.params["commit_sha"]
    if repo.objects.kind(sha) != "commit":
        raise not_found()
    return Reply(200, bodies.git_commit(ctx.state, repo, repo.objects.commit(sha)))


# -- refs ------------------------------------------------------------------------------


@routes.add("GET", "/repos/{owner}/{repo}/git/ref/{ref}")
def get_ref(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    name = _ref_name(ctx.params["ref"])
    if name not in repo.refs:
        raise not_found()
    return Reply(200, bodies.git_ref(ctx.state, repo, name, repo.refs[name]))


@routes.add("POST", "/repos/{owner}/{repo}/git/refs")
def create_ref(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    fields = ctx.body_dict()
    name, sha = fields["ref"], fields["sha"]
    if not re.fullmatch(r"refs/[^/]+/.+", name):
        raise ApiError(422, f"{name} is not a valid ref name.")
    if repo.objects.kind(sha) is None:
        raise ApiError(422, "Object does not exist")
    if name in repo.refs:
        raise ApiError(422, "Reference already exists")
    repo.refs[name] = sha
    body = bodies.git_ref(ctx.state, repo, name, sha)
    return Reply(201, body, {"Location": body["url"]})


@routes.add("PATCH", "/repos/{owner}/{repo}/git/refs/{ref}")
def update_ref(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    fields = ctx.body_dict()
    name, sha = _ref_name(ctx.params["ref"]), fields["sha"]
    if name not in repo.refs:
        raise ApiError(422, "Reference does not exist")
    if repo.objects.kind(sha) != "commit":
        raise ApiError(422, "Object does not exist")
    if not fields.get("force") and not repo.objects.is_ancestor(repo.refs[name], sha):
        raise ApiError(422, "Update is not a fast forward")
    repo.refs[name] = sha
    repo.pushed_at = ctx.state.clock()
    return Reply(200, bodies.git_ref(ctx.state, repo, name, sha))


@routes.add("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}")
def delete_ref(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    name = _ref_name(ctx.params["ref"])
    if name not in repo.refs:
        raise ApiError(422, "Reference does not exist")
    if name == f"refs/heads/{repo.default_branch}":
        raise ApiError(422, "Cannot delete the default branch")
    del repo.refs[name]
    return Reply(204)


# -- commits/{ref} and compare ---------------------------------------------------------


def _diff_entries(ctx: Ctx, repo: Repo, old_tree: str | None, new_tree: str) -> list[Body]:
    return [
        bodies.diff_entry(ctx.state, repo, diff)
        for diff in diffs.tree_diff(repo.objects, old_tree, new_tree)
    ]


def _commit_or_404(ctx: Ctx, ref: str) -> str:
    sha = ctx.state.resolve_commit(ctx.the_repo, ref)
    if sha is None:
        raise ApiError(404, f"No commit found for SHA: {ref}")
    return sha


def rest_commit(ctx: Ctx, sha: str) -> dict[str, Any]:
    repo = ctx.the_repo
    commit = repo.objects.commit(sha)
    parent_tree = repo.objects.commit(commit.parents[0]).tree if commit.parents else None
    files = _diff_entries(ctx, repo, parent_tree, commit.tree)
    return bodies.rest_commit(ctx.state, repo, commit, files)


@routes.add("GET", "/repos/{owner}/{repo}/commits/{ref}")
def get_commit(ctx: Ctx) -> Reply:
    return Reply(200, rest_commit(ctx, _commit_or_404(ctx, ctx.params["ref"])))


@routes.add("GET", "/repos/{owner}/{repo}/compare/{basehead}")
def compare(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    base_ref, dots, head_ref = ctx.params["basehead"].partition("...")
    if not dots:
        raise not_found()
    base, head = _commit_or_404(ctx, base_ref), _commit_or_404(ctx, head_ref)
    merge_base = repo.objects.merge_base(base, head)
    if merge_base is None:
        raise ApiError(404, f"No common ancestor between {base_ref} and {head_ref}.")
    ahead = [
        sha for sha in repo.objects.ancestors(head) if sha not in repo.objects.ancestors(merge_base)
    ]
    behind = [
        sha for sha in repo.objects.ancestors(base) if sha not in repo.objects.ancestors(merge_base)
    ]
    status = (
        "identical"
        if base == head
        else ("diverged" if ahead and behind else "ahead" if ahead else "behind")
    )
    html = f"{ctx.state.html_url}/{repo.full_name}/compare/{base_ref}...{head_ref}"
    return Reply(
        200,
        {
            "url": f"{ctx.state.api_url}/repos/{repo.full_name}/compare/{base_ref}...{head_ref}",
            "html_url": html,
            "permalink_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": rest_commit(ctx, base),
            "merge_base_commit": rest_commit(ctx, merge_base),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [rest_commit(ctx, sha) for sha in reversed(ahead)],
            "files": _diff_entries(
                ctx, repo, repo.objects.commit(merge_base).tree, repo.objects.commit(head).tree
            ),
        },
    )


@routes.add("GET", "/repos/{owner}/{repo}/commits")
def list_commits(ctx: Ctx) -> Reply:
    """History from ``sha`` (default branch by default), newest first, as ``git log`` walks it.

    ``path`` keeps commits that changed that file or directory against their first parent;
    ``author`` matches the author's name or e-mail; ``since``/``until`` the committer date.
    """
    repo = ctx.the_repo
    query = ctx.query
    start = _commit_or_404(ctx, query.get("sha") or repo.default_branch)
    since, until = bodies.parse_time(query.get("since")), bodies.parse_time(query.get("until"))
    wanted_path = (query.get("path") or "").strip("/")
    selected = []
    for sha in repo.objects.ancestors(start):
        commit = repo.objects.commit(sha)
        if query.get("author") not in (None, commit.author.name, commit.author.email):
            continue
        if query.get("committer") not in (None, commit.committer.name, commit.committer.email):
            continue
        if (since and commit.committer.date < since) or (until and commit.committer.date > until):
            continue
        if wanted_path and not _touches(repo, commit, wanted_path):
            continue
        selected.append(commit)
    selected.sort(key=lambda c: c.committer.date, reverse=True)
    reply = ctx.page(selected)
    listed = []
    for commit in reply.body:
        body = bodies.rest_commit(ctx.state, repo, commit, [])
        del body["files"], body["stats"]  # the list shows neither
        listed.append(body)
    reply.body = listed
    return reply


def _touches(repo: Repo, commit: Commit, path: str) -> bool:
    parent_tree = repo.objects.commit(commit.parents[0]).tree if commit.parents else None
    return any(
        diff.path == path or diff.path.startswith(f"{path}/")
        for diff in diffs.tree_diff(repo.objects, parent_tree, commit.tree)
    )


@routes.add("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls")
def list_commit_pulls(ctx: Ctx) -> Reply:
    """Pull requests of this repository whose head contains the commit and whose base does not."""
    repo = ctx.the_repo
    sha = ctx.params["commit_sha"]
    found = []
    for issue in sorted(repo.issues.values(), key=lambda i: i.number, reverse=True):
        if issue.pull is None:
            continue
        objects = ctx.state.pull_objects(repo, issue)
        target = sha if objects.kind(sha) == "commit" else ctx.state.resolve_commit(repo, sha)
        head = bodies.pull_head_sha(ctx.state, repo, issue)
        base = repo.refs.get(f"refs/heads/{issue.pull.base_ref}")
        if target is None or objects.kind(head) != "commit":
            continue
        if objects.is_ancestor(target, head) and not (base and objects.is_ancestor(target, base)):
            found.append(issue)
    if ctx.state.resolve_commit(repo, sha) is None and not found:
        raise ApiError(422, f"No commit found for SHA: {sha}")
    reply = ctx.page(found)
    reply.body = [bodies.pull(ctx.state, repo, issue) for issue in reply.body]
    return reply
