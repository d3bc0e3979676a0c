"""The operator's ceilings over what a repository's config may ask for.

A repository's config is written by whoever can push to it, and the money
and machine time are the operator's: a config asking for `per_loop_usd: 1000`
or 120-minute agent runs is lowered to the operator's maximum, never obeyed.
Pure: the config in, the clamped config and one sentence per change out, so
the check run can say what was lowered and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.config.model import RepoConfig
from app.settings import Settings


@dataclass(frozen=True)
class Ceilings:
    """Upper bounds set by the operator (``MAX_*`` settings)."""

    per_loop_usd: float
    per_day_usd: float
    max_iterations: int
    fixer_minutes: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Ceilings:
        return cls(
            per_loop_usd=settings.max_loop_budget_usd,
            per_day_usd=settings.max_daily_budget_usd,
            max_iterations=settings.max_iterations,
            fixer_minutes=settings.max_fixer_minutes,
        )


def _number(value: float) -> str:
    return f"{value:g}"


def apply_ceilings(config: RepoConfig, ceilings: Ceilings) -> RepoConfig:
    """``config`` with every limit at most the operator's; ``clamped`` lists what was lowered."""
    notes: list[str] = []

    def lower(key: str, asked: float, ceiling: float, setting: str) -> float:
        if asked <= ceiling:
            return asked
        notes.append(
            f"{key}: {_number(asked)} is above the operator's maximum ({setting}="
            f"{_number(ceiling)}); {_number(ceiling)} applies."
        )
        return ceiling

    budget = replace(
        config.budget,
        per_loop_usd=lower(
            "budget.per_loop_usd", config.budget.per_loop_usd, ceilings.per_loop_usd,
            "MAX_LOOP_BUDGET_USD",
        ),
        per_day_usd=lower(
            "budget.per_day_usd", config.budget.per_day_usd, ceilings.per_day_usd,
            "MAX_DAILY_BUDGET_USD",
        ),
    )  # fmt: skip
    iterations = int(
        lower("max_iterations", config.max_iterations, ceilings.max_iterations, "MAX_ITERATIONS")
    )
    fixer_minutes = lower(
        "fixer.timeout_minutes", config.fixer.timeout_s / 60.0, ceilings.fixer_minutes,
        "MAX_FIXER_MINUTES",
    )  # fmt: skip
    verify_minutes = lower(
        "verify.timeout_minutes", config.verify_timeout_s / 60.0, ceilings.fixer_minutes,
        "MAX_FIXER_MINUTES",
    )  # fmt: skip
    return replace(
        config,
        budget=budget,
        max_iterations=iterations,
        fixer=replace(config.fixer, timeout_s=fixer_minutes * 60.0),
        verify_timeout_s=verify_minutes * 60.0,
        clamped=(*config.clamped, *notes),
    )
