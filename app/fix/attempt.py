"""One fix attempt: workspace, fixers, guard, verification, commit.

The order is the point: the fixer only ever edits a private checkout; the diff
it produced is judged by the guard in code (whatever the prompt said); the
repository's own verify command must pass; only then is the change committed,
through the Git Data API, to the loop's ``ci-fix/`` branch.  Anything short of
that returns a ``problem`` the next iteration's prompt is told about.
"""

from __future__ import annotations

import difflib
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.core.errors import DownloadError, FixerUnavailable, UnsafeArchive, WorkspaceError
from app.core.metrics import Metrics
from app.core.redact import Redactor
from app.fix.checks import Check, CheckResult, offered_checks
from app.fix.fixers.base import Fixer, FixRequest
from app.fix.guard import DirView, GuardVerdict, check_change, published_changes
from app.fix.prompts import PromptContext, build_prompt
from app.fix.sandbox import Sandbox
from app.fix.verify import VerifyResult, run_verify
from app.fix.workspace import ChangeSet, Workspace, download_source
from app.github.client import AppGitHubAPI
from app.loop.ports import AttemptInput, AttemptResult, Publisher

log = logging.getLogger(__name__)

FixerFactory = Callable[[AttemptInput], Sequence[Fixer]]


class FixAttempter:
    """The engine's ``Attempter``."""

    def __init__(
        self,
        *,
        fixers: FixerFactory,
        publish: Publisher,
        metrics: Metrics,
        sandbox: Sandbox,
        redactor: Redactor | None = None,
    ) -> None:
        self._fixers = fixers
        self._publish = publish
        self._metrics = metrics
        # Removes the app's secrets from the prompt and from every output kept or shown.
        self._redact = redactor or Redactor()
        self._sandbox = sandbox

    async def attempt(
        self,
        gh: AppGitHubAPI,
        request: AttemptInput,
        on_spend: Callable[[float], Awaitable[None]],
    ) -> AttemptResult:
        """One attempt, with whatever it reports cleaned of the app's secrets.

        Fixer and verify output is the repository's code talking: it may print
        anything it could read, and it is stored, shown on GitHub and handed to
        the next prompt.
        """
        result = await self._attempt(gh, request, on_spend)
        return replace(
            result,
            problem=self._redact(result.problem) if result.problem else None,
            escalate_reason=(
                self._redact(result.escalate_reason) if result.escalate_reason else None
            ),
            verify=self._redact.data(result.verify) if result.verify else result.verify,
        )

    async def _attempt(
        self,
        gh: AppGitHubAPI,
        request: AttemptInput,
        on_spend: Callable[[float], Awaitable[None]],
    ) -> AttemptResult:
        loop = request.loop
        parent = loop.fix_sha or loop.head_sha
        with tempfile.TemporaryDirectory(prefix="ci-fix-dl-") as download_dir:
            try:
                tarball = await download_source(
                    gh, loop.repo, parent, Path(download_dir) / "source.tar.gz"
                )
                workspace = await Workspace.from_tarball(tarball)
            except (UnsafeArchive, WorkspaceError, DownloadError) as exc:
                return AttemptResult(problem=f"The checkout of {parent[:7]} failed: {exc}")
        async with workspace:
            return await self._in_workspace(gh, request, workspace, parent, on_spend)

    async def _in_workspace(
        self,
        gh: AppGitHubAPI,
        request: AttemptInput,
        workspace: Workspace,
        parent: str,
        on_spend: Callable[[float], Awaitable[None]],
    ) -> AttemptResult:
        loop, config, diagnosis = request.loop, request.config, request.diagnosis
        verify: dict[str, Any] | None = None
        if config.verify:
            before = await self._verify(config.verify, workspace, config.verify_timeout_s)
            verify = {"command": config.verify, "before_ok": before.ok,
                      "before_tail": before.output_tail}  # fmt: skip
        prompt = self._redact(
            build_prompt(
                PromptContext(
                    repo=loop.repo,
                    iteration=request.iteration,
                    max_iterations=config.max_iterations,
                    diagnosis=diagnosis,
                    run_url=loop.run_url,
                    head_sha=loop.head_sha,
                    branch=loop.branch,
                    guard=config.guard,
                    previous_outcome=request.previous_outcome,
                    verify_command=config.verify,
                )
            )
        )
        model = config.models.for_iteration(diagnosis.category, request.iteration)
        try:
            fixers = self._fixers(request)
        except FixerUnavailable as exc:
            return AttemptResult(escalate_reason=f"No fixer can run: {exc}", model=model)
        if not fixers:
            return AttemptResult(
                escalate_reason="No fixer is configured for this failure "
                f"({diagnosis.category.value}; fixer.kind is {config.fixer.kind!r})",
                model=model,
            )
        cost = 0.0
        tokens: int | None = None
        used: list[str] = []
        summaries: list[str] = []
        agent = AttemptResult()  # what an agent said about its work (summary, transcript)

        async def run_check(check: Check) -> CheckResult:
            # Like verify: in the sandbox, and whatever the check writes is undone.
            outcome = await self._verify(check.command, workspace, config.verify_timeout_s)
            return CheckResult(ok=outcome.ok, output_tail=outcome.output_tail)

        async def judge() -> tuple[str, ...]:
            try:
                current = await workspace.snapshot()
            except WorkspaceError as exc:
                return (f"The change cannot be published: {exc}",)
            if not current:
                return ("The change is empty: nothing was edited.",)
            originals = await workspace.originals(current.files)
            return self._verdict(workspace, current, originals, request).reasons

        for fixer in fixers:
            started = time.monotonic()
            result = await fixer.fix(
                FixRequest(
                    workspace=workspace.path,
                    diagnosis=diagnosis,
                    prompt=prompt,
                    model=model,
                    iteration=request.iteration,
                    timeout_s=config.fixer.timeout_s,
                    budget_usd=None if request.budget_usd is None else request.budget_usd - cost,
                    checks=offered_checks(config.verify, diagnosis),
                    run_check=run_check,
                    judge=judge,
                )
            )
            self._metrics.fixer_seconds.labels(fixer.name).observe(time.monotonic() - started)
            used.append(fixer.name)
            if result.summary:
                summaries.append(result.summary)
            elif fixer.name == "autofix":
                summaries.append(
                    "Ran the repository's autofix commands: " + "; ".join(config.autofix)
                )
            cost += result.cost_usd
            if result.tokens is not None:
                tokens = (tokens or 0) + result.tokens
            await on_spend(result.cost_usd)
            if result.transcript:
                agent = replace(
                    agent,
                    transcript=agent.transcript + result.transcript,
                    model_calls=agent.model_calls + result.model_calls,
                    cache_read_tokens=agent.cache_read_tokens + result.cache_read_tokens,
                )
            spent = replace(agent, cost_usd=cost, fixer="+".join(used), model=model, tokens=tokens)
            if result.escalate_reason:
                reason = f"The fixing agent asked to escalate: {result.escalate_reason}"
                return replace(spent, escalate_reason=reason)
            if result.error and fixer.name != "autofix":
                return replace(
                    spent,
                    problem=f"The {fixer.name} fixer failed: {result.error}\n"
                    f"{result.transcript_tail[-2000:]}",
                )
            if not await _has_changes(workspace):
                continue
            if fixer.name == "autofix" and config.verify:
                # Deterministic fixes first; the agent only runs if they were not enough.
                if (await self._verify(config.verify, workspace, config.verify_timeout_s)).ok:
                    break
                continue
            break
        spent = replace(agent, cost_usd=cost, fixer="+".join(used), model=model, tokens=tokens)
        # What is published is exactly what the guard judged: the change is read from
        # the checkout once (the app's own reads, never git's filters), judged as those
        # bytes, and the verify command, which runs the repository's own code, cannot
        # add to them afterwards.
        try:
            change = await workspace.snapshot()
        except WorkspaceError as exc:
            return replace(spent, problem=f"The change cannot be published: {exc}")
        if not change:
            return replace(spent, problem="The fixers made no change to the code.")
        originals = await workspace.originals(change.files)
        verdict = self._verdict(workspace, change, originals, request)
        if verdict.test_changes:
            # Listed in the pull request so the reviewer sees every test the fix touched.
            verify = {**(verify or {}), "test_changes": list(verdict.test_changes)}
        judged = replace(
            spent,
            summary="\n\n".join(summaries) or None,
            diffstat=diffstat({path: blob for path, (_, blob) in originals.items()}, change.files),
            files_changed=verdict.files_changed,
            lines_changed=verdict.lines_added + verdict.lines_removed,
            guard_ok=verdict.ok,
            guard_reasons=verdict.reasons,
            verify=verify,
        )
        if not verdict.ok:
            return replace(judged, problem=_rejection(verdict))
        leaking = sorted(
            path
            for path, content in change.files.items()
            if content is not None and self._redact.contains_secret(content)
        )
        if leaking:
            return replace(
                judged,
                problem=f"{', '.join(leaking)} would publish a secret of the app's; "
                "nothing was published.",
            )
        if config.verify:
            after = await self._verify(config.verify, workspace, config.verify_timeout_s)
            verify = {**(verify or {}), "after_ok": after.ok, "after_tail": after.output_tail}
            if not after.ok:
                return replace(
                    judged,
                    problem=f"The change did not pass `{config.verify}`:\n{after.output_tail}",
                    verify=verify,
                )
        if request.before_publish is not None:
            stale = await request.before_publish()
            if stale:
                return replace(judged, stale=stale, verify=verify)
        if request.suggest_only:
            # Nothing is pushed: the exact bytes judged and verified go into a review.
            suggestion = tuple(
                (path, originals[path][1] if path in originals else None, content)
                for path, content in sorted(change.files.items())
            )
            return replace(judged, suggestion=suggestion, verify=verify)
        sha = await self._publish(
            gh,
            repo=loop.repo,
            base_sha=loop.head_sha,
            parent_sha=parent,
            branch=loop.publish_branch,
            changes=change.files,
            modes=change.modes,
            message=_commit_message(request),
        )
        return replace(judged, published_sha=sha, verify=verify)

    def _verdict(
        self,
        workspace: Workspace,
        change: ChangeSet,
        originals: Mapping[str, tuple[str, bytes]],
        request: AttemptInput,
    ) -> GuardVerdict:
        """The guard's verdict on ``change``: exactly the bytes that would be published."""
        return check_change(
            published_changes(change.files, change.modes, originals),
            request.config.guard,
            context=DirView(workspace.path),
            category=request.diagnosis.category.value,
        )

    async def _verify(self, command: str, workspace: Workspace, timeout_s: float) -> VerifyResult:
        try:
            return await workspace.preserving_changes(
                lambda: run_verify(command, workspace.path, timeout_s, self._sandbox)
            )
        except WorkspaceError as exc:
            return VerifyResult(ok=False, exit_code=None, timed_out=False, output_tail=str(exc))


