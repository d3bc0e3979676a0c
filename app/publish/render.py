"""Markdown for the fix pull request, the escalation issue and the check run.

Everything here is pure: data in, text out.  Much of what is shown is
untrusted (log lines, job and branch names, the agent's escalation reason),
so such text only ever appears inside a code fence or code span that the text
itself cannot close; inside code, GitHub neither renders markdown nor turns
``@name`` into a notification.  No token or secret is ever an input here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from app.core.markdown import code_span, fence, redact_secrets, tail
from app.diagnosis.model import Diagnosis, key_line_text

# GitHub rejects bodies over 65,536 characters; leave room for the frame around a block.
BODY_LIMIT = 60_000
EVIDENCE_TAIL = 3_000
AGENT_SUMMARY_LIMIT = 2_000
KEY_LINES_SHOWN = 12
# In the failure history: the original in some detail, each later one in brief.
ORIGINAL_LINES_SHOWN = 6
LATER_LINES_SHOWN = 3

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
class FileStat:
    """One file of a change: how many lines it gained and lost (``git diff --stat``)."""

    path: str
    added: int
    removed: int


@dataclass(frozen=True)
class FailureSummary:
    """One failure the loop saw: the run it started from, or CI on one of its fix commits.

    ``label`` says which (``Original failure``, ``CI on iteration 1's commit``);
    the original stays first in every body, later ones are listed under it.
    """

    label: str
    run_id: int
    run_url: str | None
    diagnosis: Diagnosis


@dataclass(frozen=True)
class GuardSummary:
    """The diff guard's verdict on the last change, as the reader of a PR needs it."""

    ok: bool
    reasons: tuple[str, ...] = ()
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0


@dataclass(frozen=True)
class IterationSummary:
    """One fix attempt as the PR and the issue report it.

    ``agent_summary`` is the fixing agent's own account of its change (untrusted
    text: shown fenced and labelled as the agent's words); ``diffstat`` is what
    the app itself measured in the published diff.
    """

    n: int
    model: str
    fixer: str
    cost_usd: float
    outcome: str
    fix_commit: str | None = None
    ci_run_url: str | None = None
    guard_reasons: tuple[str, ...] = ()
    agent_summary: str | None = None
    diffstat: tuple[FileStat, ...] = ()
    verify_ok: bool | None = None


@dataclass(frozen=True)
class LoopSummary:
    """What a loop did, for people: everything the PR, issue and check run show.

    ``diagnosis`` is the failure being worked on now; ``failures`` the history,
    the original run's first.  ``verify_tail`` is the end of the last local
    verification's output and ``guard`` the last guard verdict; both are
    evidence that the change was checked.
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
    guard: GuardSummary | None = None
    verify_command: str | None = None
    verify_tail: str = ""
    verify_ok: bool | None = None
    failures: Sequence[FailureSummary] = ()
    iteration: int = 0
    max_iterations: int | None = None
    fix_sha: str | None = None
    budget_per_loop_usd: float | None = None
    limits_lowered: tuple[str, ...] = ()
    test_changes: tuple[str, ...] = ()

    @property
    def original(self) -> Diagnosis:
        """The failure the loop was opened for (what the PR title names)."""
        return self.failures[0].diagnosis if self.failures else self.diagnosis


def _money(usd: float) -> str:
    return f"${usd:.2f}"


def _category(d: Diagnosis) -> str:
    return f"{d.category.value} ({code_span(d.tool)})" if d.tool else d.category.value


def _jobs(d: Diagnosis) -> str:
    return ", ".join(code_span(j) for j in d.failed_jobs) or "(unknown)"


def _key_lines_block(d: Diagnosis, heading: str = "### Key log lines") -> list[str]:
    if not d.key_lines:
        return []
    lines = "\n".join(key_line_text(k) for k in d.key_lines[:KEY_LINES_SHOWN])
    return [heading, "", fence(redact_secrets(lines)), ""]


# What names a failure in a title: a test id, an exception type, a rule code.
_TEST_ID = re.compile(
    r"(?:FAILED|FAIL|ERROR|failed:?)\s+([\w./\\-]+(?:::[\w\[\]./-]+)+|[\w./-]+\.(?:py|js|mjs|"
    r"cjs|ts|tsx|jsx|go|rs|rb|java|kt)\b(?:\s*>\s*[^\n>]{1,60})?)"
)
_ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Failure|Panic))\b")
_RULE_CODE = re.compile(r"\b((?:[A-Z]{1,4}\d{2,5})|(?:TS\d{4})|(?:E\d{4}))\b")
TITLE_LIMIT = 120


def _plain_title(text: str) -> str:
    """Untrusted text made safe for a title: one line, no mentions or code spans."""
    flat = " ".join(text.split()).replace("`", "'").replace("@", "@\u200b")
    return flat if len(flat) <= TITLE_LIMIT else flat[: TITLE_LIMIT - 1] + "…"


def failure_headline(d: Diagnosis, workflow_name: str) -> str:
    """The failure in a few words: the failing test, or the tool, rule and place.

    Examples: ``tests/test_calc.py::test_add fails (AssertionError)``,
    ``ruff E501 in app/x.py:3``, ``test failure in CI``.
    """
    texts = [k.text for k in d.key_lines]
    test_id = next((m.group(1) for t in texts if (m := _TEST_ID.search(t))), None)
    error = next((m.group(1) for t in texts if (m := _ERROR_NAME.search(t))), None)
    if d.category.value == "test" and test_id:
        return _plain_title(f"{test_id} fails" + (f" ({error})" if error else ""))
    located = next((k for k in d.key_lines if k.file), None)
    if located is not None:
        where = f"{located.file}:{located.line}" if located.line else str(located.file)
        code = _RULE_CODE.search(located.text)
        what = code.group(1) if code else (error or f"{d.category.value} error")
        tool = f"{d.tool} " if d.tool else ""
        return _plain_title(f"{tool}{what} in {where}")
    if error:
        return _plain_title(f"{d.category.value} failure ({error}) in {workflow_name}")
    tool = f" ({d.tool})" if d.tool else ""
    return _plain_title(f"{d.category.value} failure{tool} in {workflow_name}")


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


def diffstat_text(stats: Sequence[FileStat]) -> str:
    """``git diff --stat`` style: one line per file, then the totals."""
    width = max((len(f.path) for f in stats), default=0)
    lines = [
        f" {f.path.ljust(width)} | {f.added + f.removed:>4} {'+' * min(f.added, 30)}"
        f"{'-' * min(f.removed, 30)}"
        for f in stats
    ]
    added, removed = sum(f.added for f in stats), sum(f.removed for f in stats)
    lines.append(
        f" {len(stats)} file{'s' if len(stats) != 1 else ''} changed, "
        f"{added} insertion{'s' if added != 1 else ''}(+), "
        f"{removed} deletion{'s' if removed != 1 else ''}(-)"
    )
    return "\n".join(lines)


def _what_changed(s: LoopSummary) -> list[str]:
    """Per published iteration: the agent's own summary (labelled as such) and the diffstat."""
    published = [it for it in s.iterations if it.fix_commit]
    if not published:
        return []
    out = ["### What changed", ""]
    for it in published:
        if len(published) > 1:
            out += [f"**Iteration {it.n}** (`{(it.fix_commit or '')[:10]}`)", ""]
        if it.agent_summary:
            out += [
                "The fixing agent's own summary (its words, not checked by the app):",
                "",
                fence(redact_secrets(tail(it.agent_summary, AGENT_SUMMARY_LIMIT))),
                "",
            ]
        else:
            out += ["The fixing agent gave no summary of its change.", ""]
        if it.diffstat:
            out += ["Diffstat, as published:", "", fence(diffstat_text(it.diffstat)), ""]
    return out


def _failure_history(s: LoopSummary) -> list[str]:
    """The original failure first, then what CI said about each fix commit."""
    if not s.failures:
        return _key_lines_block(s.diagnosis, "### The failure")
    out = ["### The failure", ""]
    for index, failure in enumerate(s.failures):
        d = failure.diagnosis
        run = f"[{failure.run_id}]({failure.run_url})" if failure.run_url else str(failure.run_id)
        out += [f"**{failure.label}** (run {run}; {_category(d)}; jobs: {_jobs(d)}):", ""]
        shown = ORIGINAL_LINES_SHOWN if index == 0 else LATER_LINES_SHOWN
        lines = "\n".join(key_line_text(k) for k in d.key_lines[:shown])
        out += [fence(redact_secrets(lines or "(no key lines were found in the log)")), ""]
    return out


def _checks(s: LoopSummary) -> list[str]:
    """How the change was checked: the guard, local verification, and what it cost."""
    out = ["### Checks", ""]
    if s.guard is not None:
        g = s.guard
        verdict = "passed" if g.ok else "rejected the change"
        out.append(
            f"- **Diff guard:** {verdict} ({g.files_changed} file(s), "
            f"+{g.lines_added}/-{g.lines_removed} lines)."
        )
    if s.verify_command:
        result = {True: "passed", False: "failed", None: "ran"}[s.verify_ok]
        out.append(f"- **Verified locally:** {code_span(s.verify_command)} {result}.")
    else:
        out.append(
            "- **Verified locally:** no `verify` command is configured; CI is the only check."
        )
    budget = f" of {_money(s.budget_per_loop_usd)} allowed" if s.budget_per_loop_usd else ""
    out += [
        f"- **Cost:** {_money(s.total_cost_usd)}{budget} over {len(s.iterations)} iteration(s).",
        "",
    ]
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


def _assemble(parts: list[str], marker: str = "", keep_last: list[str] | None = None) -> str:
    """Join sections, dropping whole trailing sections if GitHub's size limit needs it.

    The cut falls between parts, never inside one: a fenced block is a single
    part, and a cut inside it would leave the fence open (untrusted text may
    itself hold lines that look like ``### `` headings).  The marker is always
    kept because finding the issue or PR again depends on it, and so is
    ``keep_last`` (the PR's collapsed commands).
    """
    tail_parts = keep_last or []
    limit = BODY_LIMIT - sum(len(p) + 1 for p in tail_parts)
    body = "\n".join(parts).rstrip()
    if len(body) > limit:
        fits, size = 0, len(parts[0])
        while size <= limit:
            fits += 1
            size += 1 + len(parts[fits])
        # parts[fits] is the first part that does not fit; cut before its section.
        cut = next((i for i in range(fits, 0, -1) if parts[i].startswith("### ")), fits)
        body = "\n".join(parts[:cut]).rstrip() + "\n\n_(Truncated.)_"
    if tail_parts:
        body = body + "\n\n" + "\n".join(tail_parts).rstrip()
    return f"{body}\n\n{marker}\n" if marker else f"{body}\n"


def pr_title(s: LoopSummary) -> str:
    """Names the original failure, so the PR list says what each fix is for."""
    return f"ci-fix: {failure_headline(s.original, s.workflow_name)}"


_STATUS = {
    "queued": "🔄 **Working:** reading the failure",
    "rerunning": "🔄 **Working:** re-running the failed jobs",
    "succeeded": "✅ **CI is green on this branch.** Ready for your review.",
    "flaky": "✅ **The failure went away on a re-run.** Nothing to merge.",
}


def status_line(s: LoopSummary) -> str:
    """One line saying where the loop is now; rewritten on every step."""
    limit = f" of {s.max_iterations}" if s.max_iterations else ""
    reason = code_span(tail(s.reason or "", 300).rstrip(". ")) if s.reason else ""
    if s.state in _STATUS:
        return _STATUS[s.state]
    if s.state == "fixing":
        return f"🔧 **Fixing:** attempt {s.iteration}{limit} is running."
    if s.state == "awaiting_ci":
        sha = f" on `{s.fix_sha[:10]}`" if s.fix_sha else ""
        return f"⏳ **Waiting for CI**{sha} (attempt {s.iteration}{limit})."
    if s.state in ("escalated", "exhausted"):
        issue = f" Tracked in {s.issue_url}." if s.issue_url else ""
        return f"❌ **Gave up:** {reason or 'no reason recorded'}.{issue}"
    if s.state == "cancelled":
        return f"⏹️ **Stopped:** {reason or 'stopped'}."
    if s.state == "superseded":
        return f"⏭️ **Superseded:** {reason or 'a newer failure replaced this one'}."
    return f"**State:** {code_span(s.state or 'unknown')}"


COMMANDS = [
    "<details><summary>Commands</summary>",
    "",
    "Comment on this pull request:",
    "- `/ci-fix retry`: after the loop gave up, give it a fresh set of iterations.",
    "- `/ci-fix stop`: stop the loop.",
    "- `/ci-fix status`: report the loop's state.",
    "",
    "Review the change like any other: the app never merges it.",
    "",
    "</details>",
]


def _limits_lowered(s: LoopSummary) -> list[str]:
    """The repository asked for more than the operator allows; say what applied instead."""
    if not s.limits_lowered:
        return []
    return [
        "**Limits lowered to the operator's maximums** (`.github/ci-fix-loop.yml` asked for more):",
        "",
        fence("\n".join(s.limits_lowered)),
        "",
    ]


def pr_body(s: LoopSummary) -> str:
    """The fix PR: status, what changed and why, the failure, the checks; commands at the bottom."""
    d = s.diagnosis
    head = [
        status_line(s),
        "",
        f"## {code_span(failure_headline(s.original, s.workflow_name))}",
        "",
        f"This pull request repairs the failed run [{s.run_id}]({s.run_url}) of "
        f"{code_span(s.workflow_name)} on {code_span(s.branch)} at `{s.head_sha[:12]}` "
        f"({_category(d)}; failed jobs: {_jobs(d)}).",
        "",
    ]
    body = [
        *head,
        *_what_changed(s),
        *_test_changes(s),
        *_failure_history(s),
        *_checks(s),
        *_limits_lowered(s),
        *_iterations_table(s.iterations),
        *_guard_rejections(s.iterations),
    ]
    return _assemble(body, loop_marker(s.loop_id), keep_last=COMMANDS)


def pr_close_comment(s: LoopSummary) -> str:
    """Why the app closes its own pull request: the loop ended without a green run."""
    why = {
        "escalated": "The CI Fix Loop gave up on this failure",
        "exhausted": "The CI Fix Loop used all its iterations without a green run",
        "cancelled": "The CI Fix Loop was stopped",
        "superseded": "A newer failure on the branch superseded this loop",
    }.get(s.state, "The CI Fix Loop ended without a green run")
    issue = f" It is tracked in {s.issue_url}." if s.issue_url else ""
    if s.state in ("escalated", "exhausted"):
        next_step = (
            "Comment `/ci-fix retry` on the escalation issue to give the loop a fresh set of "
            "iterations, or reopen this pull request to finish the change by hand."
        )
    else:
        next_step = "Reopen this pull request if you want to finish the change by hand."
    return (
        f"{why}, so this pull request is closed; the branch stays for reference.{issue}\n\n"
        f"{fence(redact_secrets(s.reason or '(no reason recorded)'))}\n\n"
        f"{next_step}\n"
    )


def escalation_title(s: LoopSummary) -> str:
    headline = failure_headline(s.original, s.workflow_name)
    return _plain_title(f"CI Fix Loop: {headline} on {s.branch} needs a person")[:200]


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
        *_failure_history(s),
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
        *_failure_history(s),
        *_attempts(s),
    ]
    return _assemble(body)


