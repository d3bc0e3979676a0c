"""Build API bodies from the fake's records.

Each builder sets the fields that carry meaning for a client (ids, shas, states, URLs it may
follow); :meth:`OpenAPI.complete` then adds the remaining required fields, so bodies stay
both truthful and schema-complete.
"""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .diffs import FileDiff
from .gitobjects import Commit, TreeEntry
from .http import ApiError
from .models import (
    CheckRun,
    Comment,
    HookDelivery,
    Installation,
    Issue,
    Job,
    Reaction,
    Repo,
    Review,
    ReviewComment,
    WorkflowRun,
)

if TYPE_CHECKING:
    from .state import GitHubState

Body = dict[str, Any]
APP_PERMISSIONS = {
    "actions": "read",
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
}
APP_EVENTS = ["check_run", "issue_comment", "pull_request", "workflow_run"]


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def parse_time(value: str | None) -> datetime | None:
    """A client's ISO 8601 timestamp; one that is not answers 422 instead of crashing the fake."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, f"{value!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def user_id(login: str) -> int:
    """A stable id per login, so the same user looks the same in every body."""
    return zlib.crc32(login.lower().encode()) % 90_000_000 + 1_000


def user(state: GitHubState, login: str, kind: str | None = None) -> Body:
    kind = kind or ("Bot" if login.endswith("[bot]") else "User")
    return {
        "login": login,
        "id": user_id(login),
        "node_id": f"U_{user_id(login)}",
        "type": kind,
        "site_admin": False,
        "url": f"{state.api_url}/users/{login}",
        "html_url": f"{state.html_url}/{login}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id(login)}?v=4",
    }


def repository(state: GitHubState, repo: Repo) -> Body:
    api = f"{state.api_url}/repos/{repo.full_name}"
    installation = state.installation_for(repo)
    owner_kind = installation.account_type if installation else "User"
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": user(state, repo.owner, owner_kind),
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "fork": False,
        "archived": False,
        "disabled": False,
        "default_branch": repo.default_branch,
        "url": api,
        "html_url": f"{state.html_url}/{repo.full_name}",
        "clone_url": f"{state.html_url}/{repo.full_name}.git",
        "git_url": f"git://github.com/{repo.full_name}.git",
        "ssh_url": f"git@github.com:{repo.full_name}.git",
        "pulls_url": f"{api}/pulls{{/number}}",
        "issues_url": f"{api}/issues{{/number}}",
        "created_at": iso(repo.created_at),
        "updated_at": iso(repo.pushed_at or repo.created_at),
        "pushed_at": iso(repo.pushed_at),
        "open_issues_count": sum(i.state == "open" for i in repo.issues.values()),
        "has_issues": True,
    }


def installation(state: GitHubState, inst: Installation) -> Body:
    return {
        "id": inst.id,
        "app_id": state.app_id,
        "app_slug": state.app_slug,
        "target_id": user_id(inst.account),
        "target_type": inst.account_type,
        "account": user(state, inst.account, inst.account_type),
        "repository_selection": "selected",
        "access_tokens_url": f"{state.api_url}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{state.api_url}/installation/repositories",
        "html_url": f"{state.html_url}/settings/installations/{inst.id}",
        "permissions": APP_PERMISSIONS,
        "events": APP_EVENTS,
        "created_at": iso(inst.created_at),
        "updated_at": iso(inst.created_at),
    }


def integration(state: GitHubState) -> Body:
    return {
        "id": state.app_id,
        "slug": state.app_slug,
        "node_id": f"A_{state.app_id}",
        "name": state.app_slug,
        "owner": user(state, "ci-fix-loop-owner", "Organization"),
        "description": "Repairs failing GitHub Actions runs.",
        "external_url": "https://example.invalid/ci-fix-loop",
        "html_url": f"{state.html_url}/apps/{state.app_slug}",
        "permissions": APP_PERMISSIONS,
        "events": APP_EVENTS,
        "installations_count": len(state.installations),
    }


def _pull_minimal(state: GitHubState, repo: Repo, issue: Issue) -> Body:
    assert issue.pull is not None
    head_repo = state.repos.get(issue.pull.head_repo.lower(), repo)
    return {
        "id": issue.pull.id,
        "number": issue.number,
        "url": f"{state.api_url}/repos/{repo.full_name}/pulls/{issue.number}",
        "head": {
            "ref": issue.pull.head_ref,
            "sha": pull_head_sha(state, repo, issue),
            "repo": {
                "id": head_repo.id,
                "url": f"{state.api_url}/repos/{head_repo.full_name}",
                "name": head_repo.name,
            },
        },
        "base": {
            "ref": issue.pull.base_ref,
            "sha": repo.refs.get(f"refs/heads/{issue.pull.base_ref}", ""),
            "repo": {
                "id": repo.id,
                "url": f"{state.api_url}/repos/{repo.full_name}",
                "name": repo.name,
            },
        },
    }


def workflow_run(state: GitHubState, run: WorkflowRun) -> Body:
    repo = state.repo(run.repo)
    head_repo = state.repos.get(run.head_repo.lower(), repo)
    api = f"{state.api_url}/repos/{repo.full_name}/actions/runs/{run.id}"
    same_repo_pulls = [
        _pull_minimal(state, repo, issue)
        for issue in repo.issues.values()
        if issue.pull
        and issue.state == "open"
        and issue.pull.head_repo.lower() == run.head_repo.lower() == repo.key
        and issue.pull.head_ref == run.head_branch
    ]
    head_commit: Body | None = None
    if head_repo.objects.kind(run.head_sha) == "commit":
        commit = head_repo.objects.commit(run.head_sha)
        head_commit = {
            "id": commit.sha,
            "tree_id": commit.tree,
            "message": commit.message,
            "timestamp": iso(commit.committer.date),
            "author": {"name": commit.author.name, "email": commit.author.email},
            "committer": {"name": commit.committer.name, "email": commit.committer.email},
        }
    return {
        "id": run.id,
        "name": run.name,
        "node_id": f"WFR_{run.id}",
        "check_suite_id": run.id + 1,
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.path,
        "display_title": head_commit["message"].splitlines()[0] if head_commit else run.name,
        "run_number": run.run_number,
        "run_attempt": run.run_attempt,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "url": api,
        "html_url": f"{state.html_url}/{repo.full_name}/actions/runs/{run.id}",
        "jobs_url": f"{api}/jobs",
        "logs_url": f"{api}/logs",
        "check_suite_url": f"{state.api_url}/repos/{repo.full_name}/check-suites/{run.id + 1}",
        "artifacts_url": f"{api}/artifacts",
        "cancel_url": f"{api}/cancel",
        "rerun_url": f"{api}/rerun",
        "workflow_url": f"{state.api_url}/repos/{repo.full_name}/actions/workflows/"
        f"{run.workflow_id}",
        "pull_requests": same_repo_pulls,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "run_started_at": iso(run.created_at),
        "head_commit": head_commit,
        "repository": repository(state, repo),
        "head_repository": repository(state, head_repo),
        "actor": user(state, repo.owner),
        "triggering_actor": user(state, repo.owner),
    }


def job(state: GitHubState, job_: Job) -> Body:
    run = state.runs[job_.run_id]
    api = f"{state.api_url}/repos/{run.repo}"
    return {
        "id": job_.id,
        "run_id": run.id,
        "run_url": f"{api}/actions/runs/{run.id}",
        "run_attempt": job_.run_attempt,
        "node_id": f"CR_{job_.id}",
        "head_sha": run.head_sha,
        "head_branch": run.head_branch,
        "workflow_name": run.name,
        "name": job_.name,
        "url": f"{api}/actions/jobs/{job_.id}",
        "html_url": f"{state.html_url}/{run.repo}/actions/runs/{run.id}/job/{job_.id}",
        "check_run_url": f"{api}/check-runs/{job_.id}",
        "status": job_.status,
        "conclusion": job_.conclusion,
        "created_at": iso(job_.started_at),
        "started_at": iso(job_.started_at),
        "completed_at": iso(job_.completed_at),
        "steps": [
            {
                "name": name,
                "status": "completed" if job_.status == "completed" else "in_progress",
                "conclusion": conclusion if job_.status == "completed" else None,
                "number": number,
                "started_at": iso(job_.started_at),
                "completed_at": iso(job_.completed_at),
            }
            for number, (name, conclusion) in enumerate(job_.steps, start=1)
        ],
        "labels": ["ubuntu-latest"],
        "runner_id": 1,
        "runner_name": "GitHub Actions 1",
        "runner_group_id": 1,
        "runner_group_name": "GitHub Actions",
    }


def annotation(state: GitHubState, repo: str, raw: dict[str, Any]) -> Body:
    path = raw.get("path", "")
    line = raw.get("start_line", 1)
    return {
        "path": path,
        "start_line": line,
        "end_line": raw.get("end_line", line),
        "start_column": raw.get("start_column"),
        "end_column": raw.get("end_column"),
        "annotation_level": raw.get("annotation_level", "failure"),
        "title": raw.get("title"),
        "message": raw.get("message", ""),
        "raw_details": raw.get("raw_details"),
        "blob_href": f"{state.html_url}/{repo}/blob/HEAD/{path}",
    }


def check_run(state: GitHubState, check: CheckRun) -> Body:
    api = f"{state.api_url}/repos/{check.repo}"
    return {
        "id": check.id,
        "node_id": f"CR_{check.id}",
        "head_sha": check.head_sha,
        "external_id": check.external_id,
        "name": check.name,
        "url": f"{api}/check-runs/{check.id}",
        "html_url": f"{state.html_url}/{check.repo}/runs/{check.id}",
        "details_url": check.details_url,
        "status": check.status,
        "conclusion": check.conclusion,
        "started_at": iso(check.started_at),
        "completed_at": iso(check.completed_at),
        "output": {
            "title": check.output.get("title"),
            "summary": check.output.get("summary"),
            "text": check.output.get("text"),
            "annotations_count": len(check.annotations),
            "annotations_url": f"{api}/check-runs/{check.id}/annotations",
        },
        "check_suite": {"id": check.id + 1},
        "app": integration(state),
        "pull_requests": [],
    }


def git_ref(state: GitHubState, repo: Repo, name: str, sha: str) -> Body:
    api = f"{state.api_url}/repos/{repo.full_name}/git"
    return {
        "ref": name,
        "node_id": f"REF_{repo.id}_{name}",
        "url": f"{api}/{name}",
        "object": {
            "type": repo.objects.kind(sha) or "commit",
            "sha": sha,
            "url": f"{api}/commits/{sha}",
        },
    }


def _signature(sig: Any) -> Body:
    return {"name": sig.name, "email": sig.email, "date": iso(sig.date)}


def git_commit(state: GitHubState, repo: Repo, commit: Commit) -> Body:
    api = f"{state.api_url}/repos/{repo.full_name}/git"
    return {
        "sha": commit.sha,
        "node_id": f"C_{commit.sha}",
        "url": f"{api}/commits/{commit.sha}",
        "html_url": f"{state.html_url}/{repo.full_name}/commit/{commit.sha}",
        "author": _signature(commit.author),
        "committer": _signature(commit.committer),
        "message": commit.message,
        "tree": {"sha": commit.tree, "url": f"{api}/trees/{commit.tree}"},
        "parents": [
            {
                "sha": p,
                "url": f"{api}/commits/{p}",
                "html_url": f"{state.html_url}/{repo.full_name}/commit/{p}",
            }
            for p in commit.parents
        ],
        "verification": {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        },
    }


def tree_entry(state: GitHubState, repo: Repo, path: str, entry: TreeEntry) -> Body:
    api = f"{state.api_url}/repos/{repo.full_name}/git"
    body: Body = {"path": path, "mode": entry.mode, "type": entry.type, "sha": entry.sha}
    if entry.type == "blob":
        body["size"] = len(repo.objects.blob(entry.sha))
        body["url"] = f"{api}/blobs/{entry.sha}"
    elif entry.type == "tree":
        body["url"] = f"{api}/trees/{entry.sha}"
    return body


def _account(state: GitHubState, email: str) -> Body | None:
    """The GitHub user a commit e-mail belongs to, when the test linked one."""
    login = state.logins_by_email.get(email.lower())
    return user(state, login) if login else None


def rest_commit(state: GitHubState, repo: Repo, commit: Commit, files: list[Body]) -> Body:
    """The ``commit`` schema (``GET commits/{ref}``, compare): git commit plus GitHub extras."""
    git = git_commit(state, repo, commit)
    api = f"{state.api_url}/repos/{repo.full_name}"
    return {
        "sha": commit.sha,
        "node_id": git["node_id"],
        "url": f"{api}/commits/{commit.sha}",
        "html_url": git["html_url"],
        "comments_url": f"{api}/commits/{commit.sha}/comments",
        "commit": {
            "url": git["url"],
            "author": git["author"],
            "committer": git["committer"],
            "message": commit.message,
            "tree": git["tree"],
            "comment_count": 0,
            "verification": git["verification"],
        },
        "author": _account(state, commit.author.email),
        "committer": _account(state, commit.committer.email),
        "parents": [
            {"sha": p["sha"], "url": f"{api}/commits/{p['sha']}", "html_url": p["html_url"]}
            for p in git["parents"]
        ],
        "files": files,
        "stats": {
            "additions": sum(f["additions"] for f in files),
            "deletions": sum(f["deletions"] for f in files),
            "total": sum(f["changes"] for f in files),
        },
    }


def label(state: GitHubState, repo: Repo, name: str) -> Body:
    return {
        "id": repo.labels[name],
        "node_id": f"LA_{repo.labels[name]}",
        "url": f"{state.api_url}/repos/{repo.full_name}/labels/{name}",
        "name": name,
        "color": "ededed",
        "default": False,
        "description": None,
    }


def issue(state: GitHubState, repo: Repo, item: Issue) -> Body:
    api = f"{state.api_url}/repos/{repo.full_name}/issues/{item.number}"
    body: Body = {
        "id": item.id,
        "node_id": f"I_{item.id}",
        "number": item.number,
        "title": item.title,
        "body": item.body,
        "user": user(state, item.user),
        "state": item.state,
        "state_reason": item.state_reason,
        "locked": False,
        "labels": [label(state, repo, name) for name in item.labels],
        "assignee": user(state, item.assignees[0]) if item.assignees else None,
        "assignees": [user(state, login) for login in item.assignees],
        "milestone": None,
        "comments": item.comments,
        "url": api,
        "repository_url": f"{state.api_url}/repos/{repo.full_name}",
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{state.html_url}/{repo.full_name}/"
        f"{'pull' if item.pull else 'issues'}/{item.number}",
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "closed_at": iso(item.closed_at),
        "author_association": "NONE",
    }
    if item.pull:
        pulls = f"{state.api_url}/repos/{repo.full_name}/pulls/{item.number}"
        body["pull_request"] = {
            "url": pulls,
            "html_url": body["html_url"],
            "diff_url": f"{body['html_url']}.diff",
            "patch_url": f"{body['html_url']}.patch",
            "merged_at": None,
        }
    return body


def pull_head_sha(state: GitHubState, repo: Repo, item: Issue) -> str:
    """Open pull requests follow their head branch, as GitHub's do."""
    assert item.pull is not None
    if item.pull.closed_head_sha:
        return item.pull.closed_head_sha
    head_repo = state.repos.get(item.pull.head_repo.lower(), repo)
    return head_repo.refs.get(f"refs/heads/{item.pull.head_ref}", "")


