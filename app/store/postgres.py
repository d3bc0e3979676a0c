"""The scale-out store: PostgreSQL, shared by every web instance and worker.

The queries are the ones in ``app.store.sql`` (written with ``?`` placeholders);
this module only translates them to psycopg's ``%s`` style and supplies a pool
so concurrent coroutines each get their own connection.  Statements outside a
transaction run in autocommit mode, the same one-statement-one-transaction
behaviour SQLite gives.  Transactions are READ COMMITTED: the store's
compare-and-set updates (``UPDATE ... WHERE <still free> RETURNING``) re-check
their condition on the locked row, so two processes can never both win one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

from app.core.errors import StoreUnavailable
from app.store.sql import Row, SqlStore

try:
    import psycopg
    from psycopg import AsyncConnection
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"DATABASE_URL is set but the PostgreSQL driver is missing ({exc.name}): "
        "pip install 'ci-fix-loop[postgres]'",
        name=exc.name,
    ) from exc

# What a restarting or unreachable server raises: a broken or refused connection,
# or no connection free in time.  Mapped to StoreUnavailable (infrastructure).
UNREACHABLE: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,  # "the connection is closed"
    PoolTimeout,
)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


# Any fixed 64-bit number: every instance of the app takes this advisory lock
# before migrating, so two instances starting together never race on DDL.
MIGRATION_LOCK_KEY = 0x0C1F1C5_0001


def to_psycopg(sql: str) -> str:
    """``?`` placeholders to ``%s``; literal ``%`` doubled; quoted text left alone."""
    out: list[str] = []
    quoted = False
    for char in sql:
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class PostgresConnection:
    """The ``Connection`` protocol over a psycopg connection pool."""

    types: ClassVar[Mapping[str, str]] = {
        "id": "BIGSERIAL PRIMARY KEY",
        "int": "BIGINT",
        "real": "DOUBLE PRECISION",
        "blob": "BYTEA",
        "without_rowid": "",
    }

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        # The connection of the transaction the current task is in, if any.
        # A ContextVar (not an attribute) so concurrent tasks never share one.
        self._current: ContextVar[AsyncConnection[Any] | None] = ContextVar(
            f"pg-transaction-{id(self)}", default=None
        )

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        current = self._current.get()
        if current is not None:
            yield current
            return
        try:
            async with self._pool.connection() as conn:
                yield conn
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"PostgreSQL is unavailable ({_reason(exc)})") from exc

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(to_psycopg(sql), params)
            return cursor.rowcount

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        async with self._connection() as conn:
            cursor = await conn.cursor(row_factory=dict_row).execute(to_psycopg(sql), params)
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        async with self._connection() as conn:
            cursor = await conn.cursor(row_factory=dict_row).execute(to_psycopg(sql), params)
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One connection for every statement inside; nested calls join the outer one."""
        if self._current.get() is not None:
            yield
            return
        try:
            async with self._pool.connection() as conn, conn.transaction():
                token = self._current.set(conn)
                try:
                    yield
                finally:
                    self._current.reset(token)
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"PostgreSQL is unavailable ({_reason(exc)})") from exc

    async def execute_all(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """Statements that commit together: one transaction."""
        async with self.transaction():
            return [await self.execute(sql, params) for sql, params in steps]

    async def reclaim(self, max_pages: int = 0) -> int:
        """Nothing to do here: autovacuum makes deleted rows' space reusable on its own."""
        return 0

    async def storage(self) -> dict[str, Any]:
        """The database's size, and the WAL's when this role may list it (``pg_monitor``)."""
        row = await self.fetchone("SELECT pg_database_size(current_database()) AS size")
        wal: int | None
        try:
            wal_row = await self.fetchone(
                "SELECT COALESCE(SUM(size), 0) AS size FROM pg_ls_waldir()"
            )
            wal = int(wal_row["size"]) if wal_row else None
        except psycopg.errors.InsufficientPrivilege:
            wal = None
        return {
            "backend": "postgresql",
            "database_bytes": int(row["size"]) if row else 0,
            "wal_bytes": wal,
        }

    async def close(self) -> None:
        await self._pool.close()


async def open_postgres_store(url: str, *, max_connections: int = 10) -> SqlStore:
    """Connect to ``url`` (a ``postgresql://`` URL) and bring its schema up to date.

    Several instances may start at once: the migration runs under a
    transaction-scoped advisory lock, so one applies it and the others find
    it done.
    """
    try:
        probe = await AsyncConnection.connect(url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        # libpq's message names host, port, database or user, never the password.
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(
            f"Cannot connect to the PostgreSQL database in DATABASE_URL ({reason}): check the "
            "host, port, database name and credentials, and that the server is up."
        ) from exc
    await probe.close()
    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max_connections,
        kwargs={"autocommit": True},
        open=False,
        # A connection a server restart cut is found on checkout and replaced,
        # instead of failing the caller's statement.
        check=AsyncConnectionPool.check_connection,
        timeout=10,
    )
    await pool.open(wait=True, timeout=30)
    conn = PostgresConnection(pool)
    store = SqlStore(conn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))
            await store.migrate()
    except BaseException:
        await pool.close()
        raise
    return store
