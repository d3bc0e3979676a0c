"""The fake's world: installations, repositories, runs, issues... and the seeding API.

Tests arrange GitHub through these synchronous methods (``add_repo``, ``commit``,
``add_workflow_run``...) and inspect the result (``read_tree``, ``ref``, ``check_runs``...);
the HTTP routes read and change the same records, so what the app did is what a test sees.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import bodies, outbox
from .diffs import FileDiff, tree_diff
from .gitobjects import Change, ObjectStore, Signature
from .models import (
    AccessToken,
    CheckRun,
    Comment,
    FakeJob,
    HookDelivery,
    Installation,
    Issue,
    Job,
    PullFields,
    Repo,
    WorkflowRun,
)
from .openapi import OpenAPI
from .suggestions import SuggestionError, apply_suggestions

TOKEN_LIFETIME = timedelta(hours=1)
PERMISSIONS = ("admin", "maintain", "write", "triage", "read", "none")
SEED_AUTHOR = ("Octo Cat", "octocat@users.noreply.github.com")


class FakeClock:
    """A clock that only moves when a test says so (``advance``/``set``).

    ``fake.clock`` may also be replaced by any callable returning an aware ``datetime``.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


@dataclass(frozen=True)
class Blob:
    """A signed download on the blob host (job logs, run logs, tarballs)."""

    path: str
    content_type: str
    data: bytes


@dataclass
class ManifestCode:
    code: str
    on_conversion: Callable[[str], None] | None


def _as_bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


