"""The dispatcher's bounded queue: a burst waits in the store, every delivery runs once.

Real SQLite store, real gidgethub router; the handler is held on an event so
the queue fills, then released.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from gidgethub import routing, sansio

from app.core.metrics import Metrics
from app.intake.body import Body
from app.intake.dispatch import Dispatcher
from app.store.base import Store
from app.store.sqlite import open_sqlite_store

BURST = 40


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_sqlite_store(tmp_path / "store.sqlite3")
    yield opened
    await opened.close()


class Held:
    """A ``push`` handler that counts each delivery and waits until released."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.release = asyncio.Event()
        self.router = routing.Router()
        self.router.add(self.handle, "push")

    async def handle(self, event: sansio.Event, context: object) -> None:
        self.calls[event.delivery_id] += 1
        await self.release.wait()


def dispatcher(store: Store, held: Held, **limits: Any) -> Dispatcher:
    """A dispatcher over the real store; ``limits``: workers, queue size, the door's gate."""
    return Dispatcher(
        router=held.router, store=store, metrics=Metrics(), context=None, clock=time.time, **limits
    )


async def accept(d: Dispatcher, delivery_id: str) -> bool:
    raw = b'{"ref": "refs/heads/main", "n": "' + delivery_id.encode() + b'"}'
    body = Body.parse(raw)
    assert isinstance(body, Body)
    probe = sansio.Event({}, event="push", delivery_id=delivery_id)
    return await d.accept(probe, body, raw)


async def test_a_burst_past_the_queue_waits_in_the_store_and_each_delivery_runs_once(
    store: Store,
) -> None:
    held = Held()
    d = dispatcher(store, held, workers=2, queue_size=4)
    ids = [f"d-{n}" for n in range(BURST)]
    assert all(await asyncio.gather(*(accept(d, i) for i in ids)))
    await asyncio.sleep(0.05)

    # Two are being handled, four wait in memory; the rest wait in the store only.
    assert sum(held.calls.values()) == 2
    assert len(await store.unfinished_deliveries()) == BURST

    held.release.set()
    await d.drain()
    await d.close()
    assert held.calls == Counter({i: 1 for i in ids})
    assert await store.unfinished_deliveries() == []
    assert {await store.delivery_outcome(i) for i in ids} == {"processed"}


async def test_a_redelivery_of_a_queued_delivery_is_a_duplicate_and_runs_once(
    store: Store,
) -> None:
    held = Held()
    d = dispatcher(store, held, workers=1, queue_size=2)
    assert await accept(d, "same")
    assert not await accept(d, "same")
    held.release.set()
    await d.drain()
    await d.close()
    assert held.calls == Counter({"same": 1})


async def test_deliveries_a_restart_interrupted_are_queued_oldest_first(
    store: Store,
) -> None:
    for n in range(6):
        await store.add_delivery(f"old-{n}", "push", b'{"ref": "x"}', 1000.0 + n)
    held = Held()
    held.release.set()
    order: list[str] = []
    original = held.handle

    async def record(event: sansio.Event, context: object) -> None:
        order.append(event.delivery_id)
        await original(event, context)

    held.router = routing.Router()
    held.router.add(record, "push")
    d = dispatcher(store, held, workers=1, queue_size=3)
    assert await d.replay_unfinished() == 3  # as many as fit; the rest are swept in later
    await d.drain()
    await d.close()
    assert order == [f"old-{n}" for n in range(6)]
    assert await store.unfinished_deliveries() == []


async def test_a_delivery_finished_while_a_sweep_reads_the_store_is_not_run_again(
    store: Store,
) -> None:
    held = Held()
    held.release.set()  # handlers finish at once, racing the sweeps that refill the queue
    d = dispatcher(store, held, workers=3, queue_size=2)
    ids = [f"r-{n}" for n in range(BURST)]
    for batch in range(0, BURST, 8):
        assert all(await asyncio.gather(*(accept(d, i) for i in ids[batch : batch + 8])))
    await d.drain()
    await d.close()
    assert held.calls == Counter({i: 1 for i in ids})


async def test_deliveries_arriving_one_at_a_time_are_handled_as_they_come(store: Store) -> None:
    held = Held()
    held.release.set()
    # Even with a door that would stay busy for an hour, one at a time never makes it busy.
    d = dispatcher(store, held, door_busy=2, busy_hold_s=3600, defer_s=3600)
    for n in range(5):
        assert await accept(d, f"one-{n}")
        for _ in range(20):  # a few turns of the event loop, no waiting
            await asyncio.sleep(0)
        assert held.calls[f"one-{n}"] == 1
    await d.drain()
    await d.close()


async def test_while_many_deliveries_are_at_the_door_handlers_wait_then_all_run(
    store: Store,
) -> None:
    held = Held()
    held.release.set()
    d = dispatcher(store, held, door_busy=4, busy_hold_s=0.5, defer_s=0.5)
    ids = [f"busy-{n}" for n in range(12)]
    assert all(await asyncio.gather(*(accept(d, i) for i in ids)))
    for _ in range(20):
        await asyncio.sleep(0)
    assert sum(held.calls.values()) == 0  # the door went first
    await d.drain()
    await d.close()
    assert held.calls == Counter({i: 1 for i in ids})
