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
many deliveries share one commit instead of paying for one each.  The COMMIT
runs on the event loop: a delivery's rows are under 1 KB, so a COMMIT writes a
few pages, and handing it to a thread cost more than it saved once the threads
ran on different cores (issue 15, three pairs unpinned: 3,494-3,761 deliveries
a second with the thread, 3,962-4,098 without; pinned to one core, no clear
difference).

The door's writes go one step further (:meth:`SqliteConnection.record_arrival`,
used by :class:`SqliteStore`): the deliveries of one tick are written together
just before the group's COMMIT, one multi-row ``INSERT ... RETURNING`` for their
ids and one for their bodies, where each used to take four statements (two
inserts in a savepoint) and a hold of the lock.  A group whose deliveries are
still arriving (more joined since its COMMIT was scheduled) waits another turn of
the event loop, ``GROUP_TURNS`` at most, so a burst shares fewer COMMITs.

Under a steady load the log stays near 4 MB: SQLite's automatic checkpoint
(``wal_autocheckpoint``, 1,000 pages) runs inside the COMMIT that passes that
size, with the store's lock held, so no frame is appended meanwhile, every frame
is copied, and the next write starts the log from its beginning (issue 15: the
log used to grow to 48 MB, and each truncation stopped the door for 30 ms). A
reader holding an old snapshot can keep that checkpoint from finishing, so the
log still has a ceiling, kept as follows. After each commit the WAL's size is
looked at: each time it grows by another ``wal_soft_bytes`` (a quarter of the
ceiling) a PASSIVE checkpoint runs in a worker thread on a second connection (it
never blocks the writer, and copies most pages while the load goes on). From
three quarters of ``wal_max_bytes`` on, one more passive checkpoint catches up
while writers go on, and then writers stop for the short TRUNCATE checkpoint (on
the writer's own connection, in a thread) that folds the few pages left into the
database and cuts the WAL to zero bytes. Should the WAL reach ``wal_max_bytes``
before that, new statements wait until it is cut back (back-pressure instead of
unbounded growth). A timer truncates the WAL once the load stops, and
``journal_size_limit`` trims it after any reset, so a burst leaves no large file
behind. PASSIVE alone cannot do this: under continuous writes it never catches
up with the end of the log, and the WAL only restarts from its beginning when it
does.

That checkpoint flushes the log to disk before it copies it (``synchronous=NORMAL``
does so at each checkpoint, never at a commit), and that flush was most of what
it cost: 6-10 ms with every writer stopped, a few times a second at full
intake, which was the door's p99. A thread of its own (:class:`WalFlusher`)
therefore flushes the log in the background, at most every ``FLUSH_EVERY_S``
while commits happen, so each checkpoint finds at most that much of it
unflushed (issue 15: the checkpoint's stop went from 6-10 ms to 2-3 ms). It
only adds durability: a flushed commit survives a power loss earlier than
SQLite promises.

The file uses ``auto_vacuum=INCREMENTAL`` (set on a new file; an existing file
is converted by one VACUUM at start-up), so the pages retention frees can be
given back to the file system with ``incremental_vacuum`` (:meth:`reclaim`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from app.core.errors import StoreUnavailable
from app.store.sql import Row, SqlStore

T = TypeVar("T")
log = logging.getLogger(__name__)

WAL_MAX_BYTES = 64 * 1024 * 1024  # the default ceiling of the write-ahead log
IDLE_CHECK_S = 1.0  # how often the WAL is looked at when nothing commits
RECLAIM_PAGES = 4096  # pages one incremental vacuum gives back at most (16 MB of 4 KB pages)
TRUNCATE_BUSY_MS = 1000  # how long a truncating checkpoint waits for another reader
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default: about 4 MB of log
GROUP_TURNS = 2  # event-loop turns a group commit waits while deliveries keep joining it
FLUSH_EVERY_S = 0.01  # the longest the log goes unflushed while commits happen


class WalFlusher:
    """Flushes the write-ahead log to disk from a thread, after commits, at most every ``every_s``.

    A checkpoint flushes the log before it copies it, on the writer's thread
    with every writer waiting; flushed here beforehand, the log leaves it little
    to do.  ``fdatasync`` on another descriptor of the same file is safe at any
    moment (it takes no SQLite lock and writes nothing), and it releases the GIL.
    """

    def __init__(self, wal: Path, *, every_s: float = FLUSH_EVERY_S) -> None:
        self._wal = wal
        self._every_s = every_s
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushes = 0
        self.inode = 0  # the file the last flush was of

    def poke(self) -> None:
        """Something was committed: flush it soon (cheap enough for every commit)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-wal-flush", daemon=True)
            self._thread.start()
        if not self._wanted.is_set():
            self._wanted.set()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._wanted.set()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        fd: int | None = None
        try:
            while True:
                self._wanted.wait()
                if self._stopping.is_set():
                    return
                self._wanted.clear()
                fd = self._flush(fd)
                self._stopping.wait(self._every_s)
        finally:
            if fd is not None:
                os.close(fd)

    def _flush(self, fd: int | None) -> int | None:
        """fdatasync the log; reopen it when the file was replaced (deleted and made anew)."""
        try:
            current = os.stat(self._wal).st_ino
            if fd is not None and os.fstat(fd).st_ino != current:
                os.close(fd)
                fd = None
            if fd is None:
                fd = os.open(self._wal, os.O_RDONLY)
            os.fdatasync(fd)
            self.inode = current
            self.flushes += 1
        except OSError:
            pass  # no log file at this moment: nothing to flush
        return fd


class SqliteConnection:
    types: ClassVar[Mapping[str, str]] = {
        "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "int": "INTEGER",
        "real": "REAL",
        "blob": "BLOB",
        # One tree keyed by the primary key, for tables read and written in its order.
        "without_rowid": " WITHOUT ROWID",
    }

    def __init__(self, path: Path, *, wal_max_bytes: int = WAL_MAX_BYTES) -> None:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        # Only a file without tables takes this; an older file is converted in convert_vacuum.
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA foreign_keys=ON")
        # SQLite's own checkpoint after a commit that leaves the log over 1,000 pages.
        # Commits run with the lock held, so nothing is appended meanwhile: it
        # copies every frame, and the next write starts the log from its
        # beginning.  The log stays near 4 MB under any steady load.
        self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        self._wal_max = wal_max_bytes
        self._wal_soft = max(wal_max_bytes // 4, 1024 * 1024)
        self._db.execute(f"PRAGMA journal_size_limit={self._wal_soft}")
        self._path = path
        self._wal = Path(f"{path}-wal")
        self.flusher = WalFlusher(self._wal)
        self._closed = False
        self._commits = 0
        self._passive: asyncio.Future[None] | None = None
        self._truncating: asyncio.Future[None] | None = None
        self._truncate_failed_at = 0.0
        self._passive_mark = 0
        self._full = False
        self._watch: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._group: asyncio.Future[None] | None = None
        self._group_seen = 0  # deliveries in the group when its commit last looked
        self._group_turns = 0  # turns its commit has waited for more
        # Deliveries recorded in this tick's group: written together just before its COMMIT.
        self._door: list[Arrival] = []
        self.wal_peak_bytes = 0
        self.checkpoints = {"passive": 0, "truncate": 0, "busy": 0}

    def _mine(self) -> bool:
        return self._owner is not None and self._owner is asyncio.current_task()

    def _open_group(self) -> asyncio.Future[None]:
        """This tick's group transaction, begun if there is none; call with the lock held."""
        if self._group is None:
            self._db.execute("BEGIN IMMEDIATE")
            self._group = asyncio.get_running_loop().create_future()
            self._group_seen = self._group_turns = 0
            asyncio.get_running_loop().call_soon(self._commit_when_settled, self._group)
        return self._group

    def _commit_when_settled(self, group: asyncio.Future[None]) -> None:
        """Commit the group once deliveries stop joining it, waiting ``GROUP_TURNS`` turns at most.

        Under load the requests of one burst reach the store over a few turns of
        the event loop; a turn's wait lets them share the COMMIT (issue 15: 3
        deliveries a group became 6, 175-220 instead of 201-245 µs a delivery,
        and a lower median latency, since less CPU per delivery means less
        queueing).  A lone delivery waits one turn, microseconds on an idle loop.
        """
        if (
            self._group is group
            and len(self._door) > self._group_seen
            and self._group_turns < GROUP_TURNS
        ):
            self._group_seen = len(self._door)
            self._group_turns += 1
            asyncio.get_running_loop().call_soon(self._commit_when_settled, group)
            return
        self._commit_group(group)

    async def _grouped(self, run: Callable[[], T]) -> T:
        """Run one statement in this tick's group transaction; return once it is committed."""
        await self._room()
        async with self._lock:
            group = self._open_group()
            # A failing statement is undone alone (SQLite's statement journal);
            # the group's other statements stay and commit.
            result = run()
        await asyncio.shield(group)
        return result

    def _commit_group(self, group: asyncio.Future[None]) -> None:
        if self._group is not group:
            return  # an explicit transaction committed it already
        if self._owner is not None:
            # A transaction holds the connection: commit the group after it ends.
            asyncio.get_running_loop().call_soon(self._commit_group, group)
            return
        self._group = None
        try:
            if self._door:
                arrivals, self._door = self._door, []
                _write_arrivals(self._db, arrivals)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            group.set_exception(exc)
        else:
            group.set_result(None)
            self._committed()

    # ---------------------------------------------------------------- the WAL's ceiling

    def wal_bytes(self) -> int:
        try:
            return self._wal.stat().st_size
        except FileNotFoundError:
            return 0

    def _committed(self) -> None:
        self._commits += 1
        self.flusher.poke()
        size = self.wal_bytes()
        self.wal_peak_bytes = max(self.wal_peak_bytes, size)
        if size >= self._wal_max:
            self._full = True  # writers wait until the WAL is cut back (back-pressure)
            self._start_truncate()
        elif size >= self._wal_max - self._wal_soft:
            self._start_truncate()  # catch up while writers go on; stop them only briefly
        elif size // self._wal_soft > self._passive_mark:
            # One passive checkpoint per ``wal_soft_bytes`` of growth: each copies
            # what the last one left, and none of them can shrink the file.
            self._passive_mark = size // self._wal_soft
            self._start_passive()

    def _start_passive(self) -> None:
        if self._passive is None or self._passive.done():
            self._passive = asyncio.ensure_future(self._passive_checkpoint())

    async def _passive_checkpoint(self) -> None:
        try:
            await asyncio.to_thread(_checkpoint, self._path)
            self.checkpoints["passive"] += 1
        except sqlite3.Error as exc:
            log.warning("passive WAL checkpoint failed: %s", exc)

    def _start_truncate(self) -> None:
        if self._truncating is not None and not self._truncating.done():
            return
        if time.monotonic() - self._truncate_failed_at < IDLE_CHECK_S:
            return  # a reader held it up a moment ago; do not stall the writer again at once
        self._truncating = asyncio.ensure_future(self._catch_up_and_truncate())

    async def _catch_up_and_truncate(self) -> None:
        """A passive checkpoint while writers go on, then the short stop that truncates."""
        if self._passive is not None:
            await self._passive
        # Kept in _passive so that truncate_wal, from anywhere, waits for it.
        self._passive = asyncio.ensure_future(self._passive_checkpoint())
        await self._passive
        await self.truncate_wal()

    async def _room(self) -> None:
        """Back-pressure: while the WAL is at its ceiling, wait for it to be cut back."""
        while self._full and self._truncating is not None and not self._truncating.done():
            await asyncio.wait([self._truncating])

    async def truncate_wal(self) -> bool:
        """Fold the whole WAL into the database and cut it to zero; writers wait meanwhile.

        False when another connection's reader kept it from finishing.
        """
        async with self._lock:
            if self._closed:
                return False
            if self._group is not None:
                self._commit_group(self._group)
            while self._passive is not None and not self._passive.done():
                await self._passive  # two checkpointers at once: the second gets SQLITE_BUSY
            busy = await asyncio.to_thread(self._checkpoint_here, "TRUNCATE")
            self._full = False  # if still full, the next commit says so again
        if busy:
            self.checkpoints["busy"] += 1
            self._truncate_failed_at = time.monotonic()
            log.warning("WAL checkpoint could not finish: a reader holds an old snapshot")
            return False
        self.checkpoints["truncate"] += 1
        self._passive_mark = 0
        return True

    def _checkpoint_here(self, mode: str) -> bool:
        """Checkpoint on the writer's connection (lock held, so nobody else uses it); busy?"""
        self._db.execute(f"PRAGMA busy_timeout={TRUNCATE_BUSY_MS}")
        try:
            row = self._db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            self._db.execute("PRAGMA busy_timeout=5000")
        return bool(row[0])

    async def _watch_idle(self) -> None:
        """Once commits stop for a second, cut the WAL back to zero bytes."""
        seen = self._commits
        while True:
            await asyncio.sleep(IDLE_CHECK_S)
            size = self.wal_bytes()
            if self._commits == seen and size > 0:
                self._start_truncate()
            seen = self._commits

    def start(self) -> None:
        """Start the idle WAL watcher (on the running event loop)."""
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_idle(), name="sqlite-wal")

    # ---------------------------------------------------------------- statements

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

    async def execute_all(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """Statements that commit together, in this tick's group commit; their row counts.

        A savepoint inside the group: a failure undoes these statements only,
        and the group's others stay and commit.  One hold of the lock, no
        context manager: this is what every delivery writes, where
        :meth:`transaction`'s own COMMIT would cost more than the statements do."""
        if self._mine():
            return [self._db.execute(sql, params).rowcount for sql, params in steps]
        await self._room()
        async with self._lock:
            group = self._open_group()
            self._db.execute("SAVEPOINT together")
            try:
                counts = [self._db.execute(sql, params).rowcount for sql, params in steps]
            except BaseException:
                self._db.execute("ROLLBACK TO together")
                self._db.execute("RELEASE together")
                raise
            self._db.execute("RELEASE together")
        await asyncio.shield(group)
        return counts

    async def record_arrival(self, arrival: Arrival) -> bool:
        """Record one delivery in this tick's group commit; False when the id is known.

        The door's write, made for its rate: the arrivals of one tick are written
        together just before the group's COMMIT, with two statements for all of
        them (:func:`_write_arrivals`), where one at a time took four each and a
        hold of the lock.  The caller learns the outcome once it is committed.
        """
        try:
            if self._mine():
                _write_arrivals(self._db, [arrival])
            elif self._group is not None and not self._full:
                # A group is open, so no transaction holds the connection (one
                # commits the group before it begins): joining it needs no lock.
                self._door.append(arrival)
                await asyncio.shield(self._group)
            else:
                await self._room()
                async with self._lock:
                    group = self._open_group()
                    self._door.append(arrival)
                await asyncio.shield(group)
        except sqlite3.Error as exc:  # the group's COMMIT failed: nothing of it was written
            arrival.error = exc
        if arrival.error is not None:
            # The door answers 503 and GitHub's delivery is taken again later:
            # nothing of it was written.
            raise StoreUnavailable(
                f"SQLite could not record delivery {arrival.delivery_id} ({arrival.error})"
            ) from arrival.error
        return arrival.inserted

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self._mine():
            yield
            return
        await self._room()
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

    # ---------------------------------------------------------------- size

    def convert_vacuum(self) -> bool:
        """Switch a file made before ``auto_vacuum=INCREMENTAL`` over (one VACUUM); True if so.

        Run once at start-up, before anything else uses the connection: VACUUM
        rewrites the whole file, so on a large old store this takes a while, once.
        """
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
            return False
        log.info("converting %s to auto_vacuum=INCREMENTAL (one VACUUM)", self._path)
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._db.execute("VACUUM")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return True

    async def reclaim(self, max_pages: int = RECLAIM_PAGES) -> int:
        """Give free pages back to the file system (``incremental_vacuum``); bytes returned."""
        async with self._lock:
            if self._group is not None:
                self._commit_group(self._group)
            page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
            before = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
            if before == 0:
                return 0
            await asyncio.to_thread(self._vacuum_pages, max_pages)
            after = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        return (before - after) * page_size

    def _vacuum_pages(self, pages: int) -> None:
        # Not execute(): the sqlite3 module steps a statement without result
        # columns once, and each step of incremental_vacuum frees one page.
        self._db.executescript(f"PRAGMA incremental_vacuum({int(pages)});")

    async def storage(self) -> dict[str, Any]:
        """Sizes on disk: the database file, its WAL, pages free inside it, the WAL's ceiling."""
        row = await self.fetchone("PRAGMA freelist_count")
        free_pages = int(next(iter(row.values()))) if row else 0
        page = await self.fetchone("PRAGMA page_size")
        page_size = int(next(iter(page.values()))) if page else 4096
        return {
            "backend": "sqlite",
            "database_bytes": self._path.stat().st_size,
            "wal_bytes": self.wal_bytes(),
            "free_bytes": free_pages * page_size,
            "wal_ceiling_bytes": self._wal_max,
            "wal_peak_bytes": self.wal_peak_bytes,
            "checkpoints": dict(self.checkpoints),
        }

    async def close(self) -> None:
        """Commit what is pending, fold the WAL into the file, close; a second call is a no-op."""
        if self._closed:
            return
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        if self._truncating is not None:
            await asyncio.gather(self._truncating, return_exceptions=True)
        async with self._lock:
            self._closed = True
            if self._group is not None:
                self._commit_group(self._group)
            if self._passive is not None:
                await self._passive
            self.flusher.stop()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()


@dataclass(slots=True, eq=False)
class Arrival:
    """A delivery on its way into the store, and (once committed) what became of it."""

    delivery_id: str
    event: str
    received_at: float
    outcome: str | None  # set: finished on arrival, no body kept
    body: bytes | None
    inserted: bool = False
    error: sqlite3.Error | None = None


ARRIVALS_PER_STATEMENT = 32  # rows per INSERT: few distinct statements for the cache to keep


def _write_arrivals(db: sqlite3.Connection, arrivals: Sequence[Arrival]) -> None:
    """Insert the deliveries not known yet, and the bodies of those that are kept.

    ``RETURNING`` names the ids that were new (a known id, or the second of two
    arrivals with one id, is skipped by ``ON CONFLICT``).  Both inserts are in a
    savepoint: should either fail, none of these arrivals is recorded, each
    caller gets the error, and the group's other statements still commit.
    """
    db.execute("SAVEPOINT arrivals")
    try:
        new: set[str] = set()
        for start in range(0, len(arrivals), ARRIVALS_PER_STATEMENT):
            chunk = arrivals[start : start + ARRIVALS_PER_STATEMENT]
            new.update(
                row[0]
                for row in db.execute(
                    "INSERT INTO deliveries (delivery_id, event, received_at, outcome) VALUES "
                    + ", ".join(["(?, ?, ?, ?)"] * len(chunk))
                    + " ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
                    [v for a in chunk for v in (a.delivery_id, a.event, a.received_at, a.outcome)],
                )
            )
        kept = []
        for arrival in arrivals:
            if arrival.delivery_id in new:
                new.discard(arrival.delivery_id)  # a second arrival with this id is a repeat
                arrival.inserted = True
                if arrival.outcome is None:
                    kept.append(arrival)
        db.executemany(
            "INSERT INTO delivery_bodies (received_at, delivery_id, event, body) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(a.received_at, a.delivery_id, a.event, a.body or b"") for a in kept],
        )
    except sqlite3.Error as exc:
        db.execute("ROLLBACK TO arrivals")
        for arrival in arrivals:
            arrival.inserted = False
            arrival.error = exc
    db.execute("RELEASE arrivals")


class SqliteStore(SqlStore):
    """The SQL store on SQLite: the door's writes go into the group commit in batches."""

    def __init__(self, conn: SqliteConnection) -> None:
        super().__init__(conn)
        self._sqlite = conn

    async def add_delivery(
        self,
        delivery_id: str,
        event: str,
        body: bytes | None,
        received_at: float,
        *,
        outcome: str | None = None,
    ) -> bool:
        arrival = Arrival(delivery_id, event, received_at, outcome, body)
        return await self._sqlite.record_arrival(arrival)


def _checkpoint(path: Path) -> None:
    """Copy committed WAL pages into the database file, without blocking the writer."""
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")


async def open_sqlite_store(path: Path, *, wal_max_bytes: int = WAL_MAX_BYTES) -> SqlStore:
    """Open (creating if needed) the SQLite store at ``path`` and bring its schema up to date."""
    conn = SqliteConnection(path, wal_max_bytes=wal_max_bytes)
    store = SqliteStore(conn)
    await store.migrate()
    conn.convert_vacuum()
    conn.start()
    return store
