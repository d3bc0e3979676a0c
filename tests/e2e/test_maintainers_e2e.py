"""Maintainer commands end to end: real ``issue_comment`` deliveries into the running app.

Each test drives a real loop first (failing run, scripted agent, fix PR or escalation
issue), then comments on that PR or issue as GitHub would deliver it, and checks what
the fake GitHub and the store saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.admin.commands import Command as ParsedCommand
from app.admin.commands import refusal_text
from app.store.records import Loop, LoopState
from tests.fakes.github import bodies
from tests.fakes.github.models import Comment
from tests.harness import INSTALLATION_ID, REPO, Harness, HarnessFactory
from tests.scenarios import CALC, TEST_CALC, only_loop, pytest_log, scripted_agent
from tests.webhooks import load_payload

FIXED = {"files": {"calc.py": "def add(a, b):\n    return a + b\n"}, "cost": 0.10}
GIVE_UP = {"files": {}, "say": "ESCALATE: the test expects a business rule I cannot infer"}


async def loop_in(harness: Harness) -> Loop:
    """Seed the repository, fail its CI and let the app work: the loop it opened."""
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))
    return await only_loop(harness)


def comment_on(
    harness: Harness, number: int, body: str, *, login: str, sender_type: str = "User"
) -> dict[str, Any]:
    """The ``issue_comment.created`` delivery for a new comment on issue/PR ``number``.

    The comment is also created in the fake GitHub (so reacting to it works), as
    GitHub creates the comment before it sends the webhook.
    """
    fake = harness.fake
    now = fake.clock()
    comment = Comment(fake.new_id(), REPO, number, body, login, now, now)
    fake.comments[comment.id] = comment
    payload = load_payload("issue_comment", "created.1")
    payload["repository"] = bodies.repository(fake, fake.repo(REPO))
    payload["issue"] = {**payload["issue"], "number": number}
    payload["comment"] = {**payload["comment"], "id": comment.id, "body": body}
    payload["comment"]["user"] = {**payload["comment"]["user"], "login": login}
    payload["sender"] = {**payload["sender"], "login": login, "type": sender_type}
    payload["installation"] = {"id": INSTALLATION_ID, "node_id": f"I_{INSTALLATION_ID}"}
    return payload


def writes(harness: Harness) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in harness.fake.requests if r.method != "GET"]


def replies(harness: Harness, number: int) -> list[str]:
    return [c.body for c in harness.fake.issue_comments(REPO, number) if c.user.endswith("[bot]")]


async def awaiting_ci_loop(app_harness: HarnessFactory, tmp_path: Path) -> tuple[Harness, Loop]:
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, [FIXED]))
    loop = await loop_in(harness)
    assert loop.state is LoopState.AWAITING_CI
    assert loop.pr_number is not None
    return harness, loop


async def test_stop_from_a_writer_cancels_the_loop_reacts_and_replies(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, loop = await awaiting_ci_loop(app_harness, tmp_path)
    harness.fake.set_permission(REPO, "maya", "write")
    payload = comment_on(harness, loop.pr_number, "Thanks, but no.\n/ci-fix stop", login="maya")

    await harness.deliver("issue_comment", payload)

    stopped = await only_loop(harness)
    assert stopped.state is LoopState.CANCELLED
    assert stopped.reason == "Stopped by @maya"
    reactions = harness.fake.comments[payload["comment"]["id"]].reactions
    assert [(r.content, r.user) for r in reactions] == [("+1", harness.fake.bot_login)]
    closing, reply = replies(harness, loop.pr_number)
    assert closing.startswith("The CI Fix Loop was stopped, so this pull request is closed")
    assert "Stopped by @maya" in closing
    assert reply == f"Stopped loop {loop.id}. The app will not push or comment for it again."
    [pull] = harness.fake.pulls(REPO)
    assert pull.state == "closed"
    [check] = harness.fake.check_runs(REPO)
    assert check.conclusion == "neutral"


async def test_stop_from_a_reader_is_refused_politely_and_the_loop_is_untouched(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, loop = await awaiting_ci_loop(app_harness, tmp_path)
    harness.fake.set_permission(REPO, "rita", "read")
    payload = comment_on(harness, loop.pr_number, "/ci-fix stop", login="rita")
    before = writes(harness)

    await harness.deliver("issue_comment", payload)

    assert (await only_loop(harness)).state is LoopState.AWAITING_CI
    assert replies(harness, loop.pr_number) == [refusal_text("rita", ParsedCommand("stop"))]
    assert harness.fake.comments[payload["comment"]["id"]].reactions == []
    new_writes = writes(harness)[len(before) :]
    assert [method for method, _ in new_writes] == ["POST"]  # the reply, nothing else


async def test_command_from_a_bot_is_ignored_without_any_api_call(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, loop = await awaiting_ci_loop(app_harness, tmp_path)
    harness.fake.set_permission(REPO, "helper-bot[bot]", "admin")
    for login, kind in (("helper-bot[bot]", "Bot"), ("renovate", "Bot")):
        payload = comment_on(harness, loop.pr_number, "/ci-fix stop", login=login, sender_type=kind)
        seen = len(harness.fake.requests)
        await harness.deliver("issue_comment", payload)
        assert harness.fake.requests[seen:] == []
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI


async def test_status_replies_with_the_loop_state_and_iterations(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, loop = await awaiting_ci_loop(app_harness, tmp_path)
    harness.fake.set_permission(REPO, "maya", "maintain")

    await harness.deliver(
        "issue_comment", comment_on(harness, loop.pr_number, "/ci-fix status", login="maya")
    )

    [reply] = replies(harness, loop.pr_number)
    assert f"**Loop {loop.id}**: `awaiting_ci`" in reply
    assert "- iterations: 1, spend: $0.10" in reply
    assert "  - #1: published, $0.10" in reply
    assert "- category: test" in reply
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI


async def test_retry_on_an_escalated_loop_requeues_it_and_a_new_iteration_runs(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, [GIVE_UP, FIXED]))
    escalated = await loop_in(harness)
    assert escalated.state is LoopState.ESCALATED
    assert escalated.issue_number is not None
    assert escalated.pr_number is None
    harness.fake.set_permission(REPO, "maya", "admin")

    payload = comment_on(harness, escalated.issue_number, "/ci-fix retry", login="maya")
    await harness.deliver("issue_comment", payload)

    retried = await only_loop(harness)
    assert retried.state is LoopState.AWAITING_CI
    assert retried.iteration == 2
    assert retried.iteration_base == 1
    assert retried.reason is None
    assert harness.fake.ref(REPO, f"heads/{retried.fix_branch}") == retried.fix_sha
    assert (
        harness.fake.read_tree(REPO, retried.fix_sha)["calc.py"]
        == FIXED["files"]["calc.py"].encode()
    )
    assert len(harness.fake.pulls(REPO)) == 1
    iterations = await harness.ctx.store.iterations(retried.id)
    assert [i.status for i in iterations] == ["failed", "published"]
    assert replies(harness, escalated.issue_number)[-1] == (
        f"Retrying loop {retried.id} with a fresh set of iterations, as @maya asked."
    )
    kinds = [event.kind for event in await harness.ctx.store.events(retried.id)]
    iterations_at = [i for i, kind in enumerate(kinds) if kind == "iteration"]
    assert iterations_at[0] < kinds.index("retry") < iterations_at[1]


async def test_retry_on_a_loop_still_running_is_declined(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, loop = await awaiting_ci_loop(app_harness, tmp_path)
    harness.fake.set_permission(REPO, "maya", "write")
    await harness.deliver(
        "issue_comment", comment_on(harness, loop.pr_number, "/ci-fix retry", login="maya")
    )
    [reply] = replies(harness, loop.pr_number)
    assert "only a loop that ended without a fix (exhausted or escalated) can be retried" in reply
    assert (await only_loop(harness)).iteration == 1


async def test_unknown_subcommand_gets_the_help_text(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, loop = await awaiting_ci_loop(app_harness, tmp_path)
    harness.fake.set_permission(REPO, "maya", "write")
    await harness.deliver(
        "issue_comment", comment_on(harness, loop.pr_number, "/ci-fix frobnicate", login="maya")
    )
    [reply] = replies(harness, loop.pr_number)
    assert reply.startswith("I don't know the command `frobnicate`.")
    for name in ("retry", "stop", "status", "help"):
        assert f"`/ci-fix {name}`" in reply
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI


async def test_quoted_or_fenced_commands_do_nothing(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, loop = await awaiting_ci_loop(app_harness, tmp_path)
    harness.fake.set_permission(REPO, "maya", "admin")
    bodies = [
        "> /ci-fix stop\n\nWhy would we stop it?",
        "To stop it, write:\n\n```\n/ci-fix stop\n```\n",
        "    /ci-fix stop",
        "Use `/ci-fix stop` at the start of a line.",
    ]
    for body in bodies:
        seen = len(harness.fake.requests)
        await harness.deliver(
            "issue_comment", comment_on(harness, loop.pr_number, body, login="maya")
        )
        assert harness.fake.requests[seen:] == [], body
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI
    assert replies(harness, loop.pr_number) == []


async def test_command_on_an_unrelated_issue_says_no_loop_is_attached(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness, _ = await awaiting_ci_loop(app_harness, tmp_path)
    harness.fake.set_permission(REPO, "maya", "write")
    issue = await harness.ctx.clients.for_installation(INSTALLATION_ID).post(
        f"/repos/{REPO}/issues", data={"title": "Unrelated"}
    )
    await harness.deliver(
        "issue_comment", comment_on(harness, issue["number"], "/ci-fix stop", login="maya")
    )
    assert replies(harness, issue["number"]) == [
        "There is no ci-fix-loop run attached to this conversation."
    ]
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI
