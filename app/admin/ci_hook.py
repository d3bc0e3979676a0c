"""``/hooks/ci``: the seed's endpoint for CI systems other than GitHub Actions.

A CI job posts ``{run_id, repo, failed_jobs, logs_tail, ref, sha, run_url}``
with a shared token; the answer is the seed's ``202 {accepted, run_id,
category, budget_remaining}``.  Two of the seed's weaknesses are fixed: with
no ``CI_HOOK_TOKEN`` configured the endpoint refuses everyone instead of being
open, and the report is kept in the store instead of in memory.

The report is recorded as a *loop* that is already ended (``cancelled``, with
a reason saying where it came from) plus a ``ci_hook_report`` loop event.  A
delivery record was the other candidate, but deliveries are an inbox that is
emptied once processed and nothing reads them back; a loop record is what
``/status`` and ``python -m app status`` list, with its repository, run,
category and reason.  It is inert: its workflow id is 0 (no GitHub workflow
has it, so no ``workflow_run`` ever matches it), it has no fix branch, and it
is terminal, so the engine never works, supersedes or cancels it.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from app.config.model import RepoConfig
from app.core.errors import ReportError
from app.core.logctx import log_context
from app.core.metrics import Metrics
from app.diagnosis.classify import classify_text
from app.diagnosis.model import Diagnosis
from app.intake.webhook import error, read_limited
from app.loop.budget import utc_day_start
from app.settings import Settings
from app.store.base import Store
from app.store.records import Loop, LoopEvent, LoopState, NewLoop

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 512 * 1024
REQUIRED_FIELDS = ("run_id", "repo", "failed_jobs")
EXTERNAL_WORKFLOW_ID = 0  # GitHub never numbers a workflow 0: no real run can match it
RECORDED_REASON = (
    "Reported by an external CI through /hooks/ci and recorded only: ci-fix-loop fixes "
    "GitHub Actions runs it hears about from its GitHub App webhook"
)
_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class CiReport:
    """One failure report from an external CI, validated."""

    repo: str
    run_id: int
    failed_jobs: tuple[str, ...]
    logs_tail: str = ""
    ref: str = ""
    sha: str = ""
    run_url: str = ""
    event: str = ""

    @classmethod
    def parse(cls, data: Any) -> CiReport:
        """Validate a decoded body; raise `ReportError` naming every missing field at once."""
        if not isinstance(data, dict):
            raise ReportError("the body must be a JSON object")
        missing = [name for name in REQUIRED_FIELDS if data.get(name) in (None, "")]
        if missing:
            raise ReportError(f"missing required fields: {', '.join(missing)}")
        run_id = data["run_id"]
        if isinstance(run_id, str) and run_id.isdigit():
            run_id = int(run_id)
        if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id <= 0:
            raise ReportError("run_id must be a positive integer")
        repo = data["repo"]
        if not isinstance(repo, str) or not _REPO_NAME.fullmatch(repo):
            raise ReportError("repo must be an 'owner/name' repository name")
        jobs = data["failed_jobs"]
        if not isinstance(jobs, list) or not all(isinstance(job, str) for job in jobs):
            raise ReportError("failed_jobs must be a list of job names")
        optional = {name: data.get(name) or "" for name in ("logs_tail", "ref", "sha", "run_url")}
        optional["event"] = data.get("event") or ""
        wrong = sorted(name for name, value in optional.items() if not isinstance(value, str))
        if wrong:
            raise ReportError(f"these fields must be strings: {', '.join(wrong)}")
        return cls(repo=repo, run_id=run_id, failed_jobs=tuple(jobs), **optional)

    @property
    def branch(self) -> str:
        return self.ref.removeprefix("refs/heads/")


def token_ok(headers: Mapping[str, str], expected: str | None) -> bool:
    """Constant-time check of ``Authorization: Bearer`` or the seed's ``X-Bot-Token``.

    With no token configured nobody is let in: the seed's "open when unset"
    made an unauthenticated endpoint that spends money.
    """
    if not expected:
        return False
    scheme, _, bearer = headers.get("Authorization", "").partition(" ")
    given = bearer if scheme.lower() == "bearer" and bearer else headers.get("X-Bot-Token", "")
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def installation_of(store: Store, repo: str) -> int | None:
    """The installation that holds ``repo``, as far as installation events told the store."""
    wanted = repo.lower()
    for installation_id, _account, _suspended in await store.installations():
        if wanted in (name.lower() for name in await store.installation_repos(installation_id)):
            return installation_id
    return None


async def budget_remaining(
    store: Store, settings: Settings, installation_id: int | None, now: float
) -> float:
    """Today's remaining daily budget: the default per-day limit less today's spend.

    The spend is the installation's when the repository's installation is
    known, else everyone's; the operator's global cap, when set, can only lower it.
    """
    day = utc_day_start(now)
    spent_everywhere = await store.spend_since(day)
    spent = (
        spent_everywhere
        if installation_id is None
        else await store.spend_since(day, installation_id=installation_id)
    )
    per_day = min(RepoConfig().budget.per_day_usd, settings.max_daily_budget_usd)
    remaining = per_day - spent
    if settings.global_daily_budget_usd is not None:
        remaining = min(remaining, settings.global_daily_budget_usd - spent_everywhere)
    return round(max(0.0, remaining), 4)


async def record_report(
    store: Store, report: CiReport, diagnosis: Diagnosis, installation_id: int | None, now: float
) -> Loop:
    """Keep the report as an ended loop and a loop event (see the module docstring)."""
    new = NewLoop(
        installation_id=installation_id or 0,
        repo=report.repo,
        workflow_id=EXTERNAL_WORKFLOW_ID,
        workflow_name=f"external CI ({', '.join(report.failed_jobs) or 'no job named'})"[:200],
        workflow_path="",
        branch=report.branch,
        head_sha=report.sha or f"run-{report.run_id}",
        run_id=report.run_id,
        run_attempt=1,
        run_url=report.run_url,
    )
    loop, created = await store.open_loop(new, state=LoopState.CANCELLED, now=now)
    if created:
        ended = await store.update_loop(
            loop.id,
            now=now,
            state=LoopState.CANCELLED,
            reason=RECORDED_REASON,
            diagnosis=diagnosis.to_dict(),
            fix_branch="",  # so no fix branch's CI can ever be matched to this record
        )
        loop = ended or loop
    detail = {
        "run_id": report.run_id,
        "failed_jobs": list(report.failed_jobs),
        "category": diagnosis.category.value,
        "event": report.event,
        "run_url": report.run_url,
    }
    await store.add_event(LoopEvent(loop.id, now, "ci_hook_report", detail))
    return loop


@dataclass(frozen=True)
class CiHookDeps:
    """What ``/hooks/ci`` reads and writes: the operator's token and limits, the store."""

    settings: Settings
    store: Store
    metrics: Metrics
    clock: Callable[[], float]


