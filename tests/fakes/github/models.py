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
class PullFields:
    """What a pull request adds to an issue (they share numbers, as on GitHub)."""

    id: int
    head_ref: str
    head_repo: str
    base_ref: str
    draft: bool
    maintainer_can_modify: bool
    closed_head_sha: str | None = None  # frozen when the pull request is closed


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