def pull(state: GitHubState, repo: Repo, item: Issue) -> Body:
    assert item.pull is not None
    fields = issue(state, repo, item)
    api = f"{state.api_url}/repos/{repo.full_name}/pulls/{item.number}"
    head_repo = state.repos.get(item.pull.head_repo.lower(), repo)
    return {
        **{
            k: v
            for k, v in fields.items()
            if k
            not in (
                "pull_request",
                "repository_url",
                "events_url",
                "labels_url",
                "state_reason",
                "comments",
            )
        },
        "id": item.pull.id,
        "node_id": f"PR_{item.pull.id}",
        "url": api,
        "issue_url": fields["url"],
        "diff_url": f"{fields['html_url']}.diff",
        "patch_url": f"{fields['html_url']}.patch",
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": f"{state.api_url}/repos/{repo.full_name}/pulls/comments{{/number}}",
        "statuses_url": f"{state.api_url}/repos/{repo.full_name}/statuses/"
        f"{pull_head_sha(state, repo, item)}",
        "draft": item.pull.draft,
        "merged": False,
        "merged_at": None,
        "merge_commit_sha": None,
        "merged_by": None,
        "mergeable": None,
        "mergeable_state": "unknown",
        "maintainer_can_modify": item.pull.maintainer_can_modify,
        "comments": item.comments,
        "auto_merge": None,
        # pull-request schemas type a label's description as a plain string.
        "labels": [
            {**entry, "description": entry["description"] or ""} for entry in fields["labels"]
        ],
        "requested_reviewers": [user(state, login) for login in item.pull.requested_reviewers],
        "requested_teams": [team(state, repo, slug) for slug in item.pull.requested_teams],
        "head": {
            "label": f"{head_repo.owner}:{item.pull.head_ref}",
            "ref": item.pull.head_ref,
            "sha": pull_head_sha(state, repo, item),
            "user": user(state, head_repo.owner),
            "repo": repository(state, head_repo),
        },
        "base": {
            "label": f"{repo.owner}:{item.pull.base_ref}",
            "ref": item.pull.base_ref,
            "sha": repo.refs.get(f"refs/heads/{item.pull.base_ref}", ""),
            "user": user(state, repo.owner),
            "repo": repository(state, repo),
        },
        "_links": {
            name: {"href": href}
            for name, href in {
                "self": api,
                "html": fields["html_url"],
                "issue": fields["url"],
                "comments": fields["comments_url"],
                "review_comments": f"{api}/comments",
                "review_comment": f"{state.api_url}/repos/{repo.full_name}/pulls/comments"
                "{/number}",
                "commits": f"{api}/commits",
                "statuses": f"{state.api_url}/repos/{repo.full_name}/statuses/"
                f"{pull_head_sha(state, repo, item)}",
            }.items()
        },
    }


