"""Pull requests: create (with GitHub's duplicate and no-commits refusals), list, get, update,
and their files."""

from __future__ import annotations

from . import bodies
from .http import Reply, not_found, validation_failed
from .models import Issue, PullFields
from .routes_issues import apply_issue_fields, new_issue
from .routing import Ctx, RouteTable

routes = RouteTable()


def find_pull(ctx: Ctx) -> Issue:
    issue = ctx.the_repo.issues.get(ctx.params["pull_number"])
    if issue is None or issue.pull is None:
        raise not_found()
    return issue


def _reply(ctx: Ctx, status: int, issue: Issue) -> Reply:
    return Reply(status, bodies.pull(ctx.state, ctx.the_repo, issue))


@routes.add("POST", "/repos/{owner}/{repo}/pulls")
def create_pull(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    fields = ctx.body_dict()
    owner, _, head_ref = fields["head"].rpartition(":")
    head_repo = ctx.state.repos.get(f"{owner or repo.owner}/{repo.name}".lower())
    base_ref = fields["base"]
    base_sha = repo.refs.get(f"refs/heads/{base_ref}")
    if base_sha is None:
        raise validation_failed("PullRequest", "invalid", field="base")
    head_sha = head_repo.refs.get(f"refs/heads/{head_ref}") if head_repo else None
    if head_repo is None or head_sha is None:
        raise validation_failed("PullRequest", "invalid", field="head")
    if head_repo is repo and repo.objects.is_ancestor(head_sha, base_sha):
        raise validation_failed(
            "PullRequest", "custom", message=f"No commits between {base_ref} and {head_ref}"
        )
    for other in repo.issues.values():
        if (
            other.pull
            and other.state == "open"
            and other.pull.head_repo.lower() == head_repo.key
            and other.pull.head_ref == head_ref
            and other.pull.base_ref == base_ref
        ):
            raise validation_failed(
                "PullRequest",
                "custom",
                message=f"A pull request already exists for {head_repo.owner}:{head_ref}.",
            )
    if not fields.get("title"):
        raise validation_failed("PullRequest", "missing_field", field="title")
    issue = new_issue(ctx, fields["title"])
    issue.pull = PullFields(
        id=ctx.state.new_id(),
        head_ref=head_ref,
        head_repo=head_repo.full_name,
        base_ref=base_ref,
        draft=bool(fields.get("draft", False)),
        maintainer_can_modify=bool(fields.get("maintainer_can_modify", True)),
    )
    apply_issue_fields(ctx, issue, {"body": fields.get("body")})
    repo.issues[issue.number] = issue
    reply = _reply(ctx, 201, issue)
    reply.headers["Location"] = reply.body["url"]
    return reply


@routes.add("GET", "/repos/{owner}/{repo}/pulls")
def list_pulls(ctx: Ctx) -> Reply:
    """``head`` must be ``owner:branch``; a bare branch is ignored, exactly as GitHub does."""
    query = ctx.query
    head_owner, colon, head_ref = query.get("head", "").partition(":")
    selected = [
        issue
        for issue in ctx.the_repo.issues.values()
        if issue.pull
        and query["state"] in ("all", issue.state)
        and query.get("base") in (None, issue.pull.base_ref)
        and (
            not colon
            or (
                issue.pull.head_repo.split("/")[0].lower() == head_owner.lower()
                and issue.pull.head_ref == head_ref
            )
        )
    ]
    sort = query["sort"]
    direction = query.get("direction") or ("desc" if sort == "created" else "asc")
    key = "updated_at" if sort == "updated" else "created_at"
    selected.sort(key=lambda i: (getattr(i, key), i.number), reverse=direction == "desc")
    reply = ctx.page(selected)
    reply.body = [bodies.pull(ctx.state, ctx.the_repo, issue) for issue in reply.body]
    return reply


@routes.add("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")
def get_pull(ctx: Ctx) -> Reply:
    return _reply(ctx, 200, find_pull(ctx))


@routes.add("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}")
def update_pull(ctx: Ctx) -> Reply:
    issue = find_pull(ctx)
    assert issue.pull is not None
    fields = ctx.body_dict()
    if "base" in fields:
        if f"refs/heads/{fields['base']}" not in ctx.the_repo.refs:
            raise validation_failed("PullRequest", "invalid", field="base")
        issue.pull.base_ref = fields["base"]
    if "maintainer_can_modify" in fields:
        issue.pull.maintainer_can_modify = fields["maintainer_can_modify"]
    if fields.get("state") == "closed" and issue.state == "open":
        issue.pull.closed_head_sha = bodies.pull_head_sha(ctx.state, ctx.the_repo, issue)
    elif fields.get("state") == "open":
        issue.pull.closed_head_sha = None
    apply_issue_fields(ctx, issue, {k: v for k, v in fields.items() if k != "state_reason"})
    return _reply(ctx, 200, issue)


@routes.add("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files")
def list_pull_files(ctx: Ctx) -> Reply:
    """The head against its merge base with the base branch, from the real git objects."""
    issue = find_pull(ctx)
    reply = ctx.page(ctx.state.pull_diff(ctx.the_repo, issue))
    reply.body = [bodies.diff_entry(ctx.state, ctx.the_repo, diff) for diff in reply.body]
    return reply
