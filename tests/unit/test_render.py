"""Markdown for the fix PR, the escalation issue and the check run."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from app.core.markdown import code_span, fence, redact_secrets
from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.publish.render import (
    BODY_LIMIT,
    FailureSummary,
    FileStat,
    GuardSummary,
    IterationSummary,
    LoopSummary,
    check_summary,
    check_title,
    escalation_body,
    escalation_comment,
    escalation_marker,
    escalation_title,
    loop_marker,
    pr_body,
    pr_close_comment,
    pr_escalation_comment,
    pr_title,
    status_line,
)

HOSTILE = "```\n## Pwned\n@octocat please merge\n<!-- ci-fix-loop:loop=other -->"


def summary(**changes) -> LoopSummary:
    base = dict(
        loop_id="17",
        repo="octo/widgets",
        workflow_name="CI",
        workflow_id=991,
        branch="main",
        head_sha="b" * 40,
        run_id=4242,
        run_url="https://github.com/octo/widgets/actions/runs/4242",
        diagnosis=Diagnosis(
            category=Category.LINT,
            confidence=0.95,
            tool="ruff",
            key_lines=(KeyLine("E501 line too long", file="app/x.py", line=3),),
            failed_jobs=("lint",),
            excerpt="app/x.py:3:101: E501 line too long",
        ),
        iterations=(
            IterationSummary(
                1,
                "claude-sonnet-4-5",
                "command",
                0.31,
                "guard rejected",
                guard_reasons=("app/x.py:3 adds the suppression `# noqa`",),
            ),
            IterationSummary(
                2,
                "claude-sonnet-4-5",
                "command",
                0.42,
                "ci passed",
                fix_commit="c" * 40,
                ci_run_url="https://github.com/octo/widgets/actions/runs/4250",
                agent_summary="Wrapped the long line in app/x.py instead of silencing E501.",
                diffstat=(FileStat("app/x.py", 2, 1),),
                verify_ok=True,
            ),
        ),
        total_cost_usd=0.73,
        state="succeeded",
        guard=GuardSummary(True, (), 1, 2, 1),
        verify_command="ruff check .",
        verify_tail="All checks passed!",
        verify_ok=True,
    )
    base.update(changes)
    return LoopSummary(**base)


def outside_code(markdown: str) -> str:
    """The text of ``markdown`` with fenced blocks and code spans removed: what GitHub renders."""
    without_fences = re.sub(r"^(`{3,})[^\n]*\n.*?^\1$", "", markdown, flags=re.S | re.M)
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", without_fences)


def test_fence_and_code_span_cannot_be_closed_by_content():
    block = fence("a\n`````\nb")
    assert block.startswith("``````text\n") and block.endswith("\n``````")
    assert outside_code(block) == ""
    span = code_span("x`` y\nz")
    assert span == "```x`` y z```"
    assert outside_code(f"before {span} after") == "before  after"


def test_pr_title_names_the_failure_not_just_its_category():
    assert pr_title(summary()) == "ci-fix: ruff E501 in app/x.py:3"
    test = Diagnosis(
        category=Category.TEST,
        confidence=0.9,
        tool="pytest",
        key_lines=(
            KeyLine("E       KeyError: 'AT'", file="tests/test_vat.py", line=12),
            KeyLine("FAILED tests/test_vat.py::test_rate[AT] - KeyError: 'AT'"),
        ),
    )
    assert pr_title(summary(diagnosis=test)) == (
        "ci-fix: tests/test_vat.py::test_rate[AT] fails (KeyError)"
    )
    bare = Diagnosis(category=Category.BUILD, confidence=0.3)
    assert pr_title(summary(diagnosis=bare)) == "ci-fix: build failure in CI"


def test_title_of_hostile_key_lines_is_one_flat_line_without_mentions():
    d = Diagnosis(category=Category.LINT, confidence=0.5, key_lines=(KeyLine(HOSTILE, file="a`b"),))
    title = pr_title(summary(diagnosis=d))
    assert "\n" not in title and "`" not in title and "@octocat" not in title
    assert len(title) <= 140


def test_pr_body_reads_top_down_status_change_failure_checks_then_commands():
    body = pr_body(summary())
    order = [
        "✅ **CI is green on this branch.**",
        "## `ruff E501 in app/x.py:3`",
        "### What changed",
        "The fixing agent's own summary (its words, not checked by the app):",
        "Wrapped the long line",
        " app/x.py |    3 ++-",
        " 1 file changed, 2 insertions(+), 1 deletion(-)",
        "### The failure",
        "### Checks",
        "- **Diff guard:** passed (1 file(s), +2/-1 lines).",
        "- **Verified locally:** `ruff check .` passed.",
        "- **Cost:** $0.73 over 2 iteration(s).",
        "### Iterations",
        "<details><summary>Commands</summary>",
    ]
    positions = [body.index(text) for text in order]
    assert positions == sorted(positions), body
    assert "| 1 | `command` | `claude-sonnet-4-5` | $0.31 | `guard rejected` | — | — |" in body
    assert "All checks passed!" in body and "adds the suppression" in body
    for command in ("/ci-fix retry", "/ci-fix stop", "/ci-fix status"):
        assert command in body
    assert body.rstrip().endswith(loop_marker("17"))
    assert loop_marker("17") == "<!-- ci-fix-loop:loop=17 -->"


def test_original_failure_stays_on_top_with_later_failures_under_it():
    original = Diagnosis(
        category=Category.TEST, confidence=0.9, key_lines=(KeyLine("E   KeyError: 'AT'"),)
    )
    later = Diagnosis(
        category=Category.TEST,
        confidence=0.9,
        key_lines=(KeyLine("E   assert Decimal('0.00') == Decimal('9.00')"),),
    )
    s = summary(
        diagnosis=later,
        failures=(
            FailureSummary("Original failure", 4242, "https://g/runs/4242", original),
            FailureSummary("CI on iteration 1's fix", 4250, "https://g/runs/4250", later),
        ),
    )
    body = pr_body(s)
    assert body.index("**Original failure**") < body.index("KeyError: 'AT'")
    assert body.index("KeyError: 'AT'") < body.index("**CI on iteration 1's fix**")
    assert body.index("**CI on iteration 1's fix**") < body.index("Decimal('0.00')")
    assert pr_title(s) == "ci-fix: test failure (KeyError) in CI"
    assert "Decimal" not in pr_title(s)


def test_guard_test_changes_are_listed_for_the_reviewer():
    body = pr_body(summary(test_changes=("tests/test_x.py::test_new (added)",)))
    assert "### Test changes for the reviewer" in body
    assert "tests/test_x.py::test_new (added)" in body
    assert "Test changes" not in pr_body(summary())


def test_status_line_follows_the_loop():
    assert "Fixing:** attempt 2 of 5" in status_line(
        summary(state="fixing", iteration=2, max_iterations=5)
    )
    waiting = status_line(summary(state="awaiting_ci", iteration=1, fix_sha="d" * 40))
    assert "Waiting for CI** on `dddddddddd`" in waiting
    gave_up = status_line(summary(state="escalated", reason="budget", issue_url="https://x/i/3"))
    assert "Gave up:** `budget`" in gave_up and "https://x/i/3" in gave_up
    assert "Stopped:**" in status_line(summary(state="cancelled", reason="by @a"))


def test_close_comment_says_why():
    text = pr_close_comment(summary(state="superseded", reason="newer commit abc1234"))
    assert "superseded" in text and "newer commit abc1234" in text and "closed" in text
    text = pr_close_comment(summary(state="escalated", reason="r", issue_url="https://x/i/3"))
    assert "gave up" in text and "https://x/i/3" in text


def test_untrusted_text_stays_inside_code():
    d = Diagnosis(
        category=Category.TEST,
        confidence=0.5,
        key_lines=(KeyLine(HOSTILE),),
        failed_jobs=("job `x` @octocat",),
    )
    s = summary(diagnosis=d, branch="evil-->branch", reason=HOSTILE, verify_tail=HOSTILE)
    for body in (pr_body(s), escalation_body(s), escalation_comment(s), check_summary(s)):
        rendered = outside_code(body)
        assert "## Pwned" not in rendered
        assert "@octocat" not in rendered
        assert "ci-fix-loop:loop=other" not in rendered


def test_marker_cannot_be_closed_by_a_branch_name():
    marker = escalation_marker("octo/widgets", 991, "feat-->x <b>")
    assert marker.count("-->") == 1 and marker.endswith("-->")
    assert marker == (
        "<!-- ci-fix-loop:escalation repo=octo/widgets workflow=991 branch=feat--%3Ex%20%3Cb%3E -->"
    )


def test_escalation_issue_has_seed_fields_attempts_and_marker():
    s = summary(state="escalated", reason="Exhausted 5 iterations", pr_url="https://x/pull/9")
    assert escalation_title(s) == "CI Fix Loop: ruff E501 in app/x.py:3 on main needs a person"
    body = escalation_body(s)
    for field in (
        "**Repo:** octo/widgets",
        "[4242](https://github.com/octo/widgets/actions/runs/4242)",
        "**Category:** lint",
        "**Failed jobs:** `lint`",
        "Exhausted 5 iterations",
        "**Spent:** $0.73 over 2 attempt(s)",
        "E501 line too long",
        "Fix pull request: https://x/pull/9",
    ):
        assert field in body
    assert body.rstrip().endswith(escalation_marker("octo/widgets", 991, "main"))


def test_escalation_follow_up_comment_names_the_new_run():
    comment = escalation_comment(summary(run_id=5000, reason="same again"))
    assert "failed again" in comment and "[5000]" in comment and "same again" in comment
    assert "ci-fix-loop:escalation" not in comment


def test_pr_escalation_comment_links_the_issue():
    comment = pr_escalation_comment(summary(reason="budget"), "https://x/issues/3")
    assert "https://x/issues/3" in comment and "budget" in comment


def test_check_run_summary():
    s = summary(pr_url="https://x/pull/9")
    assert check_title(s) == "lint failure: fixed"
    assert check_title(summary(state="fixing", iteration=2)) == "lint failure: fixing, attempt 2"
    assert check_title(summary(state="awaiting_ci", iteration=1)) == (
        "lint failure: waiting for CI on attempt 1"
    )
    text = check_summary(s)
    assert "**Iterations:** 2" in text and "**Cost:** $0.73" in text
    assert "https://x/pull/9" in text
    escalated = summary(state="escalated", issue_url="https://x/issues/3", reason="r")
    assert check_title(escalated) == "lint failure: escalated"
    assert "https://x/issues/3" in check_summary(escalated)


def test_huge_evidence_is_bounded_and_marker_kept():
    huge = tuple(KeyLine("x" * 500) for _ in range(12))
    d = Diagnosis(category=Category.TEST, confidence=0.5, key_lines=huge)
    many = tuple(
        IterationSummary(i, "m", "f", 0.0, "failed", guard_reasons=("r" * 2000,) * 5)
        for i in range(1, 30)
    )
    s = summary(diagnosis=d, iterations=many, verify_tail="v" * 100_000)
    for body in (pr_body(s), escalation_body(s)):
        assert len(body) <= BODY_LIMIT + 200
        assert "ci-fix-loop:" in body.rstrip().splitlines()[-1]
    assert "v" * 3001 not in pr_body(s)


def test_truncation_never_cuts_inside_a_fence():
    # Untrusted text inside a fence may hold lines that look like section headings.
    heading_like = tuple(f"### not a heading {i} " + "h" * 200 for i in range(400))
    rejected = IterationSummary(1, "m", "f", 0.0, "guard rejected", guard_reasons=heading_like)
    s = summary(iterations=(rejected,), reason="\n".join(heading_like))
    for body in (pr_body(s), escalation_body(s), check_summary(s)):
        assert "_(Truncated.)_" in body
        before = body.split("_(Truncated.)_")[0]
        fence_lines = [line for line in before.splitlines() if line.startswith("```")]
        assert len(fence_lines) % 2 == 0, "the truncation note ended up inside a code block"


def test_secret_shaped_strings_are_redacted():
    token = "ghp_" + "Z" * 36
    assert redact_secrets(f"token={token}") == "token=[redacted]"
    s = summary(reason=f"leaked {token}", verify_tail=f"AKIAABCDEFGHIJKLMNOP {token}")
    for body in (pr_body(s), escalation_body(s), check_summary(s)):
        assert token not in body and "AKIAABCDEFGHIJKLMNOP" not in body


@given(st.text(alphabet=st.sampled_from("`~\n ab#<>-"), max_size=200))
def test_no_text_can_close_its_fence(text):
    block = fence(text)
    ticks = block.split("\n", 1)[0].removesuffix("text")
    inner = block.split("\n")[1:-1]
    assert not any(line.strip().startswith(ticks) for line in inner)
    assert block.endswith("\n" + ticks)


def test_limits_the_operator_lowered_are_shown_on_the_pr_and_the_check_run() -> None:
    note = (
        "budget.per_loop_usd: 1000 is above the operator's maximum (MAX_LOOP_BUDGET_USD=5); "
        "5 applies."
    )
    s = summary(limits_lowered=(note,))
    assert note in pr_body(s)
    assert note in check_summary(s)
    assert "Limits lowered" not in pr_body(summary())
