"""Failing pull requests, end to end against the fake GitHub: ``branch`` and ``suggest``
modes, forks, trunk first, and a head that moved on.

Runs are ``workflow_run`` deliveries derived from GitHub's own payload for a run of
the ``pull_request`` event; for a fork GitHub attaches no pull request to the run,
and the app finds it by head branch, as it must on GitHub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.store.records import Loop, LoopState
from tests.fakes.github import FakeJob
from tests.harness import REPO, Harness, HarnessFactory, failing_pytest_log, scripted_agent
from tests.webhooks import pull_request_payload

VAT = (
    "RATES = {'DE': 19}\n\n\ndef vat(country, amount):\n    return amount * RATES[country] / 100\n"
)
# The pull request adds Austria with a typo, and a test that catches it.
VAT_PR = VAT.replace("{'DE': 19}", "{'DE': 19, 'AT': 2}")
TEST_VAT = "from vat import vat\n\n\ndef test_austria():\n    assert vat('AT', 100) == 20\n"
FIXED = VAT.replace("{'DE': 19}", "{'DE': 19, 'AT': 20}")
LOG = failing_pytest_log("assert 2.0 == 20", test_id="tests/test_vat.py::test_austria")
BRANCH = "add-austria"


async def start(
    app_harness: HarnessFactory, tmp_path: Path, mode: str, steps: list[dict[str, Any]]
) -> Harness:
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, steps))
    harness.seed_repo({"vat.py": VAT}, config=f"pull_requests: {mode}\n")
    return harness


def open_pull(harness: Harness, *, fork_owner: str | None = None) -> tuple[int, str, str]:
    """A pull request changing vat.py (and adding its test); (number, head sha, head repo)."""
    head_repo = REPO
    if fork_owner is not None:
        head_repo = harness.fake.fork_repo(REPO, fork_owner)
    sha = harness.fake.commit(
        head_repo, BRANCH, {"vat.py": VAT_PR, "tests/test_vat.py": TEST_VAT}, "Add Austria"
    )
    pull = harness.fake.add_pull(
        REPO, head=BRANCH, head_repo=None if fork_owner is None else head_repo, user="dana"
    )
    return pull.number, sha, head_repo


async def loops(harness: Harness) -> list[Loop]:
    return await harness.ctx.store.recent_loops()


def app_pulls(harness: Harness) -> list[Any]:
    """Pull requests the app opened (the author's own is by 'dana')."""
    return [p for p in harness.fake.pulls(REPO) if p.user != "dana"]


async def test_a_same_repository_pull_request_is_fixed_on_a_branch_into_its_head(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await start(app_harness, tmp_path, "branch", [{"files": {"vat.py": FIXED}}])
    number, sha, _ = open_pull(harness)
    # GitHub's pull_request delivery comes first; the app acts on the run's result only.
    await harness.deliver("pull_request", pull_request_payload(harness.fake, REPO, number))
    assert await loops(harness) == []
    run = harness.pull_request_run(sha, branch=BRANCH, log=LOG)
    assert run["pull_requests"] and run["pull_requests"][0]["number"] == number
    await harness.deliver("workflow_run", harness.payload(run))

    [loop] = await loops(harness)
    assert loop.state is LoopState.AWAITING_CI
    fix_branch = f"ci-fix/pr-{number}-{run['id']}"
    assert loop.fix_branch == fix_branch and loop.pull_number == number
    assert harness.fake.ref(REPO, f"heads/{fix_branch}") == loop.fix_sha
    assert harness.fake.read_tree(REPO, fix_branch)["vat.py"] == FIXED.encode()
    # The author's branch is untouched; the fix is proposed INTO it.
    assert harness.fake.ref(REPO, f"heads/{BRANCH}") == sha
    [fix_pr] = app_pulls(harness)
    assert fix_pr.pull is not None
    assert (fix_pr.pull.head_ref, fix_pr.pull.base_ref) == (fix_branch, BRANCH)
    assert harness.fake.pull(REPO, number).pull.reviews == []  # type: ignore[union-attr]

    green = harness.fake.add_workflow_run(
        REPO, head_sha=loop.fix_sha or "", head_branch=fix_branch, conclusion="success",
        jobs=[FakeJob("test", "success", steps=[("Run tests", "success")])],
    )  # fmt: skip
    await harness.deliver("workflow_run", harness.payload(green))
    [loop] = await loops(harness)
    assert loop.state is LoopState.SUCCEEDED


@pytest.mark.parametrize("mode", ["suggest", "branch"])  # branch never writes to a fork
async def test_a_fork_pull_request_gets_one_review_whose_suggestions_are_the_verified_fix(
    app_harness: HarnessFactory, tmp_path: Path, mode: str
) -> None:
    harness = await start(app_harness, tmp_path, mode, [{"files": {"vat.py": FIXED}}])
    number, sha, fork = open_pull(harness, fork_owner="outsider")
    fork_refs = dict(harness.fake.repo(fork).refs)
    base_refs = dict(harness.fake.repo(REPO).refs)
    run = harness.pull_request_run(sha, branch=BRANCH, log=LOG, head_repo=fork)
    assert run["pull_requests"] == []  # GitHub attaches no pull request from a fork
    await harness.deliver("workflow_run", harness.payload(run))

    [loop] = await loops(harness)
    assert loop.state is LoopState.SUCCEEDED, loop.reason
    pull = harness.fake.pull(REPO, number)
    assert pull.pull is not None
    [review] = pull.pull.reviews
    assert review.commit_id == sha and review.state == "COMMENTED"
    assert review.comments and all("```suggestion" in c.body for c in review.comments)
    # Accepting every suggestion gives exactly the tree the app verified.
    verified = {**harness.fake.read_tree(fork, sha), "vat.py": FIXED.encode()}
    assert harness.fake.apply_suggestions(REPO, number, review_id=review.id) == verified
    # Nothing was written anywhere but the review and its note.
    assert harness.fake.repo(fork).refs == fork_refs
    assert harness.fake.repo(REPO).refs == base_refs
    assert app_pulls(harness) == []
    [note] = [c.body for c in harness.fake.issue_comments(REPO, number)]
    assert f"review {review.id}" in note


async def test_a_later_failing_commit_replaces_the_review(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await start(
        app_harness, tmp_path, "suggest",
        [{"files": {"vat.py": FIXED}}, {"files": {"vat.py": FIXED}}],
    )  # fmt: skip
    number, sha, _ = open_pull(harness)
    await harness.deliver(
        "workflow_run", harness.payload(harness.pull_request_run(sha, branch=BRANCH, log=LOG))
    )
    newer = harness.fake.commit(REPO, BRANCH, {"README.md": "Austria\n"}, "Docs")
    await harness.deliver(
        "workflow_run", harness.payload(harness.pull_request_run(newer, branch=BRANCH, log=LOG))
    )
    pull = harness.fake.pull(REPO, number).pull
    assert pull is not None
    first, second = pull.reviews
    assert (first.commit_id, second.commit_id) == (sha, newer)
    # One note, rewritten: it names the current review and calls the first outdated.
    [note] = [c.body for c in harness.fake.issue_comments(REPO, number)]
    assert f"current suggestions are in review {second.id}" in note
    assert f"Outdated (earlier failing commits; do not apply): review {first.id}" in note
    applied = harness.fake.apply_suggestions(REPO, number, review_id=second.id)
    assert applied["vat.py"] == FIXED.encode()


class PushWhileFixing:
    """The engine's attempter, with the author pushing again while the fix is being made."""

    def __init__(self, inner: Any, push: Any) -> None:
        self._inner = inner
        self._push = push

    async def attempt(self, gh: Any, request: Any, on_spend: Any) -> Any:
        self._push()
        return await self._inner.attempt(gh, request, on_spend)


@pytest.mark.parametrize("mode", ["branch", "suggest"])
async def test_a_pull_request_whose_head_moved_mid_loop_gets_nothing(
    app_harness: HarnessFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    harness = await start(app_harness, tmp_path, mode, [{"files": {"vat.py": FIXED}}])
    number, sha, _ = open_pull(harness)
    engine = harness.ctx.engine
    pushed: list[str] = []

    def push() -> None:
        pushed.append(harness.fake.commit(REPO, BRANCH, {"README.md": "newer\n"}, "Newer push"))

    monkeypatch.setattr(engine, "_attempter", PushWhileFixing(engine._attempter, push))
    run = harness.pull_request_run(sha, branch=BRANCH, log=LOG)
    await harness.deliver("workflow_run", harness.payload(run))

    [loop] = await loops(harness)
    assert pushed and loop.iteration == 1  # the fix was made after the loop opened ...
    assert loop.state is LoopState.SUPERSEDED  # ... and then nothing was posted
    assert (loop.reason or "").startswith(
        f"Superseded: the pull request's head moved to {pushed[0][:7]}"
    )
    assert not any(r.startswith("refs/heads/ci-fix/") for r in harness.fake.repo(REPO).refs)
    assert app_pulls(harness) == []
    pull = harness.fake.pull(REPO, number)
    assert pull.pull is not None and pull.pull.reviews == []
    assert harness.fake.issue_comments(REPO, number) == []


async def test_a_failure_that_is_on_main_too_costs_nothing_and_the_fix_is_announced(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, [{"files": {"vat.py": FIXED}, "cost": 0.3}])
    )
    head = harness.seed_repo(
        {"vat.py": VAT_PR, "tests/test_vat.py": TEST_VAT}, config="pull_requests: branch\n"
    )
    # main is red: its loop publishes a fix and waits for CI.
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))
    [main_loop] = await loops(harness)
    assert main_loop.state is LoopState.AWAITING_CI
    spent = await harness.ctx.store.spend_since(0)

    sha = harness.fake.commit(REPO, BRANCH, {"docs.md": "Austria\n"}, "Docs")
    number = harness.fake.add_pull(REPO, head=BRANCH, user="dana").number
    await harness.deliver(
        "workflow_run", harness.payload(harness.pull_request_run(sha, branch=BRANCH, log=LOG))
    )
    pr_loop = next(loop for loop in await loops(harness) if loop.pull_number == number)
    assert pr_loop.state is LoopState.CANCELLED
    assert pr_loop.iteration == 0 and await harness.ctx.store.spend_since(0) == spent
    [comment] = [c.body for c in harness.fake.issue_comments(REPO, number)]
    assert "this failure is on `main` too, not caused by this pull request" in comment
    assert f"loop for `main` is #{main_loop.id}" in comment

    green = harness.fake.add_workflow_run(
        REPO, head_sha=main_loop.fix_sha or "", head_branch=main_loop.fix_branch,
        conclusion="success", jobs=[FakeJob("test", "success", steps=[("Run", "success")])],
    )  # fmt: skip
    await harness.deliver("workflow_run", harness.payload(green))
    comments = [c.body for c in harness.fake.issue_comments(REPO, number)]
    assert len(comments) == 2
    assert (
        "`main` is fixed by" in comments[1]
        and "Update this pull request from `main`" in comments[1]
    )


async def test_pull_requests_are_left_alone_by_default(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, [{"files": {"vat.py": FIXED}}])
    )
    harness.seed_repo({"vat.py": VAT})
    number, sha, fork = open_pull(harness, fork_owner="outsider")
    await harness.deliver(
        "workflow_run",
        harness.payload(harness.pull_request_run(sha, branch=BRANCH, log=LOG, head_repo=fork)),
    )
    assert await loops(harness) == []
    assert harness.fake.issue_comments(REPO, number) == []


