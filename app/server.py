"""The web service: builds every component from Settings and serves the HTTP routes.

Routes: the GitHub webhook, ``/healthz``, ``/status`` (bearer token),
``/metrics`` (Prometheus) and ``/hooks/ci`` (the seed's endpoint for CI
systems other than GitHub Actions).  Components are created in the app's
cleanup context, so a test builds the same app against a fake GitHub and a
temporary store, and shutdown always closes what start-up opened.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from app.admin import dashboard
from app.admin.ci_hook import CiHookDeps, make_ci_hook_handler
from app.admin.command_handler import CommandHandler
from app.admin.config_check import ConfigChecker
from app.admin.installations import InstallationHandler
from app.admin.status import build_status, metrics_from_store
from app.assemble import GITHUB_TIMEOUT, build_engine
from app.core.metrics import Metrics
from app.core.redact import Redactor
from app.github.client import GitHubClients
from app.intake.context import HandlerContext
from app.intake.dispatch import Dispatcher
from app.intake.events import replay_shapes, router
from app.intake.recovery import DeliveryRecovery
from app.intake.webhook import make_webhook_handler
from app.loop.engine import Engine
from app.loop.ports import Attempter, Diagnoser
from app.loop.runner import LocalRunner, hand_out
from app.settings import Settings
from app.store.base import Store
from app.store.housekeeping import Housekeeper
from app.store.open import open_store, retention_policy


@dataclass(frozen=True)
class Overrides:
    """Seams for tests and benchmarks: a controlled clock, sleeper, or fixer pipeline."""

    clock: Callable[[], float] = time.time
    sleeper: Callable[[float], Awaitable[None]] = asyncio.sleep
    attempter: Attempter | None = None
    diagnoser: Diagnoser | None = None
    job_queue: bool = True
    github_timeout: aiohttp.ClientTimeout = GITHUB_TIMEOUT
    timer_s: float = 60.0  # how often deadlines (the CI-wait timeout) are checked
    # How often GitHub's delivery log is checked for lost deliveries; None: never
    # (tests opt in).  Without overrides, the app checks every DELIVERY_RECOVERY_S.
    recovery_s: float | None = None


@dataclass
class Services:
    """Every component the running app holds; tests reach them through ``app[CONTEXT]``."""

    settings: Settings
    store: Store
    clients: GitHubClients
    engine: Engine
    runner: LocalRunner | None
    commands: CommandHandler
    installations: InstallationHandler
    metrics: Metrics
    dispatcher: Dispatcher
    clock: Callable[[], float]
    recovery: DeliveryRecovery


CONTEXT = web.AppKey("context", Services)
DELIVERY_RECOVERY_S = 600.0


def build_app(
    settings: Settings, overrides: Overrides | None = None, *, redactor: Redactor | None = None
) -> web.Application:
    """The web application; ``redactor`` is the log handler's, so both learn live tokens."""
    options = overrides or Overrides(recovery_s=DELIVERY_RECOVERY_S)
    app = web.Application(client_max_size=settings.max_body_bytes + 1)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        store = await open_store(settings)
        session = aiohttp.ClientSession(timeout=options.github_timeout)
        metrics = Metrics()
        machinery = build_engine(
            settings,
            store=store,
            session=session,
            metrics=metrics,
            clock=options.clock,
            sleeper=options.sleeper,
            diagnoser=options.diagnoser,
            attempter=options.attempter,
            job_queue=options.job_queue,
            redactor=redactor,
        )
        engine, clients, runner = machinery.engine, machinery.clients, machinery.runner
        commands = CommandHandler(store=store, engine=engine, github=clients.for_installation)
        installations = InstallationHandler(
            store=store, engine=engine, clients=clients, clock=options.clock
        )
        handlers = HandlerContext(
            workflow_runs=engine,
            comments=commands,
            installations=installations,
            pushes=ConfigChecker(
                settings=settings, clients=clients, store=store, clock=options.clock
            ),
        )
        context = Services(
            settings=settings,
            store=store,
            clients=clients,
            engine=engine,
            runner=runner,
            commands=commands,
            installations=installations,
            metrics=metrics,
            dispatcher=Dispatcher(
                router=router,
                store=store,
                metrics=metrics,
                context=handlers,
                clock=options.clock,
                sleeper=options.sleeper,
                replay_shapes=replay_shapes,
            ),
            clock=options.clock,
            recovery=DeliveryRecovery(clients=clients, store=store, clock=options.clock),
        )
        app[CONTEXT] = context
        app.router.add_post(
            settings.webhook_path,
            make_webhook_handler(
                dispatcher=context.dispatcher,
                secret=settings.webhook_secret,
                max_body_bytes=settings.max_body_bytes,
            ),
        )
        app.router.add_route(
            "*",
            "/hooks/ci",
            make_ci_hook_handler(
                CiHookDeps(settings=settings, store=store, metrics=metrics, clock=options.clock)
            ),
        )
        timers: list[asyncio.Task[None]] = []
        if runner is not None:
            worker = asyncio.create_task(runner.run(engine), name="loop-runner")
            timers.append(
                asyncio.create_task(runner.keep_time(engine, every_s=options.timer_s), name="timer")
            )
        else:
            worker = asyncio.create_task(hand_out(engine, machinery.scheduler), name="hand-out")
        # Real time, not options.sleeper: retention paces itself, whatever a test's clock does.
        housekeeper = Housekeeper(
            store=store,
            policy=retention_policy(settings),
            clock=options.clock,
            interval_s=settings.retention_interval_s,
        )
        housekeeping = asyncio.create_task(housekeeper.run(), name="housekeeping")
        await context.dispatcher.replay_unfinished()
        if options.recovery_s is not None:
            timers.append(
                asyncio.create_task(
                    context.recovery.keep_asking(options.recovery_s), name="delivery-recovery"
                )
            )
        try:
            yield
        finally:
            housekeeping.cancel()
            await asyncio.gather(housekeeping, return_exceptions=True)
            await context.dispatcher.drain()
            await context.dispatcher.close()
            if runner is not None:
                await runner.shutdown()
            await engine.close()
            for task in [worker, *timers]:
                task.cancel()
            await asyncio.gather(worker, *timers, return_exceptions=True)
            await session.close()
            await store.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", metrics_endpoint)
    dashboard.add_routes(app, lambda request: request.app[CONTEXT])
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def bearer_ok(request: web.Request, expected: str | None) -> bool:
    """Constant-time comparison of the request's bearer token with ``expected``."""
    if not expected:
        return False
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.encode(), expected.encode())


async def status(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    if not bearer_ok(request, context.settings.status_token):
        return web.json_response(
            {"error": "a valid 'Authorization: Bearer <STATUS_TOKEN>' header is required"},
            status=401,
        )
    return web.json_response(await build_status(context.store, context.settings, context.clock()))


async def metrics_endpoint(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await metrics_from_store(context.metrics, context.store, context.clock())
    return web.Response(body=body, content_type="text/plain", charset="utf-8")