class GitHubState:
    """Everything the fake GitHub knows, plus the methods tests use to arrange it."""

    def __init__(
        self,
        *,
        app_id: int,
        app_slug: str,
        private_key_pem: str,
        webhook_secret: str,
        clock: Callable[[], datetime],
        spec: OpenAPI,
    ) -> None:
        self.spec = spec
        self.private_key_pem = private_key_pem
        self.webhook_secret = webhook_secret
        self.api_url = "http://127.0.0.1:0"  # the server sets its real address on start
        self.html_url = "https://github.com"
        self.app_id = app_id
        self.app_slug = app_slug
        self.clock = clock
        self.installations: dict[int, Installation] = {}
        self.repos: dict[str, Repo] = {}
        # Commit e-mails GitHub can attribute to an account (``author`` in REST commits).
        self.logins_by_email: dict[str, str] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.runs: dict[int, WorkflowRun] = {}
        self.jobs: dict[int, Job] = {}
        self.comments: dict[int, Comment] = {}
        self.check_run_records: dict[int, CheckRun] = {}
        self.manifest_codes: dict[str, ManifestCode] = {}
        self.token_requests: Counter[int] = Counter()
        self.rate_used: Counter[str] = Counter()  # API calls per credential, for rate headers
        self.blob_url = "http://127.0.0.1:0"  # the blob host's address, set on start
        self.blobs: dict[str, Blob] = {}  # signature -> what the blob host serves for it
        self.reruns: list[int] = []  # run ids passed to rerun-failed-jobs
        self.job_reruns: list[int] = []  # job ids passed to jobs/{id}/rerun
        self.on_rerun: Callable[[WorkflowRun], None] | None = None
        self.deliveries: dict[int, HookDelivery] = {}  # the App's webhook deliveries by id
        self.redelivery_requests: list[int] = []  # delivery ids passed to .../attempts
        self.webhook_url: str | None = None  # where (re)deliveries are really sent, if set
        self._sends: set[asyncio.Task[HookDelivery]] = set()
        self._delivery_ids = itertools.count(90_000_001)
        self._ids = itertools.count(10_000_001)
        self._run_ids = itertools.count(30_000_001)
        self._job_ids = itertools.count(70_000_001)  # shared with check runs, as on GitHub
        self._run_numbers: Counter[str] = Counter()

    @property
    def bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    def new_id(self) -> int:
        return next(self._ids)

    def new_job_id(self) -> int:
        """Jobs and check runs share one id space: a job's check run id is its job id."""
        return next(self._job_ids)

    # -- seeding -----------------------------------------------------------------------

    def add_installation(
        self,
        installation_id: int,
        account: str,
        repos: Iterable[str] = (),
        *,
        account_type: str = "Organization",
    ) -> None:
        """Install the app on ``account``; ``repos`` are full names (they may be added later)."""
        self.installations[installation_id] = Installation(
            id=installation_id,
            account=account,
            account_type=account_type,
            repos={name.lower() for name in repos},
            created_at=self.clock(),
        )

    def add_repo(
        self,
        full_name: str,
        *,
        default_branch: str = "main",
        files: Mapping[str, bytes | str] | None = None,
        installation_id: int | None = None,
        private: bool = False,
    ) -> str:
        """Create a repository with one commit holding ``files``; returns that commit's sha.

        ``files=None`` gives a README; ``installation_id`` adds the repository to that
        installation (created for the owner if it does not exist yet).
        """
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"{full_name!r} is not an 'owner/name' repository name")
        repo = Repo(
            id=self.new_id(),
            owner=owner,
            name=name,
            default_branch=default_branch,
            private=private,
            created_at=self.clock(),
        )
        self.repos[repo.key] = repo
        if installation_id is not None:
            if installation_id not in self.installations:
                self.add_installation(installation_id, owner)
            self.installations[installation_id].repos.add(repo.key)
        files = {"README.md": f"# {name}\n"} if files is None else files
        return self.commit(full_name, default_branch, dict(files), message="Initial commit")

    def commit(
        self,
        full_name: str,
        branch: str,
        files: Mapping[str, bytes | str | None],
        message: str = "Update files",
    ) -> str:
        """Commit ``files`` (None deletes a path) on top of ``branch`` and move it; returns sha.

        A branch that does not exist yet starts from the default branch.
        """
        repo = self.repo(full_name)
        parent = repo.refs.get(f"refs/heads/{branch}") or repo.refs.get(
            f"refs/heads/{repo.default_branch}"
        )
        base_tree = repo.objects.commit(parent).tree if parent else None
        changes = {
            path: Change(None if data is None else repo.objects.put_blob(_as_bytes(data)))
            for path, data in files.items()
        }
        tree = repo.objects.apply(base_tree, changes)
        who = Signature(*SEED_AUTHOR, self.clock())
        sha = repo.objects.put_commit(tree, (parent,) if parent else (), message, who, who)
        repo.refs[f"refs/heads/{branch}"] = sha
        repo.pushed_at = self.clock()
        self._mirror_pull_heads(repo)
        return sha

    def _mirror_pull_heads(self, head_repo: Repo) -> None:
        """GitHub keeps every pull request's head in the base repository too
        (``refs/pull/<n>/head``): a fork's commits can then be read, archived and have
        check runs there, as they can on GitHub."""
        for base in self.repos.values():
            for issue in base.issues.values():
                pull = issue.pull
                if pull is None or issue.state != "open" or base is head_repo:
                    continue
                if pull.head_repo.lower() != head_repo.key:
                    continue
                sha = head_repo.refs.get(f"refs/heads/{pull.head_ref}")
                if sha is not None:
                    base.objects.copy_from(head_repo.objects)
                    base.refs[f"refs/pull/{issue.number}/head"] = sha

    def add_workflow_run(
        self,
        full_name: str,
        *,
        head_sha: str,
        head_branch: str,
        conclusion: str | None = "failure",
        status: str = "completed",
        name: str = "CI",
        workflow_id: int = 1,
        path: str = ".github/workflows/ci.yml",
        event: str = "push",
        jobs: Iterable[FakeJob] = (),
        head_repo: str | None = None,
        run_attempt: int = 1,
    ) -> dict[str, Any]:
        """Record a workflow run with its jobs; returns the run as the API shows it."""
        repo = self.repo(full_name)
        now = self.clock()
        self._run_numbers[repo.key] += 1
        run = WorkflowRun(
            id=next(self._run_ids),
            repo=repo.full_name,
            name=name,
            workflow_id=workflow_id,
            path=path,
            event=event,
            head_sha=head_sha,
            head_branch=head_branch,
            head_repo=head_repo or repo.full_name,
            status=status,
            conclusion=conclusion if status == "completed" else None,
            run_attempt=run_attempt,
            run_number=self._run_numbers[repo.key],
            created_at=now,
            updated_at=now,
        )
        for fake_job in jobs:
            self.add_job(run, fake_job)
        self.runs[run.id] = run
        return self.run_body(run)

    def add_job(
        self, run: WorkflowRun, fake_job: FakeJob, *, run_attempt: int | None = None
    ) -> Job:
        """Attach one more job to ``run`` (e.g. from an ``on_rerun`` hook for a new attempt)."""
        log = fake_job.log
        job = Job(
            id=self.new_job_id(),
            run_id=run.id,
            run_attempt=run_attempt or run.run_attempt,
            name=fake_job.name,
            status=fake_job.status,
            conclusion=fake_job.conclusion if fake_job.status == "completed" else None,
            steps=list(fake_job.steps),
            log=None if log is None else _as_bytes(log),
            annotations=[dict(a) for a in fake_job.annotations],
            started_at=self.clock(),
            completed_at=self.clock() if fake_job.status == "completed" else None,
        )
        run.jobs.append(job)
        self.jobs[job.id] = job
        return job

    def schema_body(self, schema: str, partial: dict[str, Any]) -> dict[str, Any]:
        """``partial`` completed to a full body of ``#/components/schemas/<schema>``."""
        return self.spec.complete(f"/components/schemas/{schema}", partial, self.clock())

    def run_body(self, run: WorkflowRun) -> dict[str, Any]:
        return self.schema_body("workflow-run", bodies.workflow_run(self, run))

    def set_permission(self, full_name: str, username: str, permission: str) -> None:
        """Give ``username`` a role on the repository (admin/maintain/write/triage/read/none)."""
        if permission not in PERMISSIONS:
            raise ValueError(f"permission must be one of {PERMISSIONS}, not {permission!r}")
        self.repo(full_name).permissions[username.lower()] = permission

    def link_email(self, email: str, login: str) -> None:
        """Make commits by ``email`` show ``login`` as their GitHub author, as GitHub does."""
        self.logins_by_email[email.lower()] = login

    def set_tarball(self, full_name: str, ref: str, data: bytes) -> None:
        """Serve ``data`` instead of the real archive for ``ref`` (to test hostile archives)."""
        self.repo(full_name).tarballs[ref] = data

    def add_manifest_code(
        self, code: str, manifest_seen_callback: Callable[[str], None] | None = None
    ) -> None:
        """Accept one manifest conversion for ``code``; the callback gets the code when used."""
        self.manifest_codes[code] = ManifestCode(code, manifest_seen_callback)

    def expire_tokens(self) -> None:
        """Invalidate every installation token issued so far (the next use answers 401)."""
        for token in self.tokens.values():
            token.revoked = True

    def fork_repo(self, source: str, owner: str, *, installation_id: int | None = None) -> str:
        """Fork ``source`` to ``owner`` (same name, same history and branches); returns its name.

        Pull requests from the fork (``head="<owner>:<branch>"``) then diff against the base
        like GitHub's, because the fork shares the parent's objects.
        """
        parent = self.repo(source)
        full_name = f"{owner}/{parent.name}"
        repo = Repo(
            id=self.new_id(),
            owner=owner,
            name=parent.name,
            default_branch=parent.default_branch,
            private=parent.private,
            created_at=self.clock(),
        )
        repo.objects.copy_from(parent.objects)
        repo.refs = {
            name: sha for name, sha in parent.refs.items() if name.startswith("refs/heads/")
        }
        self.repos[repo.key] = repo
        if installation_id is not None:
            if installation_id not in self.installations:
                self.add_installation(installation_id, owner, account_type="User")
            self.installations[installation_id].repos.add(repo.key)
        return full_name

    def add_pull(
        self,
        full_name: str,
        *,
        head: str,
        base: str | None = None,
        title: str = "Change things",
        body: str | None = None,
        user: str = "octocat",
        draft: bool = False,
        head_repo: str | None = None,
    ) -> Issue:
        """Open a pull request as ``user`` (a person, unlike those the app opens as its bot).

        ``head_repo`` names a fork (see ``fork_repo``) whose ``head`` branch is proposed.
        """
        repo = self.repo(full_name)
        source = self.repo(head_repo or full_name)
        if f"refs/heads/{head}" not in source.refs:
            raise KeyError(f"{source.full_name} has no branch {head!r}: commit() to it first")
        now = self.clock()
        issue = Issue(
            number=repo.next_number(),
            id=self.new_id(),
            title=title,
            body=body,
            user=user,
            state="open",
            labels=[],
            assignees=[],
            created_at=now,
            updated_at=now,
            pull=PullFields(
                id=self.new_id(),
                head_ref=head,
                head_repo=source.full_name,
                base_ref=base or repo.default_branch,
                draft=draft,
                maintainer_can_modify=True,
            ),
        )
        repo.issues[issue.number] = issue
        self._mirror_pull_heads(source)
        return issue

    def add_team(self, full_name: str, slug: str) -> None:
        """A team of the repository's owner that may be requested as a reviewer."""
        self.repo(full_name).teams.add(slug)

    def protect_branch(self, full_name: str, branch: str) -> None:
        """Mark ``branch`` protected (``GET branches/{branch}`` then says so)."""
        self.repo(full_name).protected_branches.add(branch)

    # -- webhook deliveries ------------------------------------------------------------

    def add_delivery(
        self,
        event: str,
        payload: Mapping[str, Any],
        *,
        status_code: int = 200,
        guid: str | None = None,
        redelivery: bool = False,
    ) -> HookDelivery:
        """Record a delivery the App "sent" (status 200: handed over; 4xx/5xx/0: failed).

        Nothing is sent; the record is what ``GET /app/hook/deliveries`` lists, newest first.
        """
        status = "OK" if 200 <= status_code < 300 else f"Invalid HTTP Response: {status_code}"
        if status_code == 0:
            status = "failed to connect to host"
        return self._record_delivery(
            event,
            dict(payload),
            guid or str(uuid.uuid4()),
            outbox.Outcome(status_code, status, 0.05, "", {}),
            redelivery=redelivery,
        )

    def add_failed_delivery(
        self,
        event: str,
        payload: Mapping[str, Any],
        *,
        status_code: int = 502,
        guid: str | None = None,
    ) -> HookDelivery:
        """A delivery GitHub could not hand over (the app should ask for a redelivery)."""
        return self.add_delivery(event, payload, status_code=status_code, guid=guid)

    def _record_delivery(
        self,
        event: str,
        payload: dict[str, Any],
        guid: str,
        outcome: outbox.Outcome,
        *,
        redelivery: bool,
    ) -> HookDelivery:
        installation = payload.get("installation")
        repository = payload.get("repository")
        delivery = HookDelivery(
            id=next(self._delivery_ids),
            guid=guid,
            event=event,
            action=payload.get("action") if isinstance(payload.get("action"), str) else None,
            payload=payload,
            delivered_at=self.clock(),
            status_code=outcome.status_code,
            status=outcome.status,
            redelivery=redelivery,
            installation_id=installation.get("id") if isinstance(installation, dict) else None,
            repository_id=repository.get("id") if isinstance(repository, dict) else None,
            duration=outcome.duration,
            url=self.webhook_url or "",
            request_headers=outcome.request_headers,
            response_body=outcome.response_body,
        )
        self.deliveries[delivery.id] = delivery
        return delivery

    async def send_webhook(
        self, event: str, payload: Mapping[str, Any], *, guid: str | None = None
    ) -> HookDelivery:
        """Really deliver ``payload`` to ``webhook_url`` (signed) and record the outcome."""
        if self.webhook_url is None:
            raise RuntimeError("set fake.webhook_url to the app's webhook URL first")
        guid = guid or str(uuid.uuid4())
        outcome = await outbox.send(
            self.webhook_url, self.webhook_secret, event, guid, dict(payload), self.app_id
        )
        return self._record_delivery(event, dict(payload), guid, outcome, redelivery=False)

    def redeliver(self, delivery: HookDelivery) -> None:
        """What ``POST .../attempts`` does: record the request and send the delivery again.

        With ``webhook_url`` set the re-send is real (in the background, as GitHub answers
        202 first; ``await fake.settle_deliveries()`` waits for it); without one the
        redelivery is recorded as handed over.
        """
        self.redelivery_requests.append(delivery.id)
        if self.webhook_url is None:
            outcome = outbox.Outcome(200, "OK", 0.05, "", {})
            self._record_delivery(
                delivery.event, delivery.payload, delivery.guid, outcome, redelivery=True
            )
            return
        task = asyncio.get_running_loop().create_task(self._resend(self.webhook_url, delivery))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _resend(self, url: str, delivery: HookDelivery) -> HookDelivery:
        outcome = await outbox.send(
            url, self.webhook_secret, delivery.event, delivery.guid, delivery.payload, self.app_id
        )
        return self._record_delivery(
            delivery.event, delivery.payload, delivery.guid, outcome, redelivery=True
        )

    async def settle_deliveries(self) -> list[HookDelivery]:
        """Wait for every redelivery still being sent; returns the records they produced."""
        done: list[HookDelivery] = []
        while self._sends:
            done += await asyncio.gather(*list(self._sends))
        return done

    # -- inspection --------------------------------------------------------------------

    def repo(self, full_name: str) -> Repo:
        try:
            return self.repos[full_name.lower()]
        except KeyError:
            raise KeyError(f"no repository {full_name!r}: seed it with add_repo() first") from None

    def ref(self, full_name: str, ref: str) -> str | None:
        """The sha ``ref`` (``"heads/x"`` or ``"refs/heads/x"``) points at, or None."""
        name = ref if ref.startswith("refs/") else f"refs/{ref}"
        return self.repo(full_name).refs.get(name)

    def read_tree(self, full_name: str, ref_or_sha: str) -> dict[str, bytes]:
        """Every file (path -> content) of a commit, tree, or branch/ref name."""
        repo = self.repo(full_name)
        if repo.objects.kind(ref_or_sha) == "tree":
            return repo.objects.files(ref_or_sha)
        commit = self.resolve_commit(repo, ref_or_sha)
        if commit is None:
            raise KeyError(f"{ref_or_sha!r} names no commit or tree in {full_name}")
        return repo.objects.files(repo.objects.commit(commit).tree)

    def check_runs(self, full_name: str) -> list[CheckRun]:
        return [c for c in self.check_run_records.values() if c.repo.lower() == full_name.lower()]

    def issues(self, full_name: str) -> list[Issue]:
        """Issues without pull requests, by number."""
        return [i for i in self.repo(full_name).issues.values() if i.pull is None]

    def pulls(self, full_name: str) -> list[Issue]:
        return [i for i in self.repo(full_name).issues.values() if i.pull is not None]

    def pull(self, full_name: str, number: int) -> Issue:
        """Pull request ``number``: ``.reviews``, ``.review_comments``, ``.requested_reviewers``."""
        issue = self.repo(full_name).issues.get(number)
        if issue is None or issue.pull is None:
            raise KeyError(f"{full_name} has no pull request #{number}")
        return issue

    def pull_files(self, full_name: str, number: int) -> list[FileDiff]:
        """What ``GET pulls/{n}/files`` shows: the head against its merge base with the base."""
        repo = self.repo(full_name)
        return self.pull_diff(repo, self.pull(full_name, number))

    def apply_suggestions(
        self, full_name: str, number: int, *, review_id: int | None = None, commit: bool = False
    ) -> dict[str, bytes]:
        """The head's files with every suggestion of the pull request (or of one review) applied.

        Like GitHub's "Commit suggestion", only suggestions on the current head can be
        applied: an outdated one raises :class:`SuggestionError`, as do overlapping ones.
        ``commit=True`` also commits the result on the head branch, as a user accepting the
        batch would; returns the files either way (compare them with a verified tree).
        """
        repo = self.repo(full_name)
        issue = self.pull(full_name, number)
        pull = issue.pr
        head_sha = bodies.pull_head_sha(self, repo, issue)
        head_repo = self.repos.get(pull.head_repo.lower(), repo)
        comments = [
            comment
            for review in pull.reviews
            if review_id in (None, review.id) and review.state != "PENDING"
            for comment in review.comments
        ]
        for comment in comments:
            if comment.commit_id != head_sha and "suggestion" in comment.body:
                raise SuggestionError(f"comment {comment.id} is outdated: the head moved on")
        files = apply_suggestions(self.read_tree(head_repo.full_name, head_sha), comments)
        if commit:
            current = self.read_tree(head_repo.full_name, head_sha)
            changed = {path: data for path, data in files.items() if current.get(path) != data}
            if changed:
                self.commit(head_repo.full_name, pull.head_ref, changed, "Apply suggestions")
        return files

    def issue_comments(self, full_name: str, number: int) -> list[Comment]:
        return [
            c
            for c in self.comments.values()
            if c.repo.lower() == full_name.lower() and c.issue_number == number
        ]

    # -- shared logic for routes -------------------------------------------------------

    def resolve_commit(self, repo: Repo, ref: str) -> str | None:
        """A commit sha for a sha (full or unique prefix), branch, tag or ``refs/...`` name."""
        objects: ObjectStore = repo.objects
        if re.fullmatch(r"[0-9a-f]{40}", ref) and objects.kind(ref) == "commit":
            return ref
        for name in (ref, f"refs/{ref}", f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if name in repo.refs:
                return repo.refs[name]
        if re.fullmatch(r"[0-9a-f]{7,39}", ref):
            found = [sha for sha in repo.refs.values() if sha.startswith(ref)]
            found += [
                sha
                for tip in set(repo.refs.values())
                for sha in objects.ancestors(tip)
                if sha.startswith(ref)
            ]
            if len(set(found)) == 1:
                return found[0]
        return None

    def pull_objects(self, repo: Repo, issue: Issue) -> ObjectStore:
        """The objects a pull request's diff needs: the base's, plus the fork's for a fork."""
        head_repo = self.repos.get(issue.pr.head_repo.lower(), repo)
        if head_repo is repo:
            return repo.objects
        merged = ObjectStore()
        merged.copy_from(repo.objects)
        merged.copy_from(head_repo.objects)
        return merged

    def pull_diff(self, repo: Repo, issue: Issue, head_sha: str | None = None) -> list[FileDiff]:
        """The pull request's files: ``head_sha`` (default: the head) against the merge base."""
        objects = self.pull_objects(repo, issue)
        head = head_sha or bodies.pull_head_sha(self, repo, issue)
        base = repo.refs.get(f"refs/heads/{issue.pr.base_ref}")
        if objects.kind(head) != "commit":
            return []
        merge_base = objects.merge_base(base, head) if base else None
        old_tree = objects.commit(merge_base).tree if merge_base else None
        return tree_diff(objects, old_tree, objects.commit(head).tree)

    def issue_token(self, installation_id: int, repos: Iterable[str] | None) -> AccessToken:
        installation = self.installations[installation_id]
        scoped = None
        if repos is not None:
            scoped = frozenset(f"{installation.account}/{name}".lower() for name in repos)
        token = AccessToken(
            value=f"ghs_{secrets.token_urlsafe(27)}",
            installation_id=installation_id,
            expires_at=self.clock() + TOKEN_LIFETIME,
            repos=scoped,
        )
        self.tokens[token.value] = token
        self.token_requests[installation_id] += 1
        return token

    def live_token(self, value: str) -> AccessToken | None:
        token = self.tokens.get(value)
        if token is None or token.revoked or self.clock() >= token.expires_at:
            return None
        return token

    def token_can_see(self, token: AccessToken, repo: Repo) -> bool:
        installation = self.installations.get(token.installation_id)
        if installation is None or repo.key not in installation.repos:
            return False
        return token.repos is None or repo.key in token.repos

    def sign_blob(self, path: str, content_type: str, data: bytes) -> str:
        """Publish ``data`` on the blob host; returns the signed URL to redirect to."""
        signature = secrets.token_urlsafe(16)
        self.blobs[signature] = Blob(path, content_type, data)
        return f"{self.blob_url}{path}?sig={signature}"

    def installation_for(self, repo: Repo) -> Installation | None:
        return next((i for i in self.installations.values() if repo.key in i.repos), None)