VAT_OK = (
    "RATES = {'DE': 19}\n\n\ndef vat(country, amount):\n    return amount * RATES[country] / 100\n"
)
TEST_DE = "from vat import vat\n\n\ndef test_germany():\n    assert vat('DE', 100) == 19\n"
DE_LOG = failing_pytest_log("assert 0.19 == 19", test_id="tests/test_vat.py::test_germany")


async def red_main_that_cannot_be_fixed(
    app_harness: HarnessFactory, tmp_path: Path, *, landed: int
) -> tuple[Harness, str, list[str]]:
    """main green at its first commit, then ``landed`` commits, the last one's run red; the
    fix the app tries fails CI the same way, so the loop gives up."""
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, [{"files": {"README.md": "tried\n"}}])
    )
    green = harness.seed_repo(
        {"vat.py": VAT_OK, "tests/test_vat.py": TEST_DE},
        config="on_give_up: revert\n",
    )
    harness.fake.add_workflow_run(
        REPO, head_sha=green, head_branch="main", conclusion="success",
        jobs=[FakeJob("test", "success", steps=[("Run tests", "success")])],
    )  # fmt: skip
    landed_shas = []
    for n in range(landed - 1):
        landed_shas.append(harness.fake.commit(REPO, "main", {f"notes{n}.md": "x\n"}, "Notes"))
    broken = VAT_OK.replace("/ 100", "/ 10000")
    landed_shas.append(harness.fake.commit(REPO, "main", {"vat.py": broken}, "Faster vat"))
    red = harness.failing_run(landed_shas[-1], log=DE_LOG)
    await harness.deliver("workflow_run", harness.payload(red))
    [loop] = await loops(harness)
    assert loop.fix_sha is not None
    still_red = harness.fake.add_workflow_run(
        REPO, head_sha=loop.fix_sha, head_branch=loop.fix_branch, conclusion="failure",
        jobs=[FakeJob("test", "failure", steps=[("Run pytest -x", "failure")], log=DE_LOG)],
    )  # fmt: skip
    await harness.deliver("workflow_run", harness.payload(still_red))
    [loop] = await loops(harness)
    assert loop.state is LoopState.ESCALATED
    return harness, green, landed_shas