def comment(state: GitHubState, repo: Repo, item: Comment) -> Body:
    api = f"{state.api_url}/repos/{repo.full_name}"
    return {
        "id": item.id,
        "node_id": f"IC_{item.id}",
        "url": f"{api}/issues/comments/{item.id}",
        "html_url": f"{state.html_url}/{repo.full_name}/issues/{item.issue_number}"
        f"#issuecomment-{item.id}",
        "issue_url": f"{api}/issues/{item.issue_number}",
        "body": item.body,
        "user": user(state, item.user),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "author_association": "NONE",
    }


def reaction(state: GitHubState, item: Reaction) -> Body:
    return {
        "id": item.id,
        "node_id": f"REA_{item.id}",
        "user": user(state, item.user),
        "content": item.content,
        "created_at": iso(item.created_at),
    }


def content_file(state: GitHubState, repo: Repo, path: str, sha: str, ref: str) -> Body:
    data = repo.objects.blob(sha)
    encoded = base64.b64encode(data).decode()
    api = f"{state.api_url}/repos/{repo.full_name}"
    html = f"{state.html_url}/{repo.full_name}/blob/{ref}/{path}"
    git = f"{api}/git/blobs/{sha}"
    url = f"{api}/contents/{path}?ref={ref}"
    return {
        "type": "file",
        "encoding": "base64",
        # GitHub wraps base64 content at 60 columns; clients must cope with the newlines.
        "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "url": url,
        "git_url": git,
        "html_url": html,
        "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
        "_links": {"self": url, "git": git, "html": html},
    }