def pr_escalation_comment(s: LoopSummary, issue_url: str) -> str:
    """Tells the fix PR's readers that the loop gave up, and where it is tracked."""
    return (
        f"The CI Fix Loop stopped without a green run and escalated: {issue_url}\n\n"
        f"{fence(redact_secrets(s.reason or '(none given)'))}\n"
    )


_CHECK_STEP = {
    "queued": "diagnosing",
    "rerunning": "re-running the failed jobs",
    "succeeded": "fixed",
    "flaky": "flaky: green on a re-run",
    "escalated": "escalated",
    "exhausted": "gave up after all iterations",
    "cancelled": "stopped",
    "superseded": "superseded",
}


def check_title(s: LoopSummary) -> str:
    """The check run's title: the failure and the step the loop is at."""
    if s.state == "fixing":
        step = f"fixing, attempt {s.iteration}"
    elif s.state == "awaiting_ci":
        step = f"waiting for CI on attempt {s.iteration}"
    else:
        step = _CHECK_STEP.get(s.state, s.state or "running")
    return f"{s.diagnosis.category.value} failure: {step}"[:200]


def check_summary(s: LoopSummary) -> str:
    lines = [
        status_line(s),
        "",
        f"- **Failure:** {code_span(failure_headline(s.original, s.workflow_name))}",
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
        lines += ["", *_limits_lowered(s)]
    return _assemble(lines)
