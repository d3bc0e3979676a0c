"""Issues, their comments, labels and comment reactions.

Pull requests are issues too on GitHub: they share the number sequence, show up in the
issue list (with a ``pull_request`` key) and take comments through the issue endpoints.
"""

from __future__ import annotations

from typing import Any

from . import bodies
from .http import ApiError, Reply, not_found, validation_failed
from .models import Comment, Issue, Reaction, Repo
from .routing import Ctx, RouteTable

routes = RouteTable()
ASSIGNABLE_ROLES = ("admin", "maintain", "write", "triage")


def actor(ctx: Ctx) -> str:
    """Who the request acts as: the app's bot for installation tokens."""
    return ctx.state.bot_login


def find_issue(ctx: Ctx) -> Issue:
    issue = ctx.the_repo.issues.get(ctx.params["issue_number"])
    if issue is None:
        raise not_found()
    return issue


def label_names(repo: Repo, raw: list[Any]) -> list[str]:
    """Label names from strings or ``{"name": ...}``; unknown labels are created, as GitHub does."""
    names = [item["name"] if isinstance(item, dict) else str(item) for item in raw]
    for name in names:
        repo.labels.setdefault(name, len(repo.labels) + 1_000_001)
    return names


def assignable(repo: Repo, logins: list[str]) -> list[str]:
    """GitHub refuses (422) assignees without triage access or better; seed them with
    ``set_permission`` (the repository owner always qualifies)."""
    for login in logins:
        role = repo.permissions.get(login.lower())
        if login.lower() != repo.owner.lower() and role not in ASSIGNABLE_ROLES:
            raise validation_failed("Issue", "invalid", field="assignees", value=login)
    return list(logins)


def apply_issue_fields(ctx: Ctx, issue: Issue, fields: dict[str, Any]) -> None:
    """Title/body/state/labels/assignees as create and update (issue or pull) share them."""
    now = ctx.state.clock()
    if fields.get("title") is not None:
        issue.title = str(fields["title"])
    if "body" in fields:
        issue.body = fields["body"]
    if "labels" in fields and fields["labels"] is not None:
        issue.labels = label_names(ctx.the_repo, fields["labels"])
    if fields.get("assignees") is not None:
        issue.assignees = assignable(ctx.the_repo, fields["assignees"])
    elif fields.get("assignee"):
        issue.assignees = assignable(ctx.the_repo, [fields["assignee"]])
    state = fields.get("state")
    if state and state != issue.state:
        issue.state = state
        issue.closed_at = now if state == "closed" else None
        issue.state_reason = fields.get("state_reason") or (
            "completed" if state == "closed" else "reopened"
        )
    issue.updated_at = now


def new_issue(ctx: Ctx, title: str) -> Issue:
    now = ctx.state.clock()
    return Issue(
        number=ctx.the_repo.next_number(),
        id=ctx.state.new_id(),
        title=title,
        body=None,
        user=actor(ctx),
        state="open",
        labels=[],
        assignees=[],
        created_at=now,
        updated_at=now,
    )


@routes.add("POST", "/repos/{owner}/{repo}/issues")
def create_issue(ctx: Ctx) -> Reply:
    fields = ctx.body_dict()
    issue = new_issue(ctx, str(fields["title"]))
    apply_issue_fields(ctx, issue, fields)
    ctx.the_repo.issues[issue.number] = issue
    body = bodies.issue(ctx.state, ctx.the_repo, issue)
    return Reply(201, body, {"Location": body["url"]})


@routes.add("GET", "/repos/{owner}/{repo}/issues")
def list_issues(ctx: Ctx) -> Reply:
    query = ctx.query
    wanted_labels = [n.strip() for n in query.get("labels", "").split(",") if n.strip()]
    since = bodies.parse_time(query.get("since"))
    assignee = query.get("assignee")
    selected = [
        issue
        for issue in ctx.the_repo.issues.values()
        if query["state"] in ("all", issue.state)
        and all(name in issue.labels for name in wanted_labels)
        and query.get("creator") in (None, issue.user)
        and (since is None or issue.updated_at >= since)
        and (
            assignee is None
            or (assignee == "none" and not issue.assignees)
            or (assignee == "*" and issue.assignees)
            or assignee in issue.assignees
        )
    ]
    key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}[query["sort"]]
    selected.sort(key=lambda i: (getattr(i, key), i.number), reverse=query["direction"] == "desc")
    reply = ctx.page(selected)
    reply.body = [bodies.issue(ctx.state, ctx.the_repo, issue) for issue in reply.body]
    return reply


