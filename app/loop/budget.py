"""The budget gate: may a loop spend more money?

Pure: the caller reads spend from the ledger and passes it in, so the rules
can be tested on numbers alone and the ledger stays the single source of
truth across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class BudgetLimits:
    per_loop_usd: float
    per_day_usd: float
    global_per_day_usd: float | None = None


@dataclass(frozen=True)
class Spend:
    """What has been spent already, in USD, as the ledger says."""

    loop_usd: float
    installation_today_usd: float
    global_today_usd: float


@dataclass(frozen=True)
class BudgetVerdict:
    """May the loop spend, and how much at most before a limit is reached."""

    allowed: bool
    reason: str | None = None
    remaining_usd: float = 0.0


def check_budget(limits: BudgetLimits, spend: Spend) -> BudgetVerdict:
    """Refuse once any limit is reached; the reason names the limit and the figures."""
    global_limit = limits.global_per_day_usd
    if global_limit is not None and spend.global_today_usd >= global_limit:
        return BudgetVerdict(
            False,
            f"Global daily budget exhausted: ${spend.global_today_usd:.2f} / ${global_limit:.2f}",
        )
    if spend.installation_today_usd >= limits.per_day_usd:
        return BudgetVerdict(
            False,
            f"Daily budget exhausted: ${spend.installation_today_usd:.2f} / "
            f"${limits.per_day_usd:.2f}",
        )
    if spend.loop_usd >= limits.per_loop_usd:
        return BudgetVerdict(
            False, f"Loop budget exhausted: ${spend.loop_usd:.2f} / ${limits.per_loop_usd:.2f}"
        )
    left = [limits.per_loop_usd - spend.loop_usd, limits.per_day_usd - spend.installation_today_usd]
    if global_limit is not None:
        left.append(global_limit - spend.global_today_usd)
    return BudgetVerdict(True, remaining_usd=min(left))


def utc_day_start(now: float) -> float:
    """Unix time of the last UTC midnight: the day's budget resets there."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()
