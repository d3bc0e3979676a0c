"""The budget gate: each limit refuses on its own, with a reason naming the figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.loop.budget import BudgetLimits, Spend, check_budget, utc_day_start

LIMITS = BudgetLimits(per_loop_usd=2.0, per_day_usd=10.0, global_per_day_usd=50.0)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_spend_under_every_limit_is_allowed() -> None:
    verdict = check_budget(LIMITS, Spend(loop_usd=1.99, installation_today_usd=9.99,
                                         global_today_usd=49.99))  # fmt: skip
    assert verdict.allowed and verdict.reason is None
    # What is left is the tightest limit's remainder: here every one has a cent left.
    assert verdict.remaining_usd == pytest.approx(0.01)


def test_loop_limit_reached_refuses_with_loop_reason() -> None:
    verdict = check_budget(LIMITS, Spend(2.0, 3.0, 3.0))
    assert not verdict.allowed
    assert verdict.reason == "Loop budget exhausted: $2.00 / $2.00"


def test_installation_daily_limit_reached_refuses_with_daily_reason() -> None:
    verdict = check_budget(LIMITS, Spend(0.0, 10.0, 12.0))
    assert not verdict.allowed
    assert verdict.reason == "Daily budget exhausted: $10.00 / $10.00"


def test_installation_daily_limit_overrun_reports_actual_spend() -> None:
    verdict = check_budget(LIMITS, Spend(0.0, 10.456, 12.0))
    assert verdict.reason == "Daily budget exhausted: $10.46 / $10.00"


def test_global_daily_limit_reached_refuses_with_global_reason() -> None:
    verdict = check_budget(LIMITS, Spend(0.0, 1.0, 50.0))
    assert not verdict.allowed
    assert verdict.reason == "Global daily budget exhausted: $50.00 / $50.00"


def test_global_limit_is_reported_before_the_others_when_all_are_reached() -> None:
    verdict = check_budget(LIMITS, Spend(5.0, 20.0, 60.0))
    assert verdict.reason is not None
    assert verdict.reason.startswith("Global daily budget exhausted")


def test_daily_limit_is_reported_before_the_loop_limit() -> None:
    verdict = check_budget(LIMITS, Spend(5.0, 20.0, 20.0))
    assert verdict.reason is not None
    assert verdict.reason.startswith("Daily budget exhausted")


def test_no_global_limit_means_global_spend_never_refuses() -> None:
    limits = BudgetLimits(per_loop_usd=2.0, per_day_usd=10.0)
    assert check_budget(limits, Spend(0.0, 0.0, 1_000_000.0)).allowed


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2024-05-01T00:00:00", "2024-05-01T00:00:00"),
        ("2024-05-01T00:00:01", "2024-05-01T00:00:00"),
        ("2024-05-01T12:34:56", "2024-05-01T00:00:00"),
        ("2024-05-01T23:59:59.999", "2024-05-01T00:00:00"),
        ("2024-05-02T00:00:00", "2024-05-02T00:00:00"),
        ("2024-12-31T23:59:59", "2024-12-31T00:00:00"),
        ("2025-01-01T00:00:00", "2025-01-01T00:00:00"),
    ],
)
def test_utc_day_start_is_the_last_utc_midnight(now: str, expected: str) -> None:
    assert utc_day_start(at(now)) == at(expected)


def test_day_resets_exactly_at_utc_midnight() -> None:
    midnight = at("2024-05-02T00:00:00")
    assert utc_day_start(midnight - 0.001) == midnight - 86400
    assert utc_day_start(midnight) == midnight
