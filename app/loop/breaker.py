"""The per-repository circuit breaker.

After N loops in a row end without success, the app stops opening loops for
that repository for a cooldown: something is wrong that an agent is not
fixing, and spending more would only add noise.  Pure functions over
``BreakerState``; the store keeps the state across restarts.
"""

from __future__ import annotations

import math
from dataclasses import replace

from app.store.records import BreakerState


def breaker_blocks(state: BreakerState, now: float) -> str | None:
    """The reason new loops are paused, or None when they may run."""
    if state.open_until is not None and state.open_until > now:
        minutes = math.ceil((state.open_until - now) / 60)
        return (
            f"Circuit breaker open for {minutes} more minutes after "
            f"{state.consecutive_failures} consecutive loops without a fix"
        )
    return None


def record_loop_end(
    state: BreakerState, *, success: bool, now: float, threshold: int, cooldown_s: float
) -> BreakerState:
    """The breaker after a loop ended; a success closes it and resets the count."""
    if success:
        return replace(state, consecutive_failures=0, open_until=None)
    if state.open_until is not None and state.open_until <= now:
        # The cooldown passed: start counting afresh, as the seed did.
        state = replace(state, consecutive_failures=0, open_until=None)
    failures = state.consecutive_failures + 1
    open_until = now + cooldown_s if failures >= threshold else state.open_until
    return replace(state, consecutive_failures=failures, open_until=open_until)