def content_entry(state: GitHubState, repo: Repo, path: str, entry: TreeEntry, ref: str) -> Body:
    api = f"{state.api_url}/repos/{repo.full_name}"
    kind = {"blob": "file", "tree": "dir", "commit": "submodule"}[entry.type]
    url = f"{api}/contents/{path}?ref={ref}"
    html = f"{state.html_url}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
    git = f"{api}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
    return {
        "type": kind,
        "size": len(repo.objects.blob(entry.sha)) if kind == "file" else 0,
        "name": entry.name,
        "path": path,
        "sha": entry.sha,
        "url": url,
        "git_url": git,
        "html_url": html,
        "download_url": None,
        "_links": {"self": url, "git": git, "html": html},
    }


def diff_entry(state: GitHubState, repo: Repo, diff: FileDiff) -> Body:
    """A ``diff-entry`` (pull request files, commit files, compare); binary files get no patch."""
    api = f"{state.api_url}/repos/{repo.full_name}"
    body: Body = {
        "sha": diff.sha,
        "filename": diff.path,
        "status": diff.status,
        "additions": diff.additions,
        "deletions": diff.deletions,
        "changes": diff.additions + diff.deletions,
        "blob_url": f"{state.html_url}/{repo.full_name}/blob/{diff.sha}/{diff.path}",
        "raw_url": f"{state.html_url}/{repo.full_name}/raw/{diff.sha}/{diff.path}",
        "contents_url": f"{api}/contents/{diff.path}?ref={diff.sha}",
    }
    if not diff.binary:
        body["patch"] = diff.patch
    return body


