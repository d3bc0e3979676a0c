"""Publishing a fix through the Git Data API, the pull request, and the check run, on the fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import gidgethub.aiohttp
import pytest

from app.core.errors import PublishError
from app.publish.checkrun import CHECK_NAME, finish_check, start_check
from app.publish.commit import FIX_LABEL, ensure_pull_request, publish_fix
from tests.support import installation_client

REPO = "octo/widgets"
INSTALLATION = 77
BASE_FILES = {
    "README.md": "# widgets\n",
    "src/widgets/core.py": "def add(a, b):\n    return a - b\n",
    "src/widgets/util.py": "X = 1\n",
    "scripts/run.sh": "#!/bin/sh\necho run\n",
    "tests/test_core.py": "def test_add():\n    assert add(1, 2) == 3\n",
}


@pytest.fixture
async def gh(fake_github) -> AsyncIterator[gidgethub.aiohttp.GitHubAPI]:
    fake_github.add_installation(INSTALLATION, "octo")
    fake_github.add_repo(REPO, files=BASE_FILES, installation_id=INSTALLATION)
    async with installation_client(fake_github, INSTALLATION) as gh:
        yield gh


def api_calls(fake) -> list[str]:
    """Recorded REST calls to the repository (the token request is not publishing)."""
    return [f"{r.method} {r.path}" for r in fake.calls() if r.path.startswith("/repos/")]


async def test_three_file_fix_is_committed_on_a_new_branch(fake_github, gh):
    failing = fake_github.ref(REPO, "heads/main")
    before = len(api_calls(fake_github))
    sha = await publish_fix(
        gh,
        repo=REPO,
        base_sha=failing,
        parent_sha=failing,
        branch="ci-fix/101",
        changes={
            "src/widgets/core.py": b"def add(a, b):\n    return a + b\n",
            "src/widgets/logo.png": b"\x89PNG\r\n\x1a\n\x00\xff\xfe",
            "src/widgets/util.py": None,
        },
        message="fix(ci): add adds",
    )
    calls = api_calls(fake_github)[before:]
    print(f"\npublishing a 3-file fix took {len(calls)} REST calls: {calls}")
    assert len(calls) == 6  # parent commit, 2 blobs, tree, commit, ref (a deletion needs no blob)

    assert fake_github.ref(REPO, "heads/ci-fix/101") == sha
    assert fake_github.ref(REPO, "heads/main") == failing
    expected = {k: v.encode() for k, v in BASE_FILES.items() if k != "src/widgets/util.py"}
    expected["src/widgets/core.py"] = b"def add(a, b):\n    return a + b\n"
    expected["src/widgets/logo.png"] = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
    assert fake_github.read_tree(REPO, sha) == expected

    commit = await gh.getitem(f"/repos/{REPO}/git/commits/{sha}")
    assert [p["sha"] for p in commit["parents"]] == [failing]
    assert commit["message"] == "fix(ci): add adds"


async def test_second_iteration_fast_forwards_the_branch(fake_github, gh):
    failing = fake_github.ref(REPO, "heads/main")
    first = await publish_fix(
        gh,
        repo=REPO,
        base_sha=failing,
        parent_sha=failing,
        branch="ci-fix/102",
        changes={"src/widgets/core.py": b"def add(a, b):\n    return b + a\n"},
        message="fix(ci): iteration 1",
    )
    second = await publish_fix(
        gh,
        repo=REPO,
        base_sha=failing,
        parent_sha=first,
        branch="ci-fix/102",
        changes={"src/widgets/core.py": b"def add(a, b):\n    return a + b\n"},
        message="fix(ci): iteration 2",
    )
    assert fake_github.ref(REPO, "heads/ci-fix/102") == second
    commit = await gh.getitem(f"/repos/{REPO}/git/commits/{second}")
    assert [p["sha"] for p in commit["parents"]] == [first]
    assert fake_github.read_tree(REPO, second)["src/widgets/core.py"].endswith(b"a + b\n")
    # The update was a fast-forward (no force) and no ref was created twice.
    patches = fake_github.calls("PATCH", "/repos/*/git/refs/heads/ci-fix/102")
    assert len(patches) == 1 and patches[0].json["force"] is False
    assert len(fake_github.calls("POST", "/repos/*/git/refs")) == 1


async def test_file_modes_are_preserved(fake_github, gh):
    failing = fake_github.ref(REPO, "heads/main")
    sha = await publish_fix(
        gh,
        repo=REPO,
        base_sha=failing,
        parent_sha=failing,
        branch="ci-fix/103",
        changes={"scripts/run.sh": b"#!/bin/sh\necho fixed\n"},
        message="fix(ci): script",
        modes={"scripts/run.sh": "100755"},
    )
    (tree_call,) = fake_github.calls("POST", "/repos/*/git/trees")
    assert tree_call.json["tree"][0]["mode"] == "100755"
    commit = await gh.getitem(f"/repos/{REPO}/git/commits/{sha}")
    tree = await gh.getitem(f"/repos/{REPO}/git/trees/{commit['tree']['sha']}?recursive=1")
    modes = {entry["path"]: entry["mode"] for entry in tree["tree"]}
    assert modes["scripts/run.sh"] == "100755"


async def test_republishing_the_same_fix_after_a_crash_reuses_the_branch(fake_github, gh):
    failing = fake_github.ref(REPO, "heads/main")
    fix = {"src/widgets/core.py": b"def add(a, b):\n    return a + b\n"}
    kwargs = dict(repo=REPO, base_sha=failing, parent_sha=failing, branch="ci-fix/104")
    first = await publish_fix(gh, changes=fix, message="fix(ci): add", **kwargs)
    fake_github.clock.advance(seconds=30)  # a later commit date gives a different commit sha
    again = await publish_fix(gh, changes=fix, message="fix(ci): add", **kwargs)
    assert again == first
    assert fake_github.ref(REPO, "heads/ci-fix/104") == first


async def test_a_branch_moved_by_someone_else_is_not_overwritten(fake_github, gh):
    failing = fake_github.ref(REPO, "heads/main")
    fake_github.commit(REPO, "ci-fix/105", {"NOTES.md": "a maintainer's commit\n"})
    theirs = fake_github.ref(REPO, "heads/ci-fix/105")
    with pytest.raises(PublishError, match="someone else pushed"):
        await publish_fix(
            gh,
            repo=REPO,
            base_sha=failing,
            parent_sha=failing,
            branch="ci-fix/105",
            changes={"src/widgets/core.py": b"fixed\n"},
            message="fix(ci)",
        )
    assert fake_github.ref(REPO, "heads/ci-fix/105") == theirs


async def test_publishing_nothing_is_refused(fake_github, gh):
    failing = fake_github.ref(REPO, "heads/main")
    kwargs = dict(repo=REPO, base_sha=failing, parent_sha=failing, branch="ci-fix/106")
    with pytest.raises(PublishError, match="no changed files"):
        await publish_fix(gh, changes={}, message="m", **kwargs)
    same = {"README.md": BASE_FILES["README.md"].encode()}
    with pytest.raises(PublishError, match="nothing to commit"):
        await publish_fix(gh, changes=same, message="m", **kwargs)
    assert fake_github.ref(REPO, "heads/ci-fix/106") is None


async def publish_branch(fake_github, gh, branch: str) -> None:
    failing = fake_github.ref(REPO, "heads/main")
    await publish_fix(
        gh,
        repo=REPO,
        base_sha=failing,
        parent_sha=failing,
        branch=branch,
        changes={"src/widgets/core.py": b"def add(a, b):\n    return a + b\n"},
        message="fix(ci)",
    )


async def test_pull_request_opened_and_labelled(fake_github, gh):
    await publish_branch(fake_github, gh, "ci-fix/201")
    before = len(api_calls(fake_github))
    pr = await ensure_pull_request(
        gh,
        repo=REPO,
        head_branch="ci-fix/201",
        base_branch="main",
        title="ci-fix: repair",
        body="body one",
        labels=(FIX_LABEL, "bot"),
    )
    assert len(api_calls(fake_github)) - before == 2  # open + label
    (stored,) = fake_github.pulls(REPO)
    assert stored.number == pr["number"]
    assert stored.pull.head_ref == "ci-fix/201" and stored.pull.base_ref == "main"
    assert stored.body == "body one"
    assert stored.labels == [FIX_LABEL, "bot"]


async def test_existing_pull_request_is_updated_not_duplicated(fake_github, gh):
    await publish_branch(fake_github, gh, "ci-fix/202")
    kwargs = dict(repo=REPO, head_branch="ci-fix/202", base_branch="main", title="t")
    first = await ensure_pull_request(gh, body="iteration 1", **kwargs)
    second = await ensure_pull_request(gh, body="iteration 2", **kwargs)
    assert second["number"] == first["number"]
    (stored,) = fake_github.pulls(REPO)
    assert stored.body == "iteration 2"
    assert stored.labels == [FIX_LABEL]
    assert len(fake_github.calls("POST", "/repos/*/issues/*/labels")) == 1


async def test_check_run_lifecycle(fake_github, gh):
    head = fake_github.ref(REPO, "heads/main")
    check_id = await start_check(
        gh, repo=REPO, head_sha=head, details_url="https://example.com/l/1"
    )
    (run,) = fake_github.check_runs(REPO)
    assert (run.id, run.name, run.status, run.head_sha) == (
        check_id,
        CHECK_NAME,
        "in_progress",
        head,
    )
    assert run.details_url == "https://example.com/l/1"

    await finish_check(
        gh,
        repo=REPO,
        check_run_id=check_id,
        conclusion="success",
        summary_markdown="- **Iterations:** 1",
        title="lint failure: fixed",
    )
    (run,) = fake_github.check_runs(REPO)
    assert (run.status, run.conclusion) == ("completed", "success")
    assert run.output["title"] == "lint failure: fixed"
    assert run.output["summary"] == "- **Iterations:** 1"


async def test_finish_check_rejects_an_unknown_conclusion(gh):
    with pytest.raises(ValueError, match="not a check run conclusion"):
        await finish_check(
            gh, repo=REPO, check_run_id=1, conclusion="green", summary_markdown="", title=""
        )
