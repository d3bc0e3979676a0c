"""The circuit breaker: open after N unsuccessful loops, closed by time or a success."""

from __future__ import annotations

from app.loop.breaker import breaker_blocks, record_loop_end
from app.store.records import BreakerState

THRESHOLD = 3
COOLDOWN_S = 3600.0
T0 = 1_700_000_000.0


def fail(state: BreakerState, now: float) -> BreakerState:
    return record_loop_end(
        state, success=False, now=now, threshold=THRESHOLD, cooldown_s=COOLDOWN_S
    )


def succeed(state: BreakerState, now: float) -> BreakerState:
    return record_loop_end(state, success=True, now=now, threshold=THRESHOLD, cooldown_s=COOLDOWN_S)


def failures(n: int, *, start: float = T0) -> BreakerState:
    state = BreakerState("o/r")
    for i in range(n):
        state = fail(state, start + i)
    return state


def test_a_fresh_breaker_does_not_block() -> None:
    assert breaker_blocks(BreakerState("o/r"), T0) is None


def test_failures_below_the_threshold_keep_the_breaker_closed() -> None:
    state = failures(THRESHOLD - 1)
    assert state.consecutive_failures == THRESHOLD - 1
    assert state.open_until is None
    assert breaker_blocks(state, T0 + 10) is None


def test_breaker_opens_at_the_threshold_for_the_cooldown() -> None:
    state = failures(THRESHOLD)
    last = T0 + THRESHOLD - 1
    assert state.consecutive_failures == THRESHOLD
    assert state.open_until == last + COOLDOWN_S


def test_open_breaker_blocks_with_minutes_remaining_and_failure_count() -> None:
    state = BreakerState("o/r", consecutive_failures=3, open_until=T0 + 600)
    assert breaker_blocks(state, T0) == (
        "Circuit breaker open for 10 more minutes after 3 consecutive loops without a fix"
    )


def test_minutes_remaining_round_up() -> None:
    state = BreakerState("o/r", consecutive_failures=3, open_until=T0 + 61)
    reason = breaker_blocks(state, T0)
    assert reason is not None and "open for 2 more minutes" in reason


def test_breaker_stops_blocking_once_the_cooldown_has_passed() -> None:
    state = BreakerState("o/r", consecutive_failures=3, open_until=T0 + COOLDOWN_S)
    assert breaker_blocks(state, T0 + COOLDOWN_S - 1) is not None
    assert breaker_blocks(state, T0 + COOLDOWN_S) is None


def test_first_failure_after_the_cooldown_starts_counting_afresh() -> None:
    opened = BreakerState("o/r", consecutive_failures=3, open_until=T0)
    state = fail(opened, T0 + 1)
    assert state.consecutive_failures == 1
    assert state.open_until is None


def test_failure_while_open_extends_the_pause() -> None:
    opened = BreakerState("o/r", consecutive_failures=3, open_until=T0 + 100)
    state = fail(opened, T0)
    assert state.consecutive_failures == 4
    assert state.open_until == T0 + COOLDOWN_S


def test_success_resets_the_count_and_closes_the_breaker() -> None:
    opened = BreakerState("o/r", consecutive_failures=5, open_until=T0 + 100)
    state = succeed(opened, T0)
    assert state == BreakerState("o/r", consecutive_failures=0, open_until=None)
    assert breaker_blocks(state, T0) is None


def test_success_between_failures_prevents_opening() -> None:
    state = failures(THRESHOLD - 1)
    state = succeed(state, T0 + 10)
    state = fail(state, T0 + 11)
    assert state.consecutive_failures == 1
    assert state.open_until is None


def test_record_loop_end_keeps_the_repository() -> None:
    assert fail(BreakerState("owner/name"), T0).repo == "owner/name"
