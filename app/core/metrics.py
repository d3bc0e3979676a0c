"""Prometheus metrics, in a registry of the app's own (so tests can run many apps).

What an operator wants on a dashboard: deliveries by event and outcome, loops
by final state, the fix rate, time from failure to green, cost per fixed run,
iterations, spend, GitHub API calls and the rate limit left, fixer durations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "cifix_deliveries", "Webhook deliveries by event and outcome", ["event", "outcome"],
            registry=r,
        )  # fmt: skip
        self.loops_ended = Counter(
            "cifix_loops_ended", "Loops by final state", ["state"], registry=r
        )
        self.loops_opened = Counter("cifix_loops_opened", "Loops opened", registry=r)
        self.fix_rate = Gauge(
            "cifix_fix_rate",
            "Share of ended loops that ended green (succeeded or flaky), from the store",
            registry=r,
        )
        self.time_to_green = Histogram(
            "cifix_time_to_green_seconds", "From the failing run to green CI on the fix branch",
            buckets=(60, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200), registry=r,
        )  # fmt: skip
        self.cost_per_fix = Histogram(
            "cifix_cost_per_fixed_run_usd", "Spend of loops that ended green",
            buckets=(0, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10), registry=r,
        )  # fmt: skip
        self.iterations = Histogram(
            "cifix_loop_iterations", "Iterations a loop used", buckets=(0, 1, 2, 3, 4, 5, 10),
            registry=r,
        )  # fmt: skip
        self.spend = Gauge(
            "cifix_spend_usd", "Money spent on fixers, all time, from the store", registry=r
        )
        self.spend_today = Gauge(
            "cifix_spend_today_usd", "Money spent on fixers this UTC day, from the store",
            registry=r,
        )  # fmt: skip
        self.github_calls = Counter(
            "cifix_github_api_calls", "GitHub REST calls by method and status class",
            ["method", "status"], registry=r,
        )  # fmt: skip
        self.rate_limit_remaining = Gauge(
            "cifix_github_rate_limit_remaining", "x-ratelimit-remaining of the latest answer",
            registry=r,
        )  # fmt: skip
        self.fixer_seconds = Histogram(
            "cifix_fixer_duration_seconds", "Wall time of one fixer run", ["fixer"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200), registry=r,
        )  # fmt: skip
        self.store_bytes = Gauge(
            "cifix_store_bytes", "Size of the database (SQLite: the file without its WAL)",
            registry=r,
        )  # fmt: skip
        self.store_wal_bytes = Gauge(
            "cifix_store_wal_bytes", "Size of the write-ahead log (when the store can tell)",
            registry=r,
        )  # fmt: skip
        self.store_oldest = Gauge(
            "cifix_store_oldest_row_timestamp_seconds",
            "When the oldest row of each kind kept was written (retention at work)",
            ["kind"], registry=r,
        )  # fmt: skip

    def github_response(self, method: str, status: int, headers: Mapping[str, str]) -> None:
        self.github_calls.labels(method, f"{status // 100}xx").inc()
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is not None and remaining.isdigit():
            self.rate_limit_remaining.set(int(remaining))

    def loop_ended(
        self, state: str, *, iterations: int, cost_usd: float, seconds: float, green: bool
    ) -> None:
        self.loops_ended.labels(state).inc()
        self.iterations.observe(iterations)
        if green:
            self.time_to_green.observe(seconds)
            self.cost_per_fix.observe(cost_usd)

    def observe_store(self, storage: Mapping[str, Any]) -> None:
        """Set the store gauges from ``Store.storage()``'s report."""
        self.store_bytes.set(storage.get("database_bytes") or 0)
        if storage.get("wal_bytes") is not None:
            self.store_wal_bytes.set(storage["wal_bytes"])
        for kind, at in (storage.get("oldest") or {}).items():
            if at is not None:
                self.store_oldest.labels(kind).set(at)

    def from_store(
        self, loops_by_state: Mapping[str, int], spend_usd: float, spend_today_usd: float
    ) -> None:
        """Set what the store knows, so every process (web or worker) reports the same numbers.

        Counting in memory would count only this process's loops, and a restart would
        forget them; the fix rate and spend are the store's.
        """
        fixed = loops_by_state.get("succeeded", 0) + loops_by_state.get("flaky", 0)
        ended = fixed + loops_by_state.get("exhausted", 0) + loops_by_state.get("escalated", 0)
        self.fix_rate.set(fixed / ended if ended else 0.0)
        self.spend.set(spend_usd)
        self.spend_today.set(spend_today_usd)

    def render(self) -> bytes:
        return generate_latest(self.registry)
