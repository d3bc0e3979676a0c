"""The SQLite store stays small: a WAL with a ceiling, space given back, old files converted."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from app.store.migrations import MIGRATIONS
from app.store.sqlite import SqliteConnection, WalFlusher, open_sqlite_store

T0 = 1_700_000_000.0
BODY = b"x" * 20 * 1024


def sqlite_conn(store: object) -> SqliteConnection:
    conn = store._conn  # type: ignore[attr-defined]
    assert isinstance(conn, SqliteConnection)
    return conn


def pragma(path: Path, name: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"PRAGMA {name}").fetchone()[0])


async def test_a_new_store_uses_incremental_auto_vacuum(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "s.sqlite3")
    await store.close()
    assert pragma(tmp_path / "s.sqlite3", "auto_vacuum") == 2  # INCREMENTAL


async def test_incremental_vacuum_gives_the_space_of_processed_bodies_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite3"
    store = await open_sqlite_store(path)
    conn = sqlite_conn(store)
    for n in range(200):
        await store.add_delivery(f"d-{n}", "workflow_run", BODY, T0 + n)
    await conn.truncate_wal()
    full = path.stat().st_size
    for n in range(200):
        await store.finish_delivery(f"d-{n}", "processed")
    assert (await conn.storage())["free_bytes"] >= 150 * len(BODY)

    freed = await store.reclaim()
    await conn.truncate_wal()  # the file shrinks when the WAL is folded into it

    assert freed >= 150 * len(BODY)
    assert (await conn.storage())["free_bytes"] == 0
    assert path.stat().st_size < full - 150 * len(BODY)
    assert await store.delivery_outcome("d-199") == "processed"
    await store.close()


async def test_the_wal_stays_under_its_ceiling_under_sustained_writes(tmp_path: Path) -> None:
    ceiling = 2 * 1024 * 1024
    store = await open_sqlite_store(tmp_path / "s.sqlite3", wal_max_bytes=ceiling)
    conn = sqlite_conn(store)
    for batch in range(40):  # 640 deliveries of 20 KB: 13 MB written, six ceilings' worth
        ids = [f"d-{batch}-{n}" for n in range(16)]
        await asyncio.gather(*(store.add_delivery(i, "workflow_run", BODY, T0) for i in ids))
        await asyncio.gather(*(store.finish_delivery(i, "processed") for i in ids))
    # One group commit of 16 concurrent writers may land before the writer stops.
    assert conn.wal_peak_bytes <= ceiling + 16 * 2 * len(BODY)
    assert conn.checkpoints["truncate"] >= 1
    assert await conn.truncate_wal()
    assert conn.wal_bytes() == 0
    await store.close()


async def test_group_commits_fold_the_log_back_long_before_the_ceiling(tmp_path: Path) -> None:
    """SQLite's own checkpoint after each group commit keeps the log near 4 MB: 13 MB
    of deliveries go through with the default 64 MB ceiling and writers never stop."""
    store = await open_sqlite_store(tmp_path / "s.sqlite3")
    conn = sqlite_conn(store)
    for batch in range(40):
        ids = [f"d-{batch}-{n}" for n in range(16)]
        await asyncio.gather(*(store.add_delivery(i, "workflow_run", BODY, T0) for i in ids))
        await asyncio.gather(*(store.finish_delivery(i, "processed") for i in ids))
    assert conn.wal_peak_bytes < 8 * 1024 * 1024
    assert conn.checkpoints["truncate"] == 0
    assert await store.unfinished_deliveries() == []
    await store.close()


def flusher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-wal-flush"]


def wait_for(check: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


async def test_commits_are_flushed_to_disk_in_the_background_until_close(tmp_path: Path) -> None:
    before = len(flusher_threads())
    store = await open_sqlite_store(tmp_path / "s.sqlite3")
    conn = sqlite_conn(store)
    await store.add_delivery("d-1", "workflow_run", BODY, T0)
    assert await asyncio.to_thread(wait_for, lambda: conn.flusher.flushes >= 1)
    assert len(flusher_threads()) == before + 1
    await store.close()
    assert len(flusher_threads()) == before


def test_the_flusher_follows_a_log_file_that_is_replaced_or_missing(tmp_path: Path) -> None:
    wal = tmp_path / "s.sqlite3-wal"
    before = len(flusher_threads())
    flusher = WalFlusher(wal, every_s=0.001)
    flusher.poke()  # no log file yet: nothing to flush, and no error
    time.sleep(0.05)
    assert flusher.flushes == 0
    wal.write_bytes(b"frames")
    flusher.poke()
    assert wait_for(lambda: flusher.flushes == 1)
    assert flusher.inode == wal.stat().st_ino
    wal.unlink()
    wal.write_bytes(b"a new log")  # another file under the same name
    flusher.poke()
    assert wait_for(lambda: flusher.flushes == 2)
    assert flusher.inode == wal.stat().st_ino
    flusher.stop()
    assert len(flusher_threads()) == before


async def test_an_old_store_is_upgraded_keeping_what_replay_needs(tmp_path: Path) -> None:
    """A file of schema version 1 (bodies in ``deliveries``) keeps unfinished bodies only."""
    path = tmp_path / "old.sqlite3"
    types = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "int": "INTEGER", "real": "REAL",
             "blob": "BLOB"}  # fmt: skip
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for statement in MIGRATIONS[0]:
            db.execute(statement.format(**types))
        db.execute("INSERT INTO schema_version VALUES (1)")
        rows = [
            ("done", "workflow_run", None, T0, "processed"),
            ("pending", "workflow_run", b'{"action": "completed"}', T0 + 1, None),
            ("cut-off-ignored", "workflow_run", b"", T0 + 2, None),
        ]
        db.executemany("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)", rows)
    assert pragma(path, "auto_vacuum") == 0

    store = await open_sqlite_store(path)
    try:
        assert await store.unfinished_deliveries() == [
            ("pending", "workflow_run", b'{"action": "completed"}')
        ]
        assert await store.delivery_outcome("done") == "processed"
        assert await store.delivery_outcome("cut-off-ignored") == "ignored"
        assert not await store.add_delivery("done", "workflow_run", b"{}", T0 + 3)
    finally:
        await store.close()
    assert pragma(path, "auto_vacuum") == 2
