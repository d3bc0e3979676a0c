"""What ``GET /status`` and ``python -m app status`` report, built from the store alone.

The seed's ``ci_fix_status`` (active | history | budget) and
``ci_budget_check``, made durable: everything here survives a restart because
it is read from the store, never from memory.
"""

from __future__ import annotations

from typing import Any

from app.core.metrics import Metrics
from app.loop.breaker import breaker_blocks
from app.loop.budget import utc_day_start
from app.loop.policy import iterations_used
from app.settings import Settings
from app.store.base import Store
from app.store.records import Loop

HISTORY_LIMIT = 100


def loop_summary(loop: Loop) -> dict[str, Any]:
    diagnosis = loop.diagnosis or {}
    return {
        "id": loop.id,
        "repo": loop.repo,
        "workflow": loop.workflow_name,
        "branch": loop.branch,
        "run_id": loop.run_id,
        "run_url": loop.run_url,
        "sha": loop.head_sha[:8],
        "state": loop.state.value,
        "category": diagnosis.get("category"),
        "iterations": iterations_used(loop),
        "cost_usd": round(loop.cost_usd, 4),
        "fix_branch": loop.fix_branch,
        "pull_request": loop.pr_number,
        "issue": loop.issue_number,
        "reason": loop.reason,
        "started_at": loop.created_at,
        "ended_at": loop.ended_at,
    }


async def build_status(store: Store, settings: Settings, now: float) -> dict[str, Any]:
    day = utc_day_start(now)
    active = await store.active_loops()
    history = [loop for loop in await store.recent_loops(HISTORY_LIMIT) if loop.state.terminal]
    installations = []
    for installation_id, account, suspended in await store.installations():
        spent = await store.spend_since(day, installation_id=installation_id)
        installations.append(
            {"id": installation_id, "account": account, "suspended": suspended,
             "spend_today_usd": round(spent, 4)}
        )  # fmt: skip
    breakers = [
        {
            "repo": b.repo,
            "consecutive_failures": b.consecutive_failures,
            "open": breaker_blocks(b, now) is not None,
            "open_until": b.open_until,
        }
        for b in await store.breakers()
    ]
    report: dict[str, Any] = {
        "active": [loop_summary(loop) for loop in active],
        "history": [loop_summary(loop) for loop in history],
        "budget": {
            "spend_today_usd": round(await store.spend_since(day), 4),
            "global_daily_limit_usd": settings.global_daily_budget_usd,
            "installations": installations,
        },
        "breakers": breakers,
        "paused_by_config": [
            {"repo": p.repo, "source": p.source, "problems": list(p.problems), "since": p.at}
            for p in await store.config_pauses()
        ],
        "loops_by_state": await store.count_loops(),
        # Sizes on disk and the oldest row of each kind: is retention keeping up?
        "store": await store.storage(),
        # Shown so an unjailed installation (SANDBOX=none) is never a surprise.
        "sandbox": {
            "mode": settings.sandbox,
            "insecure": settings.sandbox == "none",
            "network_for_verify": settings.sandbox_allow_network,
        },
        # Deliveries whose handling kept failing: parked, not replayed forever.
        "failed_deliveries": [
            {"delivery_id": delivery_id, "event": event, "outcome": outcome}
            for delivery_id, event, outcome in await store.failed_deliveries()
        ],
    }
    if settings.database_url:
        # Scale-out mode: the job queue the workers read is part of the picture.
        from app.loop.jobs import summary_for

        report["jobs"] = (await summary_for(settings.database_url)).to_dict()
    return report


async def metrics_from_store(metrics: Metrics, store: Store, now: float) -> bytes:
    """``/metrics`` of any process: its own counters plus the store's fix rate and spend."""
    metrics.observe_store(await store.storage())
    metrics.from_store(
        await store.count_loops(),
        await store.spend_since(0.0),
        await store.spend_since(utc_day_start(now)),
    )
    return metrics.render()
