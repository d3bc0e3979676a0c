"""The per-repository configuration, `.github/ci-fix-loop.yml`, as typed data.

Defaults here are the documented defaults (README lists them); an absent file
means "all defaults".  Parsing and validation of the YAML live in
``app.config.schema``; fetching it (with the org fallback and ``_extends``)
lives in ``app.config.source``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.diagnosis.model import Category

CONFIG_PATH = ".github/ci-fix-loop.yml"
# A fix may never touch CI definitions, nor widen its own limits via the config.
ALWAYS_FORBIDDEN: tuple[str, ...] = (".github/workflows/**", CONFIG_PATH)

DEFAULT_MODELS: dict[str, str] = {
    Category.LINT: "claude-sonnet-4-5",
    Category.TYPECHECK: "claude-sonnet-4-5",
    Category.BUILD: "claude-sonnet-4-5",
    Category.SSR: "claude-sonnet-4-5",
    Category.TEST: "claude-opus-4-6",
    Category.UNKNOWN: "claude-opus-4-6",
    Category.INFRA: "claude-sonnet-4-5",
}


@dataclass(frozen=True)
class GuardConfig:
    """Limits the diff guard enforces on every produced change."""

    max_changed_lines: int = 200
    max_files: int = 10
    forbidden_paths: tuple[str, ...] = ALWAYS_FORBIDDEN
    # Paths a fix may change although the guard refuses them by default (CI scripts,
    # tool configuration, binaries...); never the workflows nor this config file.
    allow_paths: tuple[str, ...] = ()
    # Let a fix change what existing tests check (expected values, assertions, fixtures);
    # skips, deletions and collection changes stay refused.
    allow_test_edits: bool = False


@dataclass(frozen=True)
class BudgetConfig:
    """A repository's spend limits in USD; the operator's global daily cap applies on top."""

    per_loop_usd: float = 2.0
    per_day_usd: float = 10.0


@dataclass(frozen=True)
class ModelConfig:
    """Which model fixes which category; a stronger one may take later iterations."""

    by_category: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MODELS))
    stronger: str | None = None
    stronger_from_iteration: int = 3

    def for_iteration(self, category: Category, iteration: int) -> str:
        if self.stronger and iteration >= self.stronger_from_iteration:
            return self.stronger
        return self.by_category.get(category, self.by_category.get(Category.UNKNOWN, ""))


@dataclass(frozen=True)
class FixerConfig:
    """How fixes are produced.

    ``kind`` is ``agent`` (the built-in tool-use agent), ``command`` (an agent
    CLI, prompt on stdin), ``api`` (one model call through its official SDK) or
    ``none`` (autofix only, else escalate); empty or ``auto`` means the
    operator's choice (``FIXER``: by default the agent CLI when
    ``FIXER_COMMAND`` is set, else the built-in agent with the model key set).
    """

    kind: str = ""
    command: str | None = None
    provider: str = "anthropic"
    timeout_s: float = 900.0


@dataclass(frozen=True)
class EscalationConfig:
    labels: tuple[str, ...] = ("ci-fix-loop",)
    assignees: tuple[str, ...] = ()


PULL_REQUEST_MODES = ("off", "suggest", "branch")
"""How failing pull requests are treated: ignored, fixed as a review of suggested
changes (nothing pushed; works for forks), or fixed on a ``ci-fix/pr-…`` branch with a
pull request into the pull request's head branch (same-repository pull requests only)."""

GIVE_UP_ACTIONS = ("escalate", "revert")
"""What a loop on the default branch does when it gives up: file the escalation issue,
or also open a pull request reverting the one commit that broke the workflow."""


@dataclass(frozen=True)
class RepoConfig:
    """Everything a repository can decide about how the app treats it."""

    enabled: bool = True
    branches: tuple[str, ...] = ()  # empty: the repository's default branch
    max_iterations: int = 5
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    models: ModelConfig = field(default_factory=ModelConfig)
    fixer: FixerConfig = field(default_factory=FixerConfig)
    autofix: tuple[str, ...] = ()
    verify: str | None = None
    verify_timeout_s: float = 600.0
    guard: GuardConfig = field(default_factory=GuardConfig)
    rerun_flaky_tests: bool = False
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    dry_run: bool = False
    pull_requests: str = "off"  # one of PULL_REQUEST_MODES
    on_give_up: str = "escalate"  # one of GIVE_UP_ACTIONS
    # What the operator's ceilings lowered, one sentence each (app.config.ceilings).
    clamped: tuple[str, ...] = ()

    def watches(self, branch: str, default_branch: str) -> bool:
        """True when failures on ``branch`` should open a loop (``branches`` may hold globs)."""
        patterns = self.branches or (default_branch,)
        return self.enabled and any(branch_matches(p, branch) for p in patterns)


def branch_matches(pattern: str, branch: str) -> bool:
    """GitHub's branch filter syntax: ``*`` within one path segment, ``**`` across, ``?`` one.

    ``release/*`` matches ``release/1.2`` but not ``release/1.2/hotfix``; ``release/**``
    matches both.  A pattern without wildcards must match exactly.
    """
    if not any(c in pattern for c in "*?"):
        return pattern == branch
    wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    regex = "".join(
        wildcards.get(part) or re.escape(part) for part in re.findall(r"\*\*|\*|\?|[^*?]+", pattern)
    )
    return re.fullmatch(regex, branch) is not None