def team(state: GitHubState, repo: Repo, slug: str) -> Body:
    team_id = user_id(f"team:{repo.owner}/{slug}")
    return {
        "id": team_id,
        "node_id": f"T_{team_id}",
        "name": slug,
        "slug": slug,
        "url": f"{state.api_url}/orgs/{repo.owner}/teams/{slug}",
        "html_url": f"{state.html_url}/orgs/{repo.owner}/teams/{slug}",
        "members_url": f"{state.api_url}/orgs/{repo.owner}/teams/{slug}/members{{/member}}",
        "repositories_url": f"{state.api_url}/orgs/{repo.owner}/teams/{slug}/repos",
        "permission": "push",
        "privacy": "closed",
        "description": None,
        "parent": None,
    }


def review(state: GitHubState, repo: Repo, number: int, item: Review) -> Body:
    pull_url = f"{state.api_url}/repos/{repo.full_name}/pulls/{number}"
    html = f"{state.html_url}/{repo.full_name}/pull/{number}#pullrequestreview-{item.id}"
    body: Body = {
        "id": item.id,
        "node_id": f"PRR_{item.id}",
        "user": user(state, item.user),
        "body": item.body,
        "state": item.state,
        "html_url": html,
        "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "commit_id": item.commit_id,
        "author_association": "NONE",
    }
    if item.submitted_at is not None:
        body["submitted_at"] = iso(item.submitted_at)
    return body