async def test_a_red_main_the_app_cannot_fix_gets_a_revert_of_the_culprit(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, green, [culprit] = await red_main_that_cannot_be_fixed(app_harness, tmp_path, landed=1)
    branch = f"ci-fix/revert-{culprit}"
    assert harness.fake.read_tree(REPO, branch)["vat.py"] == VAT_OK.encode()
    # The revert is one commit on top of main's head, undoing exactly the culprit.
    assert harness.fake.read_tree(REPO, branch) == harness.fake.read_tree(REPO, green)
    [revert] = [p for p in harness.fake.pulls(REPO) if p.pull and p.pull.head_ref == branch]
    assert revert.pull is not None and revert.pull.base_ref == "main"
    assert revert.title.startswith('Revert "Faster vat"')
    body = revert.body or ""
    assert culprit in body and "is the only commit between the last green run" in body
    assert "/actions/runs/" in body  # the run that proves it
    [issue] = harness.fake.issues(REPO)
    [note] = [c.body for c in harness.fake.issue_comments(REPO, issue.number)]
    assert f"**Revert proposed:** #{revert.number} reverts {culprit}" in note


async def test_no_revert_when_the_culprit_cannot_be_identified(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, _, landed = await red_main_that_cannot_be_fixed(app_harness, tmp_path, landed=2)
    assert not any(
        ref.startswith("refs/heads/ci-fix/revert-") for ref in harness.fake.repo(REPO).refs
    )
    assert not [p for p in harness.fake.pulls(REPO) if p.title.startswith("Revert")]
    [issue] = harness.fake.issues(REPO)
    [note] = [c.body for c in harness.fake.issue_comments(REPO, issue.number)]
    assert note.startswith("**No revert:** the commit that broke the workflow cannot be identified")
    assert "2 commits" in note and landed[0][:7] in note and "not certain" in note


async def test_no_revert_when_the_revert_conflicts_with_later_work(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, [{"files": {"README.md": "tried\n"}}])
    )
    green = harness.seed_repo(
        {"vat.py": VAT_OK, "tests/test_vat.py": TEST_DE}, config="on_give_up: revert\n"
    )
    harness.fake.add_workflow_run(
        REPO, head_sha=green, head_branch="main", conclusion="success",
        jobs=[FakeJob("test", "success", steps=[("Run tests", "success")])],
    )  # fmt: skip
    culprit = harness.fake.commit(
        REPO, "main", {"vat.py": VAT_OK.replace("/ 100", "/ 10000")}, "Faster vat"
    )
    harness.fake.add_workflow_run(
        REPO, head_sha=culprit, head_branch="main", conclusion="failure",
        jobs=[FakeJob("test", "failure", steps=[("Run tests", "failure")], log=DE_LOG)],
    )  # fmt: skip
    # Later work edits the very line the culprit changed: undoing it would conflict.
    later = harness.fake.commit(
        REPO, "main", {"vat.py": VAT_OK.replace("/ 100", "/ 10000.0")}, "Floats"
    )
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(later, log=DE_LOG)))
    [loop] = await loops(harness)
    still_red = harness.fake.add_workflow_run(
        REPO, head_sha=loop.fix_sha or "", head_branch=loop.fix_branch, conclusion="failure",
        jobs=[FakeJob("test", "failure", steps=[("Run pytest -x", "failure")], log=DE_LOG)],
    )  # fmt: skip
    await harness.deliver("workflow_run", harness.payload(still_red))

    assert not any(r.startswith("refs/heads/ci-fix/revert-") for r in harness.fake.repo(REPO).refs)
    [issue] = harness.fake.issues(REPO)
    [note] = [c.body for c in harness.fake.issue_comments(REPO, issue.number)]
    assert note.startswith(f"**No revert:** the culprit is {culprit}")
    assert "vat.py changed again after" in note and "the revert conflicts" in note


