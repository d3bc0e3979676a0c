"""Builds the engine and its collaborators from the operator's settings.

Web instances (``app.server``) and workers (``app.worker``) build the same
engine here, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import aiohttp
from gidgethub.abc import GitHubAPI

from app.config.ceilings import Ceilings, apply_ceilings
from app.config.source import ConfigLoad, load_repo_config
from app.core.metrics import Metrics
from app.core.redact import Redactor
from app.diagnosis.gather import LogGatherer
from app.github.auth import AppAuth
from app.github.client import GitHubClients
from app.loop.engine import Engine
from app.loop.ports import Attempter, AttemptInput, AttemptResult, Diagnoser, Scheduler
from app.loop.runner import LocalRunner
from app.publish.commit import publish_fix
from app.publish.reporter import GitHubReporter
from app.settings import Settings
from app.store.base import Store

if TYPE_CHECKING:
    from app.fix.fixers.base import Fixer
    from app.github.client import AppGitHubAPI

# How long one request to GitHub may take before it counts as failed (and is retried).
GITHUB_TIMEOUT = aiohttp.ClientTimeout(total=300, sock_connect=10)


class RepoConfigLoader:
    """Reads `.github/ci-fix-loop.yml` from the default branch (pushers cannot change it)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ceilings = Ceilings.from_settings(settings)

    async def load(self, gh: GitHubAPI, repo: str, head_sha: str) -> ConfigLoad:
        owner, name = repo.split("/", 1)
        load = await load_repo_config(
            gh,
            owner=owner,
            repo=name,
            allow_fixer_command=self._settings.allow_repo_fixer_command,
        )
        # Every config the engine sees is under the operator's ceilings.
        return replace(load, config=apply_ceilings(load.config, self._ceilings))


def default_diagnoser(settings: Settings) -> LogGatherer:
    return LogGatherer(tail_bytes=settings.log_tail_bytes)


def default_attempter(
    settings: Settings, metrics: Metrics, redactor: Redactor | None = None
) -> Attempter:
    """The fix stage, built when the first loop needs it.

    Its modules (workspace, sandbox, the guard's parsers) are a fifth of the
    web service's start-up; most processes answer many webhooks before one fix.
    """
    return _FirstUse(lambda: _fix_attempter(settings, metrics, redactor))


def _fix_attempter(settings: Settings, metrics: Metrics, redactor: Redactor | None) -> Attempter:
    from app.fix.attempt import FixAttempter
    from app.fix.fixers.select import FixerSettings, choose_fixers

    operator = FixerSettings.from_settings(settings)

    def fixers(request: AttemptInput) -> list[Fixer]:
        return choose_fixers(request.config, request.diagnosis.category, operator)

    return FixAttempter(
        fixers=fixers,
        publish=publish_fix,
        metrics=metrics,
        redactor=redactor or Redactor(settings.secrets()),
        sandbox=operator.sandbox,
    )


class _FirstUse:
    """An ``Attempter`` that builds the real one on its first attempt."""

    def __init__(self, build: Callable[[], Attempter]) -> None:
        self._build = build
        self._real: Attempter | None = None

    async def attempt(
        self,
        gh: AppGitHubAPI,
        request: AttemptInput,
        on_spend: Callable[[float], Awaitable[None]],
    ) -> AttemptResult:
        if self._real is None:
            self._real = self._build()
        return await self._real.attempt(gh, request, on_spend)


def job_scheduler(settings: Settings) -> Scheduler | None:
    """With a shared database, queued loops go to the job queue the workers read."""
    if settings.database_url is None:
        return None
    try:
        from app.loop.jobs import JobScheduler  # needs the `postgres` extra, only loaded when used
    except ImportError as exc:
        raise RuntimeError(
            f"DATABASE_URL is set but {exc.name} is not installed: "
            "pip install 'ci-fix-loop[postgres]'"
        ) from exc
    return JobScheduler(settings.database_url)


@dataclass(frozen=True)
class LoopMachinery:
    """The engine, the GitHub clients it uses, and the in-process runner if loops run here."""

    engine: Engine
    clients: GitHubClients
    runner: LocalRunner | None
    scheduler: Scheduler


def build_engine(
    settings: Settings,
    *,
    store: Store,
    session: aiohttp.ClientSession,
    metrics: Metrics,
    clock: Callable[[], float],
    sleeper: Callable[[float], Awaitable[None]] = asyncio.sleep,
    diagnoser: Diagnoser | None = None,
    attempter: Attempter | None = None,
    scheduler: Scheduler | None = None,
    job_queue: bool = True,
    worker_id: str | None = None,
    redactor: Redactor | None = None,
) -> LoopMachinery:
    """The engine and what it needs, wired as in production.

    ``job_queue=False`` keeps the loop work in this process even on PostgreSQL
    (the loop tests run the same scenarios on both stores that way).  One
    ``redactor`` (pass the log handler's) learns each installation token as it
    is minted and cleans every text sent to GitHub or a fixer.
    """
    redactor = redactor or Redactor(settings.secrets())
    clients = GitHubClients(
        auth=AppAuth(
            app_id=settings.app_id,
            private_key=settings.private_key,
            api_url=settings.github_api_url,
            session=session,
            clock=clock,
            on_token=redactor.add,
        ),
        session=session,
        api_url=settings.github_api_url,
        sleeper=sleeper,
        clock=clock,
        on_response=metrics.github_response,
        redactor=redactor,
    )
    runner: LocalRunner | None = None
    chosen = scheduler or (job_scheduler(settings) if job_queue else None)
    if chosen is None:
        runner = LocalRunner(
            store,
            concurrency=settings.max_concurrent_fixes,
            clock=clock,
            sole_worker=settings.database_url is None,
        )
        chosen = runner
    engine = Engine(
        settings=settings,
        store=store,
        github=clients.for_installation,
        diagnoser=diagnoser or default_diagnoser(settings),
        configs=RepoConfigLoader(settings),
        attempter=attempter or default_attempter(settings, metrics, redactor),
        reporter=GitHubReporter(store=store, dry_run=settings.dry_run),
        metrics=metrics,
        clock=clock,
        worker_id=worker_id,
        scheduler=chosen,
        sleeper=sleeper,
    )
    return LoopMachinery(engine=engine, clients=clients, runner=runner, scheduler=chosen)
