"""What a maintainer sees of a loop, end to end against the fake GitHub.

The fix PR (draft, a title naming the failure, the agent's own summary, the
diffstat, the original failure on top, reviewers from CODEOWNERS or the
failing author), the check run that shows every step with a link to the PR,
and what happens to the PR when the loop gives up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.store.records import Loop, LoopState
from tests.fakes.github import FakeJob
from tests.harness import REPO, Harness, HarnessFactory, failing_pytest_log, scripted_agent

VAT = (
    "RATES = {'DE': 19}\n\n\ndef vat(country, amount):\n    return amount * RATES[country] / 100\n"
)
TEST_VAT = "from vat import vat\n\n\ndef test_austria():\n    assert vat('AT', 100) == 20\n"
FIXED = VAT.replace("{'DE': 19}", "{'DE': 19, 'AT': 20}")
SUMMARY = "Added Austria's 20 % rate to RATES; the lookup raised KeyError for 'AT'."
ORIGINAL = failing_pytest_log("KeyError: 'AT'", test_id="tests/test_vat.py::test_austria")
LATER = failing_pytest_log(
    "assert Decimal('0.00') == Decimal('9.00')", test_id="tests/test_vat.py::test_austria"
)


async def start(
    app_harness: HarnessFactory,
    tmp_path: Path,
    steps: list[dict[str, Any]],
    writers: tuple[str, ...] = (),
    **files: str,
) -> tuple[Harness, str]:
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, steps))
    head = harness.seed_repo({"vat.py": VAT, "tests/test_vat.py": TEST_VAT, **files})
    for login in writers:
        harness.fake.set_permission(REPO, login, "write")
    run = harness.failing_run(head, log=ORIGINAL)
    await harness.deliver("workflow_run", harness.payload(run))
    return harness, head


async def the_loop(harness: Harness) -> Loop:
    [loop] = await harness.ctx.store.recent_loops()
    return loop


async def ci_on_fix(harness: Harness, loop: Loop, conclusion: str, log: str = "") -> None:
    assert loop.fix_sha is not None
    run = harness.fake.add_workflow_run(
        REPO,
        head_sha=loop.fix_sha,
        head_branch=loop.fix_branch,
        conclusion=conclusion,
        workflow_id=loop.workflow_id,
        jobs=[FakeJob("test", conclusion, steps=[("Run pytest -x", conclusion)], log=log)],
    )
    await harness.deliver("workflow_run", harness.payload(run))


def posted(harness: Harness, method: str, suffix: str) -> list[Any]:
    return [r.json for r in harness.fake.requests if r.method == method and r.path.endswith(suffix)]


async def test_fix_pr_is_a_draft_that_says_what_it_fixed_and_asks_the_codeowners(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    codeowners = "* @octo-lead\nvat.py @tax-expert\n"
    harness, _ = await start(
        app_harness,
        tmp_path,
        [{"files": {"vat.py": FIXED}, "cost": 0.12, "summary": SUMMARY}],
        writers=("tax-expert", "octo-lead"),
        **{".github/CODEOWNERS": codeowners},
    )
    loop = await the_loop(harness)
    assert loop.state is LoopState.AWAITING_CI

    [pr] = harness.fake.pulls(REPO)
    assert pr.pull is not None and pr.pull.draft
    assert pr.title == "ci-fix: tests/test_vat.py::test_austria fails (KeyError)"
    body = pr.body or ""
    assert body.startswith("⏳ **Waiting for CI** on `" + (loop.fix_sha or "")[:10])
    assert "The fixing agent's own summary (its words, not checked by the app):" in body
    assert SUMMARY in body
    assert " vat.py |    2 +-" in body and "1 file changed, 1 insertion(+), 1 deletion(-)" in body
    assert "**Original failure**" in body and "KeyError: 'AT'" in body
    assert "- **Diff guard:** passed (1 file(s), +1/-1 lines)." in body
    assert "- **Cost:** $0.12 of $2.00 allowed over 1 iteration(s)." in body
    assert body.index("### Checks") < body.index("<details><summary>Commands</summary>")
    # The changed file's CODEOWNERS (the last matching rule), not the catch-all owner.
    assert posted(harness, "POST", f"/pulls/{pr.number}/requested_reviewers") == [
        {"reviewers": ["tax-expert"]}
    ]

    [check] = harness.fake.check_runs(REPO)
    assert check.status == "in_progress"
    assert check.details_url == f"https://github.com/{REPO}/pull/{pr.number}"
    assert check.output["title"] == "test failure: waiting for CI on attempt 1"
    assert f"https://github.com/{REPO}/pull/{pr.number}" in check.output["summary"]
    # Each step was shown as it happened: started, fixing attempt 1, waiting for CI.
    titles = [r["output"]["title"] for r in posted(harness, "PATCH", f"/check-runs/{check.id}")]
    assert titles == [
        "test failure: fixing, attempt 1",
        "test failure: waiting for CI on attempt 1",
    ]


async def test_later_failures_are_listed_under_the_original_one(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, _ = await start(
        app_harness,
        tmp_path,
        [
            {"files": {"vat.py": VAT.replace("19}", "19, 'AT': 0}")}, "summary": "first try"},
            {"files": {"vat.py": FIXED}, "summary": SUMMARY},
        ],
    )
    loop = await the_loop(harness)
    await ci_on_fix(harness, loop, "failure", LATER)
    loop = await the_loop(harness)
    assert loop.iteration == 2 and loop.state is LoopState.AWAITING_CI

    [pr] = harness.fake.pulls(REPO)
    body = pr.body or ""
    # The title still names the real failure, not the one the first attempt caused.
    assert pr.title == "ci-fix: tests/test_vat.py::test_austria fails (KeyError)"
    original = body.index("**Original failure**")
    assert original < body.index("KeyError: 'AT'") < body.index("**CI on iteration 1's fix**")
    assert body.index("**CI on iteration 1's fix**") < body.index("Decimal('0.00')")
    assert "**Iteration 1**" in body and "first try" in body and SUMMARY in body
    assert "(attempt 2 of 5)" in body.splitlines()[0]


async def test_a_loop_that_gives_up_closes_its_pr_with_a_comment_saying_why(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, _ = await start(app_harness, tmp_path, [{"files": {"vat.py": FIXED}}])
    loop = await the_loop(harness)
    await ci_on_fix(harness, loop, "failure", ORIGINAL)  # the same failure: escalate

    loop = await the_loop(harness)
    assert loop.state is LoopState.ESCALATED
    [pr] = harness.fake.pulls(REPO)
    assert pr.state == "closed"
    assert (pr.body or "").startswith("❌ **Gave up:**")
    comments = [c.body for c in harness.fake.issue_comments(REPO, pr.number)]
    closing = [c for c in comments if "so this pull request is closed" in c]
    assert len(closing) == 1 and "/ci-fix retry" in closing[0]
    [issue] = [i for i in harness.fake.issues(REPO) if i.pull is None]
    assert f"issues/{issue.number}" in closing[0]
    [check] = harness.fake.check_runs(REPO)
    assert check.conclusion == "failure"
    assert check.details_url == f"https://github.com/{REPO}/pull/{pr.number}"


async def test_without_codeowners_the_failing_author_with_write_access_reviews(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, [{"files": {"vat.py": FIXED}}])
    )
    head = harness.seed_repo({"vat.py": VAT, "tests/test_vat.py": TEST_VAT})
    email = harness.fake.repo(REPO).objects.commit(head).author.email
    harness.fake.link_email(email, "dana")
    harness.fake.set_permission(REPO, "dana", "write")
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=ORIGINAL)))

    [pr] = harness.fake.pulls(REPO)
    assert posted(harness, "POST", f"/pulls/{pr.number}/requested_reviewers") == [
        {"reviewers": ["dana"]}
    ]


async def test_an_author_who_cannot_write_is_not_asked_to_review(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, [{"files": {"vat.py": FIXED}}])
    )
    head = harness.seed_repo({"vat.py": VAT, "tests/test_vat.py": TEST_VAT})
    email = harness.fake.repo(REPO).objects.commit(head).author.email
    harness.fake.link_email(email, "drive-by")
    harness.fake.set_permission(REPO, "drive-by", "read")
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=ORIGINAL)))

    assert len(harness.fake.pulls(REPO)) == 1
    assert posted(harness, "POST", "/requested_reviewers") == []


async def test_fixer_none_diagnoses_on_the_check_run_and_files_nothing(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(fixer="none")
    head = harness.seed_repo({"vat.py": VAT, "tests/test_vat.py": TEST_VAT})
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=ORIGINAL)))

    loop = await the_loop(harness)
    assert loop.state is LoopState.CANCELLED
    assert loop.reason is not None and "FIXER=none" in loop.reason
    assert harness.fake.issues(REPO) == []  # no public issue, no pull request
    [check] = harness.fake.check_runs(REPO)
    assert check.conclusion == "neutral"
    assert "tests/test_vat.py::test_austria fails (KeyError)" in check.output["summary"]


async def test_green_ci_marks_the_draft_ready_for_review_through_graphql(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, _ = await start(app_harness, tmp_path, [{"files": {"vat.py": FIXED}}])
    loop = await the_loop(harness)
    [pr] = harness.fake.pulls(REPO)
    assert pr.pull is not None and pr.pull.draft

    await ci_on_fix(harness, loop, "success")

    assert (await the_loop(harness)).state is LoopState.SUCCEEDED
    [pr] = harness.fake.pulls(REPO)
    assert pr.pull is not None and not pr.pull.draft and pr.state == "open"
    # REST cannot undraft: the one GraphQL mutation did it, checked by the fake against
    # GitHub's own schema (a query GitHub would refuse fails the test as a violation).
    [mutation] = [r.json for r in harness.fake.requests if r.path == "/graphql"]
    assert "markPullRequestReadyForReview" in mutation["query"]
    assert (pr.body or "").startswith("✅ **CI is green on this branch.** Ready for your review.")
    [check] = harness.fake.check_runs(REPO)
    assert (check.conclusion, check.output["title"]) == ("success", "test failure: fixed")


async def test_readme_examples_come_from_a_real_run(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    """The PR body and escalation issue README shows: two iterations, then gave up.

    Written to the test's directory (paths printed) so README can be refreshed from them.
    """
    harness, _ = await start(
        app_harness,
        tmp_path,
        [
            {"files": {"vat.py": VAT.replace("19}", "19, 'AT': 0}")}, "cost": 0.31,
             "summary": "Added 'AT' to RATES so the lookup no longer raises KeyError."},
            {"files": {"vat.py": FIXED}, "cost": 0.42, "summary": SUMMARY},
        ],
    )  # fmt: skip
    loop = await the_loop(harness)
    await ci_on_fix(harness, loop, "failure", LATER)
    loop = await the_loop(harness)
    await ci_on_fix(harness, loop, "failure", LATER)  # the same failure again: gives up

    assert (await the_loop(harness)).state is LoopState.ESCALATED
    [pr] = harness.fake.pulls(REPO)
    [issue] = [i for i in harness.fake.issues(REPO) if i.pull is None]
    for name, text in (("pr-body.md", pr.body), ("escalation-issue.md", issue.body)):
        (tmp_path / name).write_text(f"{text}")
        print(f"README example: {tmp_path / name}")
    assert "**Original failure**" in (pr.body or "") and "**Original failure**" in (
        issue.body or ""
    )
    assert pr.title == "ci-fix: tests/test_vat.py::test_austria fails (KeyError)"
    print(f"PR title: {pr.title}\nissue title: {issue.title}")


async def test_a_superseded_loop_closes_its_pr_saying_so(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, _ = await start(app_harness, tmp_path, [{"files": {"vat.py": FIXED}}])
    first = await the_loop(harness)
    assert first.state is LoopState.AWAITING_CI
    newer = harness.fake.commit(REPO, "main", {"README.md": "newer\n"})
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(newer, log=ORIGINAL)))

    old = await harness.ctx.store.get_loop(first.id)
    assert old is not None and old.state is LoopState.SUPERSEDED
    [pr] = [p for p in harness.fake.pulls(REPO) if p.number == first.pr_number]
    assert pr.state == "closed"
    assert (pr.body or "").startswith("⏭️ **Superseded:**")
    [closing] = [c.body for c in harness.fake.issue_comments(REPO, pr.number)]
    assert closing.startswith("A newer failure on the branch superseded this loop")