async def test_a_base_failure_the_app_never_saw_is_read_from_the_api(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await start(app_harness, tmp_path, "branch", [{"files": {"vat.py": FIXED}}])
    main = harness.fake.ref(REPO, "heads/main") or ""
    harness.failing_run(main, log=LOG)  # red before the app was installed: never delivered
    number, sha, _ = open_pull(harness)
    await harness.deliver(
        "workflow_run", harness.payload(harness.pull_request_run(sha, branch=BRANCH, log=LOG))
    )
    [loop] = await loops(harness)
    assert loop.state is LoopState.CANCELLED and loop.iteration == 0
    [comment] = [c.body for c in harness.fake.issue_comments(REPO, number)]
    assert "this failure is on `main` too, not caused by this pull request" in comment


async def test_a_different_failure_on_main_does_not_stop_the_pull_requests_fix(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await start(app_harness, tmp_path, "branch", [{"files": {"vat.py": FIXED}}])
    main = harness.fake.ref(REPO, "heads/main") or ""
    harness.failing_run(main, log=DE_LOG)
    number, sha, _ = open_pull(harness)
    await harness.deliver(
        "workflow_run", harness.payload(harness.pull_request_run(sha, branch=BRANCH, log=LOG))
    )
    [loop] = await loops(harness)
    assert loop.state is LoopState.AWAITING_CI and loop.pull_number == number
    assert harness.fake.issue_comments(REPO, number) == []


async def test_a_change_outside_the_pull_requests_diff_is_a_patch_in_the_review_body(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    notes = "# VAT\n\nRates by country.\n"
    harness = await app_harness(
        fixer_command=scripted_agent(
            tmp_path, [{"files": {"vat.py": FIXED, "NOTES.md": notes + "AT: 20 %\n"}}]
        )
    )
    harness.seed_repo({"vat.py": VAT, "NOTES.md": notes}, config="pull_requests: suggest\n")
    number, sha, _ = open_pull(harness)
    await harness.deliver(
        "workflow_run", harness.payload(harness.pull_request_run(sha, branch=BRANCH, log=LOG))
    )
    pull = harness.fake.pull(REPO, number).pull
    assert pull is not None
    [review] = pull.reviews
    assert [c.path for c in review.comments] == ["vat.py"]
    assert "**Not a suggestion:**" in review.body and "git apply" in review.body
    assert "+++ b/NOTES.md" in review.body and "+AT: 20 %" in review.body
    applied = harness.fake.apply_suggestions(REPO, number, review_id=review.id)
    assert applied["vat.py"] == FIXED.encode() and applied["NOTES.md"] == notes.encode()