def review_comment(state: GitHubState, repo: Repo, number: int, item: ReviewComment) -> Body:
    api = f"{state.api_url}/repos/{repo.full_name}/pulls"
    html = f"{state.html_url}/{repo.full_name}/pull/{number}#discussion_r{item.id}"
    body: Body = {
        "url": f"{api}/comments/{item.id}",
        "id": item.id,
        "node_id": f"PRRC_{item.id}",
        "pull_request_review_id": item.review_id,
        "diff_hunk": item.diff_hunk,
        "path": item.path,
        "commit_id": item.commit_id,
        "original_commit_id": item.commit_id,
        "user": user(state, item.user),
        "body": item.body,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "html_url": html,
        "pull_request_url": f"{api}/{number}",
        "author_association": "NONE",
        "_links": {
            "self": {"href": f"{api}/comments/{item.id}"},
            "html": {"href": html},
            "pull_request": {"href": f"{api}/{number}"},
        },
        "subject_type": item.subject_type,
    }
    if item.line is not None:
        body.update(line=item.line, original_line=item.line, side=item.side)
    if item.start_line is not None:
        body.update(
            start_line=item.start_line,
            original_start_line=item.start_line,
            start_side=item.start_side,
        )
    if item.position is not None:
        body.update(position=item.position, original_position=item.position)
    if item.in_reply_to is not None:
        body["in_reply_to_id"] = item.in_reply_to
    return body


def hook_delivery(state: GitHubState, item: HookDelivery, *, full: bool) -> Body:
    """A ``hook-delivery-item`` (list) or, with ``full``, a ``hook-delivery`` (one)."""
    body: Body = {
        "id": item.id,
        "guid": item.guid,
        "delivered_at": iso(item.delivered_at),
        "redelivery": item.redelivery,
        "duration": item.duration,
        "status": item.status,
        "status_code": item.status_code,
        "event": item.event,
        "action": item.action,
        "installation_id": item.installation_id,
        "repository_id": item.repository_id,
    }
    if full:
        body["url"] = item.url
        body["request"] = {"headers": dict(item.request_headers), "payload": item.payload}
        body["response"] = {
            "headers": {"Content-Type": "text/plain"},
            "payload": item.response_body,
        }
    return body
