"""Operator settings, read once at start-up from the environment and `.env`.

Every problem is collected before reporting, so an operator fixing their
environment sees all missing or malformed variables at once instead of one per
restart.  Secrets are kept out of ``repr`` so a settings object can never end up
in a log line by accident.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

from app.core.errors import SettingsError
from app.fix.egress import Endpoint

DEFAULT_API_URL = "https://api.github.com"
# Charged for an agent run that reports no cost (UNREPORTED_COST_USD): silence is not free.
DEFAULT_UNREPORTED_COST_USD = 0.5
GITHUB_MAX_PAYLOAD = 25 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """What the operator configured; repositories narrow it with their own config."""

    app_id: int
    private_key: str = field(repr=False)
    webhook_secret: str | None = field(repr=False)
    github_api_url: str = DEFAULT_API_URL
    host: str = "0.0.0.0"  # noqa: S104 - a web service listens on all interfaces by default
    port: int = 3000
    webhook_path: str = "/webhook"
    max_body_bytes: int = GITHUB_MAX_PAYLOAD
    store_path: Path = Path("ci-fix-loop.sqlite3")
    database_url: str | None = field(default=None, repr=False)
    status_token: str | None = field(default=None, repr=False)
    ci_hook_token: str | None = field(default=None, repr=False)
    max_concurrent_fixes: int = 2
    global_daily_budget_usd: float | None = None
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 3600.0
    ci_wait_timeout_s: float = 6 * 3600.0
    dry_run: bool = False
    log_format: str = "text"
    log_level: str = "INFO"
    log_tail_bytes: int = 256 * 1024
    fixer_command: str | None = None
    # The operator's fixer: command (FIXER_COMMAND), api (a model key) or none
    # (diagnosis only); repositories that do not choose a kind get this one.
    fixer: str = "command"
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    insecure_allow_unsigned: bool = False
    allow_repo_fixer_command: bool = False
    # Ceilings a repository's config can only lower (see app.config.ceilings).
    max_loop_budget_usd: float = 5.0
    max_daily_budget_usd: float = 25.0
    max_iterations: int = 10
    max_fixer_minutes: float = 30.0
    unreported_cost_usd: float = DEFAULT_UNREPORTED_COST_USD
    # The jail untrusted code runs in (app.fix.sandbox); ``none`` only with insecure_no_sandbox.
    sandbox: str = "bwrap"
    private_key_path: Path | None = None  # where the key was read from, for doctor's probe
    insecure_no_sandbox: bool = False
    sandbox_allow_network: bool = False
    sandbox_agent_hosts: tuple[Endpoint, ...] = ()
    sandbox_readonly_paths: tuple[Path, ...] = ()
    # Not read from the environment: a path both the app and the jail may write is a
    # channel tests use to talk to scripted agents, never something for production.
    sandbox_writable_paths: tuple[Path, ...] = ()
    sandbox_memory_mb: int = 4096
    sandbox_max_processes: int = 512
    sandbox_max_file_mb: int = 1024
    sandbox_cpu_seconds: int = 3600
    delivery_retention_s: float = 7 * 86400.0
    history_retention_s: float = 90 * 86400.0
    retention_interval_s: float = 300.0
    sqlite_wal_max_bytes: int = 64 * 1024 * 1024

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, so redaction and environment scrubbing can find them.

        The database password is listed on its own: it is what a leaked
        connection string gives away, and it may be printed without the URL.
        """
        password = _url_password(self.database_url)
        values = (
            self.private_key,
            self.webhook_secret,
            self.database_url,
            password,
            unquote(password) if password else None,  # as a database client prints it
            self.status_token,
            self.ci_hook_token,
            self.anthropic_api_key,
            self.openai_api_key,
        )
        return tuple(dict.fromkeys(v for v in values if v))


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:  # a malformed port: the whole URL is still redacted
        return None


