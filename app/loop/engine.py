"""The fix loop engine: a state machine kept in the store, moved by webhook events.

Nothing here polls or sleeps.  A failing run opens a loop (``queued``) and hands
it to the ``Scheduler`` port; a worker (``app.loop.runner`` in one process,
``app.loop.jobs`` scaled out) claims it and calls ``work_claimed``, which
diagnoses, reruns or fixes through the other ports, and parks the loop in
``rerunning`` or ``awaiting_ci``; the next ``workflow_run`` event for that run
or fix branch moves it on.  Every decision comes from ``app.loop.policy``, and
every state change is a compare-and-set in the store, so duplicate or
concurrent deliveries and restarts cannot move a loop twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from http import HTTPStatus
from typing import Any

import cachetools
import gidgethub

from app.config.model import RepoConfig
from app.core.errors import LoopError, StoreUnavailable
from app.core.logctx import log_context
from app.core.metrics import Metrics
from app.diagnosis.model import Category, Diagnosis, merge_diagnoses
from app.github.client import AppGitHubAPI
from app.intake.payloads import PullFacts, RunFacts
from app.loop.breaker import breaker_blocks, record_loop_end
from app.loop.budget import BudgetLimits, Spend, check_budget, utc_day_start
from app.loop.order import BranchHistory, mark_of
from app.loop.policy import (
    FAILURE_CONCLUSIONS,
    SUCCESS_CONCLUSIONS,
    Decision,
    Order,
    PullAction,
    Step,
    after_attempt,
    after_fix_ci_of_all,
    after_rerun,
    before_iteration,
    fails_like_base,
    fix_failed_ci,
    head_moved,
    iterations_used,
    pull_request_action,
    run_order,
    triage,
)
from app.loop.ports import (
    Attempter,
    AttemptInput,
    AttemptResult,
    ConfigLoader,
    Diagnoser,
    Reporter,
    Scheduler,
)
from app.settings import Settings
from app.store.base import Store
from app.store.records import (
    ACTIVE_STATES,
    ConfigPause,
    Iteration,
    Loop,
    LoopEvent,
    LoopRun,
    LoopState,
)

log = logging.getLogger(__name__)

FIX_BRANCH_PREFIX = "ci-fix/"
MAX_INTERRUPTIONS = 2
PASSED_LATER = "Passed on a later run of the same commit"
REPAIR_AFTER_S = 60.0
# A pull request's loop ended because its base branch fails the same way.
ON_BASE_TOO = "This failure is on the base branch too"
# Key lines of each diagnosis kept in the loop's history (the PR shows the first ones).
KEY_LINES_KEPT = 12
STOP_POLL_S = 2.0  # how soon a stop recorded by another process reaches a running fix
OUTAGE_RETRIES = 40  # about 15 minutes of backoff before leaving a loop to recovery


class Engine:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        github: Callable[[int], AppGitHubAPI],
        diagnoser: Diagnoser,
        configs: ConfigLoader,
        attempter: Attempter,
        reporter: Reporter,
        metrics: Metrics,
        clock: Callable[[], float],
        scheduler: Scheduler,
        worker_id: str | None = None,
        sleeper: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sleeper = sleeper
        self.settings = settings
        self.store = store
        self._github = github
        self._diagnoser = diagnoser
        self._configs = configs
        self._attempter = attempter
        self._reporter = reporter
        self._metrics = metrics
        self._clock = clock
        self.worker_id = worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._last_sweep = float("-inf")
        # Config read by the failure event, handed to the loop's first step (bounded:
        # with a job queue that step usually runs in another process).
        self._fresh_configs: cachetools.LRUCache[int, RepoConfig] = cachetools.LRUCache(256)
        self._scheduler = scheduler
        self._history = BranchHistory(store)
        # Fix attempts running in this process, by loop: a stop cancels them.
        self._attempts: dict[int, asyncio.Future[AttemptResult]] = {}

    def now(self) -> float:
        """The engine's clock (controlled in tests)."""
        return self._clock()

    async def close(self) -> None:
        """Let the scheduler go (a job queue's connections); loops stay in the store."""
        await self._scheduler.close()

    # ------------------------------------------------------------------ events

    async def on_workflow_run(self, facts: RunFacts) -> None:
        """A completed run: place it in its branch's history, then act if it is the newest.

        Outcomes, whatever order GitHub delivers in (README, *Event order*):
        a run older than one already seen for its workflow, or on a commit older
        than one any workflow reported on, changes nothing; a failure on the
        newest commit opens that commit's loop, or joins it when another
        workflow failed there first, and supersedes loops of older commits; a
        pass on the newest commit ends loops of older commits whose failing
        workflow it is ("fixed upstream"), and a later pass of the loop's own
        failing run (a re-run) ends its loop too.
        """
        if facts.status != "completed":
            return
        await self.expire_stale_waits()
        with log_context(repo=facts.repo):
            if facts.for_pull_request and facts.from_fork:
                # A fork's pull request: only ever answered with a review, never a push.
                found = await self._fork_pull(facts)
                if found is None:
                    log.info("run %s: no open pull request from %s", facts.run_id, facts.head_repo)
                    return
                facts = found
            elif facts.from_fork:
                log.info("run %s comes from fork %s: ignored", facts.run_id, facts.head_repo)
                return
            elif facts.head_branch.startswith(FIX_BRANCH_PREFIX):
                await self._on_fix_branch_run(facts)
                return
            if not facts.head_branch:
                return  # a run on a tag or a detached commit belongs to no branch
            gh = self._github(facts.installation_id)
            rerunning = await self._rerun_of(facts)
            placed = await self._history.place(gh, facts)
            if rerunning is not None and placed.current:
                await self._on_rerun_result(rerunning, facts)
            elif not placed.current:
                log.info(
                    "run %s (%s on %s) is not the newest: %s",
                    facts.run_id, facts.conclusion, facts.head_sha[:7], placed.reason,
                )  # fmt: skip
            elif facts.conclusion in FAILURE_CONCLUSIONS:
                await self._on_failure(gh, facts)
            elif facts.conclusion in SUCCESS_CONCLUSIONS:
                await self._on_upstream_success(facts)

    async def _fork_pull(self, facts: RunFacts) -> RunFacts | None:
        """A fork's ``pull_request`` run with its pull request, found by head branch.

        GitHub attaches only same-repository pull requests to a run; a fork's is
        listed with ``head=<fork owner>:<branch>``.  The loop files it under
        ``owner:branch`` so it never mixes with a branch of this repository.
        """
        if facts.head_repo is None or not facts.head_branch:
            return None
        gh = self._github(facts.installation_id)
        owner = facts.head_repo.partition("/")[0]
        async for item in gh.getiter(
            f"/repos/{facts.repo}/pulls" + "{?head,state}",
            {"head": f"{owner}:{facts.head_branch}", "state": "open"},
        ):
            pull = PullFacts.from_api(item, facts.repo)
            if pull is not None and pull.head_repo.lower() == facts.head_repo.lower():
                return replace(facts, pull=pull, head_branch=pull.loop_branch)
        return None

    async def _rerun_of(self, facts: RunFacts) -> Loop | None:
        """The loop waiting for exactly this run to come back from the re-run it asked for."""
        loop = await self.store.loop_for_commit(facts.repo, facts.head_branch, facts.head_sha)
        if (
            loop is not None
            and loop.state is LoopState.RERUNNING
            and facts.run_id == loop.run_id
            and facts.run_attempt > loop.run_attempt
        ):
            return loop
        return None

    async def _on_failure(self, gh: AppGitHubAPI, facts: RunFacts) -> None:
        # A pull request's own config is the author's to write: its mode comes
        # from the base branch, which only people with write access change.
        ref = facts.head_sha if facts.pull is None else facts.pull.base_ref
        load = await self._configs.load(gh, facts.repo, ref)
        if not load.ok:
            await self.store.put_config_pause(
                ConfigPause(facts.repo, tuple(map(str, load.problems)), load.source, self._clock())
            )
            await self._reporter.config_invalid(gh, facts, load)
            return
        await self.store.clear_config_pause(facts.repo)
        config = load.config
        pull_action = PullAction.IGNORE
        if facts.pull is not None:
            decided = pull_request_action(config.pull_requests, same_repo=facts.pull.same_repo)
            pull_action = decided.action
            if pull_action is PullAction.IGNORE:
                if not facts.pull.same_repo:
                    log.info("pull request #%s: %s", facts.pull.number, decided.reason)
                    return
                # Off: a same-repository pull request's run is a run on its branch, as before.
                facts = replace(facts, pull=None)
                load = await self._configs.load(gh, facts.repo, facts.head_sha)
                if not load.ok:
                    return
                config = load.config
        if facts.pull is None and not config.watches(facts.head_branch, facts.default_branch):
            log.info("branch %s is not watched: run %s ignored", facts.head_branch, facts.run_id)
            return
        now = self._clock()
        await self._supersede_older(facts)
        breaker = await self.store.get_breaker(facts.repo)
        paused = breaker_blocks(breaker, now)
        state = LoopState.CANCELLED if paused else LoopState.QUEUED
        loop, created = await self.store.open_loop(facts.new_loop(), state=state, now=now)
        joined = await self.store.add_loop_run(_loop_run(loop.id, facts))
        if not created:
            await self._joined(gh, loop, facts, joined)
            return
        with log_context(loop_id=loop.id):
            if paused:
                loop = await self.store.update_loop(loop.id, now=now, reason=paused) or loop
                await self._event(loop, "paused", reason=paused)
                log.warning("%s: not fixing run %s", paused, facts.run_id)
                await self._reporter.loop_ended(gh, loop, config)
                return
            self._metrics.loops_opened.inc()
            log.debug("loop %s opened for run %s on %s", loop.id, facts.run_id, facts.head_sha[:7])
            await self._event(loop, "opened", run_id=facts.run_id, sha=facts.head_sha)
            if facts.pull is not None:
                await self._event(
                    loop, "pull_request", action=pull_action.value, **facts.pull.to_dict()
                )
            check_run_id = await self._reporter.loop_started(gh, loop)
            if check_run_id is not None:
                await self.store.update_loop(loop.id, now=now, check_run_id=check_run_id)
        self._fresh_configs[loop.id] = config
        await self._queued(loop.id)
        # A newer commit may have been placed while this one opened its loop.
        await self._supersede_if_overtaken(loop)

    async def _joined(self, gh: AppGitHubAPI, loop: Loop, facts: RunFacts, joined: bool) -> None:
        """A failure on a commit whose loop exists: another workflow joins, or a repeat."""
        with log_context(loop_id=loop.id):
            if joined:
                log.info("loop %s: %s failed too (run %s)", loop.id, facts.workflow_name,
                         facts.run_id)  # fmt: skip
                await self._event(loop, "joined", run_id=facts.run_id, workflow=facts.workflow_name)
            else:
                # A later attempt of a workflow already in the loop failed again.
                await self.store.update_loop_run(
                    loop.id, facts.workflow_id, run_id=facts.run_id,
                    run_attempt=facts.run_attempt, run_number=facts.run_number,
                )  # fmt: skip
                log.info("loop %s already covers run %s", loop.id, facts.run_id)
            if joined and _ended_by_a_later_pass(loop):
                # Its workflows passed on re-runs, and now another one fails: open it again.
                loop = await self.store.update_loop(
                    loop.id, expect=[LoopState.CANCELLED], now=self._clock(),
                    state=LoopState.QUEUED, reason=None, ended_at=None, diagnosis=None,
                ) or loop  # fmt: skip
                if not loop.state.terminal:
                    await self._event(loop, "reopened", workflow=facts.workflow_name)
            if loop.state.terminal:
                return
            if loop.check_run_id is None and self._clock() - loop.created_at >= REPAIR_AFTER_S:
                # Repair: a crash between opening the loop and showing it left no check run.
                # (Not within a minute of opening: the opener may still be creating it.)
                check_run_id = await self._reporter.loop_started(gh, loop)
                if check_run_id is not None:
                    await self.store.update_loop(loop.id, now=self._clock(),
                                                 check_run_id=check_run_id)  # fmt: skip
                    await self._event(loop, "check_run_repaired", check_run_id=check_run_id)
            if joined and loop.state is LoopState.QUEUED and loop.diagnosis is not None:
                # Not worked yet: diagnose every failed workflow together.
                await self.store.update_loop(
                    loop.id, expect=[LoopState.QUEUED], now=self._clock(), diagnosis=None
                )
            if loop.state is LoopState.QUEUED and loop.lease_owner is None:
                await self._queued(loop.id)
        await self._supersede_if_overtaken(loop)

    async def _supersede_older(self, facts: RunFacts) -> None:
        """Loops of other commits on the branch: ``facts`` was just placed as the newest."""
        for older in await self.store.active_loops(repo=facts.repo, branch=facts.head_branch):
            if older.head_sha == facts.head_sha:
                continue
            reason = f"Superseded by a newer failing commit {facts.head_sha[:7]}"
            await self._finish(older, LoopState.SUPERSEDED, reason, expect=ACTIVE_STATES)

    async def _supersede_if_overtaken(self, loop: Loop) -> None:
        """After opening: if a newer commit's run was placed meanwhile, this loop is older.

        Whoever places a newer commit supersedes the loops it finds; this check
        covers a loop opened just after that sweep, so at most one stays active.
        """
        seen = await self.store.branch_runs(loop.repo, loop.branch)
        mine = [r for r in seen if r.head_sha == loop.head_sha]
        others = [r for r in seen if r.head_sha != loop.head_sha]
        if not mine or not others:
            return
        gh = self._github(loop.installation_id)
        for other in others:
            ancestry = await self._history.ancestry(gh, loop.repo, loop.head_sha, other.head_sha)
            if any(run_order(mark_of(other), mark_of(m), ancestry) is Order.NEWER for m in mine):
                reason = f"Superseded by newer commit {other.head_sha[:7]}"
                if other.conclusion in SUCCESS_CONCLUSIONS:
                    reason = f"Fixed upstream: newer commit {other.head_sha[:7]} passed"
                state = (
                    LoopState.CANCELLED
                    if other.conclusion in SUCCESS_CONCLUSIONS
                    else LoopState.SUPERSEDED
                )
                await self._finish(loop, state, reason, expect=ACTIVE_STATES)
                return

    async def _on_upstream_success(self, facts: RunFacts) -> None:
        """A pass placed as the newest run: loops it makes moot end.

        A loop of an older commit ends whatever workflow passed: the branch
        moved on, and the newer commit's own failures (if any) open its own
        loop.  On the loop's own commit, a later pass of a failing workflow
        (a re-run) takes that workflow out; with none left, the loop ends.
        """
        for loop in await self.store.active_loops(repo=facts.repo, branch=facts.head_branch):
            if loop.head_sha != facts.head_sha:
                reason = f"Fixed upstream: {facts.workflow_name} passed on {facts.head_sha[:7]}"
                await self._finish(loop, LoopState.CANCELLED, reason, expect=ACTIVE_STATES)
                continue
            runs = await self.store.loop_runs(loop.id)
            if not any(r.workflow_id == facts.workflow_id for r in runs):
                continue  # another workflow passing says nothing about this failure
            await self.store.remove_loop_run(loop.id, facts.workflow_id)
            if any(r.workflow_id != facts.workflow_id for r in runs):
                await self._event(loop, "passed", workflow=facts.workflow_name, run_id=facts.run_id)
                continue
            reason = f"{PASSED_LATER}: {facts.workflow_name} run {facts.run_id}"
            await self._finish(loop, LoopState.CANCELLED, reason, expect=ACTIVE_STATES)

    async def _on_rerun_result(self, loop: Loop, facts: RunFacts) -> None:
        decision = after_rerun(facts.conclusion)
        with log_context(loop_id=loop.id):
            await self._event(loop, "rerun_result", conclusion=facts.conclusion)
            if decision.step is Step.FLAKY:
                await self._finish(
                    loop, LoopState.FLAKY, decision.reason, expect=[LoopState.RERUNNING]
                )
                return
            # Diagnose the rerun's own logs: they are the freshest evidence.
            await self.store.update_loop(
                loop.id,
                expect=[LoopState.RERUNNING],
                now=self._clock(),
                state=LoopState.QUEUED,
                run_attempt=facts.run_attempt,
                awaiting_run_id=facts.run_id,
                diagnosis=None,
            )
        await self._queued(loop.id)

    async def _on_fix_branch_run(self, facts: RunFacts) -> None:
        """CI on the fix branch: the fix is green when every workflow that failed passes."""
        loop = await self.store.loop_for_fix_branch(facts.repo, facts.head_branch)
        waiting = loop is not None and loop.state is LoopState.AWAITING_CI
        if loop is None or not waiting or loop.fix_sha != facts.head_sha:
            return
        runs = {r.workflow_id: r for r in await self.store.loop_runs(loop.id)}
        if not runs:  # a loop from before loop_runs: its one workflow
            runs = {loop.workflow_id: _legacy_loop_run(loop)}
        mine = runs.get(facts.workflow_id)
        if mine is None:
            return  # a workflow that did not fail on the loop's commit
        if (
            mine.fix_sha == facts.head_sha
            and mine.fix_run_id == facts.run_id
            and (mine.fix_run_attempt or 0) >= facts.run_attempt
        ):
            return  # a duplicate or an older attempt of a result already recorded
        with log_context(loop_id=loop.id):
            await self.store.update_loop_run(
                loop.id, facts.workflow_id, fix_sha=facts.head_sha, fix_run_id=facts.run_id,
                fix_run_attempt=facts.run_attempt, fix_conclusion=facts.conclusion,
            )  # fmt: skip
            await self._event(loop, "fix_ci", conclusion=facts.conclusion, run_id=facts.run_id,
                              workflow=facts.workflow_name)  # fmt: skip
            runs = {r.workflow_id: r for r in await self.store.loop_runs(loop.id)} or {
                facts.workflow_id: replace(mine, fix_sha=facts.head_sha,
                                           fix_conclusion=facts.conclusion)
            }  # fmt: skip
            decision = after_fix_ci_of_all(
                {
                    r.workflow_name: r.fix_conclusion if r.fix_sha == loop.fix_sha else None
                    for r in runs.values()
                }
            )
            if decision is None:
                return  # other workflows have not reported on the fix yet
            failing = [r for r in runs.values() if r.fix_conclusion not in SUCCESS_CONCLUSIONS]
            await self.store.update_iteration(
                loop.id, loop.iteration,
                ci_run_id=(failing[0].fix_run_id if failing else facts.run_id),
                ci_conclusion=(failing[0].fix_conclusion if failing else facts.conclusion),
            )  # fmt: skip
            if decision.step is Step.SUCCEED:
                await self._finish(
                    loop, LoopState.SUCCEEDED, decision.reason, expect=[LoopState.AWAITING_CI]
                )
            elif decision.step is Step.ITERATE:
                await self.store.update_loop(
                    loop.id,
                    expect=[LoopState.AWAITING_CI],
                    now=self._clock(),
                    state=LoopState.QUEUED,
                    awaiting_run_id=failing[0].fix_run_id if failing else facts.run_id,
                    diagnosis=None,
                )
                await self._queued(loop.id)
            else:
                await self._finish(
                    loop, LoopState.ESCALATED, decision.reason, expect=[LoopState.AWAITING_CI]
                )

    # ----------------------------------------------------------- maintainers

    async def stop(self, loop: Loop, reason: str) -> Loop | None:
        return await self._finish(loop, LoopState.CANCELLED, reason, expect=ACTIVE_STATES)

    async def retry(self, loop: Loop, by: str) -> Loop | None:
        """Give a loop that gave up (exhausted or escalated) a fresh set of iterations.

        Cancelled and superseded loops stay ended: a newer commit or a human
        decided they no longer matter, and retrying one would run a second loop
        beside the one for the branch's newer commit.
        """
        if loop.state not in (LoopState.EXHAUSTED, LoopState.ESCALATED):
            return None
        updated = await self.store.update_loop(
            loop.id,
            expect=[loop.state],
            now=self._clock(),
            state=LoopState.QUEUED,
            iteration_base=loop.iteration,
            reason=None,
            ended_at=None,
            diagnosis=None,
        )
        if updated is not None:
            await self._event(updated, "retry", by=by)
            await self._queued(updated.id)
        return updated

    async def access_lost(self, loops: list[Loop], reason: str) -> None:
        """Cancel loops the App can no longer reach (uninstalled, repository removed).

        Nothing is written to GitHub: the App's access is already gone.
        """
        for loop in loops:
            await self._finish(
                loop, LoopState.CANCELLED, reason, expect=ACTIVE_STATES, on_github=False
            )

    async def installation_removed(self, installation_id: int) -> None:
        loops = await self.store.active_loops(installation_id=installation_id)
        await self.access_lost(loops, "The App was uninstalled")

    # ----------------------------------------------------------------- worker

    async def _queued(self, loop_id: int) -> None:
        """A loop became ``queued``: hand it to whoever works loops."""
        await self._scheduler.schedule(loop_id)

    async def expire_stale_waits(self, *, force: bool = False) -> None:
        """Escalate loops whose awaited CI result never came.

        A loop waits for GitHub's ``workflow_run`` event and never polls; if the
        workflow does not run on the fix branch at all (it only runs on pushes
        to main, say), that event never comes.  A timer runs this on time (the
        runner's in-process timer on SQLite, a procrastinate periodic job when
        scaled out, with ``force``); events and start-up also run it, at most
        once a minute.
        """
        now = self._clock()
        if not force and now - self._last_sweep < 60:
            return
        self._last_sweep = now
        hours = self.settings.ci_wait_timeout_s / 3600
        wait = f"{hours:g} hour" + ("" if hours == 1 else "s")
        for loop in await self.store.active_loops():
            waiting = loop.state in (LoopState.AWAITING_CI, LoopState.RERUNNING)
            if waiting and now - loop.updated_at > self.settings.ci_wait_timeout_s:
                reason = (
                    f"No CI result arrived within {wait}. Does `{loop.workflow_path}` "
                    "run on pull requests, or on pushes to `ci-fix/**` branches?"
                )
                await self._finish(loop, LoopState.ESCALATED, reason, expect=[loop.state])

    async def recover_loop(self, loop: Loop) -> None:
        """Take back one loop whose lease holder is known to be dead."""
        now = self._clock()
        if loop.state is LoopState.FIXING:
            await self.store.update_iteration(
                loop.id, loop.iteration, status="interrupted", ended_at=now
            )
            interrupted = loop.attempts_interrupted + 1
            await self._event(loop, "interrupted", iteration=loop.iteration)
            if interrupted >= MAX_INTERRUPTIONS:
                reason = f"The fix was interrupted {interrupted} times (worker restarts)"
                await self._finish(loop, LoopState.ESCALATED, reason, expect=[loop.state])
                return
            await self.store.update_loop(
                loop.id,
                expect=[LoopState.FIXING],
                now=now,
                state=LoopState.QUEUED,
                attempts_interrupted=interrupted,
                lease_owner=None,
                lease_until=None,
            )
        elif loop.lease_owner is not None:
            await self.store.update_loop(loop.id, now=now, lease_owner=None, lease_until=None)

    async def work_claimed(self, loop: Loop) -> None:
        """Work a loop this engine holds the lease of, escalate what breaks, then release it.

        The store becoming unreachable is not the loop's failure: the loop goes
        back to the queue once the store answers again (``requeue_after_outage``),
        and is never escalated for it.
        """
        try:
            with log_context(repo=loop.repo, loop_id=loop.id):
                try:
                    await self.work(loop)
                except LoopError as exc:
                    # Raised on purpose: its message is written for the maintainer.
                    log.warning("loop %s ends: %s", loop.id, exc)
                    await self._escalate_current(loop.id, str(exc))
                except (asyncio.CancelledError, StoreUnavailable):
                    raise
                except Exception as exc:
                    # A bug or an unforeseen fault: the loop must not stay claimed and silent.
                    log.exception("loop %s failed unexpectedly", loop.id)
                    await self._escalate_current(
                        loop.id,
                        f"The app hit an internal error ({type(exc).__name__}); see the app's logs",
                    )
        except StoreUnavailable as exc:
            log.warning("loop %s: the store is unavailable (%s); back to the queue", loop.id, exc)
            await self.requeue_after_outage(loop.id)
        finally:
            with contextlib.suppress(StoreUnavailable):
                await self.store.release_loop(loop.id, self.worker_id, now=self._clock())

    async def requeue_after_outage(self, loop_id: int) -> bool:
        """Once the store answers again, put a loop cut off by the outage back in the queue.

        An iteration it was in is marked ``interrupted`` without counting against
        the loop (the next one adopts a fix already pushed); the lease is let go
        and the loop scheduled again.  Waits with backoff, a bounded number of
        times; False if the store never came back (start-up recovery and the
        workers' queue upkeep take the loop back then).
        """
        for attempt in range(1, OUTAGE_RETRIES + 1):
            await self._sleeper(min(30.0, 0.25 * 2**attempt))
            try:
                loop = await self.store.get_loop(loop_id)
                if loop is None or loop.state.terminal:
                    return True
                loop = await self.put_back(loop)
                await self._event(loop, "store_outage", state=loop.state.value)
                if loop.state is LoopState.QUEUED:
                    await self._queued(loop.id)
                return True
            except StoreUnavailable as exc:
                log.info("loop %s: store still unavailable (%s)", loop_id, exc)
            except Exception as exc:
                # The job queue lives in the same database; its client has its own errors.
                log.warning("loop %s: cannot queue it yet (%r)", loop_id, exc)
        log.error("loop %s: the store stayed unavailable; recovery will take it back", loop_id)
        return False

    async def put_back(self, loop: Loop) -> Loop:
        """This worker's own loop, cut off mid-way (an outage, a cancelled job): queue it again.

        Not an interruption by a dead worker, so it does not count towards
        ``MAX_INTERRUPTIONS``; the iteration is marked ``interrupted`` so the
        next one adopts a fix that was already pushed.
        """
        now = self._clock()
        if loop.state is LoopState.FIXING:
            await self.store.update_iteration(
                loop.id, loop.iteration, status="interrupted", ended_at=now
            )
            return await self.store.update_loop(
                loop.id, expect=[LoopState.FIXING], now=now, state=LoopState.QUEUED,
                lease_owner=None, lease_until=None,
            ) or loop  # fmt: skip
        if loop.lease_owner == self.worker_id:
            return await self.store.update_loop(
                loop.id, now=now, lease_owner=None, lease_until=None
            ) or loop  # fmt: skip
        return loop

    async def _last_iteration_interrupted(self, loop: Loop) -> bool:
        if loop.iteration == 0:
            return False
        iterations = await self.store.iterations(loop.id)
        return bool(iterations) and iterations[-1].status == "interrupted"

    async def _escalate_current(self, loop_id: int, reason: str) -> None:
        current = await self.store.get_loop(loop_id)
        if current is not None and not current.state.terminal:
            await self._finish(current, LoopState.ESCALATED, reason, expect=[current.state])

    async def work(self, loop: Loop) -> None:
        """Move one claimed ``queued`` loop as far as it goes without waiting for CI."""
        gh = self._github(loop.installation_id)
        # The config read when the loop opened a moment ago is still fresh; any
        # later step (after CI, a retry, a restart) reads it again.
        config = self._fresh_configs.pop(loop.id, None)
        pull = await self._pull_of(loop)
        if config is None:
            ref = loop.head_sha if pull is None else pull.base_ref
            config = (await self._configs.load(gh, loop.repo, ref)).config
        if not config.enabled:
            await self._finish(
                loop, LoopState.CANCELLED, "The repository's configuration disables the app",
                expect=[LoopState.QUEUED],
            )  # fmt: skip
            return
        interrupted = loop.attempts_interrupted > 0 or await self._last_iteration_interrupted(loop)
        if interrupted and await self._adopt_published_fix(gh, loop, config):
            return
        diagnosis = await self._diagnosis(gh, loop)
        loop = await self.store.get_loop(loop.id) or loop
        if (
            pull is not None
            and loop.iteration == 0
            and await self._on_base_too(gh, loop, pull, diagnosis)
        ):
            return
        iterations = await self.store.iterations(loop.id)
        previous = iterations[-1] if iterations else None

        if config.dry_run or self.settings.dry_run:
            reason = _dry_run_summary(diagnosis, config, loop)
            await self._event(loop, "dry_run", plan=reason)
            await self._finish(loop, LoopState.CANCELLED, reason, expect=[LoopState.QUEUED])
            return

        if self._diagnosis_only(config, diagnosis):
            reason = (
                "Diagnosis only: this app runs without a fixer (the operator set FIXER=none), "
                "so the diagnosis above is all it does; nothing is committed and no issue is filed"
            )
            await self._finish(loop, LoopState.CANCELLED, reason, expect=[LoopState.QUEUED])
            return

        # A rerun is asked of the loop's first run only: with several failed
        # workflows, code is the likelier cause, and the fix is attempted at once.
        may_rerun = (
            loop.iteration == loop.iteration_base
            and loop.awaiting_run_id is None
            and len(await self.store.loop_runs(loop.id)) <= 1
        )
        decision = triage(
            diagnosis, rerun_flaky_tests=config.rerun_flaky_tests, may_rerun=may_rerun
        )
        if decision.step is Step.RERUN:
            await self._reporter.rerun_failed_jobs(gh, loop)
            rerunning = await self.store.update_loop(
                loop.id, expect=[LoopState.QUEUED], now=self._clock(), state=LoopState.RERUNNING
            )
            await self._event(loop, "rerun", reason=decision.reason)
            if rerunning is not None:
                await self._reporter.progress(gh, rerunning, config)  # "re-running the jobs"
            return

        decision = before_iteration(
            diagnosis,
            previous=previous,
            used=iterations_used(loop),
            max_iterations=config.max_iterations,
        )
        if decision.step is not Step.FIX:
            await self._conclude(loop, decision, config)
            return
        verdict = check_budget(self._limits(config), await self._spend(loop))
        if not verdict.allowed:
            await self._finish(
                loop, LoopState.ESCALATED, verdict.reason, expect=[LoopState.QUEUED], config=config
            )
            return
        await self._iterate(gh, loop, config, diagnosis, previous, verdict.remaining_usd)

    async def _pull_of(self, loop: Loop) -> PullFacts | None:
        """The pull request a loop was opened for (its ``pull_request`` event), if any."""
        if loop.pull_number is None:
            return None
        for event in await self.store.events(loop.id):
            if event.kind == "pull_request":
                pull = PullFacts.from_dict(event.detail)
                if pull is not None and pull.number == loop.pull_number:
                    return pull
        return None

    async def _on_base_too(
        self, gh: AppGitHubAPI, loop: Loop, pull: PullFacts, diagnosis: Diagnosis
    ) -> bool:
        """Trunk first: end the loop, spending nothing, if the base branch fails the same way.

        The base's newest run of each of the loop's workflows (as this app saw
        them, else as ``GET …/workflows/{id}/runs?branch=`` lists them: a base
        run from before the app was installed) is compared by diagnosis
        fingerprint: the base's own loop's diagnosis when it has one, else that
        run diagnosed now (logs only, no model).
        """
        seen = {
            r.workflow_id: (r.run_id, r.head_sha, r.conclusion)
            for r in await self.store.branch_runs(loop.repo, pull.base_ref)
        }
        workflows = {r.workflow_id for r in await self.store.loop_runs(loop.id)} or {
            loop.workflow_id
        }
        for workflow_id in workflows:
            newest = seen.get(workflow_id) or await self._newest_base_run(
                gh, loop.repo, workflow_id, pull.base_ref
            )
            if newest is None or newest[2] not in FAILURE_CONCLUSIONS:
                continue
            base_run_id, base_sha, _ = newest
            base_loop = await self.store.loop_for_commit(loop.repo, pull.base_ref, base_sha)
            if base_loop is not None and base_loop.diagnosis is not None:
                fingerprint = Diagnosis.from_dict(base_loop.diagnosis).fingerprint
            else:
                fingerprint = (
                    await self._diagnoser.diagnose(gh, loop.repo, base_run_id)
                ).fingerprint
            if not fails_like_base(diagnosis.fingerprint, [fingerprint], base_failing=True):
                continue
            await self._reporter.same_failure_on_base(gh, loop, pull, base_loop)
            await self._event(
                loop,
                "on_base_too",
                base_ref=pull.base_ref,
                base_run_id=base_run_id,
                base_loop_id=base_loop.id if base_loop is not None else None,
                pull=pull.number,
            )
            reason = (
                f"{ON_BASE_TOO} (`{pull.base_ref}`, run {base_run_id}), "
                "not caused by this pull request: nothing spent"
            )
            await self._finish(loop, LoopState.CANCELLED, reason, expect=[LoopState.QUEUED])
            return True
        return False

    async def _newest_base_run(
        self, gh: AppGitHubAPI, repo: str, workflow_id: int, branch: str
    ) -> tuple[int, str, str] | None:
        """The workflow's newest completed push run on ``branch``: (id, sha, conclusion)."""
        async for run in gh.getiter(
            f"/repos/{repo}/actions/workflows/{workflow_id}/runs"
            + "{?branch,event,status,per_page}",
            {"branch": branch, "event": "push", "status": "completed", "per_page": 1},
            iterable_key="workflow_runs",
        ):
            return int(run["id"]), str(run["head_sha"]), str(run.get("conclusion") or "")
        return None

    async def _notify_base_fixed(self, base: Loop) -> None:
        """A base branch's loop ended green: tell the pull requests it held up to update."""
        numbers: list[int] = []
        for other in await self.store.recent_loops(500):
            if other.repo != base.repo or not (other.reason or "").startswith(ON_BASE_TOO):
                continue
            for event in await self.store.events(other.id):
                if event.kind == "on_base_too" and event.detail.get("base_loop_id") == base.id:
                    number = event.detail.get("pull")
                    if isinstance(number, int) and number not in numbers:
                        numbers.append(number)
        if numbers:
            await self._reporter.base_fixed(self._github(base.installation_id), base, numbers)
            await self._event(base, "base_fixed_notified", pulls=numbers)

    def _diagnosis_only(self, config: RepoConfig, diagnosis: Diagnosis) -> bool:
        """FIXER=none and nothing the repository set could fix it (its lint autofix can)."""
        kind = config.fixer.kind or self.settings.fixer
        autofix = bool(config.autofix) and diagnosis.category is Category.LINT
        return kind == "none" and self.settings.fixer == "none" and not autofix

    async def _iterate(
        self,
        gh: AppGitHubAPI,
        loop: Loop,
        config: RepoConfig,
        diagnosis: Diagnosis,
        previous: Iteration | None,
        budget_usd: float,
    ) -> None:
        n = loop.iteration + 1
        now = self._clock()
        fixing = await self.store.update_loop(
            loop.id, expect=[LoopState.QUEUED], now=now, state=LoopState.FIXING, iteration=n
        )
        if fixing is None:
            return  # stopped or superseded meanwhile
        await self.store.add_iteration(
            Iteration(
                loop_id=loop.id,
                n=n,
                category=diagnosis.category.value,
                fingerprint=diagnosis.fingerprint,
                started_at=now,
            )
        )
        await self._event(fixing, "iteration", n=n, category=diagnosis.category.value)
        await self._reporter.progress(gh, fixing, config)

        async def on_spend(amount: float) -> None:
            if amount > 0:
                await self.store.add_spend(
                    installation_id=loop.installation_id,
                    repo=loop.repo,
                    loop_id=loop.id,
                    amount_usd=amount,
                    at=self._clock(),
                )

        pull = await self._pull_of(loop)
        suggest_only = False
        before_publish = None
        if pull is not None:
            action = pull_request_action(config.pull_requests, same_repo=pull.same_repo).action
            suggest_only = action is not PullAction.BRANCH

            async def before_publish() -> str | None:
                assert pull is not None
                return head_moved(
                    loop.head_sha, await self._reporter.pull_head(gh, loop.repo, pull.number)
                )

        attempt = asyncio.ensure_future(
            self._attempter.attempt(
                gh,
                AttemptInput(
                    loop=fixing,
                    config=config,
                    diagnosis=diagnosis,
                    iteration=n,
                    previous_outcome=previous_outcome(previous),
                    budget_usd=budget_usd,
                    suggest_only=suggest_only,
                    before_publish=before_publish,
                ),
                on_spend,
            )
        )
        if not await self._attempt_finished(loop.id, attempt):
            # Stopped (a maintainer, a newer commit): the fixer and its sandbox were
            # killed before anything was pushed.
            await self.store.update_iteration(
                loop.id, n, status="cancelled", ended_at=self._clock(),
                outcome="The loop was stopped while this fix was being made.",
            )  # fmt: skip
            await self._event(fixing, "attempt_cancelled", n=n)
            return
        result = attempt.result()
        decision = after_attempt(
            escalate_reason=result.escalate_reason,
            published=result.published_sha is not None,
            problem=result.problem,
            stale=result.stale,
            suggested=bool(result.suggestion),
        )
        await self.store.update_iteration(
            loop.id,
            n,
            status=result.iteration_status,
            model=result.model,
            fixer=result.fixer,
            cost_usd=result.cost_usd,
            tokens=result.tokens,
            files_changed=result.files_changed,
            lines_changed=result.lines_changed,
            guard_ok=result.guard_ok,
            guard_reasons=result.guard_reasons,
            verify=result.verify,
            fix_sha=result.published_sha,
            outcome=result.problem,
            ended_at=self._clock(),
            summary=result.summary,
            transcript=result.transcript,
            model_calls=result.model_calls,
            cache_read_tokens=result.cache_read_tokens,
        )
        await self._event(
            fixing,
            "attempted",
            n=n,
            status=result.iteration_status,
            summary=result.summary,
            diffstat=[list(row) for row in result.diffstat],
        )
        current = await self.store.get_loop(loop.id)
        if current is None or current.state is not LoopState.FIXING:
            return  # stopped by a maintainer or superseded while the fixer ran
        if decision.step is Step.AWAIT_CI:
            awaiting = await self.store.update_loop(
                loop.id,
                expect=[LoopState.FIXING],
                now=self._clock(),
                state=LoopState.AWAITING_CI,
                fix_sha=result.published_sha,
                attempts_interrupted=0,
            )
            if awaiting is not None:
                await self._announce_fix(
                    gh, awaiting, config, "published", sha=result.published_sha
                )
            return
        if decision.step is Step.ESCALATE:
            await self._finish(
                current, LoopState.ESCALATED, decision.reason, expect=[current.state], config=config
            )
            return
        if decision.step is Step.SUPERSEDE:
            await self._finish(current, LoopState.SUPERSEDED, decision.reason,
                               expect=[current.state], config=config)  # fmt: skip
            return
        if decision.step is Step.SUGGEST and pull is not None:
            await self._suggest(gh, current, config, pull, result)
            return
        # Not published: go round again (the next claim re-checks limits and budget).
        await self.store.update_loop(
            loop.id, expect=[LoopState.FIXING], now=self._clock(), state=LoopState.QUEUED
        )
        await self._event(current, "retrying", reason=decision.reason)
        await self._queued(loop.id)

    async def _suggest(
        self,
        gh: AppGitHubAPI,
        loop: Loop,
        config: RepoConfig,
        pull: PullFacts,
        result: AttemptResult,
    ) -> None:
        """Post the verified change as a review, unless the head moved meanwhile."""
        head = await self._reporter.pull_head(gh, loop.repo, pull.number)
        stale = head_moved(loop.head_sha, head)
        if stale:
            await self._finish(loop, LoopState.SUPERSEDED, stale, expect=[LoopState.FIXING],
                               config=config)  # fmt: skip
            return
        review = await self._reporter.suggest(gh, loop, pull, result)
        await self._event(loop, "suggested", review_id=review, pull=pull.number)
        reason = (
            f"Suggested the verified fix on pull request #{pull.number}"
            + (f" (review {review})" if review is not None else "")
            + ": the author applies it"
        )
        await self._finish(loop, LoopState.SUCCEEDED, reason, expect=[LoopState.FIXING],
                           config=config)  # fmt: skip

    async def _attempt_finished(self, loop_id: int, attempt: asyncio.Future[AttemptResult]) -> bool:
        """Wait for a fix attempt; False if the loop was stopped and the attempt cancelled.

        Stopping in this process cancels the attempt at once (``_finish``); a stop
        recorded by another process is seen within ``STOP_POLL_S``.  Cancelling
        kills the fixer's whole process group, so nothing is pushed after a stop.
        """
        self._attempts[loop_id] = attempt
        watcher = asyncio.ensure_future(self._cancel_when_stopped(loop_id, attempt))
        try:
            await asyncio.wait({attempt})
        except asyncio.CancelledError:
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            raise
        finally:
            watcher.cancel()
            self._attempts.pop(loop_id, None)
        return not attempt.cancelled()

    async def _cancel_when_stopped(self, loop_id: int, attempt: asyncio.Future[Any]) -> None:
        while not attempt.done():
            await asyncio.sleep(STOP_POLL_S)
            try:
                current = await self.store.get_loop(loop_id)
            except StoreUnavailable:
                continue
            if current is None or current.state is not LoopState.FIXING:
                log.info("loop %s was stopped elsewhere: cancelling its fix attempt", loop_id)
                attempt.cancel()
                return

    async def _adopt_published_fix(self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig) -> bool:
        """After an interruption: if the dead worker's commit reached the fix branch, use it."""
        owner, name = loop.owner_and_name
        try:
            ref = await gh.getitem(
                "/repos/{owner}/{repo}/git/ref/{ref}",
                {"owner": owner, "repo": name, "ref": f"heads/{loop.publish_branch}"},
            )
        except gidgethub.BadRequest as exc:
            if exc.status_code != HTTPStatus.NOT_FOUND:
                raise
            # The dead worker never pushed: the fix is attempted again.
            log.info("no fix to adopt: %s does not exist", loop.publish_branch)
            return False
        sha = ref["object"]["sha"]
        if sha == loop.fix_sha:
            return False
        # The commit is the interrupted iteration's own result, not a new iteration.
        adopted = await self.store.update_loop(
            loop.id,
            expect=[LoopState.QUEUED],
            now=self._clock(),
            state=LoopState.AWAITING_CI,
            fix_sha=sha,
            attempts_interrupted=0,
        )
        if adopted is None:
            return True  # stopped or superseded meanwhile: nothing left to do
        await self.store.update_iteration(loop.id, loop.iteration, status="published", fix_sha=sha)
        await self._announce_fix(gh, adopted, config, "adopted", sha=sha)
        return True

    async def _announce_fix(
        self, gh: AppGitHubAPI, loop: Loop, config: RepoConfig, kind: str, *, sha: str | None
    ) -> None:
        """Open or update the fix's pull request, and record it."""
        pr = await self._reporter.fix_published(gh, loop, config)
        if pr is not None and loop.pr_number != pr:
            await self.store.update_loop(loop.id, now=self._clock(), pr_number=pr)
        await self._event(loop, kind, sha=sha, pr=pr)

    async def _diagnosis(self, gh: AppGitHubAPI, loop: Loop) -> Diagnosis:
        """Every failed workflow's run diagnosed, as one diagnosis for one attempt."""
        if loop.diagnosis is not None:
            return Diagnosis.from_dict(loop.diagnosis)
        run_ids = await self._runs_to_diagnose(loop)
        diagnoses = [await self._diagnoser.diagnose(gh, loop.repo, run_id) for run_id in run_ids]
        diagnosis = merge_diagnoses(diagnoses)
        await self.store.update_loop(loop.id, now=self._clock(), diagnosis=diagnosis.to_dict())
        await self._event(
            loop,
            "diagnosed",
            run_id=run_ids[0],
            run_ids=run_ids,
            category=diagnosis.category.value,
            tool=diagnosis.tool,
            fingerprint=diagnosis.fingerprint,
            # Kept so the PR can show the original failure after later ones replaced it.
            key_lines=[k.to_dict() for k in diagnosis.key_lines[:KEY_LINES_KEPT]],
            failed_jobs=list(diagnosis.failed_jobs),
        )
        return diagnosis

    async def _runs_to_diagnose(self, loop: Loop) -> list[int]:
        """The failing runs: on the fix branch after a red fix, else on the failing commit."""
        runs = await self.store.loop_runs(loop.id)
        if loop.awaiting_run_id is not None:
            on_fix = [
                r.fix_run_id
                for r in runs
                if r.fix_sha == loop.fix_sha
                and r.fix_run_id is not None
                and r.fix_conclusion in FAILURE_CONCLUSIONS
            ]
            return on_fix if loop.awaiting_run_id in on_fix else [loop.awaiting_run_id]
        return [r.run_id for r in runs] or [loop.run_id]

    async def _conclude(self, loop: Loop, decision: Decision, config: RepoConfig) -> None:
        state = LoopState.EXHAUSTED if decision.step is Step.EXHAUST else LoopState.ESCALATED
        await self._finish(loop, state, decision.reason, expect=[loop.state], config=config)

    def _limits(self, config: RepoConfig) -> BudgetLimits:
        return BudgetLimits(
            per_loop_usd=config.budget.per_loop_usd,
            per_day_usd=config.budget.per_day_usd,
            global_per_day_usd=self.settings.global_daily_budget_usd,
        )

    async def _spend(self, loop: Loop) -> Spend:
        day = utc_day_start(self._clock())
        return Spend(
            loop_usd=await self.store.loop_spend(loop.id),
            installation_today_usd=await self.store.spend_since(
                day, installation_id=loop.installation_id
            ),
            global_today_usd=await self.store.spend_since(day),
        )

    # ----------------------------------------------------------------- ending

    async def _finish(
        self,
        loop: Loop,
        state: LoopState,
        reason: str | None,
        *,
        expect: Any,
        config: RepoConfig | None = None,
        on_github: bool = True,
    ) -> Loop | None:
        """End a loop: show it on GitHub, then record it, then feed the breaker.

        GitHub side effects come first: if the process dies in between, the
        loop is still active and ending it again only finds the issue that
        was already filed (escalations are deduplicated), never loses it.
        """
        ending = await self.store.get_loop(loop.id) or loop
        if ending.state.terminal:
            return None
        running = self._attempts.get(loop.id)
        if running is not None and not running.done():
            running.cancel()  # a stopped loop's fixer pushes nothing more
        ending = replace(ending, state=state, reason=reason)
        issue = await self._show_end(ending, config) if on_github else None
        changes: dict[str, Any] = {"state": state, "reason": reason}
        if issue is not None:
            changes["issue_number"] = issue
        ended = await self.store.update_loop(loop.id, expect=expect, now=self._clock(), **changes)
        if ended is None:
            return None
        await self._event(ended, "ended", state=state.value, reason=reason)
        log.debug("loop %s ended %s: %s", ended.id, state.value, reason)
        if ended.pull_number is None and _base_green(ended):
            await self._notify_base_fixed(ended)
        if state not in (LoopState.CANCELLED, LoopState.SUPERSEDED):
            breaker = await self.store.get_breaker(ended.repo)
            await self.store.put_breaker(
                record_loop_end(
                    breaker,
                    success=state.successful,
                    now=self._clock(),
                    threshold=self.settings.breaker_threshold,
                    cooldown_s=self.settings.breaker_cooldown_s,
                )
            )
        self._metrics.loop_ended(
            state.value,
            iterations=iterations_used(ended),
            cost_usd=ended.cost_usd,
            seconds=(ended.ended_at or self._clock()) - ended.created_at,
            green=state.successful,
        )
        return ended

    async def _show_end(self, ending: Loop, config: RepoConfig | None) -> int | None:
        """The check run's conclusion, and for a failed loop the escalation issue."""
        gh = self._github(ending.installation_id)
        issue = None
        if ending.state in (LoopState.ESCALATED, LoopState.EXHAUSTED):
            if config is None:  # the issue's labels and assignees come from the repo's config
                config = (await self._configs.load(gh, ending.repo, ending.head_sha)).config
            issue = await self._reporter.escalated(gh, ending, config)
            ending = replace(ending, issue_number=issue)
            revert = await self._reporter.gave_up(gh, ending, config, issue)
            if revert is not None:
                await self._event(ending, "revert", outcome=revert)
        await self._reporter.loop_ended(gh, ending, config)
        return issue

    async def _event(self, loop: Loop, kind: str, **detail: Any) -> None:
        """Record a step in the loop's history, and say it in one structured INFO line."""
        await self.store.add_event(LoopEvent(loop.id, self._clock(), kind, detail))
        scalars = {k: v for k, v in detail.items() if isinstance(v, str | int | float) and v != ""}
        text = " ".join(f"{k}={str(v)[:120]}" for k, v in scalars.items())
        extra: dict[str, Any] = {
            "step": kind,
            "iteration": detail.get("n", loop.iteration - loop.iteration_base),
            **{k: scalars[k] for k in ("category", "state", "conclusion", "run_id", "pr", "sha")
               if k in scalars},
        }  # fmt: skip
        with log_context(repo=loop.repo, loop_id=loop.id):
            log.info("loop %s: %s %s", loop.id, kind, text, extra=extra)


