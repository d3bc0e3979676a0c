"""Webhook payloads as typed values: the facts each handler needs, read once, at the edge.

Payloads are large and loosely typed; reading them in one place keeps
``payload["workflow_run"]["head_repository"]["full_name"]`` out of the engine
and turns a malformed payload into ``None`` (the delivery is then ignored)
instead of a KeyError deep inside.  Everything past intake takes these frozen
values, never the raw dict.  Besides what identifies a run, it keeps what
orders runs the way GitHub does (``run_number``, ``run_attempt``,
``created_at``): the loop never takes a different sha to mean a newer commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

from app.store.records import LoopKey, NewLoop


@dataclass(frozen=True)
class PullFacts:
    """The pull request a ``pull_request`` run belongs to, as GitHub attached or listed it.

    ``head_repo`` is the repository the head branch lives in (a fork's name for a
    pull request from a fork); ``same_repo`` is only true when GitHub says so.
    """

    number: int
    head_ref: str
    head_sha: str
    base_ref: str
    head_repo: str
    same_repo: bool

    @property
    def loop_branch(self) -> str:
        """The name the loop files this pull request's runs under.

        A same-repository head branch is itself (a ``branch`` fix targets it); a
        fork's branch is ``owner:branch``, GitHub's own spelling, which no branch of
        this repository can have (``:`` is not allowed in ref names).
        """
        if self.same_repo:
            return self.head_ref
        return f"{self.head_repo.partition('/')[0]}:{self.head_ref}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "head_ref": self.head_ref,
            "head_sha": self.head_sha,
            "base_ref": self.base_ref,
            "head_repo": self.head_repo,
            "same_repo": self.same_repo,
        }

    @classmethod
    def from_dict(cls, data: Any) -> PullFacts | None:
        """Back from the store (a loop event's detail); None when it does not read as one."""
        try:
            return cls(
                number=_int(data["number"]),
                head_ref=str(data["head_ref"]),
                head_sha=str(data["head_sha"]),
                base_ref=str(data["base_ref"]),
                head_repo=str(data["head_repo"]),
                same_repo=data["same_repo"] is True,
            )
        except (KeyError, TypeError, ValueError):
            return None

    @classmethod
    def from_api(cls, pull: Any, repo: str) -> PullFacts | None:
        """From ``GET /repos/{owner}/{repo}/pulls[/{n}]`` (``head.repo`` may be null: a
        deleted fork, treated as foreign)."""
        try:
            head, base = pull["head"], pull["base"]
            head_repo = _full_name(head.get("repo")) or ""
            return cls(
                number=_int(pull["number"]),
                head_ref=str(head["ref"]),
                head_sha=str(head["sha"]),
                base_ref=str(base["ref"]),
                head_repo=head_repo,
                same_repo=bool(head_repo) and head_repo.lower() == repo.lower(),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def _attached_pull(run: dict[str, Any], repo: str) -> PullFacts | None:
    """``workflow_run.pull_requests[0]``: GitHub attaches same-repository pull requests only.

    Its ``repo`` blocks carry ids, not names: the head is ours when its id is the base's.
    """
    pulls = run.get("pull_requests")
    if not isinstance(pulls, list) or not pulls or not isinstance(pulls[0], dict):
        return None
    pull = pulls[0]
    try:
        head, base = pull["head"], pull["base"]
        same = _int(head["repo"]["id"]) == _int(base["repo"]["id"])
        return PullFacts(
            number=_int(pull["number"]),
            head_ref=str(head["ref"]),
            head_sha=str(head["sha"]),
            base_ref=str(base["ref"]),
            head_repo=repo if same else "",
            same_repo=same,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


# ---------------------------------------------------------------------------- replay shapes

# What of a payload a handler reads, as a shape (``app.intake.body.project``):
# ``True`` keeps a value whole, a mapping keeps those keys of an object (each by
# its own shape), and a one-item tuple keeps every item of a list by that shape.
Shape: TypeAlias = "Literal[True] | Mapping[str, Shape] | tuple[Shape]"


# The blocks Envelope.check reads, of every event.
ENVELOPE_SHAPE: Mapping[str, Shape] = {
    "action": True,
    "repository": {"full_name": True},
    "installation": {"id": True},
    "sender": {"login": True, "type": True},
    "organization": {"login": True},
}


@dataclass(frozen=True)
class RunFacts:
    installation_id: int
    repo: str
    default_branch: str
    head_repo: str | None  # None: GitHub did not say (a deleted fork); treated as foreign
    workflow_id: int
    workflow_name: str
    workflow_path: str
    run_id: int
    run_attempt: int
    run_url: str
    head_branch: str
    head_sha: str
    status: str
    conclusion: str
    event: str
    run_number: int = 0
    created_at: float = 0.0  # when GitHub created the run (epoch seconds); 0 when unknown
    # The pull request of a ``pull_request`` run, when GitHub attached one (same
    # repository only) or the engine found it (a fork's, by its head branch).
    pull: PullFacts | None = None

    @property
    def for_pull_request(self) -> bool:
        """A run of the ``pull_request`` event (``pull_request_target`` runs base code)."""
        return self.event == "pull_request"

    @property
    def from_fork(self) -> bool:
        """Fails closed: a run whose head repository is unknown is not trusted as our own."""
        return self.head_repo is None or self.head_repo.lower() != self.repo.lower()

    @property
    def key(self) -> LoopKey:
        return LoopKey(self.repo, self.workflow_id, self.head_sha)

    def new_loop(self) -> NewLoop:
        return NewLoop(
            installation_id=self.installation_id,
            repo=self.repo,
            workflow_id=self.workflow_id,
            workflow_name=self.workflow_name,
            workflow_path=self.workflow_path,
            branch=self.head_branch,
            head_sha=self.head_sha,
            run_id=self.run_id,
            run_attempt=self.run_attempt,
            run_url=self.run_url,
            pull_number=self.pull.number if self.pull is not None else None,
        )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RunFacts | None:
        """The facts, or None when the payload lacks what a loop needs."""
        try:
            run = payload["workflow_run"]
            repository = payload["repository"]
            head_repository = run.get("head_repository")
            workflow = payload.get("workflow") or {}
            return cls(
                installation_id=int(payload["installation"]["id"]),
                repo=str(repository["full_name"]),
                default_branch=str(repository.get("default_branch") or "main"),
                head_repo=_full_name(head_repository),
                workflow_id=int(run["workflow_id"]),
                workflow_name=str(run.get("name") or workflow.get("name") or "CI"),
                workflow_path=str(run.get("path") or workflow.get("path") or ""),
                run_id=int(run["id"]),
                run_attempt=int(run.get("run_attempt") or 1),
                run_url=str(run.get("html_url") or ""),
                head_branch=str(run.get("head_branch") or ""),
                head_sha=str(run["head_sha"]),
                status=str(run.get("status") or ""),
                conclusion=str(run.get("conclusion") or ""),
                event=str(run.get("event") or ""),
                run_number=int(run.get("run_number") or 0),
                created_at=parse_timestamp(run.get("created_at")),
                pull=_attached_pull(run, str(repository["full_name"]))
                if run.get("event") == "pull_request"
                else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            # AttributeError: a block that should be an object is a list or a string.
            return None


_REPO_ID: Mapping[str, Shape] = {"repo": {"id": True}}
_RUN_FIELDS = (
    "id", "workflow_id", "name", "path", "run_attempt", "run_number", "html_url",
    "head_branch", "head_sha", "status", "conclusion", "event", "created_at",
)  # fmt: skip
# Everything RunFacts.from_payload reads: a ``workflow_run`` delivery is kept for
# replay as this (under 1 KB) rather than GitHub's 15-25 KB body.  A test checks,
# over GitHub's own payloads and generated ones, that the facts read back equal.
RUN_SHAPE: Mapping[str, Shape] = {
    **ENVELOPE_SHAPE,
    "repository": {"full_name": True, "default_branch": True},
    "workflow": {"name": True, "path": True},
    "workflow_run": {
        **dict.fromkeys(_RUN_FIELDS, True),
        "head_repository": {"full_name": True},
        "pull_requests": (
            {
                "number": True,
                "head": {"ref": True, "sha": True, **_REPO_ID},
                "base": {"ref": True, **_REPO_ID},
            },
        ),
    },
}


def _full_name(repository: Any) -> str | None:
    """A repository block's ``full_name``, or None when the block is missing or unusable."""
    if not isinstance(repository, dict):
        return None
    name = repository.get("full_name")
    return name if isinstance(name, str) and name else None


def parse_timestamp(value: Any) -> float:
    """GitHub's ISO 8601 time (``2024-05-01T10:00:00Z``) as epoch seconds; 0 when absent."""
    if not isinstance(value, str) or not value:
        return 0.0
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def is_bot(sender: dict[str, Any]) -> bool:
    """True for GitHub Apps and bot accounts, including this app itself."""
    return sender.get("type") == "Bot" or str(sender.get("login", "")).endswith("[bot]")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"not an id: {value!r}")
    return int(value)


def _names(items: Any) -> tuple[str, ...]:
    """``full_name`` of each repository object in a payload list (absent list: none)."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise TypeError("a repository list is not a list")
    return tuple(str(item["full_name"]) for item in items)


@dataclass(frozen=True)
class InstallationChange:
    """An ``installation`` event: the App was installed, suspended, resumed or removed."""

    installation_id: int
    account: str
    repositories: tuple[str, ...] = ()

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> InstallationChange | None:
        try:
            installation = payload["installation"]
            account = installation.get("account") or {}
            return cls(
                installation_id=_int(installation["id"]),
                account=str(account.get("login") or ""),
                repositories=_names(payload.get("repositories")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class RepositoriesChange:
    """An ``installation_repositories`` event: repositories added to or removed from it."""

    installation_id: int
    added: tuple[str, ...]
    removed: tuple[str, ...]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RepositoriesChange | None:
        try:
            return cls(
                installation_id=_int(payload["installation"]["id"]),
                added=_names(payload.get("repositories_added")),
                removed=_names(payload.get("repositories_removed")),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class Comment:
    """A new ``issue_comment``: where it was left, by whom, and what it says."""

    installation_id: int
    repo: str
    number: int
    comment_id: int
    body: str
    user: str
    user_is_bot: bool

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Comment | None:
        try:
            sender = payload.get("sender") or {}
            comment = payload["comment"]
            login = str(sender.get("login") or "")
            return cls(
                installation_id=_int(payload["installation"]["id"]),
                repo=str(payload["repository"]["full_name"]),
                number=_int(payload["issue"]["number"]),
                comment_id=_int(comment["id"]),
                body=str(comment.get("body") or ""),
                user=login,
                user_is_bot=is_bot(sender),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


CONFIG_FILE = ".github/ci-fix-loop.yml"


@dataclass(frozen=True)
class PushFacts:
    """A ``push``: which branch moved to which commit, and whether the app's config changed."""

    installation_id: int
    repo: str
    ref: str
    default_branch: str
    after: str
    config_changed: bool

    @property
    def to_default_branch(self) -> bool:
        return self.ref == f"refs/heads/{self.default_branch}"

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> PushFacts | None:
        try:
            repository = payload["repository"]
            touched = {
                str(path)
                for commit in payload.get("commits") or []
                for key in ("added", "modified", "removed")
                for path in commit.get(key) or []
            }
            after = str(payload["after"])
            return cls(
                installation_id=_int(payload["installation"]["id"]),
                repo=str(repository["full_name"]),
                ref=str(payload["ref"]),
                default_branch=str(repository["default_branch"]),
                after=after,
                # GitHub lists at most 2048 commits; a push with none listed may still change it.
                config_changed=CONFIG_FILE in touched or not payload.get("commits"),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


MAX_HEADER_VALUE = 200


@dataclass(frozen=True)
class Envelope:
    """What every delivery must have before the app routes it, checked in one place.

    A signed body comes from GitHub, but its shape is still checked before use:
    headers are printable ASCII, the body is an object, and the blocks every
    handler reads (``action``, ``repository``, ``installation``, ``sender``)
    have their documented types.  ``problem`` says what is wrong (a 400).
    """

    event: str
    delivery_id: str
    action: str | None
    repo: str | None

    @classmethod
    def check(cls, event: str, delivery_id: str, data: Any) -> Envelope | str:
        """The envelope, or the reason the delivery is refused."""
        for name, value in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery_id)):
            if not value:
                return f"missing {name} header"
            if len(value) > MAX_HEADER_VALUE or not value.isascii() or not value.isprintable():
                return f"{name} must be printable ASCII of at most {MAX_HEADER_VALUE} characters"
        if not isinstance(data, dict):
            return "body must be a JSON object"
        action = data.get("action")
        if action is not None and not isinstance(action, str):
            return '"action" must be a string'
        repo: str | None = None
        for block in ("repository", "installation", "sender", "organization"):
            if data.get(block) is not None and not isinstance(data[block], dict):
                return f'"{block}" must be an object'
        repository = data.get("repository")
        if isinstance(repository, dict):
            full_name = repository.get("full_name")
            if full_name is not None and not isinstance(full_name, str):
                return '"repository.full_name" must be a string'
            repo = full_name
        installation = data.get("installation")
        if isinstance(installation, dict):
            ident = installation.get("id")
            if ident is not None and (isinstance(ident, bool) or not isinstance(ident, int)):
                return '"installation.id" must be an integer'
        return cls(event=event, delivery_id=delivery_id, action=action, repo=repo)
