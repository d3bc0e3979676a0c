"""Pull request reviews, review comments (suggestions included) and requested reviewers.

GitHub only accepts a review comment on a line its diff shows (inside a hunk, on the side
named); the fake refuses the rest with GitHub's 422, so an app cannot pass tests with
suggestions a real pull request would reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import bodies
from .diffs import LEFT, RIGHT, FileDiff
from .http import ApiError, Reply, validation_failed
from .models import Issue, Review, ReviewComment
from .routes_issues import actor
from .routes_pulls import find_pull
from .routing import Ctx, RouteTable

routes = RouteTable()
REVIEW_STATES = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
}
PENDING = "PENDING"


class Misplaced(Exception):
    """A review comment GitHub cannot anchor; ``field`` and ``message`` as GitHub names them."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Anchor:
    line: int | None
    side: str | None
    start_line: int | None
    start_side: str | None
    position: int | None
    diff_hunk: str


def _anchor(files: dict[str, FileDiff], raw: dict[str, Any]) -> Anchor:
    """Where a comment sits in the diff, checked like GitHub checks it."""
    diff = files.get(raw.get("path", ""))
    if diff is None:
        raise Misplaced("pull_request_review_thread.path", "Path could not be resolved")
    if raw.get("subject_type") == "file":
        header = diff.hunks[0].header if diff.hunks else ""
        return Anchor(None, None, None, None, None, header)
    position = raw.get("position")
    if raw.get("line") is None and position is not None:
        placed = diff.at_position(position)
        if placed is None:
            raise Misplaced("pull_request_review_thread.position", "Position is invalid")
        at_side, at_line, at_hunk = placed
        return Anchor(
            at_line, at_side, None, None, position, at_hunk.text_through(at_side, at_line)
        )
    line = raw.get("line")
    if line is None:
        raise Misplaced("pull_request_review_thread.line", "Line could not be resolved")
    side = raw.get("side") or RIGHT
    if side not in (LEFT, RIGHT):
        raise Misplaced("pull_request_review_thread.side", "side must be LEFT or RIGHT")
    hunk = diff.hunk_at(side, line)
    if hunk is None:
        raise Misplaced(
            "pull_request_review_thread.line",
            "pull_request_review_thread.line must be part of the diff",
        )
    start_line, start_side = raw.get("start_line"), None
    if start_line is not None:
        start_side = raw.get("start_side") or side
        if start_side not in (LEFT, RIGHT):
            raise Misplaced(
                "pull_request_review_thread.start_side", "start_side must be LEFT or RIGHT"
            )
        if start_line >= line and start_side == side:
            raise Misplaced(
                "pull_request_review_thread.start_line",
                "pull_request_review_thread.start_line must precede the end line",
            )
        if not hunk.covers(start_side, start_line):
            raise Misplaced(
                "pull_request_review_thread.start_line",
                "pull_request_review_thread.start_line must be part of the same hunk as the line",
            )
    return Anchor(line, side, start_line, start_side, None, hunk.text_through(side, line))


def _new_comment(ctx: Ctx, review: Review, raw: dict[str, Any], anchor: Anchor) -> ReviewComment:
    now = ctx.state.clock()
    return ReviewComment(
        id=ctx.state.new_id(),
        review_id=review.id,
        path=raw["path"],
        body=raw["body"],
        user=review.user,
        commit_id=review.commit_id,
        diff_hunk=anchor.diff_hunk,
        created_at=now,
        updated_at=now,
        line=anchor.line,
        side=anchor.side,
        start_line=anchor.start_line,
        start_side=anchor.start_side,
        position=anchor.position,
        in_reply_to=raw.get("in_reply_to"),
        subject_type="file" if raw.get("subject_type") == "file" else "line",
    )


def _reviewed_commit(ctx: Ctx, issue: Issue, commit_id: str | None) -> str:
    head = bodies.pull_head_sha(ctx.state, ctx.the_repo, issue)
    if commit_id is None:
        return head
    objects = ctx.state.pull_objects(ctx.the_repo, issue)
    if objects.kind(commit_id) != "commit" or not objects.is_ancestor(commit_id, head):
        raise validation_failed("PullRequestReview", "invalid", field="commit_id")
    return commit_id


def _files(ctx: Ctx, issue: Issue, commit_id: str) -> dict[str, FileDiff]:
    return {diff.path: diff for diff in ctx.state.pull_diff(ctx.the_repo, issue, commit_id)}


def _simple_error(*messages: str) -> ApiError:
    """GitHub's 422 for reviews: ``errors`` is a list of plain strings."""
    return ApiError(422, "Unprocessable Entity", list(messages))


@routes.add("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")
def list_reviews(ctx: Ctx) -> Reply:
    issue = find_pull(ctx)
    reply = ctx.page(list(issue.pr.reviews))
    reply.body = [
        bodies.review(ctx.state, ctx.the_repo, issue.number, review) for review in reply.body
    ]
    return reply


