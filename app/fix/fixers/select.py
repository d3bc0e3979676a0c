"""Which fixers run for a failure, in order: free deterministic ones first.

The repository chooses the kind (``fixer.kind``: ``auto``, ``agent``, ``command``,
``api`` or ``none``) and its autofix commands; the operator supplies what a
repository must never hold: model credentials, a default agent command, the
price table.  ``auto`` (the default) is the operator's agent CLI when one is
set, else the built-in agent with whichever model key is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from app.config.model import RepoConfig
from app.core.errors import FixerUnavailable
from app.diagnosis.model import Category
from app.fix.fixers.agent import AgentFixer
from app.fix.fixers.api import ApiFixer
from app.fix.fixers.autofix import AutofixFixer
from app.fix.fixers.base import Fixer
from app.fix.fixers.command import CommandFixer
from app.fix.fixers.pricing import PriceTable
from app.fix.sandbox import Sandbox
from app.settings import DEFAULT_UNREPORTED_COST_USD, Settings

# Categories whose failures the repository's own fix tools (ruff --fix, prettier) address.
AUTOFIXABLE = frozenset({Category.LINT})


@dataclass(frozen=True)
class FixerSettings:
    """The operator's side of fixer configuration."""

    default_command: str | None = None
    default_kind: str = "command"
    command_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    anthropic_api_key: str | None = field(default=None, repr=False)
    anthropic_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    price_table: PriceTable = field(default_factory=PriceTable)
    autofix_timeout_s: float = 300.0
    unreported_cost_usd: float = DEFAULT_UNREPORTED_COST_USD
    sandbox: Sandbox = field(default_factory=Sandbox)

    @classmethod
    def from_settings(cls, settings: Settings) -> FixerSettings:
        """Model credentials go to agent CLIs under their usual names, nothing else does."""
        command_env = {
            name: value
            for name, value in (
                ("ANTHROPIC_API_KEY", settings.anthropic_api_key),
                ("ANTHROPIC_BASE_URL", settings.anthropic_base_url),
                ("OPENAI_API_KEY", settings.openai_api_key),
                ("OPENAI_BASE_URL", settings.openai_base_url),
            )
            if value
        }
        return cls(
            default_command=settings.fixer_command,
            default_kind=settings.fixer,
            command_env=command_env,
            anthropic_api_key=settings.anthropic_api_key,
            anthropic_base_url=settings.anthropic_base_url,
            openai_api_key=settings.openai_api_key,
            openai_base_url=settings.openai_base_url,
            unreported_cost_usd=settings.unreported_cost_usd,
            sandbox=Sandbox.from_settings(settings),
        )


def choose_fixers(config: RepoConfig, category: Category, settings: FixerSettings) -> list[Fixer]:
    """Autofix first for lint failures when configured, then the configured kind.

    ``none`` means autofix only, so the list may be empty: the engine escalates.
    Raises ``FixerUnavailable`` when the configured kind lacks what it needs.
    """
    fixers: list[Fixer] = []
    if config.autofix and category in AUTOFIXABLE:
        fixers.append(AutofixFixer(config.autofix, settings.autofix_timeout_s, settings.sandbox))
    kind, provider = resolve_kind(config.fixer.kind, config.fixer.provider, settings)
    if kind == "none":
        return fixers
    if kind == "command":
        command = config.fixer.command or settings.default_command
        if not command:
            raise FixerUnavailable(
                "fixer.kind is `command` but the app's operator has not configured an agent "
                "command (FIXER_COMMAND); choose another `fixer.kind` in "
                ".github/ci-fix-loop.yml or ask the operator"
            )
        fixers.append(
            CommandFixer(
                command,
                config.fixer.timeout_s,
                settings.command_env,
                sandbox=settings.sandbox,
                unreported_cost_usd=settings.unreported_cost_usd,
            )
        )
        return fixers
    if kind == "api":
        fixers.append(
            ApiFixer(provider, *_credentials(kind, provider, settings), settings.price_table)
        )
        return fixers
    if kind == "agent":
        fixers.append(
            AgentFixer(provider, *_credentials(kind, provider, settings), settings.price_table)
        )
        return fixers
    raise FixerUnavailable(
        f"fixer.kind {kind!r} is unknown; use `auto`, `agent`, `command`, `api` or `none`"
    )


def resolve_kind(kind: str, provider: str, settings: FixerSettings) -> tuple[str, str]:
    """The fixer kind and model provider to use: (kind, provider).

    An empty or ``auto`` kind is the operator's choice (``FIXER``); then a model
    fixer whose provider has no key here uses the provider that has one, so a
    repository that chose nothing still gets a working agent.  A kind the
    repository named keeps its provider (and says which key is missing).
    """
    if kind not in ("", "auto"):
        return kind, provider
    kind = settings.default_kind
    if kind in ("agent", "api"):
        keys = {"anthropic": settings.anthropic_api_key, "openai": settings.openai_api_key}
        if not keys.get(provider):
            provider = next((name for name, key in keys.items() if key), provider)
    return kind, provider


def _credentials(kind: str, provider: str, settings: FixerSettings) -> tuple[str, str | None]:
    keys = {
        "anthropic": (settings.anthropic_api_key, settings.anthropic_base_url),
        "openai": (settings.openai_api_key, settings.openai_base_url),
    }
    if provider not in keys:
        raise FixerUnavailable(
            f"fixer.provider {provider!r} is unknown; use `anthropic` or `openai`"
        )
    api_key, base_url = keys[provider]
    if not api_key:
        raise FixerUnavailable(
            f"fixer.kind is `{kind}` with provider {provider} but {provider.upper()}_API_KEY is "
            "not set for the app"
        )
    return api_key, base_url
