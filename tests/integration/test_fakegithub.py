"""The fake GitHub itself: if it lies about GitHub, every other test lies too."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from subprocess import PIPE
from typing import Any

import aiohttp
import aiohttp.web
import gidgethub
import jwt
import pytest
from gidgethub import apps
from gidgethub.aiohttp import GitHubAPI

from tests.fakes.github import FakeGitHub, FakeJob, OpenAPI, SuggestionError, suggestion_of
from tests.fakes.github.auth import generate_private_key_pem
from tests.fakes.github.server import all_routes
from tests.support import require_or_skip
from tests.webhooks import load_payload, sign, webhook_headers, workflow_run_payload

INSTALLATION = 7
REPO = "octo-org/demo"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def seeded(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_installation(INSTALLATION, "octo-org")
    fake_github.add_repo(
        REPO,
        files={"README.md": "# demo\n", "src/app.py": "print('hi')\n", "run.sh": "echo\n"},
        installation_id=INSTALLATION,
    )
    return fake_github


async def token_for(fake: FakeGitHub, session: aiohttp.ClientSession) -> str:
    gh = GitHubAPI(session, "tests", base_url=fake.url)
    issued = await apps.get_installation_access_token(
        gh,
        installation_id=str(INSTALLATION),
        app_id=str(fake.app_id),
        private_key=fake.private_key_pem,
    )
    return issued["token"]


@pytest.fixture
async def gh(seeded: FakeGitHub, session: aiohttp.ClientSession) -> GitHubAPI:
    return GitHubAPI(
        session, "tests", oauth_token=await token_for(seeded, session), base_url=seeded.url
    )


def app_jwt(
    fake: FakeGitHub, *, key: str | None = None, lifetime: int = 540, iss: object = None
) -> str:
    now = int(time.time())
    claims = {"iat": now - 60, "exp": now - 60 + lifetime, "iss": iss or str(fake.app_id)}
    return jwt.encode(claims, key or fake.private_key_pem, algorithm="RS256")


async def get(session: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, Any]:
    async with session.get(url, headers=headers, allow_redirects=False) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text.startswith(("{", "[")) else text)


# -- coverage and request checking -------------------------------------------------------


def test_every_documented_operation_is_implemented(openapi_spec: OpenAPI) -> None:
    documented = {(op.method, op.template) for op in openapi_spec.operations}
    assert len(openapi_spec.document["paths"]) == 51
    assert documented == set(all_routes(openapi_spec))


async def test_invalid_body_is_refused_and_recorded(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    with pytest.raises(gidgethub.BadRequest) as refused:
        await gh.post(
            f"/repos/{REPO}/git/trees",
            data={"tree": [{"path": "a", "mode": "644", "type": "blob", "sha": None}]},
        )
    assert refused.value.status_code == 422
    assert len(seeded.violations) == 1
    assert "tree/0/mode" in seeded.violations[0].detail
    seeded.violations.clear()


async def test_unknown_operation_and_bad_query_are_violations(
    seeded: FakeGitHub, gh: GitHubAPI
) -> None:
    with pytest.raises(gidgethub.BadRequest) as unknown:
        await gh.getitem(f"/repos/{REPO}/branches")
    assert unknown.value.status_code == 404
    with pytest.raises(gidgethub.BadRequest) as bad_query:
        await gh.getitem(f"/repos/{REPO}/pulls?state=merged")
    assert bad_query.value.status_code == 422
    assert [v.kind for v in seeded.violations] == ["request", "request"]
    assert "state" in seeded.violations[1].detail
    seeded.violations.clear()


# -- authentication ----------------------------------------------------------------------


async def test_app_jwt_is_accepted_and_tokens_expire_an_hour_later(
    seeded: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    status, app = await get(session, f"{seeded.url}/app", Authorization=f"Bearer {app_jwt(seeded)}")
    assert (status, app["slug"]) == (200, seeded.app_slug)
    gh = GitHubAPI(session, "tests", base_url=seeded.url)
    issued = await apps.get_installation_access_token(
        gh,
        installation_id=str(INSTALLATION),
        app_id=str(seeded.app_id),
        private_key=seeded.private_key_pem,
    )
    assert issued["token"].startswith("ghs_")
    expected = seeded.clock() + timedelta(hours=1)
    assert issued["expires_at"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert seeded.token_requests[INSTALLATION] == 1


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("wrong_key", "could not be decoded"),
        ("too_long", "too far in the future"),
        ("wrong_issuer", "Issuer"),
        ("missing", "could not be decoded"),
    ],
)
async def test_bad_app_jwts_are_refused(
    seeded: FakeGitHub, session: aiohttp.ClientSession, kind: str, message: str
) -> None:
    headers = {
        "wrong_key": {"Authorization": f"Bearer {app_jwt(seeded, key=generate_private_key_pem())}"},
        "too_long": {"Authorization": f"Bearer {app_jwt(seeded, lifetime=3600)}"},
        "wrong_issuer": {"Authorization": f"Bearer {app_jwt(seeded, iss='999')}"},
        "missing": {},
    }[kind]
    status, body = await get(session, f"{seeded.url}/app", **headers)
    assert status == 401
    assert message in body["message"]
    assert body["documentation_url"]


async def test_expired_or_revoked_token_answers_401_bad_credentials(
    seeded: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    token = await token_for(seeded, session)
    url = f"{seeded.url}/repos/{REPO}"
    assert (await get(session, url, Authorization=f"token {token}"))[0] == 200
    seeded.clock.advance(hours=1)  # type: ignore[attr-defined]
    assert await get(session, url, Authorization=f"token {token}") == (
        401,
        {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
    )
    fresh = await token_for(seeded, session)
    assert (await get(session, url, Authorization=f"Bearer {fresh}"))[0] == 200
    seeded.expire_tokens()
    assert (await get(session, url, Authorization=f"token {fresh}"))[0] == 401
    assert (await get(session, url))[0] == 401
    assert seeded.token_requests[INSTALLATION] == 2


async def test_token_sees_only_its_installation_repos(
    seeded: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    seeded.add_repo("someone/else", installation_id=99)
    token = await token_for(seeded, session)
    status, _ = await get(
        session, f"{seeded.url}/repos/someone/else", Authorization=f"token {token}"
    )
    assert status == 404


# -- actions -----------------------------------------------------------------------------


async def test_jobs_paginate_with_link_headers(
    seeded: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    sha = seeded.ref(REPO, "heads/main")
    assert sha
    run = seeded.add_workflow_run(
        REPO,
        head_sha=sha,
        head_branch="main",
        jobs=[FakeJob(f"job {n}", "failure") for n in range(150)],
    )
    url = f"{seeded.url}/repos/{REPO}/actions/runs/{run['id']}/jobs"
    async with session.get(
        f"{url}?per_page=100", headers={"Authorization": f"token {gh.oauth_token}"}
    ) as first:
        body = await first.json()
        assert (body["total_count"], len(body["jobs"])) == (150, 100)
        assert first.links["next"]["url"].query["page"] == "2"
        assert first.links["last"]["url"].query["page"] == "2"
    async with session.get(
        f"{url}?per_page=100&page=2", headers={"Authorization": f"token {gh.oauth_token}"}
    ) as second:
        assert len((await second.json())["jobs"]) == 50
        assert set(second.links) == {"prev", "first"}
    names = [job["name"] async for job in gh.getiter(url, iterable_key="jobs")]
    assert names == [f"job {n}" for n in range(150)]  # 5 pages of the default 30


async def test_job_logs_redirect_to_blob_host_and_leaks_are_caught(
    seeded: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    big_log = "".join(f"2024-01-01T00:00:00Z line {n}\n" for n in range(150_000))  # ~5 MB
    sha = seeded.ref(REPO, "heads/main") or ""
    run = seeded.add_workflow_run(
        REPO,
        head_sha=sha,
        head_branch="main",
        jobs=[
            FakeJob("build", "failure", [("Run tests", "failure")], big_log),
            FakeJob("old", "failure", [], None),
        ],
    )
    build, old = seeded.runs[run["id"]].jobs
    auth = {"Authorization": f"token {gh.oauth_token}"}
    status, _ = await get(
        session, f"{seeded.url}/repos/{REPO}/actions/jobs/{build.id}/logs", **auth
    )
    assert status == 302
    async with session.get(
        f"{seeded.url}/repos/{REPO}/actions/jobs/{build.id}/logs",
        headers=auth,
        allow_redirects=False,
    ) as redirect:
        location = redirect.headers["Location"]
    assert location.startswith(f"{seeded.blob_url}/job-logs/{build.id}?sig=")
    async with session.get(location) as blob:
        assert blob.headers["Content-Type"].startswith("text/plain")
        assert await blob.text() == big_log
    assert seeded.leaks == []
    async with session.get(location, headers=auth) as leaked:
        assert leaked.status == 400
    assert [leak.path for leak in seeded.leaks] == [f"/job-logs/{build.id}"]
    seeded.leaks.clear()
    assert (await get(session, f"{seeded.url}/repos/{REPO}/actions/jobs/{old.id}/logs", **auth))[
        0
    ] == 410
    assert (await get(session, f"{seeded.url}/repos/{REPO}/actions/jobs/1/logs", **auth))[0] == 404


async def test_runs_filter_and_rerun_is_recorded(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    sha = seeded.ref(REPO, "heads/main") or ""
    failed = seeded.add_workflow_run(REPO, head_sha=sha, head_branch="main")
    seeded.add_workflow_run(REPO, head_sha=sha, head_branch="other", conclusion="success")
    listed = await gh.getitem(f"/repos/{REPO}/actions/runs?branch=main&status=failure")
    assert [r["id"] for r in listed["workflow_runs"]] == [failed["id"]]
    by_file = await gh.getitem(f"/repos/{REPO}/actions/workflows/ci.yml/runs")
    assert by_file["total_count"] == 2
    seen: list[int] = []
    seeded.on_rerun = lambda run: seen.append(run.id)
    assert (
        await gh.post(f"/repos/{REPO}/actions/runs/{failed['id']}/rerun-failed-jobs", data={}) == {}
    )
    assert seeded.reruns == seen == [failed["id"]]


# -- tarball and git objects -------------------------------------------------------------


async def test_tarball_is_a_real_archive_of_the_tree(
    seeded: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": f"token {gh.oauth_token}"}
    async with session.get(
        f"{seeded.url}/repos/{REPO}/tarball/main", headers=auth, allow_redirects=False
    ) as redirect:
        assert redirect.status == 302
        location = redirect.headers["Location"]
    async with session.get(location) as blob:
        data = await blob.read()
    sha = seeded.ref(REPO, "heads/main") or ""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        files = {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }
    root = f"octo-org-demo-{sha[:7]}/"
    assert files == {
        root + path: content for path, content in seeded.read_tree(REPO, "main").items()
    }
    seeded.set_tarball(REPO, "main", b"hostile")
    async with session.get(f"{seeded.url}/repos/{REPO}/tarball/main", headers=auth) as custom:
        assert await custom.read() == b"hostile"


def git(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: bytes = b"") -> str:
    return (
        subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            check=True,
            env={**os.environ, **(env or {})},
        )
        .stdout.decode()
        .strip()
    )


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)


def git_commit_tree(fake: FakeGitHub, root: Path, sha: str, message: bytes) -> str:
    """Let real git build the commit the fake says it built, from the same inputs."""
    commit = fake.repos["octo-org/shas"].objects.commit(sha)
    stamp = f"@{int(commit.author.date.timestamp())} +0000"
    env = {
        "GIT_AUTHOR_NAME": commit.author.name,
        "GIT_AUTHOR_EMAIL": commit.author.email,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": commit.committer.name,
        "GIT_COMMITTER_EMAIL": commit.committer.email,
        "GIT_COMMITTER_DATE": stamp,
    }
    git(root, "add", "-A")
    parents = [arg for parent in commit.parents for arg in ("-p", parent)]
    return git(
        root, "commit-tree", git(root, "write-tree"), *parents, "-F", "-", env=env, stdin=message
    )


def test_object_shas_match_real_git(seeded: FakeGitHub, tmp_path: Path) -> None:
    require_or_skip(shutil.which("git") is not None, "git is not installed")
    files = {"README.md": b"# demo\n", "src/app.py": b"print('hi')\n", "src/lib/x.py": b"x\n"}
    first = seeded.add_repo("octo-org/shas", files=files, installation_id=INSTALLATION)
    git(tmp_path, "init", "-q")
    write_files(tmp_path, files)
    assert git_commit_tree(seeded, tmp_path, first, b"Initial commit") == first
    second = seeded.commit(
        "octo-org/shas",
        "main",
        {"src/app.py": None, "bin/run": b"\x00\xff"},
        message="Binary file\n",
    )
    (tmp_path / "src" / "app.py").unlink()
    write_files(tmp_path, {"bin/run": b"\x00\xff"})
    assert git_commit_tree(seeded, tmp_path, second, b"Binary file\n") == second


async def test_api_blobs_hash_like_git(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    require_or_skip(shutil.which("git") is not None, "git is not installed")
    created = await gh.post(
        f"/repos/{REPO}/git/blobs",
        data={"content": base64.b64encode(b"\x00\x01").decode(), "encoding": "base64"},
    )
    hasher = await asyncio.create_subprocess_exec(
        "git", "hash-object", "--stdin", stdin=PIPE, stdout=PIPE
    )
    stdout, _ = await hasher.communicate(b"\x00\x01")
    assert created["sha"] == stdout.decode().strip()


async def test_tree_and_commit_through_the_api(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    head = seeded.ref(REPO, "heads/main") or ""
    base_tree = (await gh.getitem(f"/repos/{REPO}/git/commits/{head}"))["tree"]["sha"]
    tree = await gh.post(
        f"/repos/{REPO}/git/trees",
        data={
            "base_tree": base_tree,
            "tree": [
                {
                    "path": "src/app.py",
                    "mode": "100644",
                    "type": "blob",
                    "content": "print('fixed')\n",
                },
                {"path": "run.sh", "mode": "100644", "type": "blob", "sha": None},
            ],
        },
    )
    commit = await gh.post(
        f"/repos/{REPO}/git/commits",
        data={"message": "Fix", "tree": tree["sha"], "parents": [head]},
    )
    assert seeded.read_tree(REPO, commit["sha"]) == {
        "README.md": b"# demo\n",
        "src/app.py": b"print('fixed')\n",
    }
    listed = await gh.getitem(f"/repos/{REPO}/git/trees/{commit['sha']}?recursive=1")
    assert {e["path"] for e in listed["tree"]} == {"README.md", "src", "src/app.py"}
    with pytest.raises(gidgethub.BadRequest) as orphan:
        await gh.post(
            f"/repos/{REPO}/git/commits",
            data={"message": "x", "tree": tree["sha"], "parents": ["0" * 40]},
        )
    assert orphan.value.status_code == 422


async def test_ref_updates_must_fast_forward_unless_forced(
    seeded: FakeGitHub, gh: GitHubAPI
) -> None:
    main = seeded.ref(REPO, "heads/main") or ""
    created = await gh.post(
        f"/repos/{REPO}/git/refs", data={"ref": "refs/heads/ci-fix/1", "sha": main}
    )
    assert created["object"]["sha"] == main
    with pytest.raises(gidgethub.BadRequest, match="Reference already exists"):
        await gh.post(f"/repos/{REPO}/git/refs", data={"ref": "refs/heads/ci-fix/1", "sha": main})
    ahead = seeded.commit(REPO, "scratch", {"a.txt": "a"})
    await gh.patch(f"/repos/{REPO}/git/refs/heads/ci-fix/1", data={"sha": ahead, "force": False})
    unrelated = seeded.commit(REPO, "main", {"b.txt": "b"})
    with pytest.raises(gidgethub.BadRequest, match="not a fast forward"):
        await gh.patch(f"/repos/{REPO}/git/refs/heads/ci-fix/1", data={"sha": unrelated})
    await gh.patch(f"/repos/{REPO}/git/refs/heads/ci-fix/1", data={"sha": unrelated, "force": True})
    assert seeded.ref(REPO, "heads/ci-fix/1") == unrelated
    await gh.delete(f"/repos/{REPO}/git/refs/heads/ci-fix/1")
    with pytest.raises(gidgethub.BadRequest) as gone:
        await gh.getitem(f"/repos/{REPO}/git/ref/heads/ci-fix/1")
    assert gone.value.status_code == 404


# -- pulls, issues, contents -------------------------------------------------------------


async def test_duplicate_pull_request_is_refused(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    seeded.commit(REPO, "ci-fix/1", {"fix.txt": "x"})
    issue = await gh.post(f"/repos/{REPO}/issues", data={"title": "first"})
    pull = await gh.post(
        f"/repos/{REPO}/pulls", data={"title": "Fix CI", "head": "ci-fix/1", "base": "main"}
    )
    assert (issue["number"], pull["number"]) == (1, 2)  # one counter for issues and pulls
    assert pull["head"]["sha"] == seeded.ref(REPO, "heads/ci-fix/1")
    with pytest.raises(gidgethub.BadRequest) as duplicate:
        await gh.post(
            f"/repos/{REPO}/pulls",
            data={"title": "Again", "head": "octo-org:ci-fix/1", "base": "main"},
        )
    assert duplicate.value.status_code == 422
    assert duplicate.value.errors == [  # type: ignore[attr-defined]
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": "A pull request already exists for octo-org:ci-fix/1.",
        }
    ]
    assert len(await gh.getitem(f"/repos/{REPO}/pulls?head=octo-org:ci-fix/1")) == 1
    assert len(await gh.getitem(f"/repos/{REPO}/pulls?head=octo-org:other")) == 0
    await gh.patch(f"/repos/{REPO}/pulls/2", data={"state": "closed"})
    assert await gh.getitem(f"/repos/{REPO}/pulls") == []


async def test_contents_and_conditional_requests(
    seeded: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": f"token {gh.oauth_token}"}
    url = f"{seeded.url}/repos/{REPO}/contents/src/app.py?ref=main"
    async with session.get(url, headers=auth) as first:
        body = await first.json()
        etag = first.headers["ETag"]
        assert first.headers["X-RateLimit-Resource"] == "core"
    assert base64.b64decode(body["content"]) == b"print('hi')\n"
    async with session.get(url, headers={**auth, "If-None-Match": etag}) as again:
        assert again.status == 304
    seeded.commit(REPO, "main", {"src/app.py": "print('changed')\n"})
    async with session.get(url, headers={**auth, "If-None-Match": etag}) as changed:
        assert changed.status == 200
    missing = await get(session, f"{seeded.url}/repos/{REPO}/contents/nope.txt", **auth)
    assert missing[0] == 404


async def test_comments_paginate_and_reactions_dedupe(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    issue = await gh.post(f"/repos/{REPO}/issues", data={"title": "CI broken", "labels": ["ci"]})
    for n in range(35):
        await gh.post(issue["comments_url"], data={"body": f"comment {n}"})
    bodies = [c["body"] async for c in gh.getiter(issue["comments_url"])]
    assert bodies == [f"comment {n}" for n in range(35)]
    first = seeded.issue_comments(REPO, issue["number"])[0]
    url = f"/repos/{REPO}/issues/comments/{first.id}/reactions"
    assert (await gh.post(url, data={"content": "eyes"}))["content"] == "eyes"
    await gh.post(url, data={"content": "eyes"})
    assert len(first.reactions) == 1
    labelled = await gh.getitem(f"/repos/{REPO}/issues?labels=ci&creator={seeded.bot_login}")
    assert [i["number"] for i in labelled] == [issue["number"]]


async def test_permission_and_manifest_conversion(
    seeded: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    seeded.set_permission(REPO, "alice", "maintain")
    answer = await gh.getitem(f"/repos/{REPO}/collaborators/alice/permission")
    assert (answer["permission"], answer["role_name"]) == ("write", "maintain")
    with pytest.raises(gidgethub.BadRequest, match="is not a user"):
        await gh.getitem(f"/repos/{REPO}/collaborators/nobody/permission")
    seen: list[str] = []
    seeded.add_manifest_code("abc", seen.append)
    async with session.post(f"{seeded.url}/app-manifests/abc/conversions") as converted:
        assert converted.status == 201
        app = await converted.json()
    assert (app["id"], app["pem"], seen) == (seeded.app_id, seeded.private_key_pem, ["abc"])
    async with session.post(f"{seeded.url}/app-manifests/abc/conversions") as reused:
        assert reused.status == 404


# -- fault injection ---------------------------------------------------------------------


async def test_injected_faults_answer_then_clear(
    seeded: FakeGitHub, gh: GitHubAPI, session: aiohttp.ClientSession
) -> None:
    seeded.inject("GET", f"/repos/{REPO}", status=502, times=2)
    seeded.inject(
        "GET",
        "^/rate_limit$",
        status=403,
        headers={"Retry-After": "1"},
        body={"message": "You have exceeded a secondary rate limit."},
    )
    # Two resets: aiohttp retries a request once when a pooled connection drops.
    seeded.inject("*", "*/issues", status=200, reset_connection=True, times=2)
    for _ in range(2):
        with pytest.raises(gidgethub.GitHubBroken):
            await gh.getitem(f"/repos/{REPO}")
    assert (await gh.getitem(f"/repos/{REPO}"))["full_name"] == REPO
    async with session.get(f"{seeded.url}/rate_limit") as limited:
        assert (limited.status, limited.headers["Retry-After"]) == (403, "1")
    with pytest.raises(aiohttp.ClientError):
        await gh.getitem(f"/repos/{REPO}/issues")
    assert await gh.getitem(f"/repos/{REPO}/issues") == []
    assert len(seeded.calls("GET", f"/repos/{REPO}")) == 3
    assert seeded.violations == []


# -- webhooks and support ----------------------------------------------------------------


def test_signature_matches_githubs_example() -> None:
    # The example from GitHub's "Validating webhook deliveries" documentation.
    assert sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    headers = webhook_headers("ping", b"{}", "s", delivery_id="d-1")
    assert headers["X-GitHub-Delivery"] == "d-1"
    assert headers["X-Hub-Signature-256"] == sign(b"{}", "s")


def test_workflow_run_payload_describes_the_fake_run(seeded: FakeGitHub) -> None:
    sha = seeded.ref(REPO, "heads/main") or ""
    run = seeded.add_workflow_run(REPO, head_sha=sha, head_branch="main", run_attempt=2)
    payload = workflow_run_payload(seeded, run, installation_id=INSTALLATION)
    assert payload["installation"]["id"] == INSTALLATION
    assert payload["workflow_run"]["conclusion"] == "failure"
    assert (
        payload["workflow_run"]["jobs_url"]
        == f"{seeded.url}/repos/{REPO}/actions/runs/{run['id']}/jobs"
    )
    assert payload["workflow_run"]["run_attempt"] == 2
    assert payload["repository"]["full_name"] == REPO
    assert payload["workflow"]["path"] == ".github/workflows/ci.yml"
    assert load_payload("workflow_run", "completed.success.2")["workflow_run"]["id"] != run["id"]


def test_require_or_skip_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI_REQUIRE_ALL", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_or_skip(False, "chromium is not installed")
    monkeypatch.setenv("CI_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        require_or_skip(False, "chromium is not installed")
    require_or_skip(True, "present")


# -- comments, labels, attempts, branches, commits ----------------------------------------


async def test_issue_comment_get_update_delete(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    issue = await gh.post(f"/repos/{REPO}/issues", data={"title": "t"})
    url = f"/repos/{REPO}/issues/{issue['number']}/comments"
    created = await gh.post(url, data={"body": "first"})
    comment_url = f"/repos/{REPO}/issues/comments/{created['id']}"
    assert (await gh.getitem(comment_url))["body"] == "first"
    seeded.clock.advance(60)  # type: ignore[attr-defined]
    updated = await gh.patch(comment_url, data={"body": "second"})
    assert updated["body"] == "second" and updated["updated_at"] > created["updated_at"]
    assert seeded.comments[created["id"]].body == "second"
    with pytest.raises(gidgethub.BadRequest) as no_body:
        await gh.patch(comment_url, data={"text": "x"})
    assert no_body.value.status_code == 422
    assert "body" in seeded.violations[-1].detail
    seeded.violations.clear()
    await gh.delete(comment_url)
    assert created["id"] not in seeded.comments
    assert seeded.repo(REPO).issues[issue["number"]].comments == 0
    with pytest.raises(gidgethub.BadRequest) as gone:
        await gh.getitem(comment_url)
    assert gone.value.status_code == 404


async def test_label_removal_keeps_the_others(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    issue = await gh.post(f"/repos/{REPO}/issues", data={"title": "t", "labels": ["a", "b c"]})
    labels_url = f"/repos/{REPO}/issues/{issue['number']}/labels"
    await gh.delete(f"{labels_url}/b%20c")
    assert seeded.repo(REPO).issues[issue["number"]].labels == ["a"]
    shown = await gh.getitem(f"/repos/{REPO}/issues?labels=a")
    assert [label["name"] for label in shown[0]["labels"]] == ["a"]
    with pytest.raises(gidgethub.BadRequest) as absent:
        await gh.delete(f"{labels_url}/b%20c")
    assert absent.value.status_code == 404


async def test_jobs_of_one_attempt(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    sha = seeded.ref(REPO, "heads/main")
    assert sha is not None
    run = seeded.add_workflow_run(
        REPO, head_sha=sha, head_branch="main", jobs=[FakeJob("first try", "failure")]
    )
    record = seeded.runs[run["id"]]
    record.run_attempt = 2
    seeded.add_job(record, FakeJob("second try", "success"))
    base = f"/repos/{REPO}/actions/runs/{run['id']}/attempts"
    first, second = await gh.getitem(f"{base}/1/jobs"), await gh.getitem(f"{base}/2/jobs")
    assert [(job["name"], job["run_attempt"]) for job in first["jobs"]] == [("first try", 1)]
    assert [(job["name"], job["run_attempt"]) for job in second["jobs"]] == [("second try", 2)]
    with pytest.raises(gidgethub.BadRequest) as future:
        await gh.getitem(f"{base}/3/jobs")
    assert future.value.status_code == 404


async def test_branch_with_slashes_and_protection(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    sha = seeded.commit(REPO, "ci-fix/run-1", {"fix.txt": "x\n"})
    branch = await gh.getitem(f"/repos/{REPO}/branches/ci-fix/run-1")
    assert (branch["name"], branch["commit"]["sha"], branch["protected"]) == (
        "ci-fix/run-1",
        sha,
        False,
    )
    seeded.protect_branch(REPO, "main")
    assert (await gh.getitem(f"/repos/{REPO}/branches/main"))["protected"] is True
    with pytest.raises(gidgethub.BadRequest) as missing:
        await gh.getitem(f"/repos/{REPO}/branches/nope")
    assert missing.value.status_code == 404


async def test_commit_list_filters_by_path_and_pages(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    root = seeded.ref(REPO, "heads/main")
    shas = [seeded.commit(REPO, "main", {f"docs/{n}.md": f"{n}\n"}) for n in range(3)]
    code = seeded.commit(REPO, "main", {"src/app.py": "print('bye')\n"})
    listed = [c["sha"] async for c in gh.getiter(f"/repos/{REPO}/commits?per_page=2")]
    assert listed == [code, *reversed(shas), root]
    touching_src = await gh.getitem(f"/repos/{REPO}/commits?path=src")
    assert [c["sha"] for c in touching_src] == [code, root]
    assert "files" not in touching_src[0]
    older = await gh.getitem(f"/repos/{REPO}/commits?sha={shas[0]}")
    assert [c["sha"] for c in older] == [shas[0], root]
    with pytest.raises(gidgethub.BadRequest) as bad_date:
        await gh.getitem(f"/repos/{REPO}/commits?since=yesterday")
    assert bad_date.value.status_code == 422
    seeded.violations.clear()


async def test_pulls_of_a_commit(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    on_main = seeded.ref(REPO, "heads/main")
    on_branch = seeded.commit(REPO, "feature", {"f.txt": "f\n"})
    pull = await gh.post(
        f"/repos/{REPO}/pulls", data={"title": "t", "head": "feature", "base": "main"}
    )
    found = await gh.getitem(f"/repos/{REPO}/commits/{on_branch}/pulls")
    assert [p["number"] for p in found] == [pull["number"]]
    assert await gh.getitem(f"/repos/{REPO}/commits/{on_main}/pulls") == []


# -- pull request files and reviews ------------------------------------------------------

BEFORE = "".join(f"line {n}\n" for n in range(1, 21))


def review_pull(fake: FakeGitHub, *, user: str = "octocat") -> int:
    """A pull request by ``user`` changing lines 5 and 15 of ``calc.py`` and adding a file."""
    fake.commit(REPO, "main", {"calc.py": BEFORE})
    after = BEFORE.replace("line 5\n", "line five\n").replace("line 15\n", "line fifteen\n")
    fake.commit(REPO, "topic", {"calc.py": after, "new.txt": "a\nb\n", "run.sh": None})
    return fake.add_pull(REPO, head="topic", user=user).number


def git_numstat(root: Path, before: dict[str, bytes], after: dict[str, bytes]) -> str:
    """``git diff --numstat`` between two file sets, committed by real git."""
    git(root, "init", "-q")
    for files in (before, after):
        git(root, "rm", "-rqf", "--ignore-unmatch", ".")
        write_files(root, files)
        git(root, "add", "-A")
        git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    return git(root, "diff", "--numstat", "HEAD~1", "HEAD")


async def test_pull_files_match_git_diff(seeded: FakeGitHub, gh: GitHubAPI, tmp_path: Path) -> None:
    require_or_skip(shutil.which("git") is not None, "git is not installed")
    number = review_pull(seeded)
    seeded.commit(REPO, "main", {"README.md": "# moved on\n"})  # the base moves; not in the diff
    files = [f async for f in gh.getiter(f"/repos/{REPO}/pulls/{number}/files")]
    by_name = {f["filename"]: f for f in files}
    assert {name: f["status"] for name, f in by_name.items()} == {
        "calc.py": "modified",
        "new.txt": "added",
        "run.sh": "removed",
    }
    assert "-line 5\n+line five" in by_name["calc.py"]["patch"]
    assert by_name["calc.py"]["patch"].count("@@ -") == 2  # two hunks, 3 lines of context
    head = seeded.ref(REPO, "heads/topic") or ""
    merge_base = seeded.repo(REPO).objects.commit(head).parents[0]
    numstat = git_numstat(
        tmp_path, seeded.read_tree(REPO, merge_base), seeded.read_tree(REPO, head)
    )
    expected = {
        name: (int(added), int(deleted))
        for added, deleted, name in (line.split("\t") for line in numstat.splitlines())
    }
    assert {n: (f["additions"], f["deletions"]) for n, f in by_name.items()} == expected


async def test_review_with_suggestions_applies_to_the_expected_tree(
    seeded: FakeGitHub, gh: GitHubAPI
) -> None:
    number = review_pull(seeded)
    head = seeded.ref(REPO, "heads/topic")
    review = await gh.post(
        f"/repos/{REPO}/pulls/{number}/reviews",
        data={
            "event": "COMMENT",
            "body": "Two suggestions",
            "comments": [
                {
                    "path": "calc.py",
                    "line": 5,
                    "side": "RIGHT",
                    "body": "```suggestion\nline 5\n```",
                },
                {
                    "path": "calc.py",
                    "start_line": 14,
                    "line": 16,
                    "body": "Tidy:\n````suggestion\n```\nline 16\n````",
                },
            ],
        },
    )
    assert (review["state"], review["commit_id"]) == ("COMMENTED", head)
    stored = seeded.pull(REPO, number).reviews
    assert [len(r.comments) for r in stored] == [2]
    assert stored[0].comments[1].start_line == 14
    assert stored[0].comments[0].diff_hunk.endswith("+line five")
    listed = await gh.getitem(f"/repos/{REPO}/pulls/{number}/comments")
    assert [(c["line"], c["side"]) for c in listed] == [(5, "RIGHT"), (16, "RIGHT")]
    assert listed[1]["start_line"] == 14
    files = seeded.apply_suggestions(REPO, number, commit=True)
    expected = BEFORE.replace("line 14\nline 15\nline 16\n", "```\nline 16\n")
    assert files["calc.py"].decode() == expected
    assert seeded.read_tree(REPO, "topic")["calc.py"].decode() == expected
    with pytest.raises(SuggestionError):  # the head moved on: the suggestions are outdated
        seeded.apply_suggestions(REPO, number)


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ({"path": "calc.py", "line": 10, "body": "x"}, "must be part of the diff"),
        ({"path": "calc.py", "line": 10, "side": "LEFT", "body": "x"}, "must be part of the diff"),
        ({"path": "nope.py", "line": 1, "body": "x"}, "Path could not be resolved"),
        ({"path": "calc.py", "start_line": 3, "line": 15, "body": "x"}, "same hunk"),
    ],
)
async def test_review_comments_outside_the_diff_are_refused(
    seeded: FakeGitHub, gh: GitHubAPI, comment: dict[str, Any], message: str
) -> None:
    number = review_pull(seeded)
    with pytest.raises(gidgethub.BadRequest) as refused:
        await gh.post(
            f"/repos/{REPO}/pulls/{number}/reviews",
            data={"event": "COMMENT", "body": "b", "comments": [comment]},
        )
    assert refused.value.status_code == 422
    assert any(message in error for error in refused.value.errors or [])  # type: ignore[attr-defined]
    assert seeded.pull(REPO, number).reviews == []
    assert seeded.violations == []  # a semantic refusal, not a malformed request


async def test_review_request_schema_and_github_rules(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    number = review_pull(seeded)
    url = f"/repos/{REPO}/pulls/{number}/reviews"
    with pytest.raises(gidgethub.BadRequest) as no_body:
        await gh.post(url, data={"event": "COMMENT", "comments": [{"path": "calc.py"}]})
    assert no_body.value.status_code == 422
    assert "comments/0" in seeded.violations[-1].detail
    seeded.violations.clear()
    pending = await gh.post(url, data={"body": "draft"})
    assert pending["state"] == "PENDING" and "submitted_at" not in pending
    with pytest.raises(gidgethub.BadRequest):
        await gh.post(url, data={"body": "another draft"})
    approved = await gh.post(url, data={"event": "APPROVE"})
    assert approved["state"] == "APPROVED"
    seeded.commit(REPO, "bot-topic", {"bot.txt": "b\n"})
    own = review_pull_of_bot = await gh.post(
        f"/repos/{REPO}/pulls",
        data={"title": "mine", "head": "bot-topic", "base": "main", "draft": True},
    )
    assert own["draft"] is True and own["node_id"]
    with pytest.raises(gidgethub.BadRequest) as self_approval:
        await gh.post(
            f"/repos/{REPO}/pulls/{review_pull_of_bot['number']}/reviews",
            data={"event": "APPROVE"},
        )
    assert self_approval.value.status_code == 422
    assert [r.state for r in seeded.pull(REPO, number).reviews] == ["PENDING", "APPROVED"]
    listed = await gh.getitem(url)
    assert [r["state"] for r in listed] == ["PENDING", "APPROVED"]


async def test_review_comment_by_position_and_replies(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    number = review_pull(seeded)
    head = seeded.ref(REPO, "heads/topic")
    url = f"/repos/{REPO}/pulls/{number}/comments"
    # position 5 = the 5th line below calc.py's first "@@": " 2", " 3", " 4", "-5", "+five"
    by_position = await gh.post(
        url, data={"body": "why?", "commit_id": head, "path": "calc.py", "position": 5}
    )
    assert (by_position["line"], by_position["side"]) == (5, "RIGHT")
    reply = await gh.post(
        url,
        data={
            "body": "because",
            "commit_id": head,
            "path": "calc.py",
            "in_reply_to": by_position["id"],
        },
    )
    assert (reply["in_reply_to_id"], reply["line"]) == (by_position["id"], 5)
    deleted = await gh.post(
        url, data={"body": "gone", "commit_id": head, "path": "run.sh", "line": 1, "side": "LEFT"}
    )
    assert deleted["side"] == "LEFT"
    with pytest.raises(gidgethub.BadRequest) as outside:
        await gh.post(url, data={"body": "x", "commit_id": head, "path": "calc.py", "line": 10})
    assert outside.value.status_code == 422
    comments = seeded.pull(REPO, number).review_comments
    assert [c.body for c in comments] == ["why?", "because", "gone"]
    assert all(r.state == "COMMENTED" for r in seeded.pull(REPO, number).reviews)


async def test_requested_reviewers(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    number = review_pull(seeded, user="author")
    seeded.set_permission(REPO, "alice", "write")
    seeded.add_team(REPO, "core")
    url = f"/repos/{REPO}/pulls/{number}/requested_reviewers"
    pull = await gh.post(url, data={"reviewers": ["alice"], "team_reviewers": ["core"]})
    assert [u["login"] for u in pull["requested_reviewers"]] == ["alice"]
    assert [t["slug"] for t in pull["requested_teams"]] == ["core"]
    listed = await gh.getitem(url)
    assert ([u["login"] for u in listed["users"]], [t["slug"] for t in listed["teams"]]) == (
        ["alice"],
        ["core"],
    )
    for refused in (["stranger"], ["author"]):
        with pytest.raises(gidgethub.BadRequest) as error:
            await gh.post(url, data={"reviewers": refused})
        assert error.value.status_code == 422
    await gh.delete(url, data={"reviewers": ["alice"], "team_reviewers": ["core"]})
    after = await gh.getitem(f"/repos/{REPO}/pulls/{number}")
    assert after["requested_reviewers"] == [] and after["requested_teams"] == []
    assert seeded.pull(REPO, number).requested_reviewers == []
    with pytest.raises(gidgethub.BadRequest) as no_list:
        await gh.delete(url, data={"team_reviewers": ["core"]})
    assert no_list.value.status_code == 422
    assert "reviewers" in seeded.violations[-1].detail
    seeded.violations.clear()


async def test_fork_pull_files_use_the_shared_history(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    fork = seeded.fork_repo(REPO, "contributor")
    seeded.commit(fork, "patch-1", {"src/app.py": "print('fork')\n"})
    pull = seeded.add_pull(REPO, head="patch-1", head_repo=fork, user="contributor")
    files = await gh.getitem(f"/repos/{REPO}/pulls/{pull.number}/files")
    assert [(f["filename"], f["additions"], f["deletions"]) for f in files] == [
        ("src/app.py", 1, 1)
    ]


def test_suggestion_blocks_parse_like_github() -> None:
    assert suggestion_of("no suggestion") is None
    assert suggestion_of("text\n```suggestion\na\nb\n```\nmore") == ["a", "b"]
    assert suggestion_of("```suggestion\n```") == []  # delete the lines
    assert suggestion_of("~~~~suggestion\n```py\n~~~~") == ["```py"]
    with pytest.raises(SuggestionError):
        suggestion_of("```suggestion\na\n```\n```suggestion\nb\n```")


# -- the App's webhook deliveries ---------------------------------------------------------


def app_auth(fake: FakeGitHub) -> dict[str, str]:
    return {"Authorization": f"Bearer {app_jwt(fake)}", "Accept": "application/vnd.github+json"}


async def test_deliveries_list_newest_first_with_status_and_cursor(
    seeded: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    payload = {"action": "completed", "installation": {"id": INSTALLATION}}
    ok = seeded.add_delivery("workflow_run", payload)
    failed = seeded.add_failed_delivery("workflow_run", payload, status_code=503)
    unreachable = seeded.add_delivery("check_run", payload, status_code=0)
    status, newest = await get(
        session, f"{seeded.url}/app/hook/deliveries?per_page=2", **app_auth(seeded)
    )
    assert status == 200
    assert [d["id"] for d in newest] == [unreachable.id, failed.id]
    assert newest[1]["status"] == "Invalid HTTP Response: 503"
    assert newest[1]["installation_id"] == INSTALLATION and newest[1]["action"] == "completed"
    async with session.get(
        f"{seeded.url}/app/hook/deliveries?per_page=2", headers=app_auth(seeded)
    ) as response:
        next_url = response.links["next"]["url"]
    _, older = await get(session, str(next_url), **app_auth(seeded))
    assert [d["id"] for d in older] == [ok.id]
    _, failures = await get(
        session, f"{seeded.url}/app/hook/deliveries?status=failure", **app_auth(seeded)
    )
    assert [d["id"] for d in failures] == [failed.id]
    _, one = await get(session, f"{seeded.url}/app/hook/deliveries/{failed.id}", **app_auth(seeded))
    assert one["request"]["payload"] == payload and one["guid"] == failed.guid
    status, _ = await get(
        session, f"{seeded.url}/app/hook/deliveries?status=bad", **app_auth(seeded)
    )
    assert status == 422
    assert "status" in seeded.violations[-1].detail
    seeded.violations.clear()
    status, _ = await get(session, f"{seeded.url}/app/hook/deliveries")
    assert status == 401


async def test_redelivery_resends_to_the_registered_url(
    seeded: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received.append((dict(request.headers), await request.read()))
        return aiohttp.web.Response(status=202)

    receiver = aiohttp.web.Application()
    receiver.router.add_post("/webhooks", receive)
    runner = aiohttp.web.AppRunner(receiver)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        payload = {"action": "completed", "workflow_run": {"id": 1}}
        failed = seeded.add_failed_delivery("workflow_run", payload)
        url = f"{seeded.url}/app/hook/deliveries/{failed.id}/attempts"
        async with session.post(url, headers=app_auth(seeded)) as response:
            assert response.status == 202
        assert seeded.redelivery_requests == [failed.id]
        without_url = max(seeded.deliveries.values(), key=lambda d: d.id)
        assert (without_url.redelivery, without_url.guid, without_url.ok) == (
            True,
            failed.guid,
            True,
        )
        seeded.webhook_url = f"http://127.0.0.1:{port}/webhooks"
        async with session.post(url, headers=app_auth(seeded)) as response:
            assert response.status == 202
        [resent] = await seeded.settle_deliveries()
        assert (resent.redelivery, resent.guid, resent.status_code) == (True, failed.guid, 202)
        headers, body = received[0]
        assert json.loads(body) == payload
        assert headers["X-GitHub-Delivery"] == failed.guid
        assert headers["X-Hub-Signature-256"] == sign(body, seeded.webhook_secret)
        sent = await seeded.send_webhook("ping", {"zen": "Keep it logically awesome."})
        assert sent.ok and not sent.redelivery and len(received) == 2
        missing = f"{seeded.url}/app/hook/deliveries/1/attempts"
        async with session.post(missing, headers=app_auth(seeded)) as response:
            assert response.status == 404
    finally:
        await runner.cleanup()


# -- GraphQL -------------------------------------------------------------------------------

READY = """
mutation($id: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $id}) {
    pullRequest { id number isDraft headRefName author { login } }
  }
}"""
TO_DRAFT = """
mutation($id: ID!) {
  convertPullRequestToDraft(input: {pullRequestId: $id, clientMutationId: "c1"}) {
    clientMutationId pullRequest { isDraft }
  }
}"""


async def draft_pull(fake: FakeGitHub, gh: GitHubAPI) -> dict[str, Any]:
    fake.commit(REPO, "ci-fix/1", {"fix.txt": "fixed\n"})
    return await gh.post(
        f"/repos/{REPO}/pulls",
        data={"title": "Fix", "head": "ci-fix/1", "base": "main", "draft": True},
    )


async def test_graphql_marks_a_draft_ready_and_back(seeded: FakeGitHub, gh: GitHubAPI) -> None:
    pull = await draft_pull(seeded, gh)
    assert pull["draft"] is True
    endpoint = f"{seeded.url}/graphql"
    ready = await gh.graphql(READY, endpoint=endpoint, id=pull["node_id"])
    shown = ready["markPullRequestReadyForReview"]["pullRequest"]
    assert shown == {
        "id": pull["node_id"],
        "number": pull["number"],
        "isDraft": False,
        "headRefName": "ci-fix/1",
        "author": {"login": seeded.app_slug},
    }
    assert seeded.pull(REPO, pull["number"]).pr.draft is False
    assert (await gh.getitem(f"/repos/{REPO}/pulls/{pull['number']}"))["draft"] is False
    back = await gh.graphql(TO_DRAFT, endpoint=endpoint, id=pull["node_id"])
    assert back["convertPullRequestToDraft"] == {
        "clientMutationId": "c1",
        "pullRequest": {"isDraft": True},
    }
    assert seeded.pull(REPO, pull["number"]).pr.draft is True
    found = await gh.graphql(
        "query($o: String!, $n: String!, $num: Int!) {"
        " repository(owner: $o, name: $n) { pullRequest(number: $num) { id isDraft } } }",
        endpoint=endpoint,
        o="octo-org",
        n="demo",
        num=pull["number"],
    )
    assert found["repository"]["pullRequest"] == {"id": pull["node_id"], "isDraft": True}


async def test_graphql_invalid_documents_are_refused_and_recorded(
    seeded: FakeGitHub, gh: GitHubAPI
) -> None:
    pull = await draft_pull(seeded, gh)
    endpoint = f"{seeded.url}/graphql"
    wrong_input = (
        "mutation { markPullRequestReadyForReview(input: {pullRequest: 1}) { clientMutationId } }"
    )
    with pytest.raises(gidgethub.GraphQLException) as refused:
        await gh.graphql(wrong_input, endpoint=endpoint)
    assert "data" not in refused.value.response
    assert "pullRequestId" in refused.value.response["errors"][0]["message"]
    with pytest.raises(gidgethub.GraphQLException):
        await gh.graphql("query { viewer { noSuchField } }", endpoint=endpoint)
    with pytest.raises(gidgethub.GraphQLException):
        await gh.graphql("mutation { markPullRequestReadyForReview(", endpoint=endpoint)
    assert [v.kind for v in seeded.violations] == ["graphql"] * 4  # 2 errors, then 1, then 1
    assert seeded.pull(REPO, pull["number"]).pr.draft is True
    seeded.violations.clear()
    with pytest.raises(gidgethub.GraphQLException) as unknown:
        await gh.graphql(READY, endpoint=endpoint, id="PR_404")
    assert unknown.value.response["errors"][0]["type"] == "NOT_FOUND"
    assert unknown.value.response["data"] == {"markPullRequestReadyForReview": None}
    assert seeded.violations == []  # a node that does not exist is an answer, not a mistake


async def test_graphql_needs_an_installation_token(
    seeded: FakeGitHub, session: aiohttp.ClientSession
) -> None:
    async with session.post(f"{seeded.url}/graphql", json={"query": "{ viewer { login } }"}) as r:
        assert r.status == 401
    assert seeded.violations == []