@routes.add("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")
def create_review(ctx: Ctx) -> Reply:
    """A review with its comments, all or nothing; no ``event`` leaves it PENDING."""
    issue = find_pull(ctx)
    fields = ctx.body_dict()
    user = actor(ctx)
    event = fields.get("event")
    body = fields.get("body") or ""
    raw_comments = fields.get("comments") or []
    if event is None and any(r.user == user and r.state == PENDING for r in issue.pr.reviews):
        raise _simple_error("User can only have one pending review per pull request")
    if event in ("APPROVE", "REQUEST_CHANGES") and issue.user == user:
        verb = "approve" if event == "APPROVE" else "request changes on"
        raise _simple_error(f"Can not {verb} your own pull request")
    if event == "REQUEST_CHANGES" and not body:
        raise _simple_error("Body is required when requesting changes")
    if event == "COMMENT" and not body and not raw_comments:
        raise _simple_error("Body is required when commenting without line comments")
    commit_id = _reviewed_commit(ctx, issue, fields.get("commit_id"))
    files = _files(ctx, issue, commit_id)
    now = ctx.state.clock()
    review = Review(
        id=ctx.state.new_id(),
        user=user,
        body=body,
        state=REVIEW_STATES[event] if event else PENDING,
        commit_id=commit_id,
        submitted_at=now if event else None,
    )
    anchors = []
    for raw in raw_comments:
        try:
            anchors.append(_anchor(files, raw))
        except Misplaced as error:
            raise _simple_error(error.message) from None
    review.comments = [
        _new_comment(ctx, review, raw, anchor)
        for raw, anchor in zip(raw_comments, anchors, strict=True)
    ]
    issue.pr.reviews.append(review)
    if event and user in issue.pr.requested_reviewers:
        issue.pr.requested_reviewers.remove(user)
    issue.updated_at = now
    return Reply(200, bodies.review(ctx.state, ctx.the_repo, issue.number, review))


@routes.add("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/comments")
def list_review_comments(ctx: Ctx) -> Reply:
    issue = find_pull(ctx)
    since = bodies.parse_time(ctx.query.get("since"))
    comments = [c for c in issue.review_comments if since is None or c.updated_at >= since]
    key = "updated_at" if ctx.query.get("sort") == "updated" else "created_at"
    comments.sort(
        key=lambda c: (getattr(c, key), c.id), reverse=ctx.query.get("direction") == "desc"
    )
    reply = ctx.page(comments)
    reply.body = [
        bodies.review_comment(ctx.state, ctx.the_repo, issue.number, c) for c in reply.body
    ]
    return reply


@routes.add("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/comments")
def create_review_comment(ctx: Ctx) -> Reply:
    """One comment, in a review of its own (GitHub wraps it in a COMMENTED review)."""
    issue = find_pull(ctx)
    raw = dict(ctx.body_dict())
    reply_to = raw.get("in_reply_to")
    if reply_to is not None:
        parent = next((c for c in issue.review_comments if c.id == reply_to), None)
        if parent is None:
            raise validation_failed("PullRequestReviewComment", "invalid", field="in_reply_to")
        raw.update(path=parent.path, commit_id=parent.commit_id)
        anchor = Anchor(
            parent.line,
            parent.side,
            parent.start_line,
            parent.start_side,
            parent.position,
            parent.diff_hunk,
        )
        commit_id = parent.commit_id
    else:
        commit_id = _reviewed_commit(ctx, issue, raw.get("commit_id"))
        try:
            anchor = _anchor(_files(ctx, issue, commit_id), raw)
        except Misplaced as error:
            raise validation_failed(
                "PullRequestReviewComment", "custom", field=error.field, message=error.message
            ) from None
    now = ctx.state.clock()
    review = Review(ctx.state.new_id(), actor(ctx), "", "COMMENTED", commit_id, now)
    comment = _new_comment(ctx, review, raw, anchor)
    review.comments.append(comment)
    issue.pr.reviews.append(review)
    issue.updated_at = now
    body = bodies.review_comment(ctx.state, ctx.the_repo, issue.number, comment)
    return Reply(201, body, {"Location": body["url"]})


# -- requested reviewers ---------------------------------------------------------------


def _review_request(ctx: Ctx, issue: Issue) -> dict[str, Any]:
    return {
        "users": [bodies.user(ctx.state, login) for login in issue.pr.requested_reviewers],
        "teams": [bodies.team(ctx.state, ctx.the_repo, slug) for slug in issue.pr.requested_teams],
    }


@routes.add("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def list_requested_reviewers(ctx: Ctx) -> Reply:
    return Reply(200, _review_request(ctx, find_pull(ctx)))


@routes.add("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def request_reviewers(ctx: Ctx) -> Reply:
    """Only collaborators (``set_permission``, or the owner) and known teams (``add_team``)."""
    issue = find_pull(ctx)
    repo = ctx.the_repo
    fields = ctx.body_dict()
    logins, teams = fields.get("reviewers") or [], fields.get("team_reviewers") or []
    for login in logins:
        if login.lower() == issue.user.lower():
            raise ApiError(422, "Review cannot be requested from pull request author.")
    collaborators = {name for name, role in repo.permissions.items() if role != "none"}
    collaborators.add(repo.owner.lower())
    if any(login.lower() not in collaborators for login in logins) or any(
        slug not in repo.teams for slug in teams
    ):
        raise ApiError(
            422,
            "Reviews may only be requested from collaborators. One or more of the users or "
            f"teams you specified is not a collaborator of the {repo.full_name} repository.",
        )
    for login in logins:
        if login not in issue.pr.requested_reviewers:
            issue.pr.requested_reviewers.append(login)
    for slug in teams:
        if slug not in issue.pr.requested_teams:
            issue.pr.requested_teams.append(slug)
    issue.updated_at = ctx.state.clock()
    return Reply(201, bodies.pull(ctx.state, repo, issue))


@routes.add("DELETE", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers")
def remove_requested_reviewers(ctx: Ctx) -> Reply:
    issue = find_pull(ctx)
    fields = ctx.body_dict()
    drop_users = {login.lower() for login in fields.get("reviewers") or []}
    drop_teams = set(fields.get("team_reviewers") or [])
    issue.pr.requested_reviewers[:] = [
        login for login in issue.pr.requested_reviewers if login.lower() not in drop_users
    ]
    issue.pr.requested_teams[:] = [s for s in issue.pr.requested_teams if s not in drop_teams]
    issue.updated_at = ctx.state.clock()
    return Reply(200, bodies.pull(ctx.state, ctx.the_repo, issue))
