"""How long the store keeps what: the retention policy and what one pass removed.

Delivery ids are kept only as long as deduplication needs them (GitHub
redelivers within days); a loop's history (the loop, its workflow runs,
iterations, events and spend detail) for a configurable period after the loop ended, after which its
spend survives as one row per day, installation and repository.  A loop that
has not ended is never removed, nor anything it refers to.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 86400.0
DEFAULT_DELIVERY_DAYS = 7.0
DEFAULT_HISTORY_DAYS = 90.0
BATCH = 500  # rows one DELETE removes: short statements, so intake never waits long


@dataclass(frozen=True)
class RetentionPolicy:
    """Ages in seconds after which rows go; ``batch`` bounds each DELETE."""

    deliveries_s: float = DEFAULT_DELIVERY_DAYS * DAY_S
    history_s: float = DEFAULT_HISTORY_DAYS * DAY_S
    batch: int = BATCH

    def delivery_cutoff(self, now: float) -> float:
        """Processed deliveries received before this are forgotten."""
        return now - self.deliveries_s

    def history_cutoff(self, now: float) -> float:
        """Loops that ended before this are removed with their history."""
        return now - self.history_s


@dataclass(frozen=True)
class PruneReport:
    """Rows one retention pass deleted, by kind."""

    deliveries: int = 0
    loops: int = 0
    iterations: int = 0
    events: int = 0
    ledger: int = 0
    runs: int = 0  # the loops' rows in loop_runs (one per workflow that failed)

    @property
    def total(self) -> int:
        return (
            self.deliveries + self.loops + self.iterations + self.events + self.ledger + self.runs
        )


def utc_day(at: float) -> float:
    """The start of ``at``'s UTC day, as epoch seconds (the ledger's daily aggregate key)."""
    return at - at % DAY_S
