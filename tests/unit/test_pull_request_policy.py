"""Pull request modes, trunk first and the revert culprit: the pure decisions, and how a
verified fix is split into GitHub suggestions."""

from __future__ import annotations

from datetime import UTC, datetime

from app.config.schema import parse_repo_config
from app.intake.payloads import PullFacts
from app.loop.policy import (
    PullAction,
    Step,
    after_attempt,
    fails_like_base,
    find_culprit,
    head_moved,
    pull_request_action,
    revert_wanted,
)
from app.publish.suggestions import hunk_ranges, plan_suggestions
from app.store.records import NewLoop, fix_branch_for, pull_number_of
from tests.fakes.github.models import ReviewComment
from tests.fakes.github.suggestions import apply_suggestions

A, B, C = "a" * 40, "b" * 40, "c" * 40


def test_pull_requests_are_off_by_default_and_yaml_off_reads_as_off() -> None:
    assert parse_repo_config({}, source="x").pull_requests == "off"
    assert parse_repo_config({"pull_requests": False}, source="x").pull_requests == "off"
    assert parse_repo_config({"pull_requests": "branch"}, source="x").pull_requests == "branch"
    assert parse_repo_config({"on_give_up": "revert"}, source="x").on_give_up == "revert"


def test_branch_mode_never_writes_to_a_fork() -> None:
    assert pull_request_action("branch", same_repo=True).action is PullAction.BRANCH
    assert pull_request_action("branch", same_repo=False).action is PullAction.SUGGEST
    assert pull_request_action("suggest", same_repo=False).action is PullAction.SUGGEST
    assert pull_request_action("off", same_repo=True).action is PullAction.IGNORE
    assert pull_request_action("surprise", same_repo=True).action is PullAction.IGNORE


def test_a_moved_or_closed_head_supersedes_the_failure() -> None:
    assert head_moved(A, A) is None
    assert "moved to bbbbbbb" in (head_moved(A, B) or "")
    assert "closed" in (head_moved(A, None) or "")
    stale = after_attempt(escalate_reason="x", published=False, problem=None, stale="moved")
    assert stale.step is Step.SUPERSEDE
    suggested = after_attempt(escalate_reason=None, published=False, problem=None, suggested=True)
    assert suggested.step is Step.SUGGEST


def test_trunk_first_needs_a_failing_base_with_the_same_fingerprint() -> None:
    assert fails_like_base("fp1", ["fp1"], base_failing=True)
    assert not fails_like_base("fp1", ["fp2"], base_failing=True)
    assert not fails_like_base("fp1", ["fp1"], base_failing=False)
    assert not fails_like_base("", [""], base_failing=True)


def test_the_culprit_is_only_ever_one_certain_commit() -> None:
    assert find_culprit(last_green_sha=A, first_red_sha=B, commits=[(B, 1)]).sha == B
    assert find_culprit(last_green_sha=None, first_red_sha=B, commits=[(B, 1)]).sha is None
    several = find_culprit(last_green_sha=A, first_red_sha=C, commits=[(B, 1), (C, 1)])
    assert several.sha is None and "2 commits" in several.reason
    assert find_culprit(last_green_sha=A, first_red_sha=B, commits=[(B, 2)]).sha is None
    assert find_culprit(last_green_sha=A, first_red_sha=B, commits=[]).sha is None


def test_revert_only_on_the_default_branch_of_a_loop_that_gave_up_when_asked() -> None:
    ask = {"on_give_up": "revert", "default_branch": "main"}
    assert revert_wanted(branch="main", state="escalated", **ask)
    assert revert_wanted(branch="main", state="exhausted", **ask)
    assert not revert_wanted(branch="feature", state="escalated", **ask)
    assert not revert_wanted(branch="main", state="cancelled", **ask)
    assert not revert_wanted(
        on_give_up="escalate", default_branch="main", branch="main", state="escalated"
    )


def test_a_pull_request_loop_writes_only_its_own_ci_fix_branch() -> None:
    assert fix_branch_for(77, 12) == "ci-fix/pr-12-77"
    assert pull_number_of("ci-fix/pr-12-77", 77) == 12
    # Another run's name, or anything else stored, names no pull request.
    assert pull_number_of("ci-fix/pr-12-78", 77) is None
    assert pull_number_of("main", 77) is None
    new = NewLoop(1, "o/r", 1, "CI", "ci.yml", "feature", A, 77, 1, "u", pull_number=12)
    assert new.fix_branch == "ci-fix/pr-12-77"


def test_a_fork_branch_is_filed_under_owner_and_branch() -> None:
    fork = PullFacts(3, "main", A, "main", "outsider/widgets", same_repo=False)
    assert fork.loop_branch == "outsider:main"
    assert PullFacts.from_dict(fork.to_dict()) == fork


def _apply(files: dict[str, bytes], raws: list[dict[str, object]]) -> dict[str, bytes]:
    """The fake GitHub's "Commit suggestions" over the review comments the app would post."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)

    def line(value: object) -> int | None:
        return value if isinstance(value, int) else None

    comments = [
        ReviewComment(
            id=i,
            review_id=1,
            path=str(r["path"]),
            body=str(r["body"]),
            user="app",
            commit_id=A,
            diff_hunk="",
            created_at=moment,
            updated_at=moment,
            line=line(r["line"]),
            side="RIGHT",
            start_line=line(r.get("start_line")),
        )
        for i, r in enumerate(raws)
    ]
    return apply_suggestions(files, comments)


def test_suggestions_replace_insert_and_delete_lines_to_give_the_fix_exactly() -> None:
    before = b"one\ntwo\nthree\nfour\nfive\n"
    after = b"zero\none\n2\nthree\nfive\n"
    patch = "@@ -0,0 +1,5 @@\n+one\n+two\n+three\n+four\n+five"
    plan = plan_suggestions([("f.txt", before, after)], {"f.txt": patch})
    assert plan.outside == ""
    assert _apply({"f.txt": before}, [s.comment() for s in plan.suggestions]) == {"f.txt": after}


def test_changes_outside_the_pull_requests_diff_go_into_a_patch() -> None:
    before = b"a\nb\nc\nd\ne\nf\n"
    after = b"a\nb\nc\nd\ne\nF\n"
    plan = plan_suggestions(
        [("f.txt", before, after), ("new.txt", None, b"x\n")],
        {"f.txt": "@@ -1,2 +1,2 @@\n-A\n+a\n b"},
    )
    assert plan.suggestions == ()
    assert "-f\n+F\n" in plan.outside and "+++ b/new.txt" in plan.outside
    assert hunk_ranges("@@ -1,2 +1,2 @@\n x\n@@ -9 +10,3 @@\n y") == [(1, 2), (10, 12)]


def test_a_suggestion_holding_backticks_gets_a_longer_fence() -> None:
    before = b"x = 1\n"
    after = b"doc = '```'\n"
    plan = plan_suggestions([("f.py", before, after)], {"f.py": "@@ -1 +1 @@\n-y\n+x = 1"})
    [suggestion] = plan.suggestions
    assert str(suggestion.comment()["body"]).startswith("````suggestion\n")
    assert _apply({"f.py": before}, [suggestion.comment()]) == {"f.py": after}
