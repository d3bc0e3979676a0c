"""What every fixer receives and reports.

A fixer edits files in a workspace (a private checkout of the failing commit)
and says what it did and what it cost.  The loop engine never trusts a fixer's
word about *what changed*: the workspace diff is computed afterwards and
checked by the guard.  ``changed_files`` here is informational: fixers that
run untrusted programs leave it empty, since only the app's own reading of the
checkout (``app.fix.workspace``) says what changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from app.diagnosis.model import Diagnosis
from app.fix.checks import Check, CheckResult

# Characters of a fixer's output kept in its result: enough for the reason it stopped.
TRANSCRIPT_TAIL = 4000


@dataclass(frozen=True)
class FixRequest:
    """Everything a fixer may use: no tokens, no secrets, no GitHub client."""

    workspace: Path
    diagnosis: Diagnosis
    prompt: str
    model: str
    iteration: int
    timeout_s: float = 600.0
    # What this attempt may still spend (the loop's and the day's budgets); None: no cap.
    budget_usd: float | None = None
    # Commands a fixer may have run in the sandbox, by name (``app.fix.checks``), and how.
    checks: tuple[Check, ...] = ()
    run_check: Callable[[Check], Awaitable[CheckResult]] | None = None
    # The guard's objections to the workspace's current change (empty: it would pass).
    judge: Callable[[], Awaitable[tuple[str, ...]]] | None = None


@dataclass(frozen=True)
class FixResult:
    """What a fixer reports after it ran.

    ``summary`` is the fixer's own account of what it changed and why (shown in
    the pull request, labelled as the agent's words); ``transcript`` lists the
    built-in agent's steps (tool, arguments, a short result), redacted.
    """

    changed_files: tuple[str, ...] = ()
    cost_usd: float = 0.0
    tokens: int | None = None
    transcript_tail: str = ""
    escalate_reason: str | None = None
    error: str | None = None
    # The agent's own account of what it changed and why, for the pull request.
    summary: str | None = None
    transcript: tuple[dict[str, Any], ...] = ()
    model_calls: int = 0
    cache_read_tokens: int = 0


MODEL_PROVIDERS = ("anthropic", "openai")


def check_model_credentials(fixer: str, provider: str, api_key: str) -> None:
    """Refuse to build a model fixer for an unknown provider or without its key."""
    if provider not in MODEL_PROVIDERS:
        raise ValueError(f"{fixer} provider {provider!r} is not supported; use {MODEL_PROVIDERS}")
    if not api_key:
        key = f"{provider.upper()}_API_KEY"
        raise ValueError(f"the {fixer} fixer needs a {provider} API key: set {key}")


class Fixer(Protocol):
    """Edits the workspace to fix the diagnosed failure."""

    name: str

    async def fix(self, request: FixRequest) -> FixResult: ...
