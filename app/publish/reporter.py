"""What a loop shows on GitHub: its check run, its pull request, its escalation issue.

The engine decides; this module turns a stored loop into the API calls that
make the decision visible, using the renderers in ``app.publish.render`` and the
publishing helpers.  In dry-run mode only the check run is written.

The pull request follows the loop: opened as a draft when the first fix is
published (reviewers requested then), its status line rewritten at every
step, marked ready for review when CI on it is green (GraphQL: REST cannot
undraft), and closed with a comment saying why when the loop ends without a
fix.  Every link is built from the ``html_url`` GitHub gave for the run, so it
points at the right host on GitHub Enterprise too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from http import HTTPStatus
from typing import Any

import gidgethub

from app.config.model import RepoConfig
from app.config.source import ConfigLoad, render_config_problems
from app.core.markdown import code_span, fence, redact_secrets, tail
from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.github.client import AppGitHubAPI
from app.intake.payloads import PullFacts, RunFacts
from app.loop.policy import revert_wanted
from app.loop.ports import AttemptResult
from app.publish.checkrun import (
    CHECK_NAME,
    completed_check,
    finish_check,
    start_check,
    update_check,
)
from app.publish.commit import FIX_LABEL, ensure_pull_request
from app.publish.escalate import comment_once, escalate
from app.publish.render import (
    AGENT_SUMMARY_LIMIT,
    FailureSummary,
    FileStat,
    GuardSummary,
    IterationSummary,
    LoopSummary,
    check_summary,
    check_title,
    escalation_body,
    pr_body,
    pr_close_comment,
    pr_title,
)
from app.publish.revert import RevertOutcome, propose_revert
from app.publish.reviewers import choose_reviewers, request_reviewers
from app.publish.suggestions import plan_suggestions
from app.store.base import Store
from app.store.records import Iteration, Loop, LoopEvent, LoopState

log = logging.getLogger(__name__)

CHECK_CONCLUSIONS = {
    LoopState.SUCCEEDED: "success",
    LoopState.FLAKY: "neutral",
    LoopState.CANCELLED: "neutral",
    LoopState.SUPERSEDED: "neutral",
    LoopState.EXHAUSTED: "failure",
    LoopState.ESCALATED: "failure",
}
# Loops that end like this close their pull request: nothing in it is worth merging.
CLOSES_PR = frozenset(
    {LoopState.EXHAUSTED, LoopState.ESCALATED, LoopState.CANCELLED, LoopState.SUPERSEDED}
)
MARK_READY = """
mutation MarkReady($id: ID!) {
  markPullRequestReadyForReview(input: {pullRequestId: $id}) {
    pullRequest { number isDraft }
  }
}
"""


def web_url(loop: Loop, path: str) -> str:
    """A page of the loop's repository, on the host GitHub's own ``html_url`` named.

    ``run_url`` is the failing run's ``html_url`` (``{web}/{owner}/{repo}/actions/runs/{id}``),
    so the repository's page is what precedes ``/actions/runs/``.
    """
    base = loop.run_url.split("/actions/runs/", 1)[0]
    return f"{base}/{path}"


class GitHubReporter:
    def __init__(self, *, store: Store, dry_run: bool) -> None:
        self._store = store
        self._dry_run = dry_run

    async def loop_started(self, gh: AppGitHubAPI, loop: Loop) -> int | None:
        return await start_check(
            gh,
            repo=loop.repo,
            head_sha=loop.head_sha,
            title=f"{CHECK_NAME}: reading the failed run's logs",
            summary_markdown=(
                f"The loop started for run [{loop.run_id}]({loop.run_url}); the diagnosis "
                "and every later step are shown here as they happen."
            ),
        )

    async def progress(self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig | None) -> None:
        """A step began (diagnosed, fixing attempt N): show it on the check run and the PR."""
        summary = await self.summary(loop, config)
        if loop.check_run_id is not None:
            await update_check(
                gh,
                repo=loop.repo,
                check_run_id=loop.check_run_id,
                title=check_title(summary),
                summary_markdown=check_summary(summary),
                details_url=summary.pr_url,
            )
        if loop.pr_number is not None and not self._dry_run:
            await gh.patch(
                f"/repos/{loop.repo}/pulls/{loop.pr_number}", data={"body": pr_body(summary)}
            )

    async def fix_published(self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig) -> int | None:
        summary = await self.summary(loop, config)
        pr = await ensure_pull_request(
            gh,
            repo=loop.repo,
            head_branch=loop.publish_branch,
            base_branch=loop.branch,
            title=pr_title(summary),
            body=pr_body(summary),
            labels=(FIX_LABEL,),
        )
        number = int(pr["number"])
        if loop.pr_number is None:
            await self._ask_for_review(gh, loop, number)
        if loop.check_run_id is not None:
            waiting = replace(summary, pr_url=str(pr["html_url"]))
            await update_check(
                gh,
                repo=loop.repo,
                check_run_id=loop.check_run_id,
                title=check_title(waiting),
                summary_markdown=check_summary(waiting),
                details_url=str(pr["html_url"]),
            )
        return number

    async def _ask_for_review(self, gh: AppGitHubAPI, loop: Loop, number: int) -> None:
        """Reviewers for a new fix PR: CODEOWNERS of what changed, else the failing author."""
        paths = [path for event in await self._store.events(loop.id) if event.kind == "attempted"
                 for path, *_ in event.detail.get("diffstat") or []]  # fmt: skip
        try:
            owners = await choose_reviewers(
                gh, repo=loop.repo, changed_paths=paths, failing_sha=loop.head_sha
            )
            if owners:
                await request_reviewers(gh, repo=loop.repo, pr_number=number, owners=owners)
        except gidgethub.GitHubException as exc:
            # A courtesy: the fix and its PR stand without reviewers; the loop goes on.
            log.warning("could not request reviewers on %s#%s: %r", loop.repo, number, exc)
            return
        if not owners:
            log.info("no reviewer found for %s#%s (no CODEOWNERS match, author lacks write "
                     "access)", loop.repo, number)  # fmt: skip

    async def loop_ended(self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig | None) -> None:
        summary = await self.summary(loop, config)
        if loop.pr_number is not None and not self._dry_run:
            await self._end_pull_request(gh, loop, summary)
        if loop.check_run_id is not None:
            await finish_check(
                gh,
                repo=loop.repo,
                check_run_id=loop.check_run_id,
                conclusion=CHECK_CONCLUSIONS[loop.state],
                summary_markdown=check_summary(summary),
                title=check_title(summary),
                details_url=summary.pr_url or summary.issue_url,
            )

    async def _end_pull_request(self, gh: AppGitHubAPI, loop: Loop, summary: LoopSummary) -> None:
        """Final body; then ready for review (green) or closed with the reason (gave up)."""
        path = f"/repos/{loop.repo}/pulls/{loop.pr_number}"
        pr = await gh.getitem(path)
        is_open = pr.get("state") == "open" and not pr.get("merged")
        closing = is_open and loop.state in CLOSES_PR
        update: dict[str, Any] = {"body": pr_body(summary)}
        if closing:
            await gh.post(
                f"/repos/{loop.repo}/issues/{loop.pr_number}/comments",
                data={"body": pr_close_comment(summary)},
            )
            update["state"] = "closed"
        await gh.patch(path, data=update)
        if is_open and loop.state is LoopState.SUCCEEDED and pr.get("draft"):
            await mark_ready_for_review(gh, str(pr["node_id"]))

    async def escalated(
        self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig | None
    ) -> int | None:
        if self._dry_run:
            return None
        escalation = (config or RepoConfig()).escalation
        summary = await self.summary(loop, config)
        try:
            return await escalate(
                gh,
                repo=loop.repo,
                summary=summary,
                labels=escalation.labels,
                assignees=escalation.assignees,
                pr_number=loop.pr_number,
            )
        except gidgethub.BadRequest as exc:
            if exc.status_code != HTTPStatus.GONE:
                raise
            # Issues are disabled in this repository: the escalation is said on the
            # fix's pull request, if there is one, and on the check run (loop_ended);
            # the loop still ends, escalated.
            log.warning("issues are disabled in %s: escalation shown without an issue", loop.repo)
            if loop.pr_number is not None:
                await comment_once(gh, loop.repo, loop.pr_number, escalation_body(summary))
            return None

    async def config_invalid(self, gh: AppGitHubAPI, facts: RunFacts, load: ConfigLoad) -> None:
        items = load.problems
        check_id = await completed_check(
            gh,
            repo=facts.repo,
            head_sha=facts.head_sha,
            conclusion="failure",
            title=f".github/ci-fix-loop.yml is invalid ({len(items)} problem(s))",
            summary_markdown=render_config_problems(items, load.source),
        )
        log.warning("invalid config in %s reported on check run %s", facts.repo, check_id)

    async def rerun_failed_jobs(self, gh: AppGitHubAPI, loop: Loop) -> None:
        await gh.post(f"/repos/{loop.repo}/actions/runs/{loop.run_id}/rerun-failed-jobs", data={})

    # ------------------------------------------------------------ pull requests

    async def pull_head(self, gh: AppGitHubAPI, repo: str, number: int) -> str | None:
        try:
            pull = await gh.getitem(f"/repos/{repo}/pulls/{number}")
        except gidgethub.BadRequest as exc:
            if exc.status_code == 404:
                return None
            raise
        if pull.get("state") != "open":
            return None
        return str(pull["head"]["sha"])

    async def suggest(
        self, gh: AppGitHubAPI, loop: Loop, pull: PullFacts, result: AttemptResult
    ) -> int | None:
        """One review of suggested changes on the failing head; the last one's note updated.

        Review comments can only sit on lines of the pull request's diff, so the
        pull request's files are read first; what falls outside goes into the body
        as a patch.  Earlier suggestion reviews are not edited (REST cannot change a
        submitted review's body): the one status comment on the pull request is
        rewritten to name the current review and mark the earlier ones outdated.
        """
        if self._dry_run:
            return None
        patches = {
            str(f["filename"]): f.get("patch")
            async for f in gh.getiter(f"/repos/{loop.repo}/pulls/{pull.number}/files")
        }
        plan = plan_suggestions(result.suggestion, patches)
        summary = await self.summary(loop)
        body = suggestion_review_body(summary, plan.outside, bool(plan.suggestions), result)
        review = await gh.post(
            f"/repos/{loop.repo}/pulls/{pull.number}/reviews",
            data={
                "commit_id": loop.head_sha,
                "event": "COMMENT",
                "body": body,
                "comments": [s.comment() for s in plan.suggestions],
            },
        )
        review_id = int(review["id"])
        await self._suggestion_status(gh, loop, pull, review_id, str(review.get("html_url") or ""))
        return review_id

    async def _suggestion_status(
        self, gh: AppGitHubAPI, loop: Loop, pull: PullFacts, review_id: int, url: str
    ) -> None:
        path = f"/repos/{loop.repo}/issues/{pull.number}/comments"
        mine = [
            c
            async for c in gh.getiter(path)
            if SUGGESTIONS_MARK in str(c.get("body") or "") and is_app(c.get("user"))
        ]
        earlier: list[str] = []
        if mine:
            earlier = re.findall(r"review (\d+)", str(mine[-1].get("body") or ""))
        body = suggestion_status_body(loop, review_id, url, [int(n) for n in earlier])
        if mine:
            await gh.patch(f"/repos/{loop.repo}/issues/comments/{mine[-1]['id']}",
                           data={"body": body})  # fmt: skip
        else:
            await gh.post(path, data={"body": body})

    async def same_failure_on_base(
        self, gh: AppGitHubAPI, loop: Loop, pull: PullFacts, base_loop: Loop | None
    ) -> None:
        if self._dry_run:
            return
        await gh.post(
            f"/repos/{loop.repo}/issues/{pull.number}/comments",
            data={"body": same_failure_body(loop, pull, base_loop)},
        )

    async def gave_up(
        self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig | None, issue: int | None
    ) -> str | None:
        """``on_give_up: revert`` on the default branch: propose the revert, say so on the issue."""
        if self._dry_run or config is None or issue is None or loop.pull_number is not None:
            return None
        if config.on_give_up != "revert":
            return None
        repository = await gh.getitem(f"/repos/{loop.repo}")
        if not revert_wanted(
            on_give_up=config.on_give_up,
            branch=loop.branch,
            default_branch=str(repository.get("default_branch") or ""),
            state=loop.state.value,
        ):
            return None
        outcome = await propose_revert(gh, loop)
        await gh.post(
            f"/repos/{loop.repo}/issues/{issue}/comments", data={"body": revert_comment(outcome)}
        )
        if outcome.pr_number is not None:
            return f"revert of {outcome.culprit} proposed in #{outcome.pr_number}"
        return f"no revert: {outcome.reason}"

    async def base_fixed(self, gh: AppGitHubAPI, base_loop: Loop, numbers: list[int]) -> None:
        if self._dry_run:
            return
        for number in numbers:
            await gh.post(
                f"/repos/{base_loop.repo}/issues/{number}/comments",
                data={"body": base_fixed_body(base_loop)},
            )

    async def summary(self, loop: Loop, config: RepoConfig | None = None) -> LoopSummary:
        iterations = await self._store.iterations(loop.id)
        events = await self._store.events(loop.id)
        diagnosis = (
            Diagnosis.from_dict(loop.diagnosis)
            if loop.diagnosis
            else Diagnosis(category=Category.UNKNOWN, confidence=0.0)
        )
        attempts = {int(e.detail.get("n", 0)): e.detail for e in events if e.kind == "attempted"}
        summaries = [_iteration_summary(loop, i, attempts.get(i.n, {})) for i in iterations]
        last = iterations[-1] if iterations else None
        verify = (last.verify or {}) if last else {}
        return LoopSummary(
            loop_id=str(loop.id),
            repo=loop.repo,
            workflow_name=loop.workflow_name,
            workflow_id=loop.workflow_id,
            branch=loop.branch,
            head_sha=loop.head_sha,
            run_id=loop.run_id,
            run_url=loop.run_url,
            diagnosis=diagnosis,
            iterations=summaries,
            total_cost_usd=loop.cost_usd,
            state=loop.state.value,
            reason=loop.reason,
            pr_url=web_url(loop, f"pull/{loop.pr_number}") if loop.pr_number else None,
            issue_url=web_url(loop, f"issues/{loop.issue_number}") if loop.issue_number else None,
            guard=_guard(last, attempts.get(last.n, {}) if last else {}),
            verify_command=config.verify if config else verify.get("command"),
            verify_tail=str(verify.get("after_tail", "")),
            verify_ok=verify.get("after_ok") if "after_ok" in verify else None,
            failures=_failures(loop, events, iterations),
            iteration=loop.iteration - loop.iteration_base,
            max_iterations=config.max_iterations if config else None,
            fix_sha=loop.fix_sha,
            budget_per_loop_usd=config.budget.per_loop_usd if config else None,
            limits_lowered=config.clamped if config else (),
            test_changes=_test_changes(iterations),
        )


async def mark_ready_for_review(gh: AppGitHubAPI, node_id: str) -> None:
    """Undraft a pull request; only GitHub's GraphQL API can do this."""
    try:
        await gh.graphql(MARK_READY, endpoint=gh.graphql_url, id=node_id)
    except gidgethub.GitHubException as exc:
        # The PR stays a draft; the status line still says CI is green.
        log.warning("could not mark pull request %s ready for review: %s", node_id, exc)


def _failures(
    loop: Loop, events: list[LoopEvent], iterations: list[Iteration]
) -> list[FailureSummary]:
    """Every diagnosed failure, oldest first: the original run, then CI on each fix commit."""
    by_ci_run = {i.ci_run_id: i.n for i in iterations if i.ci_run_id}
    out: list[FailureSummary] = []
    seen: set[int] = set()
    for event in events:
        if event.kind != "diagnosed" or "key_lines" not in event.detail:
            continue
        run_id = int(event.detail.get("run_id") or loop.run_id)
        if run_id in seen:
            continue
        seen.add(run_id)
        if not out:
            label = "Original failure"
        elif run_id in by_ci_run:
            label = f"CI on iteration {by_ci_run[run_id]}'s fix"
        else:
            label = "After a re-run" if run_id == loop.run_id else f"Run {run_id}"
        diagnosis = Diagnosis(
            category=_category(event.detail.get("category")),
            confidence=0.0,
            tool=event.detail.get("tool"),
            key_lines=tuple(KeyLine.from_dict(k) for k in event.detail.get("key_lines") or ()),
            failed_jobs=tuple(event.detail.get("failed_jobs") or ()),
        )
        out.append(
            FailureSummary(label, run_id, web_url(loop, f"actions/runs/{run_id}"), diagnosis)
        )
    return out


def _category(value: Any) -> Category:
    try:
        return Category(value)
    except ValueError:
        return Category.UNKNOWN


def _guard(last: Iteration | None, attempt: dict[str, Any]) -> GuardSummary | None:
    if last is None or last.guard_ok is None:
        return None
    stats = _diffstat(attempt)
    return GuardSummary(
        ok=last.guard_ok,
        reasons=last.guard_reasons,
        files_changed=last.files_changed,
        lines_added=sum(f.added for f in stats),
        lines_removed=sum(f.removed for f in stats),
    )


def _test_changes(iterations: list[Iteration]) -> tuple[str, ...]:
    """The tests the latest published fix touched, as the guard listed them."""
    published = next((i for i in reversed(iterations) if i.fix_sha), None)
    listed = (published.verify or {}).get("test_changes") if published else None
    return tuple(str(item) for item in listed or ())


def _diffstat(attempt: dict[str, Any]) -> tuple[FileStat, ...]:
    rows = attempt.get("diffstat") or ()
    return tuple(FileStat(str(r[0]), int(r[1]), int(r[2])) for r in rows if len(r) == 3)


def _iteration_summary(
    loop: Loop, iteration: Iteration, attempt: dict[str, Any]
) -> IterationSummary:
    outcome = iteration.status
    if iteration.ci_conclusion:
        outcome += f", CI {iteration.ci_conclusion}"
    verify = iteration.verify or {}
    return IterationSummary(
        n=iteration.n,
        model=iteration.model or "-",
        fixer=iteration.fixer or "-",
        cost_usd=iteration.cost_usd,
        outcome=outcome,
        fix_commit=iteration.fix_sha,
        ci_run_url=(
            web_url(loop, f"actions/runs/{iteration.ci_run_id}") if iteration.ci_run_id else None
        ),
        guard_reasons=iteration.guard_reasons,
        agent_summary=attempt.get("summary") or None,
        diffstat=_diffstat(attempt),
        verify_ok=verify.get("after_ok"),
    )


SUGGESTIONS_MARK = "<!-- ci-fix-loop:suggestions -->"
TRUNK_MARK = "<!-- ci-fix-loop:trunk-first -->"


def is_app(user: Any) -> bool:
    """A comment of a GitHub App (this one: it only edits comments carrying its mark)."""
    return isinstance(user, dict) and (
        user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")
    )


def suggestion_review_body(
    summary: LoopSummary, outside: str, any_suggestions: bool, result: AttemptResult
) -> str:
    """The review's body: what failed, that the fix was verified, and what is not a suggestion."""
    failure = f"`{pr_title(summary).removeprefix('ci-fix: ')}`"
    lines = [
        f"**ci-fix-loop** has a fix for {failure} "
        f"([run {summary.run_id}]({summary.run_url})) on `{summary.head_sha[:10]}`.",
        "",
        "It was made and checked in the app's sandbox: the diff guard passed"
        + (
            ", and so did the repository's verify command"
            if (result.verify or {}).get("after_ok")
            else ""
        )
        + ". Nothing was pushed anywhere.",
    ]
    if any_suggestions:
        lines += [
            "",
            "Apply the suggestions below (*Add suggestion to batch* for each, then *Commit "
            "suggestions*) to take the whole fix in one commit.",
        ]
    if outside:
        lines += [
            "",
            "**Not a suggestion:** these changes touch lines outside this pull request's "
            "diff, where GitHub cannot place suggestions. Apply them with `git apply`:",
            "",
            fence(outside, "diff"),
        ]
    if result.summary:
        lines += [
            "",
            "The fixing agent's own summary (its words, not checked by the app):",
            "",
            fence(redact_secrets(tail(result.summary, AGENT_SUMMARY_LIMIT))),
        ]
    return "\n".join([SUGGESTIONS_MARK, *lines])


def suggestion_status_body(loop: Loop, review_id: int, url: str, earlier: list[int]) -> str:
    """The one comment saying which suggestion review is current."""
    outdated = [n for n in earlier if n != review_id]
    lines = [
        SUGGESTIONS_MARK,
        f"**ci-fix-loop:** the current suggestions are in review {review_id}"
        + (f" ({url})" if url else "")
        + f", for `{loop.head_sha[:10]}`.",
    ]
    if outdated:
        listed = ", ".join(f"review {n}" for n in outdated)
        lines.append(f"Outdated (earlier failing commits; do not apply): {listed}.")
    return "\n\n".join(lines)


def same_failure_body(loop: Loop, pull: PullFacts, base_loop: Loop | None) -> str:
    base = code_span(pull.base_ref)
    lines = [
        TRUNK_MARK,
        f"**ci-fix-loop:** this failure is on {base} too, not caused by this pull request. "
        f"{code_span(loop.workflow_name)} fails on {base} with the same error, so the app "
        "spends nothing on this pull request.",
    ]
    if base_loop is not None:
        where = f"[run {base_loop.run_id}]({base_loop.run_url})"
        if base_loop.pr_number is not None:
            where += f", fix in {web_url(base_loop, f'pull/{base_loop.pr_number}')}"
        lines.append(
            f"The app's loop for {base} is #{base_loop.id} ({where}); "
            "this pull request gets a note when it is green again."
        )
    return "\n\n".join(lines)


def base_fixed_body(base_loop: Loop) -> str:
    fix = ""
    if base_loop.pr_number is not None:
        fix = f" by {web_url(base_loop, f'pull/{base_loop.pr_number}')}"
    branch = code_span(base_loop.branch)
    return (
        f"{TRUNK_MARK}\n\n**ci-fix-loop:** {branch} is fixed{fix}. Update this "
        f"pull request from {branch} (merge or rebase) to pick up the fix; "
        "its failure came from there."
    )


def revert_comment(outcome: RevertOutcome) -> str:
    """The escalation issue's note on the revert fallback: the PR, or why there is none."""
    if outcome.pr_number is not None and outcome.culprit is not None:
        return (
            f"**Revert proposed:** #{outcome.pr_number} reverts {outcome.culprit} "
            f"({outcome.reason}; the first red run: {outcome.proof_url}). Merging it gets the "
            "branch green again."
        )
    if outcome.culprit is not None:
        return f"**No revert:** the culprit is {outcome.culprit}, but {outcome.reason}."
    return (
        f"**No revert:** the commit that broke the workflow cannot be identified: {outcome.reason}."
    )
