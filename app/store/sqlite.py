"""The embedded default store: one SQLite file, zero setup.

WAL mode lets ``python -m app status`` read while the server writes, and
``synchronous=NORMAL`` keeps every committed transaction across a process crash
(kill -9); only a power loss may lose the last few.  SQLite calls are short and
made on the event loop thread; a lock keeps one coroutine's transaction from
interleaving with another's statements on the shared connection.

Statements outside an explicit transaction are group-committed: the first one in
an event-loop tick opens a transaction, every statement issued until the next
tick joins it, and one COMMIT at the start of the next tick ends it.  Each caller
gets its result only after that COMMIT, so "recorded" still means committed (a
webhook's 202 is never sent for a delivery a crash could lose), but under load
many deliveries share one commit instead of paying for one each.

The WAL is checkpointed from a worker thread on a second connection (PASSIVE:
it never blocks the writer) every ``CHECKPOINT_EVERY`` commits, instead of
SQLite's automatic checkpoint, which would run inside a COMMIT on the event
loop and stall every request waiting behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from app.store.sql import Row, SqlStore

T = TypeVar("T")
CHECKPOINT_EVERY = 200  # commits between background checkpoints


class SqliteConnection:
    types: ClassVar[Mapping[str, str]] = {
        "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "int": "INTEGER",
        "real": "REAL",
        "blob": "BLOB",
    }

    def __init__(self, path: Path) -> None:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._path = path
        self._closed = False
        self._commits = 0
        self._checkpointing: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._group: asyncio.Future[None] | None = None

    def _mine(self) -> bool:
        return self._owner is not None and self._owner is asyncio.current_task()

    async def _grouped(self, run: Callable[[], T]) -> T:
        """Run one statement in this tick's group transaction; return once it is committed."""
        async with self._lock:
            if self._group is None:
                self._db.execute("BEGIN IMMEDIATE")
                group = self._group = asyncio.get_running_loop().create_future()
                asyncio.get_running_loop().call_soon(self._commit_group, group)
            group = self._group
            # A failing statement is undone alone (SQLite's statement journal);
            # the group's other statements stay and commit.
            result = run()
        await asyncio.shield(group)
        return result

    def _commit_group(self, group: asyncio.Future[None]) -> None:
        if self._group is not group:
            return  # an explicit transaction committed it already
        self._group = None
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            group.set_exception(exc)
        else:
            group.set_result(None)
            self._committed()

    def _committed(self) -> None:
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and (
            self._checkpointing is None or self._checkpointing.done()
        ):
            self._checkpointing = asyncio.ensure_future(asyncio.to_thread(_checkpoint, self._path))

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        if self._mine():
            return self._db.execute(sql, params).rowcount
        return await self._grouped(lambda: self._db.execute(sql, params).rowcount)

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        if self._mine():
            return self._fetchone(sql, params)
        return await self._grouped(lambda: self._fetchone(sql, params))

    def _fetchone(self, sql: str, params: tuple[Any, ...]) -> Row | None:
        cursor = self._db.execute(sql, params)
        row = cursor.fetchone()
        # Drain the cursor so an UPDATE ... RETURNING finishes its statement.
        cursor.fetchall()
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        if self._mine():
            return self._fetchall(sql, params)
        return await self._grouped(lambda: self._fetchall(sql, params))

    def _fetchall(self, sql: str, params: tuple[Any, ...]) -> list[Row]:
        return [dict(r) for r in self._db.execute(sql, params).fetchall()]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self._mine():
            yield
            return
        async with self._lock:
            if self._group is not None:
                # Commit this tick's group now rather than nest in it: a rollback
                # of this transaction must not take other callers' statements along.
                self._commit_group(self._group)
            self._owner = asyncio.current_task()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
                self._committed()
            finally:
                self._owner = None

    async def close(self) -> None:
        """Commit what is pending, fold the WAL into the file, close; a second call is a no-op."""
        if self._closed:
            return
        self._closed = True
        if self._group is not None:
            self._commit_group(self._group)
        if self._checkpointing is not None:
            await self._checkpointing
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()


def _checkpoint(path: Path) -> None:
    """Copy committed WAL pages into the database file, without blocking the writer."""
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")


async def open_sqlite_store(path: Path) -> SqlStore:
    """Open (creating if needed) the SQLite store at ``path`` and bring its schema up to date."""
    store = SqlStore(SqliteConnection(path))
    await store.migrate()
    return store
