"""The SQLite store writes the door's deliveries in batches, one per group commit.

What a batch must keep from one write per delivery: a repeat is refused however
it arrives, a kept delivery has its body, and a batch that fails leaves none of
its deliveries behind while the group's other statements still commit.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from app.core.errors import StoreUnavailable
from app.store.sqlite import (
    ARRIVALS_PER_STATEMENT,
    GROUP_TURNS,
    SqliteConnection,
    open_sqlite_store,
)

T0 = 1_700_000_000.0


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


async def test_one_ticks_arrivals_share_one_commit_and_each_learns_its_own_outcome(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    store = await open_sqlite_store(path)
    conn = store._conn  # type: ignore[attr-defined]
    assert isinstance(conn, SqliteConnection)
    assert await store.add_delivery("known", "workflow_run", b"{}", T0)
    commits = conn._commits
    count = 2 * ARRIVALS_PER_STATEMENT + 3  # more than one statement's worth
    ids = [f"d-{n}" for n in range(count)]
    results = await asyncio.gather(
        *(store.add_delivery(i, "workflow_run", f'{{"n": "{i}"}}'.encode(), T0 + 1) for i in ids),
        store.add_delivery("known", "workflow_run", b"{}", T0 + 1),  # a repeat of an old one
        store.add_delivery("ping-1", "ping", None, T0 + 1, outcome="ignored"),
    )
    assert results == [True] * count + [False, True]
    assert conn._commits == commits + 1
    bodies = dict(rows(path, "SELECT delivery_id, body FROM delivery_bodies"))
    assert set(bodies) == {"known", *ids}  # the ignored one keeps no body
    assert bodies["d-7"] == b'{"n": "d-7"}'
    assert await store.delivery_outcome("ping-1") == "ignored"
    assert await store.delivery_outcome("d-7") is None
    await store.close()


async def test_two_arrivals_of_one_id_in_one_tick_are_recorded_once(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await open_sqlite_store(path)
    first, second = await asyncio.gather(
        store.add_delivery("same", "workflow_run", b'{"first": true}', T0),
        store.add_delivery("same", "workflow_run", b'{"second": true}', T0 + 0.5),
    )
    assert (first, second) == (True, False)
    assert rows(path, "SELECT delivery_id, body FROM delivery_bodies") == [
        ("same", b'{"first": true}')
    ]
    await store.close()


async def test_a_batch_that_fails_records_none_of_its_deliveries_and_spares_the_group(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    store = await open_sqlite_store(path)
    with sqlite3.connect(path) as db:  # the bodies' insert fails, after the ids' one
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON delivery_bodies "
            "BEGIN SELECT RAISE(ABORT, 'disk full, say'); END"
        )
    outcomes = await asyncio.gather(
        store.add_delivery("a", "workflow_run", b"{}", T0),
        store.add_delivery("b", "workflow_run", b"{}", T0),
        store.count_delivery_failure("elsewhere", "unrelated statement in the same group"),
        return_exceptions=True,
    )
    # The door answers those two with a 503 (StoreUnavailable), and nothing of them is written.
    assert isinstance(outcomes[0], StoreUnavailable) and isinstance(outcomes[1], StoreUnavailable)
    assert "disk full, say" in str(outcomes[0])
    assert rows(path, "SELECT delivery_id FROM deliveries") == []
    assert rows(path, "SELECT delivery_id FROM delivery_bodies") == []
    assert outcomes[2] == 1  # the group's other statement committed
    assert rows(path, "SELECT delivery_id FROM delivery_attempts") == [("elsewhere",)]
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER refuse")
    # Nothing of them stayed, so GitHub's redelivery is taken.
    assert await store.add_delivery("a", "workflow_run", b"{}", T0 + 1)
    await store.close()


@pytest.mark.parametrize("outcome", [None, "ignored"])
async def test_an_arrival_inside_a_transaction_is_part_of_it(
    tmp_path: Path, outcome: str | None
) -> None:
    path = tmp_path / "s.sqlite3"
    store = await open_sqlite_store(path)
    conn = store._conn  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        async with conn.transaction():
            assert await store.add_delivery("t", "workflow_run", b"{}", T0, outcome=outcome)
            raise RuntimeError("rolled back")
    assert rows(path, "SELECT delivery_id FROM deliveries") == []
    async with conn.transaction():
        assert await store.add_delivery("t", "workflow_run", b"{}", T0, outcome=outcome)
    assert await store.delivery_known("t")
    await store.close()


async def test_a_group_waits_a_turn_for_deliveries_still_arriving(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "s.sqlite3")
    conn = store._conn  # type: ignore[attr-defined]
    before = conn._commits
    first = asyncio.create_task(store.add_delivery("a", "workflow_run", b"{}", T0))
    await asyncio.sleep(0)  # "a" opens the group; its COMMIT is due at the next turn
    second = asyncio.create_task(store.add_delivery("b", "workflow_run", b"{}", T0))
    assert await asyncio.gather(first, second) == [True, True]
    assert conn._commits == before + 1  # "b", a turn late, shared the COMMIT
    late = asyncio.create_task(store.add_delivery("c", "workflow_run", b"{}", T0))
    for _ in range(GROUP_TURNS + 3):
        await asyncio.sleep(0)
    assert late.done() and conn._commits == before + 2  # alone, it waited no longer
    await store.close()
