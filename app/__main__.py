"""Command line: ``python -m app serve | worker | setup | status | config | classify | guard``
and ``doctor``.

Every failure a user can cause (missing settings, a busy port, an unwritable
store, a Python without the app's dependencies) ends with a message that says
what to do and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sqlite3
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

try:
    from app.config import cli as config_cli
    from app.core.errors import SettingsError
    from app.core.logctx import configure_logging
    from app.core.redact import Redactor
    from app.diagnosis import cli as classify_cli
    from app.fix.guard import cli as guard_cli
    from app.settings import (
        DEFAULT_API_URL,
        Settings,
        load_settings,
        read_values,
        unregistered,
    )
except ImportError as missing:  # run with a Python that lacks the app's dependencies
    sys.exit(
        f"ci-fix-loop's dependencies are not installed for {sys.executable} "
        f"({missing.name} is missing).\n"
        "Use the project's environment: `bash scripts/start.sh` installs it into .venv and "
        "starts the app (`bash scripts/start.sh setup` for the setup page), or run "
        "`.venv/bin/python -m app ...`, or install with `pip install -e .` first."
    )

ENV_FILE = Path(".env")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="ci-fix-loop: a GitHub App that repairs failing CI."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the webhook server and the fix worker")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT or 3000)")
    serve.add_argument("--host", help="address to listen on (default: HOST or 0.0.0.0)")
    serve.add_argument(
        "--public-url",
        help="the URL GitHub reaches this server at; used by the setup flow when no App "
        "is registered yet",
    )
    worker = commands.add_parser(
        "worker", help="work fix loops from the shared job queue (needs DATABASE_URL)"
    )
    worker.add_argument(
        "--concurrency", type=int, help="jobs worked at once (default: MAX_CONCURRENT_FIXES)"
    )
    worker.add_argument(
        "--poll", type=float, default=5.0, help="most seconds between looks for waiting jobs"
    )
    worker.add_argument(
        "--heartbeat", type=float, default=10.0, help="seconds between liveness heartbeats"
    )
    worker.add_argument(
        "--stalled-after",
        type=float,
        default=60.0,
        help="seconds of silence after which a worker's jobs are taken over by others",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="port of this worker's /metrics (default: METRICS_PORT or 9464; taken: any free one)",
    )
    setup = commands.add_parser("setup", help="register the GitHub App from app.yml")
    setup.add_argument("--host", default="127.0.0.1")
    setup.add_argument("--port", type=int, default=3000)
    setup.add_argument("--public-url", help="the URL GitHub will send webhooks to")
    status = commands.add_parser(
        "status", help="active loops, history, budget, breakers (needs only the store location)"
    )
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    classify_cli.add_parser(commands)
    config_cli.add_parser(commands)
    guard_cli.add_parser(commands)
    doctor = commands.add_parser(
        "doctor", help="check settings, key, store, sandbox, fixer and GitHub; one line each"
    )
    doctor.add_argument(
        "--offline", action="store_true", help="skip the GitHub check (no network here)"
    )
    args = parser.parse_args(argv)

    if args.command == "classify":
        return classify_cli.run(args)
    if args.command == "config":
        return config_cli.run(args)
    if args.command == "guard":
        return guard_cli.run(args)
    if args.command == "setup":
        return run_setup_command(args.host, args.port, args.public_url)
    if args.command == "status":
        return print_status(as_json=args.json)
    if args.command == "doctor":
        return run_doctor(offline=args.offline)
    if args.command == "serve" and unregistered(env_file=ENV_FILE):
        print(
            "No GitHub App is registered yet (APP_ID, PRIVATE_KEY and WEBHOOK_SECRET are not "
            "set).\nStarting the setup flow so you can register one now.\n",
            file=sys.stderr,
        )
        return run_setup_command(args.host or "127.0.0.1", args.port or 3000, args.public_url)
    try:
        settings = load_settings(env_file=ENV_FILE)
    except SettingsError as exc:
        print("ci-fix-loop cannot start:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Set these in the environment or in .env (python -m app setup writes them).",
            file=sys.stderr,
        )
        return 2
    if args.command in ("worker", "serve"):
        jail_problem = sandbox_problem(settings)
        if jail_problem:
            print(f"ci-fix-loop cannot start: {jail_problem}", file=sys.stderr)
            return 2
        for problem in startup_problems(settings):
            print(f"ci-fix-loop cannot start: {problem}", file=sys.stderr)
            return 2
    if args.command == "worker":
        return run_worker_command(settings, args)
    if args.host:
        settings = replace(settings, host=args.host)
    return serve_forever(settings, args.port)


def sandbox_problem(settings: Settings) -> str | None:
    """Start a jail once before serving, so a host without user namespaces is found now."""
    from app.core.errors import SandboxUnavailable
    from app.fix.sandbox import Sandbox

    try:
        asyncio.run(Sandbox.from_settings(settings).check())
    except SandboxUnavailable as exc:
        return str(exc)
    return None


STARTUP_GITHUB_TIMEOUT_S = 15.0


def startup_problems(settings: Settings) -> list[str]:
    """The doctor's checks that must pass before anything listens (same code as ``doctor``).

    The key must load as RSA and sign; when GitHub answers, ``GET /app`` must name this
    App (a key of another App fails here, not at every delivery). GitHub unreachable
    is only a warning: the app may start before the network is up, and retries.
    """
    from app.admin.doctor import check_github, check_key

    key = check_key(settings)
    if key.failed:
        where = "PRIVATE_KEY_PATH" if settings.private_key_path else "PRIVATE_KEY"
        return [f"{where} {key.detail}. Use the .pem GitHub generated for this App."]
    try:
        github = asyncio.run(
            asyncio.wait_for(check_github(settings), timeout=STARTUP_GITHUB_TIMEOUT_S)
        )
    except TimeoutError:
        print(
            f"warning: {settings.github_api_url} did not answer; starting anyway", file=sys.stderr
        )
        return []
    if github.failed and github.transient:
        print(f"warning: {github.detail}; starting anyway", file=sys.stderr)
        return []
    if github.failed:
        return [f"{github.detail} (GITHUB_API_URL={settings.github_api_url})."]
    return []


def warn_if_unjailed(settings: Settings, log: logging.Logger) -> None:
    if settings.sandbox == "none":
        log.warning(
            "SANDBOX=none with INSECURE_NO_SANDBOX=1: repository code (agent, autofix, verify) "
            "runs UNJAILED with this process's rights: it can read the private key, .env and "
            "the store, and reach every port. Never use this in production."
        )


def run_doctor(*, offline: bool) -> int:
    from app.admin.doctor import run_checks

    checks = asyncio.run(run_checks(env_file=ENV_FILE, github=not offline))
    for check in checks:
        print(check.line())
    return 1 if any(check.failed for check in checks) else 0


def run_setup_command(host: str, port: int, public_url: str | None) -> int:
    from app.admin.setup import run_setup

    api_url = read_values(None, ENV_FILE).get("GITHUB_API_URL", DEFAULT_API_URL)
    try:
        run_setup(host, port, ENV_FILE.resolve(), public_url=public_url, github_api_url=api_url)
    except OSError as exc:
        print(f"The setup page cannot listen on {host}:{port}: {exc.strerror}.", file=sys.stderr)
        return 2
    return 0


def serve_forever(settings: Settings, port: int | None) -> int:
    from aiohttp import web

    from app.server import build_app

    redactor = Redactor(settings.secrets())
    configure_logging(fmt=settings.log_format, level=settings.log_level, redactor=redactor)
    log = logging.getLogger("app")
    if settings.webhook_secret is None:
        log.warning(
            "INSECURE_ALLOW_UNSIGNED_WEBHOOKS is on: deliveries are NOT verified. "
            "Anyone who can reach this server can make the app act. Never use this in production."
        )
    warn_if_unjailed(settings, log)
    listen_port = port or settings.port
    problem = store_problem(settings)
    if problem:
        print(f"ci-fix-loop cannot start: {problem}", file=sys.stderr)
        return 2
    log.info("listening on %s:%s, webhooks at %s", settings.host, listen_port,
             settings.webhook_path)  # fmt: skip
    app = build_app(settings, redactor=redactor)
    # What start-up created lives as long as the process: frozen, it is skipped
    # by the collector's full passes, so no request waits while one walks the
    # few hundred thousand objects the imports made.
    gc.freeze()
    try:
        web.run_app(
            app,
            host=settings.host,
            port=listen_port,
            print=None,
        )
    except OSError as exc:
        print(f"Cannot listen on {settings.host}:{listen_port}: {exc.strerror}.", file=sys.stderr)
        return 2
    except (ImportError, RuntimeError) as exc:
        return store_unavailable(exc)
    except sqlite3.Error as exc:
        print(
            f"ci-fix-loop cannot start: the SQLite store STORE_PATH={settings.store_path} "
            f"cannot be used ({exc}).",
            file=sys.stderr,
        )
        return 2
    return 0


def store_problem(settings: Settings) -> str | None:
    """Why the SQLite store cannot be written, before anything listens; None when it can."""
    if settings.database_url:
        return None
    path = settings.store_path.expanduser()
    folder = path.parent.resolve()
    if not folder.is_dir():
        return (
            f"STORE_PATH={settings.store_path}: the directory {folder} does not exist; "
            "create it or point STORE_PATH at a file in a writable directory."
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"STORE_PATH={settings.store_path}: this user cannot write to {folder} (SQLite "
            "needs to create its journal beside the file); choose a writable directory."
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return (
            f"STORE_PATH={settings.store_path}: the file is not readable and writable by this user."
        )
    return None


def store_unavailable(exc: ImportError | RuntimeError) -> int:
    """Say why the store (or job queue) could not be opened, without a traceback; exit code 2.

    ``RuntimeError`` is how the stores report an unreachable or unusable
    database, in a message that already says what to check.
    """
    if isinstance(exc, ImportError):
        print(
            f"DATABASE_URL is set but {exc.name} is not installed: "
            "pip install 'ci-fix-loop[postgres]'.",
            file=sys.stderr,
        )
    else:
        print(f"ci-fix-loop cannot start: {exc}", file=sys.stderr)
    return 2


def metrics_port() -> int:
    """``METRICS_PORT`` when it is a port number, else the default."""
    raw = os.environ.get("METRICS_PORT", "").strip()
    return int(raw) if raw.isdigit() and int(raw) < 65536 else 9464


def run_worker_command(settings: Settings, args: argparse.Namespace) -> int:
    redactor = Redactor(settings.secrets())
    configure_logging(fmt=settings.log_format, level=settings.log_level, redactor=redactor)
    warn_if_unjailed(settings, logging.getLogger("app"))
    try:
        from app.worker import WorkerOptions, run_worker

        options = WorkerOptions(
            concurrency=args.concurrency or settings.max_concurrent_fixes,
            poll_s=args.poll,
            heartbeat_s=args.heartbeat,
            stalled_after_s=args.stalled_after,
            metrics_port=args.metrics_port if args.metrics_port is not None else metrics_port(),
        )
        asyncio.run(run_worker(settings, options, redactor=redactor))
    except ImportError as exc:
        print(
            f"The worker needs the PostgreSQL extra ({exc.name} is missing): "
            "pip install 'ci-fix-loop[postgres]'.",
            file=sys.stderr,
        )
        return 2
    except (ValueError, RuntimeError) as exc:
        print(f"The worker cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def print_status(*, as_json: bool) -> int:
    """Loops, spend and breakers from the store alone: no App key or secret needed.

    Only ``STORE_PATH`` (or ``DATABASE_URL``) is read.  A store that does not
    exist is reported, never created, so running this in the wrong directory
    cannot leave an empty database behind.
    """
    from app.admin.status import build_status
    from app.store.open import open_store

    values = read_values(None, ENV_FILE)
    database_url = values.get("DATABASE_URL") or None
    store_path = Path(values.get("STORE_PATH", "ci-fix-loop.sqlite3"))
    if database_url is None and not store_path.is_file():
        print(
            f"No store at STORE_PATH={store_path} ({store_path.resolve()}): the app has not "
            "run with this store. Run this where the app runs, or set STORE_PATH (or "
            "DATABASE_URL) to the store it uses.",
            file=sys.stderr,
        )
        return 1
    budget = values.get("GLOBAL_DAILY_BUDGET_USD", "").strip()
    settings = Settings(
        app_id=0,
        private_key="",
        webhook_secret=None,
        store_path=store_path,
        database_url=database_url,
        global_daily_budget_usd=float(budget) if budget.replace(".", "", 1).isdigit() else None,
    )

    async def collect() -> dict[str, Any]:
        store = await open_store(settings)
        try:
            return await build_status(store, settings, time.time())
        finally:
            await store.close()

    try:
        report = asyncio.run(collect())
    except (ImportError, RuntimeError) as exc:
        return store_unavailable(exc)
    except sqlite3.Error as exc:
        print(f"The store at STORE_PATH={store_path} cannot be read: {exc}.", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    where = "DATABASE_URL" if database_url else f"STORE_PATH={store_path}"
    if not report["active"] and not report["history"]:
        print(f"The store ({where}) holds no loops yet: no failing run has been handled.")
        return 0
    print(f"Store: {where}")
    print(f"Active loops: {len(report['active'])}")
    for loop in report["active"]:
        print(f"  #{loop['id']} {loop['repo']} {loop['state']} run {loop['run_id']} "
              f"iterations={loop['iterations']} ${loop['cost_usd']:.2f}")  # fmt: skip
    history = report["history"]
    print(f"History (last {len(history)}):")
    for loop in history[:20]:
        print(f"  #{loop['id']} {loop['repo']} {loop['state']} {loop['category']} "
              f"${loop['cost_usd']:.2f} {loop['reason'] or ''}")  # fmt: skip
    budget_report = report["budget"]
    print(f"Spend today: ${budget_report['spend_today_usd']:.2f}")
    for breaker in report["breakers"]:
        if breaker["open"]:
            print(f"Circuit breaker OPEN for {breaker['repo']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