def make_ci_hook_handler(context: CiHookDeps) -> Handler:
    """The ``/hooks/ci`` handler for every method (non-POST gets a 405 after the token)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        response = await _answer(request, context)
        outcome = "processed" if response.status == 202 else "rejected"
        if response.status >= 500:
            outcome = "error"
        context.metrics.deliveries.labels("ci_hook", outcome).inc()
        return response

    return handle


async def _answer(request: web.Request, context: CiHookDeps) -> web.Response:
    if not token_ok(request.headers, context.settings.ci_hook_token):
        return error(
            401,
            "a valid 'Authorization: Bearer <CI_HOOK_TOKEN>' (or X-Bot-Token) header is "
            "required; the operator sets CI_HOOK_TOKEN",
        )
    if request.method != "POST":
        return error(405, "method not allowed: POST the CI failure report as JSON")
    body = await read_limited(request, MAX_BODY_BYTES)
    if body is None:
        return error(413, f"payload larger than {MAX_BODY_BYTES} bytes: send a shorter logs_tail")
    try:
        data = json.loads(body)
    except ValueError:
        return error(400, "body is not valid JSON")
    try:
        report = CiReport.parse(data)
    except ReportError as exc:
        return error(400, str(exc))
    diagnosis = classify_text(report.logs_tail, report.failed_jobs)
    now = context.clock()
    with log_context(repo=report.repo):
        try:
            installation_id = await installation_of(context.store, report.repo)
            remaining = await budget_remaining(
                context.store, context.settings, installation_id, now
            )
            loop = await record_report(context.store, report, diagnosis, installation_id, now)
        except Exception:
            # The store is down or broken: the CI should retry, not see a traceback.
            log.exception("could not record the CI report for run %s", report.run_id)
            return error(503, "the report could not be recorded right now; retry later")
        with log_context(loop_id=loop.id):
            log.info(
                "CI report for run %s recorded (%s); budget remaining $%.2f",
                report.run_id,
                diagnosis.category.value,
                remaining,
            )
    return web.json_response(
        {
            "accepted": True,
            "run_id": report.run_id,
            "category": diagnosis.category.value,
            "budget_remaining": remaining,
        },
        status=202,
    )