async def _has_changes(workspace: Workspace) -> bool:
    """Whether the checkout differs from the baseline; an unreadable one counts as changed
    (the snapshot taken next says why it cannot be published)."""
    try:
        return bool(await workspace.changes())
    except WorkspaceError:
        return True


def diffstat(
    before: Mapping[str, bytes | None], after: Mapping[str, bytes | None]
) -> tuple[tuple[str, int, int], ...]:
    """Per changed file: (path, lines added, lines removed), as ``git diff --stat`` counts them.

    A file that is not UTF-8 text counts as one line per version (git says "Bin").
    """
    rows = []
    for path in sorted(after):
        old, new = _lines(before.get(path)), _lines(after[path])
        added = removed = 0
        for line in difflib.unified_diff(old, new, lineterm="", n=0):
            if line.startswith("+") and not line.startswith("+++"):
                added += 1
            elif line.startswith("-") and not line.startswith("---"):
                removed += 1
        rows.append((path, added, removed))
    return tuple(rows)


def _lines(content: bytes | None) -> list[str]:
    if content is None:
        return []
    try:
        return content.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return ["<binary>"]


def _rejection(verdict: GuardVerdict) -> str:
    reasons = "\n".join(f"- {reason}" for reason in verdict.reasons)
    return f"The guard rejected the change, so it was not published:\n{reasons}"


def _commit_message(request: AttemptInput) -> str:
    diagnosis = request.diagnosis
    tool = f" ({diagnosis.tool})" if diagnosis.tool else ""
    subject = f"fix(ci): {diagnosis.category.value} failure{tool} in {request.loop.workflow_name}"
    return (
        f"{subject}\n\nci-fix-loop iteration {request.iteration} for run {request.loop.run_url}\n"
    )
