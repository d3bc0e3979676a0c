"""A repository's config can only lower the operator's ceilings, and says what was lowered."""

from __future__ import annotations

from dataclasses import replace

from app.config.ceilings import Ceilings, apply_ceilings
from app.config.model import BudgetConfig, FixerConfig, RepoConfig

CEILINGS = Ceilings(per_loop_usd=5.0, per_day_usd=25.0, max_iterations=10, fixer_minutes=30.0)


def test_limits_above_the_operators_are_clamped_and_each_clamp_is_named() -> None:
    greedy = RepoConfig(
        max_iterations=20,
        budget=BudgetConfig(per_loop_usd=1000.0, per_day_usd=10000.0),
        fixer=FixerConfig(timeout_s=120 * 60.0),
        verify_timeout_s=120 * 60.0,
    )
    clamped = apply_ceilings(greedy, CEILINGS)
    assert clamped.budget == BudgetConfig(per_loop_usd=5.0, per_day_usd=25.0)
    assert clamped.max_iterations == 10
    assert clamped.fixer.timeout_s == 30 * 60.0
    assert clamped.verify_timeout_s == 30 * 60.0
    assert clamped.clamped == (
        "budget.per_loop_usd: 1000 is above the operator's maximum (MAX_LOOP_BUDGET_USD=5); "
        "5 applies.",
        "budget.per_day_usd: 10000 is above the operator's maximum (MAX_DAILY_BUDGET_USD=25); "
        "25 applies.",
        "max_iterations: 20 is above the operator's maximum (MAX_ITERATIONS=10); 10 applies.",
        "fixer.timeout_minutes: 120 is above the operator's maximum (MAX_FIXER_MINUTES=30); "
        "30 applies.",
        "verify.timeout_minutes: 120 is above the operator's maximum (MAX_FIXER_MINUTES=30); "
        "30 applies.",
    )


def test_lower_limits_are_kept_as_the_repository_set_them() -> None:
    modest = RepoConfig(max_iterations=2, budget=BudgetConfig(per_loop_usd=0.5, per_day_usd=1.0))
    assert apply_ceilings(modest, CEILINGS) == modest


def test_the_defaults_are_clamped_too_when_the_operator_allows_less() -> None:
    strict = replace(CEILINGS, per_loop_usd=1.0, max_iterations=3)
    clamped = apply_ceilings(RepoConfig(), strict)
    assert (clamped.budget.per_loop_usd, clamped.max_iterations) == (1.0, 3)
    assert len(clamped.clamped) == 2
