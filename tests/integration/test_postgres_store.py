"""The PostgreSQL store across processes (tests/test_store.py runs the shared SQL on it).

Several stores (each its own connection pool, as separate instances of the app
would be) hit one database at once: migrations, claims and compare-and-set
updates must each have exactly one winner.
"""

from __future__ import annotations

import asyncio

import pytest

from app.store.migrations import MIGRATIONS
from app.store.records import LoopState, NewLoop
from app.store.sql import SqlStore


def new_loop(n: int) -> NewLoop:
    return NewLoop(
        installation_id=7,
        repo="acme/widgets",
        workflow_id=1,
        workflow_name="CI",
        workflow_path=".github/workflows/ci.yml",
        branch=f"feature-{n}",
        head_sha=f"{n:040x}",
        run_id=1000 + n,
        run_attempt=1,
        run_url=f"https://github.com/acme/widgets/actions/runs/{1000 + n}",
    )


async def open_store(url: str) -> SqlStore:
    from app.store.postgres import open_postgres_store

    return await open_postgres_store(url, max_connections=4)


def test_placeholders_are_translated_outside_quotes() -> None:
    from app.store.postgres import to_psycopg

    assert to_psycopg("SELECT * FROM t WHERE a = ? AND b LIKE 'x?%' AND c = ?") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE 'x?%%' AND c = %s"
    )


async def test_a_failed_transaction_leaves_nothing_behind(pg_url: str) -> None:
    store = await open_store(pg_url)
    conn = store._conn
    try:
        with pytest.raises(RuntimeError, match="boom"):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO breakers (repo, consecutive_failures) VALUES (?, ?)", ("a/b", 1)
                )
                raise RuntimeError("boom")
        assert await store.breakers() == []
    finally:
        await store.close()


async def test_instances_starting_together_migrate_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(open_store(pg_url) for _ in range(4)))
    try:
        rows = await stores[0]._conn.fetchall("SELECT version FROM schema_version")
        assert [r["version"] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_concurrent_claims_from_many_connections_never_share_a_loop(pg_url: str) -> None:
    stores = [await open_store(pg_url) for _ in range(4)]
    try:
        ids = set()
        for n in range(20):
            loop, _ = await stores[0].open_loop(new_loop(n), state=LoopState.QUEUED, now=float(n))
            ids.add(loop.id)

        async def claimer(store: SqlStore, name: str) -> list[int]:
            won: list[int] = []
            while True:
                loop = await store.claim_loop(
                    states=[LoopState.QUEUED], owner=name, lease_s=600.0, now=100.0
                )
                if loop is not None:
                    assert loop.lease_owner == name
                    won.append(loop.id)
                    continue
                # Losing a race returns None even while other loops are free:
                # stop only when none is left.
                free = await store._conn.fetchone(
                    "SELECT COUNT(*) AS n FROM loops WHERE lease_owner IS NULL"
                )
                if free is not None and free["n"] == 0:
                    return won

        results = await asyncio.gather(*(claimer(stores[i % 4], f"worker-{i}") for i in range(12)))
        claimed = [loop_id for won in results for loop_id in won]
        assert sorted(claimed) == sorted(ids)  # every loop once, none twice
        owners = await stores[0]._conn.fetchall("SELECT id, lease_owner FROM loops")
        by_loop = {r["id"]: r["lease_owner"] for r in owners}
        for i, won in enumerate(results):
            assert all(by_loop[loop_id] == f"worker-{i}" for loop_id in won)
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_concurrent_compare_and_set_has_one_winner(pg_url: str) -> None:
    stores = [await open_store(pg_url) for _ in range(4)]
    try:
        loop, _ = await stores[0].open_loop(new_loop(1), state=LoopState.AWAITING_CI, now=1.0)
        results = await asyncio.gather(
            *(
                stores[i % 4].update_loop(
                    loop.id,
                    expect=[LoopState.AWAITING_CI],
                    now=2.0,
                    state=LoopState.QUEUED,
                    reason=f"delivery {i}",
                )
                for i in range(16)
            )
        )
        assert sum(r is not None for r in results) == 1
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_an_unreachable_database_says_what_to_check() -> None:
    from app.store.postgres import open_postgres_store

    with pytest.raises(RuntimeError, match="check the host, port"):
        await open_postgres_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
