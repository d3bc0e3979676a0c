"""The records the fake keeps: one dataclass per GitHub resource, holding only what varies.

API bodies are derived from these by :mod:`tests.fakes.github.bodies`; keeping the stored
state small makes it obvious what a test has arranged and what is mere decoration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .gitobjects import ObjectStore


@dataclass(frozen=True)
class FakeJob:
    """A job to seed with :meth:`FakeGitHub.add_workflow_run`.

    ``steps`` are ``(name, conclusion)`` pairs; ``log=None`` means the log has expired
    (the logs endpoint answers 410 Gone, as GitHub does after the retention period).
    """

    name: str
    conclusion: str | None = "success"
    steps: Sequence[tuple[str, str]] = ()
    log: str | bytes | None = ""
    annotations: Sequence[dict[str, Any]] = ()
    status: str = "completed"


@dataclass
class Installation:
    id: int
    account: str
    account_type: str
    repos: set[str]  # lower-case full names
    created_at: datetime


@dataclass
class AccessToken:
    value: str
    installation_id: int
    expires_at: datetime
    repos: frozenset[str] | None  # None: every repository of the installation
    revoked: bool = False


@dataclass
class Job:
    id: int
    run_id: int
    run_attempt: int
    name: str
    status: str
    conclusion: str | None
    steps: list[tuple[str, str]]
    log: bytes | None
    annotations: list[dict[str, Any]]
    started_at: datetime
    completed_at: datetime | None


@dataclass
class WorkflowRun:
    id: int
    repo: str
    name: str
    workflow_id: int
    path: str
    event: str
    head_sha: str
    head_branch: str
    head_repo: str
    status: str
    conclusion: str | None
    run_attempt: int
    run_number: int
    created_at: datetime
    updated_at: datetime
    jobs: list[Job] = field(default_factory=list)


@dataclass
class ReviewComment:
    """A comment on a line (or lines, ``start_line``..``line``) of a pull request's diff.

    ``side`` is ``RIGHT`` for the head's lines (added or context) and ``LEFT`` for the
    base's (deleted or context); ``subject_type="file"`` comments have no line at all.
    """

    id: int
    review_id: int
    path: str
    body: str
    user: str
    commit_id: str
    diff_hunk: str
    created_at: datetime
    updated_at: datetime
    line: int | None = None
    side: str | None = None
    start_line: int | None = None
    start_side: str | None = None
    position: int | None = None
    in_reply_to: int | None = None
    subject_type: str = "line"


@dataclass
class Review:
    """A pull request review; ``state`` is GitHub's (PENDING, COMMENTED, APPROVED, ...)."""

    id: int
    user: str
    body: str
    state: str
    commit_id: str
    submitted_at: datetime | None
    comments: list[ReviewComment] = field(default_factory=list)


@dataclass
class PullFields:
    """What a pull request adds to an issue (they share numbers, as on GitHub)."""

    id: int
    head_ref: str
    head_repo: str
    base_ref: str
    draft: bool
    maintainer_can_modify: bool
    closed_head_sha: str | None = None  # frozen when the pull request is closed
    requested_reviewers: list[str] = field(default_factory=list)  # logins
    requested_teams: list[str] = field(default_factory=list)  # team slugs
    reviews: list[Review] = field(default_factory=list)


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: str
    labels: list[str]
    assignees: list[str]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    state_reason: str | None = None
    pull: PullFields | None = None
    comments: int = 0

    @property
    def pr(self) -> PullFields:
        """The pull request part; raises for a plain issue."""
        if self.pull is None:
            raise ValueError(f"#{self.number} is an issue, not a pull request")
        return self.pull

    @property
    def reviews(self) -> list[Review]:
        """The pull request's reviews, oldest first (``fake.pull(repo, n).reviews``)."""
        return self.pr.reviews

    @property
    def review_comments(self) -> list[ReviewComment]:
        """Every review comment of the pull request, in the order they were made."""
        return sorted(
            (comment for review in self.pr.reviews for comment in review.comments),
            key=lambda comment: comment.id,
        )

    @property
    def requested_reviewers(self) -> list[str]:
        return self.pr.requested_reviewers


@dataclass
class Reaction:
    id: int
    content: str
    user: str
    created_at: datetime


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class HookDelivery:
    """One webhook delivery the App "sent", as ``/app/hook/deliveries`` lists it.

    ``status_code`` is the receiver's answer (0 when it could not be reached); a
    redelivery is a new record with ``redelivery=True`` and the same ``guid``.
    """

    id: int
    guid: str
    event: str
    action: str | None
    payload: dict[str, Any]
    delivered_at: datetime
    status_code: int
    status: str
    redelivery: bool = False
    installation_id: int | None = None
    repository_id: int | None = None
    duration: float = 0.05
    url: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 400


@dataclass
class CheckRun:
    id: int
    repo: str
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None
    details_url: str | None
    external_id: str | None
    output: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    private: bool
    created_at: datetime
    objects: ObjectStore = field(default_factory=ObjectStore)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> sha
    tarballs: dict[str, bytes] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)  # lower-case login -> role
    labels: dict[str, int] = field(default_factory=dict)  # name -> label id
    issues: dict[int, Issue] = field(default_factory=dict)
    pushed_at: datetime | None = None
    teams: set[str] = field(default_factory=set)  # team slugs that may be asked to review
    protected_branches: set[str] = field(default_factory=set)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def key(self) -> str:
        return self.full_name.lower()

    def next_number(self) -> int:
        return max(self.issues, default=0) + 1


@dataclass(frozen=True)
class RecordedRequest:
    """One request the API server received (blob-host requests are not recorded here)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any


@dataclass(frozen=True)
class Violation:
    """Something GitHub would refuse (``kind="request"``) or the fake answered wrongly."""

    kind: str
    method: str
    path: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.method} {self.path}: {self.detail}"


@dataclass(frozen=True)
class Leak:
    """A blob-host request that carried credentials GitHub's storage must never see."""

    method: str
    path: str
    header: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} sent {self.header} to the blob host"
