"""Markdown for the fix pull request, the escalation issue and the check run.

Everything here is pure: data in, text out.  Much of what is shown is
untrusted (log lines, job and branch names, the agent's escalation reason),
so such text only ever appears inside a code fence or code span that the text
itself cannot close; inside code, GitHub neither renders markdown nor turns
``@name`` into a notification.  No token or secret is ever an input here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from app.core.markdown import code_span, fence, redact_secrets, tail
from app.diagnosis.model import Diagnosis, key_line_text
from app.fix.guard import GuardVerdict

# GitHub rejects bodies over 65,536 characters; leave room for the frame around a block.
BODY_LIMIT = 60_000
EVIDENCE_TAIL = 3_000
KEY_LINES_SHOWN = 12

LOOP_MARKER_PREFIX = "<!-- ci-fix-loop:loop="
ESCALATION_MARKER_PREFIX = "<!-- ci-fix-loop:escalation "


def _marker_value(value: str) -> str:
    # Branch names may contain ">" and "-", which could close an HTML comment.
    return quote(value, safe="/._-@+")


def loop_marker(loop_id: str) -> str:
    return f"{LOOP_MARKER_PREFIX}{_marker_value(str(loop_id))} -->"


def escalation_marker(repo: str, workflow_id: int, branch: str) -> str:
    """Identifies "the open escalation for this workflow on this branch" across loops."""
    return (
        f"{ESCALATION_MARKER_PREFIX}repo={_marker_value(repo)} "
        f"workflow={workflow_id} branch={_marker_value(branch)} -->"
    )


@dataclass(frozen=True)
class IterationSummary:
    """One fix attempt as the PR and the issue report it."""

    n: int
    model: str
    fixer: str
    cost_usd: float
    outcome: str
    fix_commit: str | None = None
    ci_run_url: str | None = None
    guard_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoopSummary:
    """What a loop did, for people: everything the PR, issue and check run show.

    ``verify_tail`` is the end of the last local verification's output and
    ``guard`` the last guard verdict; both are evidence that the change was checked.
    """

    loop_id: str
    repo: str
    workflow_name: str
    workflow_id: int
    branch: str
    head_sha: str
    run_id: int
    run_url: str
    diagnosis: Diagnosis
    iterations: Sequence[IterationSummary] = ()
    total_cost_usd: float = 0.0
    state: str = ""
    reason: str | None = None
    pr_url: str | None = None
    issue_url: str | None = None
    guard: GuardVerdict | None = None
    verify_command: str | None = None
    verify_tail: str = ""
    limits_lowered: tuple[str, ...] = ()
    test_changes: tuple[str, ...] = ()


def _money(usd: float) -> str:
    return f"${usd:.2f}"


def _category(d: Diagnosis) -> str:
    return f"{d.category.value} ({code_span(d.tool)})" if d.tool else d.category.value


def _jobs(d: Diagnosis) -> str:
    return ", ".join(code_span(j) for j in d.failed_jobs) or "(unknown)"


def _key_lines_block(d: Diagnosis) -> list[str]:
    if not d.key_lines:
        return []
    lines = "\n".join(key_line_text(k) for k in d.key_lines[:KEY_LINES_SHOWN])
    return ["### Key log lines", "", fence(redact_secrets(lines)), ""]


def _iterations_table(items: Sequence[IterationSummary]) -> list[str]:
    if not items:
        return []
    rows = [
        "| # | Fixer | Model | Cost | Outcome | Commit | CI run |",
        "|---|---|---|---|---|---|---|",
    ]
    for it in items:
        commit = f"`{it.fix_commit[:10]}`" if it.fix_commit else "—"
        run = f"[run]({it.ci_run_url})" if it.ci_run_url else "—"
        outcome = code_span(it.outcome).replace("|", "\\|")
        rows.append(
            f"| {it.n} | {code_span(it.fixer)} | {code_span(it.model)} | "
            f"{_money(it.cost_usd)} | {outcome} | {commit} | {run} |"
        )
    return ["### Iterations", "", *rows, ""]


def _guard_rejections(items: Sequence[IterationSummary]) -> list[str]:
    rejected = [it for it in items if it.guard_reasons]
    if not rejected:
        return []
    out = ["### Changes the diff guard rejected", ""]
    for it in rejected:
        out += [f"Iteration {it.n}:", "", fence("\n".join(it.guard_reasons)), ""]
    return out


def _test_changes(s: LoopSummary) -> list[str]:
    """Every test the published fix added, changed, moved or renamed, for the reviewer."""
    if not s.test_changes:
        return []
    items = "\n".join(s.test_changes[:50])
    more = [f"_({len(s.test_changes) - 50} more.)_", ""] if len(s.test_changes) > 50 else []
    return [
        "### Test changes for the reviewer",
        "",
        "The diff guard allowed these changes to tests; check they keep what the tests mean.",
        "",
        fence(items),
        "",
        *more,
    ]


def _evidence(s: LoopSummary) -> list[str]:
    out = []
    if s.guard is not None:
        verdict = "passed" if s.guard.ok else "rejected"
        out.append(
            f"- Diff guard {verdict}: {s.guard.files_changed} file(s), "
            f"+{s.guard.lines_added}/-{s.guard.lines_removed} lines."
        )
    if s.verify_command:
        out.append(f"- Verified locally with {code_span(s.verify_command)}.")
    if not out and not s.verify_tail:
        return []
    out = ["### Evidence", "", *out, ""]
    if s.verify_tail:
        out += [
            "<details><summary>Verification output (tail)</summary>",
            "",
            fence(redact_secrets(tail(s.verify_tail, EVIDENCE_TAIL))),
            "",
            "</details>",
            "",
        ]
    return out


def _assemble(parts: list[str], marker: str = "") -> str:
    """Join sections, dropping whole trailing sections if GitHub's size limit needs it.

    The cut falls between parts, never inside one: a fenced block is a single
    part, and a cut inside it would leave the fence open (untrusted text may
    itself hold lines that look like ``### `` headings).  The marker is always
    kept because finding the issue or PR again depends on it.
    """
    body = "\n".join(parts).rstrip()
    if len(body) > BODY_LIMIT:
        fits, size = 0, len(parts[0])
        while size <= BODY_LIMIT:
            fits += 1
            size += 1 + len(parts[fits])
        # parts[fits] is the first part that does not fit; cut before its section.
        cut = next((i for i in range(fits, 0, -1) if parts[i].startswith("### ")), fits)
        body = "\n".join(parts[:cut]).rstrip() + "\n\n_(Truncated.)_"
    return f"{body}\n\n{marker}\n" if marker else f"{body}\n"


def pr_title(s: LoopSummary) -> str:
    tool = f" {s.diagnosis.tool}" if s.diagnosis.tool else ""
    title = f"ci-fix: repair{tool} {s.diagnosis.category.value} failure in {s.workflow_name}"
    return " ".join(title.split())[:200]


def pr_body(s: LoopSummary) -> str:
    d = s.diagnosis
    head = [
        "## CI Fix Loop",
        "",
        f"This pull request repairs the failed run [{s.run_id}]({s.run_url}) of "
        f"{code_span(s.workflow_name)} on {code_span(s.branch)} at `{s.head_sha[:12]}`.",
        "",
        f"- **Category:** {_category(d)}",
        f"- **Failed jobs:** {_jobs(d)}",
        f"- **Total cost:** {_money(s.total_cost_usd)}",
        "",
    ]
    commands = [
        "### Commands",
        "",
        "Comment on this pull request:",
        "- `/ci-fix retry`: after the loop gave up, give it a fresh set of iterations.",
        "- `/ci-fix stop`: stop the loop; this pull request stays open for you.",
        "- `/ci-fix status`: report the loop's state.",
        "",
        "Review the change like any other: the app never merges it.",
    ]
    body = [
        *head,
        *commands,
        "",
        *_key_lines_block(d),
        *_iterations_table(s.iterations),
        *_test_changes(s),
        *_guard_rejections(s.iterations),
        *_evidence(s),
    ]
    return _assemble(body, loop_marker(s.loop_id))


def escalation_title(s: LoopSummary) -> str:
    title = (
        f"CI Fix Loop: {s.diagnosis.category.value} failure in {s.workflow_name} "
        f"on {s.branch} needs manual intervention"
    )
    return " ".join(title.split())[:200]


def _attempts(s: LoopSummary) -> list[str]:
    out = [*_iterations_table(s.iterations), *_guard_rejections(s.iterations)]
    if s.pr_url:
        out += [f"Fix pull request: {s.pr_url}", ""]
    return out


def escalation_body(s: LoopSummary) -> str:
    d = s.diagnosis
    body = [
        "**CI Fix Loop Escalation**",
        "",
        f"- **Repo:** {s.repo}",
        f"- **Run:** [{s.run_id}]({s.run_url}) at `{s.head_sha[:12]}` on {code_span(s.branch)}",
        f"- **Workflow:** {code_span(s.workflow_name)}",
        f"- **Category:** {_category(d)}",
        f"- **Failed jobs:** {_jobs(d)}",
        f"- **Spent:** {_money(s.total_cost_usd)} over {len(s.iterations)} attempt(s)",
        "",
        "**Reason:**",
        "",
        fence(redact_secrets(s.reason or "(none given)")),
        "",
        "Later failures of this workflow on this branch are added here as comments "
        "while this issue is open.",
        "",
        "**What you can do:** fix it by hand and close this issue, or, once whatever "
        "stopped the loop is dealt with (a missing secret, a budget), comment "
        "`/ci-fix retry` here to give the loop a fresh set of iterations. "
        "`/ci-fix status` shows where it stands.",
        "",
        *_key_lines_block(d),
        *_attempts(s),
    ]
    return _assemble(body, escalation_marker(s.repo, s.workflow_id, s.branch))


def escalation_comment(s: LoopSummary) -> str:
    """A follow-up on an open escalation: the same workflow failed again."""
    d = s.diagnosis
    body = [
        f"The workflow failed again: run [{s.run_id}]({s.run_url}) at `{s.head_sha[:12]}` "
        f"({_category(d)}; failed jobs: {_jobs(d)}). "
        f"Spent {_money(s.total_cost_usd)} over {len(s.iterations)} attempt(s).",
        "",
        "**Reason:**",
        "",
        fence(redact_secrets(s.reason or "(none given)")),
        "",
        *_key_lines_block(d),
        *_attempts(s),
    ]
    return _assemble(body)


def pr_escalation_comment(s: LoopSummary, issue_url: str) -> str:
    """Tells the fix PR's readers that the loop gave up, and where it is tracked."""
    return (
        f"The CI Fix Loop stopped without a green run and escalated: {issue_url}\n\n"
        f"{fence(redact_secrets(s.reason or '(none given)'))}\n"
    )


def check_title(s: LoopSummary) -> str:
    verb = {"succeeded": "fixed", "escalated": "escalated"}.get(s.state, s.state or "running")
    return f"{s.diagnosis.category.value} failure: {verb}"[:200]


def check_summary(s: LoopSummary) -> str:
    lines = [
        f"- **Category:** {_category(s.diagnosis)}",
        f"- **Iterations:** {len(s.iterations)}",
        f"- **Cost:** {_money(s.total_cost_usd)}",
    ]
    if s.pr_url:
        lines.append(f"- **Pull request:** {s.pr_url}")
    if s.issue_url:
        lines.append(f"- **Escalation issue:** {s.issue_url}")
    if s.reason:
        lines += ["", fence(redact_secrets(s.reason))]
    if s.limits_lowered:
        lines += [
            "",
            "**Limits lowered to the operator's maximums** (`.github/ci-fix-loop.yml` asked "
            "for more):",
            "",
            fence("\n".join(s.limits_lowered)),
        ]
    return _assemble(lines)
