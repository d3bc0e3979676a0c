"""What a loop shows on GitHub: its check run, its pull request, its escalation issue.

The engine decides; this module turns a stored loop into the API calls that
make the decision visible, using the renderers in ``app.publish.render`` and the
publishing helpers.  In dry-run mode only the check run is written.
"""

from __future__ import annotations

import logging

from gidgethub.abc import GitHubAPI

from app.config.model import RepoConfig
from app.config.source import ConfigLoad, render_config_problems
from app.diagnosis.model import Category, Diagnosis
from app.intake.payloads import RunFacts
from app.publish.checkrun import completed_check, finish_check, start_check
from app.publish.commit import FIX_LABEL, ensure_pull_request
from app.publish.escalate import escalate
from app.publish.render import (
    IterationSummary,
    LoopSummary,
    check_summary,
    check_title,
    pr_body,
    pr_title,
)
from app.store.base import Store
from app.store.records import Iteration, Loop, LoopState

log = logging.getLogger(__name__)

CHECK_CONCLUSIONS = {
    LoopState.SUCCEEDED: "success",
    LoopState.FLAKY: "neutral",
    LoopState.CANCELLED: "neutral",
    LoopState.SUPERSEDED: "neutral",
    LoopState.EXHAUSTED: "failure",
    LoopState.ESCALATED: "failure",
}


class GitHubReporter:
    def __init__(self, *, store: Store, dry_run: bool) -> None:
        self._store = store
        self._dry_run = dry_run

    async def loop_started(self, gh: GitHubAPI, loop: Loop) -> int | None:
        return await start_check(gh, repo=loop.repo, head_sha=loop.head_sha, details_url=None)

    async def fix_published(self, gh: GitHubAPI, loop: Loop, config: RepoConfig) -> int | None:
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
        return int(pr["number"])

    async def loop_ended(self, gh: GitHubAPI, loop: Loop, config: RepoConfig | None) -> None:
        summary = await self.summary(loop, config)
        if loop.pr_number is not None and not self._dry_run:
            await gh.patch(
                f"/repos/{loop.repo}/pulls/{loop.pr_number}",
                data={"body": pr_body(summary)},
            )
        if loop.check_run_id is not None:
            await finish_check(
                gh,
                repo=loop.repo,
                check_run_id=loop.check_run_id,
                conclusion=CHECK_CONCLUSIONS[loop.state],
                summary_markdown=check_summary(summary),
                title=check_title(summary),
            )

    async def escalated(self, gh: GitHubAPI, loop: Loop, config: RepoConfig | None) -> int | None:
        if self._dry_run:
            return None
        escalation = (config or RepoConfig()).escalation
        return await escalate(
            gh,
            repo=loop.repo,
            summary=await self.summary(loop, config),
            labels=escalation.labels,
            assignees=escalation.assignees,
            pr_number=loop.pr_number,
        )

    async def config_invalid(self, gh: GitHubAPI, facts: RunFacts, load: ConfigLoad) -> None:
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

    async def rerun_failed_jobs(self, gh: GitHubAPI, loop: Loop) -> None:
        await gh.post(f"/repos/{loop.repo}/actions/runs/{loop.run_id}/rerun-failed-jobs", data={})

    async def summary(self, loop: Loop, config: RepoConfig | None = None) -> LoopSummary:
        iterations = await self._store.iterations(loop.id)
        diagnosis = (
            Diagnosis.from_dict(loop.diagnosis)
            if loop.diagnosis
            else Diagnosis(category=Category.UNKNOWN, confidence=0.0)
        )
        last = iterations[-1] if iterations else None
        published = next((i for i in reversed(iterations) if i.fix_sha), None)
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
            iterations=[_iteration_summary(loop, i) for i in iterations],
            total_cost_usd=loop.cost_usd,
            state=loop.state.value,
            reason=loop.reason,
            pr_url=_html_url(loop, loop.pr_number, "pull"),
            issue_url=_html_url(loop, loop.issue_number, "issues"),
            verify_command=config.verify if config else None,
            verify_tail=str((last.verify or {}).get("after_tail", "")) if last else "",
            limits_lowered=config.clamped if config else (),
            test_changes=tuple(
                str(item) for item in ((published.verify or {}).get("test_changes") or ())
            )
            if published
            else (),
        )


def _iteration_summary(loop: Loop, iteration: Iteration) -> IterationSummary:
    outcome = iteration.status
    if iteration.ci_conclusion:
        outcome += f", CI {iteration.ci_conclusion}"
    return IterationSummary(
        n=iteration.n,
        model=iteration.model or "-",
        fixer=iteration.fixer or "-",
        cost_usd=iteration.cost_usd,
        outcome=outcome,
        fix_commit=iteration.fix_sha,
        ci_run_url=(
            f"https://github.com/{loop.repo}/actions/runs/{iteration.ci_run_id}"
            if iteration.ci_run_id
            else None
        ),
        guard_reasons=iteration.guard_reasons,
    )


def _html_url(loop: Loop, number: int | None, kind: str) -> str | None:
    return f"https://github.com/{loop.repo}/{kind}/{number}" if number else None