REQUIRED_HELP = {
    "APP_ID": "the numeric App ID from your GitHub App's settings page",
    "PRIVATE_KEY": "the App's private key (PEM), or PRIVATE_KEY_PATH pointing to the .pem file",
    "WEBHOOK_SECRET": (
        "the webhook secret from your App's settings; without it the app cannot verify "
        "that deliveries come from GitHub"
    ),
}


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Build settings from ``environ`` over the ``.env`` file; raise SettingsError."""
    values = read_values(environ, env_file)
    reader = _Reader(values)

    app_id = reader.integer("APP_ID", required=True, minimum=1)
    private_key = reader.private_key()
    insecure = reader.boolean("INSECURE_ALLOW_UNSIGNED_WEBHOOKS", False)
    webhook_secret = values.get("WEBHOOK_SECRET") or None
    if webhook_secret is None and not insecure:
        reader.missing("WEBHOOK_SECRET")
    api_url = values.get("GITHUB_API_URL", DEFAULT_API_URL).rstrip("/")
    if not api_url.startswith(("http://", "https://")):
        reader.problems.append(f"GITHUB_API_URL={api_url!r} is not an http(s) URL.")
    webhook_path = values.get("WEBHOOK_PATH", "/webhook")
    if not webhook_path.startswith("/"):
        reader.problems.append(f"WEBHOOK_PATH={webhook_path!r} must start with '/'.")
    log_format = values.get("LOG_FORMAT", "text").lower()
    if log_format not in ("text", "json"):
        reader.problems.append(f"LOG_FORMAT={log_format!r} must be 'text' or 'json'.")
    log_level = values.get("LOG_LEVEL", "INFO").upper()
    if log_level not in logging.getLevelNamesMapping():
        reader.problems.append(
            f"LOG_LEVEL={log_level!r} is not a log level: use DEBUG, INFO, WARNING or ERROR."
        )

    fixer = _fixer_kind(values, reader.problems)
    settings = Settings(
        app_id=app_id or 0,
        private_key=private_key or "",
        webhook_secret=webhook_secret,
        github_api_url=api_url,
        host=values.get("HOST", "0.0.0.0"),  # noqa: S104 - see Settings.host
        port=reader.integer("PORT", default=3000, minimum=0, maximum=65535) or 0,
        webhook_path=webhook_path,
        max_body_bytes=reader.integer("MAX_BODY_BYTES", default=GITHUB_MAX_PAYLOAD, minimum=1024)
        or GITHUB_MAX_PAYLOAD,
        store_path=Path(values.get("STORE_PATH", "ci-fix-loop.sqlite3")),
        database_url=values.get("DATABASE_URL") or None,
        status_token=values.get("STATUS_TOKEN") or None,
        ci_hook_token=values.get("CI_HOOK_TOKEN") or None,
        max_concurrent_fixes=reader.integer("MAX_CONCURRENT_FIXES", default=2, minimum=1) or 2,
        global_daily_budget_usd=reader.number("GLOBAL_DAILY_BUDGET_USD"),
        breaker_threshold=reader.integer("BREAKER_THRESHOLD", default=3, minimum=1) or 3,
        breaker_cooldown_s=60.0 * (reader.number("BREAKER_COOLDOWN_MINUTES") or 60.0),
        ci_wait_timeout_s=3600.0 * (reader.number("CI_WAIT_TIMEOUT_HOURS") or 6.0),
        dry_run=reader.boolean("DRY_RUN", False),
        log_format=log_format,
        log_level=log_level,
        log_tail_bytes=reader.integer("LOG_TAIL_BYTES", default=256 * 1024, minimum=4096)
        or 256 * 1024,
        fixer_command=values.get("FIXER_COMMAND") or None,
        fixer=fixer,
        anthropic_api_key=values.get("ANTHROPIC_API_KEY") or None,
        anthropic_base_url=values.get("ANTHROPIC_BASE_URL") or None,
        openai_api_key=values.get("OPENAI_API_KEY") or None,
        openai_base_url=values.get("OPENAI_BASE_URL") or None,
        insecure_allow_unsigned=insecure,
        allow_repo_fixer_command=reader.boolean("ALLOW_REPO_FIXER_COMMANDS", False),
        max_loop_budget_usd=reader.number("MAX_LOOP_BUDGET_USD") or 5.0,
        max_daily_budget_usd=reader.number("MAX_DAILY_BUDGET_USD") or 25.0,
        max_iterations=reader.integer("MAX_ITERATIONS", default=10, minimum=1, maximum=20) or 10,
        max_fixer_minutes=reader.number("MAX_FIXER_MINUTES") or 30.0,
        unreported_cost_usd=reader.number("UNREPORTED_COST_USD") or DEFAULT_UNREPORTED_COST_USD,
        sandbox=reader.sandbox_mode(),
        private_key_path=Path(values["PRIVATE_KEY_PATH"].strip())
        if values.get("PRIVATE_KEY_PATH", "").strip()
        else None,
        insecure_no_sandbox=reader.boolean("INSECURE_NO_SANDBOX", False),
        sandbox_allow_network=reader.boolean("SANDBOX_ALLOW_NETWORK", False),
        sandbox_agent_hosts=reader.endpoints("SANDBOX_AGENT_HOSTS"),
        sandbox_readonly_paths=reader.paths("SANDBOX_READONLY_PATHS"),
        sandbox_memory_mb=reader.integer("SANDBOX_MEMORY_MB", default=4096, minimum=64) or 4096,
        sandbox_max_processes=reader.integer("SANDBOX_MAX_PROCESSES", default=512, minimum=8)
        or 512,
        sandbox_max_file_mb=reader.integer("SANDBOX_MAX_FILE_MB", default=1024, minimum=1) or 1024,
        sandbox_cpu_seconds=reader.integer("SANDBOX_CPU_SECONDS", default=3600, minimum=1) or 3600,
        delivery_retention_s=86400.0 * (reader.number("DELIVERY_RETENTION_DAYS") or 7.0),
        history_retention_s=86400.0 * (reader.number("HISTORY_RETENTION_DAYS") or 90.0),
        retention_interval_s=reader.number("RETENTION_INTERVAL_SECONDS") or 300.0,
        sqlite_wal_max_bytes=1024
        * 1024
        * (reader.integer("SQLITE_WAL_MAX_MB", default=64, minimum=4) or 64),
    )
    if settings.sandbox == "none" and not settings.insecure_no_sandbox:
        reader.problems.append(
            "SANDBOX=none runs repository code with the app's own rights (it can read the "
            "private key and the store); it is refused unless INSECURE_NO_SANDBOX=1 is set too. "
            "Prefer fixing the sandbox: python -m app doctor says what is missing."
        )
    for url_name, url in (
        ("ANTHROPIC_BASE_URL", settings.anthropic_base_url),
        ("OPENAI_BASE_URL", settings.openai_base_url),
    ):
        if url:
            try:
                Endpoint.from_url(url)
            except ValueError as exc:
                reader.problems.append(f"{url_name}: {exc}.")
    for endpoint in settings.sandbox_agent_hosts:
        if endpoint.loopback and endpoint.port < 1024:
            reader.problems.append(
                f"SANDBOX_AGENT_HOSTS: the loopback endpoint {endpoint} needs a port from 1024 "
                "up (the jail relays it on the same port, as an unprivileged user)."
            )
    if reader.problems:
        raise SettingsError(reader.problems)
    return settings


FIXER_KINDS = ("agent", "command", "api", "none")
NO_FIXER = (
    "No fixer is configured, so the app could diagnose failures but never fix one. Set one of: "
    "FIXER_COMMAND to an agent CLI (e.g. FIXER_COMMAND='claude -p --model {model} "
    "--output-format json --permission-mode acceptEdits'); or ANTHROPIC_API_KEY / "
    "OPENAI_API_KEY for the built-in agent; or FIXER=none to run diagnosis only "
    "(check runs, no fixes, no issues)."
)


def _fixer_kind(values: Mapping[str, str], problems: list[str]) -> str:
    """The operator's fixer, refusing a set-up that cannot fix anything unless it says so."""
    raw = values.get("FIXER", "").strip().lower()
    command = bool(values.get("FIXER_COMMAND", "").strip())
    has_key = any(values.get(k, "").strip() for k in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"))
    if raw and raw not in FIXER_KINDS:
        problems.append(f"FIXER={raw!r} is not a fixer: use agent, command, api or none.")
        return "none"
    if not raw:
        if command:
            return "command"
        if has_key:
            return "agent"
        problems.append(NO_FIXER)
        return "none"
    if raw == "command" and not command:
        problems.append(
            "FIXER=command but FIXER_COMMAND is not set: set it to the agent CLI to run, "
            "e.g. 'claude -p --model {model} --output-format json'."
        )
    if raw in ("agent", "api") and not has_key:
        problems.append(f"FIXER={raw} but neither ANTHROPIC_API_KEY nor OPENAI_API_KEY is set.")
    return raw


def unregistered(environ: Mapping[str, str] | None = None, env_file: Path = Path(".env")) -> bool:
    """True when no App has been registered yet: the moment to offer the setup flow."""
    values = read_values(environ, env_file)
    keys = ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET")
    return not any(values.get(k) for k in keys)


def read_values(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    """The ``.env`` file's values with the environment (or ``environ``) over them."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


class _Reader:
    """Typed access to string settings that records problems instead of raising."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.problems: list[str] = []

    def missing(self, name: str) -> None:
        self.problems.append(f"{name} is not set: set it to {REQUIRED_HELP[name]}.")

    def integer(
        self,
        name: str,
        *,
        default: int | None = None,
        required: bool = False,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        raw = self.values.get(name, "").strip()
        if not raw:
            if required:
                self.missing(name)
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not a whole number.")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"from {minimum}" + (f" to {maximum}" if maximum is not None else " upwards")
            self.problems.append(f"{name}={value} is out of range: use a number {bounds}.")
            return default
        return value

    def number(self, name: str) -> float | None:
        raw = self.values.get(name, "").strip()
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not a number.")
            return None
        if value <= 0:
            self.problems.append(f"{name}={raw} must be greater than zero.")
            return None
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.values.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        self.problems.append(f"{name}={raw!r} is not a boolean: use 1/0, true/false.")
        return default

    def sandbox_mode(self) -> str:
        raw = self.values.get("SANDBOX", "bwrap").strip().lower() or "bwrap"
        if raw not in ("bwrap", "none"):
            self.problems.append(f"SANDBOX={raw!r} is not a sandbox: use 'bwrap' (or 'none').")
            return "bwrap"
        return raw

    def endpoints(self, name: str) -> tuple[Endpoint, ...]:
        """Comma-separated ``host:port`` (or URLs) the agent may reach."""
        found: list[Endpoint] = []
        for item in self.values.get(name, "").split(","):
            if not item.strip():
                continue
            try:
                found.append(Endpoint.parse(item))
            except ValueError as exc:
                self.problems.append(f"{name}: {exc}; write host:port, comma-separated.")
        return tuple(found)

    def paths(self, name: str) -> tuple[Path, ...]:
        """``os.pathsep``-separated absolute paths that must exist."""
        found: list[Path] = []
        for item in self.values.get(name, "").split(os.pathsep):
            if not item.strip():
                continue
            path = Path(item.strip())
            if not path.is_absolute() or not path.exists():
                self.problems.append(f"{name}: {item!r} is not an existing absolute path.")
            else:
                found.append(path)
        return tuple(found)

    def private_key(self) -> str | None:
        inline = self.values.get("PRIVATE_KEY", "").strip()
        path = self.values.get("PRIVATE_KEY_PATH", "").strip()
        if inline:
            key = inline.replace("\\n", "\n")
        elif path:
            try:
                key = Path(path).expanduser().read_text()
            except OSError as exc:
                self.problems.append(f"PRIVATE_KEY_PATH={path!r} cannot be read: {exc.strerror}.")
                return None
        else:
            self.missing("PRIVATE_KEY")
            return None
        if "PRIVATE KEY-----" not in key:
            where = "PRIVATE_KEY" if inline else f"PRIVATE_KEY_PATH={path!r}"
            self.problems.append(
                f"{where} does not hold a PEM private key "
                "(expected '-----BEGIN ... PRIVATE KEY-----')."
            )
            return None
        return key
