"""Markdown for the fix PR, the escalation issue and the check run."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from app.core.markdown import code_span, fence, redact_secrets
from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.fix.guard import GuardVerdict
from app.publish.render import (
    BODY_LIMIT,
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
    pr_escalation_comment,
    pr_title,
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
            ),
        ),
        total_cost_usd=0.73,
        state="succeeded",
        guard=GuardVerdict(True, (), 1, 2, 1),
        verify_command="ruff check .",
        verify_tail="All checks passed!",
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


def test_pr_title_names_tool_category_and_workflow():
    assert pr_title(summary()) == "ci-fix: repair ruff lint failure in CI"


def test_pr_body_has_diagnosis_iterations_evidence_commands_and_marker():
    body = pr_body(summary())
    assert "lint (`ruff`)" in body
    assert "E501 line too long" in body and "app/x.py:3:" in body
    assert "| 1 | `command` | `claude-sonnet-4-5` | $0.31 | `guard rejected` | — | — |" in body
    assert (
        "`cccccccccc`" in body
        and "[run](https://github.com/octo/widgets/actions/runs/4250)" in body
    )
    assert "adds the suppression" in body
    assert "Diff guard passed: 1 file(s), +2/-1 lines." in body
    assert "`ruff check .`" in body and "All checks passed!" in body
    assert "**Total cost:** $0.73" in body
    for command in ("/ci-fix retry", "/ci-fix stop", "/ci-fix status"):
        assert command in body
    assert body.rstrip().endswith(loop_marker("17"))
    assert loop_marker("17") == "<!-- ci-fix-loop:loop=17 -->"


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
    assert (
        escalation_title(s) == "CI Fix Loop: lint failure in CI on main needs manual intervention"
    )
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