def _dry_run_summary(diagnosis: Diagnosis, config: RepoConfig, loop: Loop) -> str:
    model = config.models.for_iteration(diagnosis.category, loop.iteration + 1)
    fixers = ", ".join(["autofix"] * bool(config.autofix) + [config.fixer.kind or "default"])
    return (
        f"Dry run: would fix this {diagnosis.category.value} failure "
        f"({diagnosis.tool or 'tool unknown'}) with {fixers} using {model}, "
        f"up to {config.max_iterations} iterations"
    )


def previous_outcome(previous: Iteration | None) -> str | None:
    """What the next attempt is told about the last one."""
    if previous is None:
        return None
    if fix_failed_ci(previous):
        sha = (previous.fix_sha or "")[:7]
        return (
            f"Iteration {previous.n} pushed commit {sha} and CI ran on it, but it still "
            f"ends in {previous.ci_conclusion}. The failure described above is from that "
            "run: build on that commit (it is the checkout you are in) rather than "
            "repeating it."
        )
    return previous.outcome


def _loop_run(loop_id: int, facts: RunFacts) -> LoopRun:
    return LoopRun(
        loop_id=loop_id,
        workflow_id=facts.workflow_id,
        workflow_name=facts.workflow_name,
        workflow_path=facts.workflow_path,
        run_id=facts.run_id,
        run_attempt=facts.run_attempt,
        run_number=facts.run_number,
    )


def _legacy_loop_run(loop: Loop) -> LoopRun:
    """The one workflow of a loop opened before loops recorded their workflows."""
    return LoopRun(
        loop_id=loop.id,
        workflow_id=loop.workflow_id,
        workflow_name=loop.workflow_name,
        workflow_path=loop.workflow_path,
        run_id=loop.run_id,
        run_attempt=loop.run_attempt,
    )


def _ended_by_a_later_pass(loop: Loop) -> bool:
    return loop.state is LoopState.CANCELLED and (loop.reason or "").startswith(PASSED_LATER)


def _base_green(loop: Loop) -> bool:
    """A branch loop that ended with its branch green: fixed, or fixed by someone else."""
    if loop.state is LoopState.SUCCEEDED:
        return True
    reason = loop.reason or ""
    return loop.state is LoopState.CANCELLED and reason.startswith(("Fixed upstream", PASSED_LATER))
