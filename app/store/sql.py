"""The store's logic in SQL both SQLite and PostgreSQL run; backends supply a connection.

Keeping one implementation of the queries means the two backends cannot drift
apart: the same loop tests run against both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import fields
from typing import Any, Protocol

from app.store.migrations import MIGRATIONS
from app.store.records import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    BranchRun,
    BreakerState,
    ConfigPause,
    Iteration,
    Loop,
    LoopEvent,
    LoopKey,
    LoopRun,
    LoopState,
    NewLoop,
)
from app.store.retention import PruneReport, RetentionPolicy, utc_day

Row = Mapping[str, Any]

_LOOP_FIELDS = {f.name for f in fields(Loop)}
_ITERATION_FIELDS = {f.name for f in fields(Iteration)}
_LOOP_RUN_FIELDS = {f.name for f in fields(LoopRun)}
_BRANCH_RUN_FIELDS = {f.name for f in fields(BranchRun)}
_JSON_LOOP_FIELDS = {"diagnosis"}
_JSON_ITERATION_FIELDS = {"guard_reasons", "verify", "transcript"}


class Connection(Protocol):
    """What a backend provides: ``?`` placeholders, rows as mappings."""

    @property
    def types(self) -> Mapping[str, str]:
        """Column type names this backend substitutes into the migrations."""

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int: ...

    async def fetchone(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]: ...

    def transaction(self) -> AbstractAsyncContextManager[None]: ...

    async def execute_all(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> list[int]:
        """Statements that commit together, decided in advance; their row counts.

        Cheaper than a transaction on SQLite (no COMMIT of its own, one hold of
        the lock): the statements each delivery writes (issue 15's hot path).
        """
        ...

    async def reclaim(self, max_pages: int = ...) -> int:
        """Give freed space back to the file system; bytes returned (0 where autovacuum does)."""
        ...

    async def storage(self) -> dict[str, Any]:
        """Sizes on disk: ``backend``, ``database_bytes``, ``wal_bytes`` (None if unknown)."""
        ...

    async def close(self) -> None: ...


class SqlStore:
    """The Store interface over any ``Connection``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def migrate(self) -> int:
        """Apply the migrations this database has not seen; returns the schema version."""
        async with self._conn.transaction():
            await self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            row = await self._conn.fetchone("SELECT MAX(version) AS v FROM schema_version")
            current = int(row["v"]) if row and row["v"] is not None else 0
            for version, statements in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                for statement in statements:
                    await self._conn.execute(statement.format(**self._conn.types))
                await self._conn.execute(
                    "INSERT INTO schema_version (version) VALUES (?)", (version,)
                )
                current = version
        return current

    async def close(self) -> None:
        await self._conn.close()

    # deliveries

    async def add_delivery(
        self,
        delivery_id: str,
        event: str,
        body: bytes | None,
        received_at: float,
        *,
        outcome: str | None = None,
    ) -> bool:
        # SqliteStore writes the same rows with the same outcomes, but a tick's
        # deliveries at once (app/store/sqlite.py, _write_arrivals); the store
        # tests run against both.
        if outcome is not None:
            # Finished on arrival (no handler wants it): one small row, no body.
            inserted = await self._conn.execute(
                "INSERT INTO deliveries (delivery_id, event, received_at, outcome) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING",
                (delivery_id, event, received_at, outcome),
            )
            return inserted == 1
        # The body is written only by the call whose row this is (same arrival
        # time, not finished): a redelivery, even one racing it on PostgreSQL,
        # adds no second body, and a finished delivery's body never comes back.
        inserted, _ = await self._conn.execute_all(
            [
                (
                    "INSERT INTO deliveries (delivery_id, event, received_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (delivery_id) DO NOTHING",
                    (delivery_id, event, received_at),
                ),
                (
                    "INSERT INTO delivery_bodies (received_at, delivery_id, event, body) "
                    "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM deliveries "
                    "WHERE delivery_id = ? AND received_at = ? AND outcome IS NULL) "
                    "ON CONFLICT DO NOTHING",
                    (received_at, delivery_id, event, body or b"", delivery_id, received_at),
                ),
            ]
        )
        return inserted == 1

    async def finish_delivery(self, delivery_id: str, outcome: str) -> None:
        # The body was only kept for a restart to replay; its row goes entirely,
        # so nothing of it stays behind in the file.  It is found by its arrival
        # time (the key its table is ordered by), read from the delivery's row.
        await self._conn.execute_all(
            [
                (
                    "DELETE FROM delivery_bodies WHERE delivery_id = ? AND received_at = "
                    "(SELECT received_at FROM deliveries WHERE delivery_id = ?)",
                    (delivery_id, delivery_id),
                ),
                ("UPDATE deliveries SET outcome = ? WHERE delivery_id = ?", (outcome, delivery_id)),
            ]
        )

    async def delivery_outcome(self, delivery_id: str) -> str | None:
        row = await self._conn.fetchone(
            "SELECT outcome FROM deliveries WHERE delivery_id = ?", (delivery_id,)
        )
        return row["outcome"] if row else None

    async def delivery_known(self, delivery_id: str) -> bool:
        """Whether this delivery id was ever recorded (finished or not)."""
        row = await self._conn.fetchone(
            "SELECT 1 AS known FROM deliveries WHERE delivery_id = ?", (delivery_id,)
        )
        return row is not None

    async def unfinished_deliveries(self, limit: int | None = None) -> list[tuple[str, str, bytes]]:
        rows = await self._conn.fetchall(
            "SELECT delivery_id, event, body FROM delivery_bodies ORDER BY received_at"
            + ("" if limit is None else f" LIMIT {int(limit)}")
        )
        return [(r["delivery_id"], r["event"], bytes(r["body"])) for r in rows]

    # loops

    async def open_loop(self, new: NewLoop, *, state: LoopState, now: float) -> tuple[Loop, bool]:
        row = await self._conn.fetchone(
            "INSERT INTO loops (installation_id, repo, workflow_id, workflow_name, workflow_path, "
            "branch, head_sha, run_id, run_attempt, run_url, state, fix_branch, created_at, "
            "updated_at, commit_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING *",
            (
                new.installation_id,
                new.repo,
                new.workflow_id,
                new.workflow_name,
                new.workflow_path,
                new.branch,
                new.head_sha,
                new.run_id,
                new.run_attempt,
                new.run_url,
                state.value,
                new.fix_branch,
                now,
                now,
                new.commit_key,
            ),
        )
        if row is not None:
            return _loop(row), True
        # The conflict was one loop per commit and branch, or (rows from before
        # commit_key) one per commit and workflow.
        existing = await self.loop_for_commit(new.repo, new.branch, new.head_sha)
        existing = existing or await self.find_loop(new.key)
        assert existing is not None  # the conflict that stopped the insert is this row
        return existing, False

    async def loop_for_commit(self, repo: str, branch: str, head_sha: str) -> Loop | None:
        """The loop of this failing commit on this branch (the newest, for old rows)."""
        row = await self._conn.fetchone(
            "SELECT * FROM loops WHERE repo = ? AND branch = ? AND head_sha = ? "
            "ORDER BY id DESC LIMIT 1",
            (repo, branch, head_sha),
        )
        return _loop(row) if row else None

    # the workflows of a loop, and the newest run seen per branch and workflow

    async def add_loop_run(self, run: LoopRun) -> bool:
        values = {f.name: getattr(run, f.name) for f in fields(LoopRun)}
        columns = sorted(values)
        inserted = await self._conn.execute(
            f"INSERT INTO loop_runs ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT (loop_id, workflow_id) "
            "DO NOTHING",
            tuple(values[c] for c in columns),
        )
        return inserted == 1

    async def update_loop_run(self, loop_id: int, workflow_id: int, **changes: Any) -> None:
        unknown = set(changes) - _LOOP_RUN_FIELDS
        if unknown:
            raise ValueError(f"not loop run fields: {sorted(unknown)}")
        columns = sorted(changes)
        await self._conn.execute(
            "UPDATE loop_runs SET "
            + ", ".join(f"{c} = ?" for c in columns)
            + " WHERE loop_id = ? AND workflow_id = ?",
            (*(changes[c] for c in columns), loop_id, workflow_id),
        )

    async def remove_loop_run(self, loop_id: int, workflow_id: int) -> None:
        await self._conn.execute(
            "DELETE FROM loop_runs WHERE loop_id = ? AND workflow_id = ?", (loop_id, workflow_id)
        )

    async def loop_runs(self, loop_id: int) -> list[LoopRun]:
        rows = await self._conn.fetchall(
            "SELECT * FROM loop_runs WHERE loop_id = ? ORDER BY workflow_id", (loop_id,)
        )
        return [LoopRun(**{k: r[k] for k in _LOOP_RUN_FIELDS}) for r in rows]

    async def branch_runs(self, repo: str, branch: str) -> list[BranchRun]:
        rows = await self._conn.fetchall(
            "SELECT * FROM run_marks WHERE repo = ? AND branch = ? ORDER BY workflow_id",
            (repo, branch),
        )
        return [BranchRun(**{k: r[k] for k in _BRANCH_RUN_FIELDS}) for r in rows]

    async def put_branch_run(self, run: BranchRun, *, replacing: BranchRun | None) -> bool:
        """Record ``run`` as its workflow's newest on the branch, if ``replacing`` still is.

        A compare-and-set: two deliveries placing runs at once cannot both win,
        and the loser re-reads and decides again.
        """
        values = {f.name: getattr(run, f.name) for f in fields(BranchRun)}
        columns = sorted(values)
        if replacing is None:
            return (
                await self._conn.execute(
                    f"INSERT INTO run_marks ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))}) "
                    "ON CONFLICT (repo, branch, workflow_id) DO NOTHING",
                    tuple(values[c] for c in columns),
                )
                == 1
            )
        return (
            await self._conn.execute(
                "UPDATE run_marks SET "
                + ", ".join(f"{c} = ?" for c in columns)
                + " WHERE repo = ? AND branch = ? AND workflow_id = ? AND run_id = ? "
                "AND run_attempt = ?",
                (
                    *(values[c] for c in columns),
                    replacing.repo,
                    replacing.branch,
                    replacing.workflow_id,
                    replacing.run_id,
                    replacing.run_attempt,
                ),
            )
            == 1
        )

    # deliveries whose handling failed

    async def count_delivery_failure(self, delivery_id: str, error: str) -> int:
        """Count one more failed attempt at handling this delivery; returns the total."""
        row = await self._conn.fetchone(
            "INSERT INTO delivery_attempts (delivery_id, attempts, last_error) VALUES (?, 1, ?) "
            "ON CONFLICT (delivery_id) DO UPDATE SET attempts = delivery_attempts.attempts + 1, "
            "last_error = excluded.last_error RETURNING attempts",
            (delivery_id, error),
        )
        return int(row["attempts"]) if row else 1

    async def failed_deliveries(self, limit: int = 20) -> list[tuple[str, str, str]]:
        """Deliveries parked after their handling kept failing: id, event, outcome."""
        rows = await self._conn.fetchall(
            "SELECT delivery_id, event, outcome FROM deliveries WHERE outcome LIKE 'failed:%' "
            "ORDER BY received_at DESC LIMIT ?",
            (limit,),
        )
        return [(r["delivery_id"], r["event"], r["outcome"]) for r in rows]

    async def get_loop(self, loop_id: int) -> Loop | None:
        row = await self._conn.fetchone("SELECT * FROM loops WHERE id = ?", (loop_id,))
        return _loop(row) if row else None

    async def find_loop(self, key: LoopKey) -> Loop | None:
        row = await self._conn.fetchone(
            "SELECT * FROM loops WHERE repo = ? AND workflow_id = ? AND head_sha = ?",
            (key.repo, key.workflow_id, key.head_sha),
        )
        return _loop(row) if row else None

    async def loop_for_fix_branch(self, repo: str, fix_branch: str) -> Loop | None:
        row = await self._conn.fetchone(
            "SELECT * FROM loops WHERE repo = ? AND fix_branch = ? ORDER BY id DESC LIMIT 1",
            (repo, fix_branch),
        )
        return _loop(row) if row else None

    async def loop_for_run(self, repo: str, run_id: int) -> Loop | None:
        row = await self._conn.fetchone(
            "SELECT * FROM loops WHERE repo = ? AND run_id = ? ORDER BY id DESC LIMIT 1",
            (repo, run_id),
        )
        return _loop(row) if row else None

    async def loop_for_number(self, repo: str, number: int) -> Loop | None:
        row = await self._conn.fetchone(
            "SELECT * FROM loops WHERE repo = ? AND (pr_number = ? OR issue_number = ?) "
            "ORDER BY id DESC LIMIT 1",
            (repo, number, number),
        )
        return _loop(row) if row else None

    async def active_loops(
        self,
        *,
        repo: str | None = None,
        workflow_id: int | None = None,
        branch: str | None = None,
        installation_id: int | None = None,
    ) -> list[Loop]:
        states = sorted(s.value for s in ACTIVE_STATES)
        clauses = [f"state IN ({', '.join('?' * len(states))})"]
        params: list[Any] = list(states)
        for column, value in (
            ("repo", repo),
            ("workflow_id", workflow_id),
            ("branch", branch),
            ("installation_id", installation_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        rows = await self._conn.fetchall(
            f"SELECT * FROM loops WHERE {' AND '.join(clauses)} ORDER BY id",
            tuple(params),
        )
        return [_loop(r) for r in rows]

    async def update_loop(
        self,
        loop_id: int,
        *,
        expect: Iterable[LoopState] | None = None,
        now: float,
        **changes: Any,
    ) -> Loop | None:
        unknown = set(changes) - _LOOP_FIELDS
        if unknown:
            raise ValueError(f"not loop fields: {sorted(unknown)}")
        changes["updated_at"] = now
        state = changes.get("state")
        if isinstance(state, LoopState) and state.terminal:
            changes.setdefault("ended_at", now)
            changes.setdefault("lease_owner", None)
            changes.setdefault("lease_until", None)
        columns = sorted(changes)
        sql = "UPDATE loops SET " + ", ".join(f"{c} = ?" for c in columns) + " WHERE id = ?"
        params: list[Any] = [_to_column(c, changes[c], _JSON_LOOP_FIELDS) for c in columns]
        params.append(loop_id)
        if expect is not None:
            expected = [s.value for s in expect]
            sql += f" AND state IN ({', '.join('?' * len(expected))})"
            params.extend(expected)
        row = await self._conn.fetchone(sql + " RETURNING *", tuple(params))
        return _loop(row) if row else None

    async def claim_loop(
        self,
        *,
        states: Iterable[LoopState],
        owner: str,
        lease_s: float,
        now: float,
        loop_id: int | None = None,
    ) -> Loop | None:
        wanted = [s.value for s in states]
        marks = ", ".join("?" * len(wanted))
        free = "(lease_until IS NULL OR lease_until < ?)"
        if loop_id is None:
            target = (
                f"(SELECT id FROM loops WHERE state IN ({marks}) AND {free} "
                "ORDER BY updated_at, id LIMIT 1)"
            )
            target_args: tuple[object, ...] = (*wanted, now)
        else:
            target, target_args = "?", (loop_id,)
        row = await self._conn.fetchone(
            f"UPDATE loops SET lease_owner = ?, lease_until = ?, updated_at = ? "
            f"WHERE id = {target} AND state IN ({marks}) AND {free} RETURNING *",
            (owner, now + lease_s, now, *target_args, *wanted, now),
        )
        return _loop(row) if row else None

    async def release_loop(self, loop_id: int, owner: str, *, now: float) -> None:
        await self._conn.execute(
            "UPDATE loops SET lease_owner = NULL, lease_until = NULL WHERE id = ? "
            "AND lease_owner = ?",
            (loop_id, owner),
        )

    async def recent_loops(self, limit: int = 100) -> list[Loop]:
        rows = await self._conn.fetchall("SELECT * FROM loops ORDER BY id DESC LIMIT ?", (limit,))
        return [_loop(r) for r in rows]

    async def count_loops(self) -> dict[str, int]:
        rows = await self._conn.fetchall("SELECT state, COUNT(*) AS n FROM loops GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    # iterations

    async def add_iteration(self, iteration: Iteration) -> None:
        values = {f.name: getattr(iteration, f.name) for f in fields(Iteration)}
        columns = sorted(values)
        await self._conn.execute(
            f"INSERT INTO iterations ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT (loop_id, n) DO NOTHING",
            tuple(_to_column(c, values[c], _JSON_ITERATION_FIELDS) for c in columns),
        )

    async def update_iteration(self, loop_id: int, n: int, **changes: Any) -> None:
        unknown = set(changes) - _ITERATION_FIELDS
        if unknown:
            raise ValueError(f"not iteration fields: {sorted(unknown)}")
        columns = sorted(changes)
        await self._conn.execute(
            "UPDATE iterations SET "
            + ", ".join(f"{c} = ?" for c in columns)
            + " WHERE loop_id = ? AND n = ?",
            (*(_to_column(c, changes[c], _JSON_ITERATION_FIELDS) for c in columns), loop_id, n),
        )

    async def iterations(self, loop_id: int) -> list[Iteration]:
        rows = await self._conn.fetchall(
            "SELECT * FROM iterations WHERE loop_id = ? ORDER BY n", (loop_id,)
        )
        return [_iteration(r) for r in rows]

    # spend ledger

    async def add_spend(
        self, *, installation_id: int, repo: str, loop_id: int, amount_usd: float, at: float
    ) -> None:
        async with self._conn.transaction():
            await self._conn.execute(
                "INSERT INTO ledger (installation_id, repo, loop_id, amount_usd, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (installation_id, repo, loop_id, amount_usd, at),
            )
            await self._conn.execute(
                "UPDATE loops SET cost_usd = cost_usd + ? WHERE id = ?", (amount_usd, loop_id)
            )

    async def spend_since(self, since: float, *, installation_id: int | None = None) -> float:
        # Detail older than the history retention survives as daily sums
        # (counted whole when their day starts at or after ``since``).
        where = "" if installation_id is None else " AND installation_id = ?"
        params: tuple[Any, ...] = () if installation_id is None else (installation_id,)
        row = await self._conn.fetchone(
            f"SELECT (SELECT COALESCE(SUM(amount_usd), 0) FROM ledger WHERE at >= ?{where}) + "
            f"(SELECT COALESCE(SUM(amount_usd), 0) FROM ledger_daily WHERE day >= ?{where}) AS s",
            (since, *params, since, *params),
        )
        return float(row["s"]) if row else 0.0

    async def loop_spend(self, loop_id: int) -> float:
        row = await self._conn.fetchone(
            "SELECT COALESCE(SUM(amount_usd), 0) AS s FROM ledger WHERE loop_id = ?", (loop_id,)
        )
        return float(row["s"]) if row else 0.0

    # circuit breakers

    async def get_breaker(self, repo: str) -> BreakerState:
        row = await self._conn.fetchone("SELECT * FROM breakers WHERE repo = ?", (repo,))
        if row is None:
            return BreakerState(repo=repo)
        return BreakerState(
            repo=row["repo"],
            consecutive_failures=int(row["consecutive_failures"]),
            open_until=row["open_until"],
        )

    async def put_breaker(self, state: BreakerState) -> None:
        await self._conn.execute(
            "INSERT INTO breakers (repo, consecutive_failures, open_until) VALUES (?, ?, ?) "
            "ON CONFLICT (repo) DO UPDATE SET consecutive_failures = excluded.consecutive_failures,"
            " open_until = excluded.open_until",
            (state.repo, state.consecutive_failures, state.open_until),
        )

    async def breakers(self) -> list[BreakerState]:
        rows = await self._conn.fetchall("SELECT * FROM breakers ORDER BY repo")
        return [
            BreakerState(r["repo"], int(r["consecutive_failures"]), r["open_until"]) for r in rows
        ]

    # repositories paused by an invalid config

    async def put_config_pause(self, pause: ConfigPause) -> None:
        await self._conn.execute(
            "INSERT INTO config_pauses (repo, problems, source, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (repo) DO UPDATE SET problems = excluded.problems, "
            "source = excluded.source, at = excluded.at",
            (pause.repo, json.dumps(list(pause.problems)), pause.source, pause.at),
        )

    async def clear_config_pause(self, repo: str) -> None:
        await self._conn.execute("DELETE FROM config_pauses WHERE repo = ?", (repo,))

    async def config_pauses(self) -> list[ConfigPause]:
        rows = await self._conn.fetchall("SELECT * FROM config_pauses ORDER BY repo")
        return [
            ConfigPause(r["repo"], tuple(json.loads(r["problems"])), r["source"], float(r["at"]))
            for r in rows
        ]

    # history

    async def add_event(self, event: LoopEvent) -> None:
        await self._conn.execute(
            "INSERT INTO loop_events (loop_id, at, kind, detail) VALUES (?, ?, ?, ?)",
            (event.loop_id, event.at, event.kind, json.dumps(event.detail, sort_keys=True)),
        )

    async def events(self, loop_id: int) -> list[LoopEvent]:
        rows = await self._conn.fetchall(
            "SELECT * FROM loop_events WHERE loop_id = ? ORDER BY at, id", (loop_id,)
        )
        return [LoopEvent(r["loop_id"], r["at"], r["kind"], json.loads(r["detail"])) for r in rows]

    # installations

    async def put_installation(
        self, installation_id: int, account: str, *, suspended: bool, now: float
    ) -> None:
        await self._conn.execute(
            "INSERT INTO installations (installation_id, account, suspended, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (installation_id) DO UPDATE SET "
            "account = excluded.account, suspended = excluded.suspended, "
            "updated_at = excluded.updated_at",
            (installation_id, account, int(suspended), now),
        )

    async def remove_installation(self, installation_id: int) -> None:
        async with self._conn.transaction():
            await self._conn.execute(
                "DELETE FROM installation_repos WHERE installation_id = ?", (installation_id,)
            )
            await self._conn.execute(
                "DELETE FROM installations WHERE installation_id = ?", (installation_id,)
            )

    async def set_installation_repos(
        self, installation_id: int, *, added: Iterable[str], removed: Iterable[str]
    ) -> None:
        async with self._conn.transaction():
            for repo in added:
                await self._conn.execute(
                    "INSERT INTO installation_repos (installation_id, repo) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (installation_id, repo),
                )
            for repo in removed:
                await self._conn.execute(
                    "DELETE FROM installation_repos WHERE installation_id = ? AND repo = ?",
                    (installation_id, repo),
                )

    async def installation_repos(self, installation_id: int) -> list[str]:
        rows = await self._conn.fetchall(
            "SELECT repo FROM installation_repos WHERE installation_id = ? ORDER BY repo",
            (installation_id,),
        )
        return [r["repo"] for r in rows]

    async def installations(self) -> list[tuple[int, str, bool]]:
        rows = await self._conn.fetchall(
            "SELECT installation_id, account, suspended FROM installations ORDER BY installation_id"
        )
        return [(int(r["installation_id"]), r["account"], bool(r["suspended"])) for r in rows]

    # retention and size

    async def prune(self, policy: RetentionPolicy, now: float) -> PruneReport:
        """Delete what ``policy`` no longer keeps, in short batches; never an active loop's rows.

        Each batch is its own statement or transaction, so intake and the loop
        engine wait at most one batch.  Spend detail of removed loops is first
        added to ``ledger_daily``, so budgets over old periods stay answerable.
        """
        deliveries = 0
        while True:
            n = await self._conn.execute(
                "DELETE FROM deliveries WHERE delivery_id IN (SELECT delivery_id FROM deliveries "
                "WHERE received_at < ? AND outcome IS NOT NULL LIMIT ?)",
                (policy.delivery_cutoff(now), policy.batch),
            )
            deliveries += n
            if n < policy.batch:
                break
        while True:
            # Failure counts of deliveries no longer kept.
            n = await self._conn.execute(
                "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT a.delivery_id "
                "FROM delivery_attempts a WHERE NOT EXISTS (SELECT 1 FROM deliveries d "
                "WHERE d.delivery_id = a.delivery_id) LIMIT ?)",
                (policy.batch,),
            )
            if n < policy.batch:
                break
        terminal = sorted(s.value for s in TERMINAL_STATES)
        marks = ", ".join("?" * len(terminal))
        counts = {"loops": 0, "iterations": 0, "events": 0, "ledger": 0, "runs": 0}
        while True:
            rows = await self._conn.fetchall(
                f"SELECT id FROM loops WHERE ended_at < ? AND state IN ({marks}) "
                "ORDER BY ended_at LIMIT ?",
                (policy.history_cutoff(now), *terminal, policy.batch),
            )
            ids = tuple(int(r["id"]) for r in rows)
            if not ids:
                break
            for kind, n in (await self._remove_loops(ids)).items():
                counts[kind] += n
            if len(ids) < policy.batch:
                break
        # History written for no loop that exists (or no longer does).
        while True:
            n = await self._conn.execute(
                "DELETE FROM loop_events WHERE id IN (SELECT id FROM loop_events e WHERE at < ? "
                "AND NOT EXISTS (SELECT 1 FROM loops l WHERE l.id = e.loop_id) LIMIT ?)",
                (policy.history_cutoff(now), policy.batch),
            )
            counts["events"] += n
            if n < policy.batch:
                break
        return PruneReport(deliveries=deliveries, **counts)

    async def _remove_loops(self, ids: tuple[int, ...]) -> dict[str, int]:
        marks = ", ".join("?" * len(ids))
        async with self._conn.transaction():
            spent = await self._conn.fetchall(
                "SELECT installation_id, repo, amount_usd, at FROM ledger "
                f"WHERE loop_id IN ({marks})",
                ids,
            )
            daily: dict[tuple[float, int, str], float] = {}
            for r in spent:
                key = (utc_day(float(r["at"])), int(r["installation_id"]), str(r["repo"]))
                daily[key] = daily.get(key, 0.0) + float(r["amount_usd"])
            for (day, installation_id, repo), amount in sorted(daily.items()):
                await self._conn.execute(
                    "INSERT INTO ledger_daily (day, installation_id, repo, amount_usd) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (day, installation_id, repo) DO UPDATE "
                    "SET amount_usd = ledger_daily.amount_usd + excluded.amount_usd",
                    (day, installation_id, repo, amount),
                )
            removed = {
                "ledger": await self._conn.execute(
                    f"DELETE FROM ledger WHERE loop_id IN ({marks})", ids
                ),
                "iterations": await self._conn.execute(
                    f"DELETE FROM iterations WHERE loop_id IN ({marks})", ids
                ),
                "events": await self._conn.execute(
                    f"DELETE FROM loop_events WHERE loop_id IN ({marks})", ids
                ),
                # The workflows that failed on the loop's commit: part of the loop.
                "runs": await self._conn.execute(
                    f"DELETE FROM loop_runs WHERE loop_id IN ({marks})", ids
                ),
                "loops": await self._conn.execute(f"DELETE FROM loops WHERE id IN ({marks})", ids),
            }
        return removed

    async def reclaim(self) -> int:
        """Give space freed by :meth:`prune` back to the file system (SQLite); bytes."""
        return await self._conn.reclaim()

    async def storage(self) -> dict[str, Any]:
        """Sizes on disk and the oldest row kept of each kind (epoch seconds, None if empty)."""
        report = await self._conn.storage()
        oldest: dict[str, float | None] = {}
        for kind, sql in (
            ("delivery", "SELECT MIN(received_at) AS t FROM deliveries"),
            ("loop", "SELECT created_at AS t FROM loops ORDER BY id LIMIT 1"),
            ("loop_event", "SELECT MIN(at) AS t FROM loop_events"),
            ("ledger", "SELECT MIN(at) AS t FROM ledger"),
            ("ledger_daily", "SELECT MIN(day) AS t FROM ledger_daily"),
        ):
            row = await self._conn.fetchone(sql)
            oldest[kind] = float(row["t"]) if row and row["t"] is not None else None
        report["oldest"] = oldest
        return report


def _to_column(name: str, value: Any, json_fields: set[str]) -> Any:
    if name in json_fields:
        return (
            None
            if value is None
            else json.dumps(list(value) if isinstance(value, tuple) else value)
        )
    if isinstance(value, LoopState):
        return value.value
    if isinstance(value, bool):
        return int(value)
    return value


def _loop(row: Row) -> Loop:
    data = {k: row[k] for k in _LOOP_FIELDS}
    data["state"] = LoopState(data["state"])
    data["diagnosis"] = json.loads(data["diagnosis"]) if data["diagnosis"] else None
    return Loop(**data)


def _iteration(row: Row) -> Iteration:
    data = {k: row[k] for k in _ITERATION_FIELDS}
    data["guard_reasons"] = tuple(json.loads(data["guard_reasons"] or "[]"))
    data["verify"] = json.loads(data["verify"]) if data["verify"] else None
    data["transcript"] = tuple(json.loads(data["transcript"] or "[]"))
    data["guard_ok"] = None if data["guard_ok"] is None else bool(data["guard_ok"])
    return Iteration(**data)