@routes.add("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}")
def update_issue(ctx: Ctx) -> Reply:
    issue = find_issue(ctx)
    apply_issue_fields(ctx, issue, ctx.body_dict())
    return Reply(200, bodies.issue(ctx.state, ctx.the_repo, issue))


@routes.add("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels")
def add_labels(ctx: Ctx) -> Reply:
    issue = find_issue(ctx)
    raw = ctx.body["labels"] if isinstance(ctx.body, dict) else ctx.body or []
    for name in label_names(ctx.the_repo, raw):
        if name not in issue.labels:
            issue.labels.append(name)
    issue.updated_at = ctx.state.clock()
    return Reply(200, [bodies.label(ctx.state, ctx.the_repo, name) for name in issue.labels])


@routes.add("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
def create_comment(ctx: Ctx) -> Reply:
    issue = find_issue(ctx)
    now = ctx.state.clock()
    comment = Comment(
        id=ctx.state.new_id(),
        repo=ctx.the_repo.full_name,
        issue_number=issue.number,
        body=ctx.body_dict()["body"],
        user=actor(ctx),
        created_at=now,
        updated_at=now,
    )
    ctx.state.comments[comment.id] = comment
    issue.comments += 1
    issue.updated_at = now
    body = bodies.comment(ctx.state, ctx.the_repo, comment)
    return Reply(201, body, {"Location": body["url"]})


@routes.add("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
def list_comments(ctx: Ctx) -> Reply:
    issue = find_issue(ctx)
    since = bodies.parse_time(ctx.query.get("since"))
    comments = [
        c
        for c in ctx.state.issue_comments(ctx.the_repo.full_name, issue.number)
        if since is None or c.updated_at >= since
    ]
    reply = ctx.page(comments)
    reply.body = [bodies.comment(ctx.state, ctx.the_repo, c) for c in reply.body]
    return reply


@routes.add("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
def react_to_comment(ctx: Ctx) -> Reply:
    """200 with the existing reaction when this user already reacted so, 201 otherwise."""
    comment = ctx.state.comments.get(ctx.params["comment_id"])
    if comment is None or comment.repo.lower() != ctx.the_repo.key:
        raise not_found()
    content, user = ctx.body_dict()["content"], actor(ctx)
    for reaction in comment.reactions:
        if reaction.content == content and reaction.user == user:
            return Reply(200, bodies.reaction(ctx.state, reaction))
    reaction = Reaction(ctx.state.new_id(), content, user, ctx.state.clock())
    comment.reactions.append(reaction)
    return Reply(201, bodies.reaction(ctx.state, reaction))


def _comment(ctx: Ctx) -> Comment:
    comment = ctx.state.comments.get(ctx.params["comment_id"])
    if comment is None or comment.repo.lower() != ctx.the_repo.key:
        raise not_found()
    return comment


@routes.add("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def get_comment(ctx: Ctx) -> Reply:
    return Reply(200, bodies.comment(ctx.state, ctx.the_repo, _comment(ctx)))


@routes.add("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def update_comment(ctx: Ctx) -> Reply:
    comment = _comment(ctx)
    comment.body = ctx.body_dict()["body"]
    comment.updated_at = ctx.state.clock()
    return Reply(200, bodies.comment(ctx.state, ctx.the_repo, comment))


@routes.add("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
def delete_comment(ctx: Ctx) -> Reply:
    comment = _comment(ctx)
    del ctx.state.comments[comment.id]
    issue = ctx.the_repo.issues.get(comment.issue_number)
    if issue is not None:
        issue.comments = max(issue.comments - 1, 0)
    return Reply(204)


@routes.add("DELETE", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}")
def remove_label(ctx: Ctx) -> Reply:
    """404 "Label does not exist" when the issue does not carry it, as GitHub answers."""
    issue = find_issue(ctx)
    name = ctx.params["name"]
    if name not in issue.labels:
        raise ApiError(404, "Label does not exist")
    issue.labels.remove(name)
    issue.updated_at = ctx.state.clock()
    return Reply(200, [bodies.label(ctx.state, ctx.the_repo, label) for label in issue.labels])
