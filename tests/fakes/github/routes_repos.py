"""The repository, its contents and tarball, and a collaborator's permission."""

from __future__ import annotations

import gzip
import io
import tarfile

from . import bodies
from .gitobjects import EXEC_MODE, SYMLINK_MODE, TREE_MODE
from .http import ApiError, Reply, not_found
from .models import Repo
from .routes_git import rest_commit
from .routing import Ctx, RouteTable

routes = RouteTable()
# GitHub's legacy ``permission`` field folds the finer roles into admin/write/read/none.
LEGACY_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


@routes.add("GET", "/repos/{owner}/{repo}")
def get_repo(ctx: Ctx) -> Reply:
    body = bodies.repository(ctx.state, ctx.the_repo)
    body["permissions"] = {
        "admin": False,
        "maintain": False,
        "push": True,
        "triage": True,
        "pull": True,
    }
    return Reply(200, body)


@routes.add("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission")
def get_permission(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    username = ctx.params["username"]
    role = repo.permissions.get(username.lower())
    if role is None and username.lower() == repo.owner.lower():
        role = "admin"
    if role is None:
        raise ApiError(404, f"{username} is not a user")
    user = {**bodies.user(ctx.state, username), "role_name": role}
    return Reply(200, {"permission": LEGACY_PERMISSION[role], "role_name": role, "user": user})


def _commit(ctx: Ctx, ref: str | None) -> str:
    repo = ctx.the_repo
    wanted = ref or repo.default_branch
    sha = ctx.state.resolve_commit(repo, wanted)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {wanted}")
    return sha


@routes.add("GET", "/repos/{owner}/{repo}/contents/{path}")
def get_contents(ctx: Ctx) -> Reply:
    """A file (base64), a directory listing, or the raw bytes with ``vnd.github.raw``."""
    repo = ctx.the_repo
    ref = ctx.query.get("ref") or repo.default_branch
    tree = repo.objects.commit(_commit(ctx, ref)).tree
    path = ctx.params["path"].strip("/")
    entries = {p: e for p, e in repo.objects.walk(tree)}
    entry = entries.get(path)
    if entry is None:
        raise not_found()
    if entry.mode == TREE_MODE:
        listing = [
            bodies.content_entry(ctx.state, repo, f"{path}/{child.name}", child, ref)
            for child in repo.objects.tree(entry.sha).values()
        ]
        return Reply(200, listing)
    if "vnd.github.raw" in ctx.headers.get("accept", ""):
        return Reply(
            200, repo.objects.blob(entry.sha), {"Content-Type": "application/vnd.github.raw"}
        )
    return Reply(200, bodies.content_file(ctx.state, repo, path, entry.sha, ref))


def build_tarball(repo: Repo, sha: str) -> bytes:
    """A ``.tar.gz`` laid out like codeload's: everything under ``<owner>-<repo>-<sha7>/``."""
    root = f"{repo.owner}-{repo.name}-{sha[:7]}"
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        archive.pax_headers = {"comment": sha}
        top = tarfile.TarInfo(root)
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(top)
        for path, entry in repo.objects.walk(repo.objects.commit(sha).tree):
            info = tarfile.TarInfo(f"{root}/{path}")
            if entry.mode == TREE_MODE:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            elif entry.mode == SYMLINK_MODE:
                info.type, info.mode = tarfile.SYMTYPE, 0o777
                info.linkname = repo.objects.blob(entry.sha).decode()
                archive.addfile(info)
            elif entry.type == "blob":
                data = repo.objects.blob(entry.sha)
                info.size = len(data)
                info.mode = 0o755 if entry.mode == EXEC_MODE else 0o644
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@routes.add("GET", "/repos/{owner}/{repo}/tarball/{ref}")
def get_tarball(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    ref = ctx.params["ref"]
    sha = _commit(ctx, ref)
    data = repo.tarballs.get(ref) or repo.tarballs.get(sha) or build_tarball(repo, sha)
    location = ctx.state.sign_blob(
        f"/{repo.full_name}/legacy.tar.gz/{sha}", "application/x-gzip", data
    )
    return Reply(302, None, {"Location": location})


@routes.add("GET", "/repos/{owner}/{repo}/branches/{branch}")
def get_branch(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    name = ctx.params["branch"]
    sha = repo.refs.get(f"refs/heads/{name}")
    if sha is None:
        raise ApiError(404, "Branch not found")
    api = f"{ctx.state.api_url}/repos/{repo.full_name}/branches/{name}"
    protected = name in repo.protected_branches
    return Reply(
        200,
        {
            "name": name,
            "commit": rest_commit(ctx, sha),
            "_links": {"self": api, "html": f"{ctx.state.html_url}/{repo.full_name}/tree/{name}"},
            "protected": protected,
            "protection": {"enabled": protected, "url": f"{api}/protection"},
            "protection_url": f"{api}/protection",
        },
    )
