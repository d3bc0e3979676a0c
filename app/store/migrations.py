"""Schema migrations, applied in order at start-up by every store backend.

Each migration is a list of statements written in the SQL both SQLite and
PostgreSQL accept (``REAL``/``DOUBLE PRECISION`` and ``INTEGER``/``BIGINT``
differences are handled by the backend's ``{id}``, ``{int}`` and ``{real}``
placeholders).  A migration is never edited once released; a change is a new
entry at the end.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE deliveries (
            delivery_id TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            body {blob},
            received_at {real} NOT NULL,
            outcome TEXT
        )""",
        "CREATE INDEX deliveries_unfinished ON deliveries (outcome, received_at)",
        """CREATE TABLE loops (
            id {id},
            installation_id {int} NOT NULL,
            repo TEXT NOT NULL,
            workflow_id {int} NOT NULL,
            workflow_name TEXT NOT NULL,
            workflow_path TEXT NOT NULL,
            branch TEXT NOT NULL,
            head_sha TEXT NOT NULL,
            run_id {int} NOT NULL,
            run_attempt {int} NOT NULL,
            run_url TEXT NOT NULL,
            state TEXT NOT NULL,
            iteration {int} NOT NULL DEFAULT 0,
            iteration_base {int} NOT NULL DEFAULT 0,
            fix_branch TEXT NOT NULL,
            fix_sha TEXT,
            awaiting_run_id {int},
            pr_number {int},
            issue_number {int},
            check_run_id {int},
            diagnosis TEXT,
            cost_usd {real} NOT NULL DEFAULT 0,
            reason TEXT,
            attempts_interrupted {int} NOT NULL DEFAULT 0,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            ended_at {real},
            lease_owner TEXT,
            lease_until {real},
            UNIQUE (repo, workflow_id, head_sha)
        )""",
        "CREATE INDEX loops_state ON loops (state, updated_at)",
        "CREATE INDEX loops_fix_branch ON loops (repo, fix_branch)",
        "CREATE INDEX loops_branch ON loops (repo, workflow_id, branch)",
        """CREATE TABLE iterations (
            loop_id {int} NOT NULL REFERENCES loops(id),
            n {int} NOT NULL,
            status TEXT NOT NULL,
            category TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            model TEXT,
            fixer TEXT,
            cost_usd {real} NOT NULL DEFAULT 0,
            tokens {int},
            files_changed {int} NOT NULL DEFAULT 0,
            lines_changed {int} NOT NULL DEFAULT 0,
            guard_ok {int},
            guard_reasons TEXT NOT NULL DEFAULT '[]',
            verify TEXT,
            fix_sha TEXT,
            ci_run_id {int},
            ci_conclusion TEXT,
            outcome TEXT,
            started_at {real} NOT NULL,
            ended_at {real},
            PRIMARY KEY (loop_id, n)
        )""",
        """CREATE TABLE ledger (
            id {id},
            installation_id {int} NOT NULL,
            repo TEXT NOT NULL,
            loop_id {int} NOT NULL,
            amount_usd {real} NOT NULL,
            at {real} NOT NULL
        )""",
        "CREATE INDEX ledger_at ON ledger (at, installation_id)",
        "CREATE INDEX ledger_loop ON ledger (loop_id)",
        """CREATE TABLE breakers (
            repo TEXT PRIMARY KEY,
            consecutive_failures {int} NOT NULL,
            open_until {real}
        )""",
        """CREATE TABLE loop_events (
            id {id},
            loop_id {int} NOT NULL,
            at {real} NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX loop_events_loop ON loop_events (loop_id, at)",
        """CREATE TABLE installations (
            installation_id {int} PRIMARY KEY,
            account TEXT NOT NULL,
            suspended {int} NOT NULL DEFAULT 0,
            updated_at {real} NOT NULL
        )""",
        """CREATE TABLE installation_repos (
            installation_id {int} NOT NULL,
            repo TEXT NOT NULL,
            PRIMARY KEY (installation_id, repo)
        )""",
    ),
    # Event order and several workflows per loop (issue 14): one loop per failing
    # commit and branch (commit_key; older rows keep NULL, which never conflicts),
    # the workflows that failed on it (loop_runs), the newest completed run seen per
    # branch and workflow (run_marks), and how often a delivery's handling failed.
    (
        "ALTER TABLE loops ADD COLUMN commit_key TEXT",
        "CREATE UNIQUE INDEX loops_commit_key ON loops (commit_key)",
        """CREATE TABLE loop_runs (
            loop_id {int} NOT NULL,
            workflow_id {int} NOT NULL,
            workflow_name TEXT NOT NULL,
            workflow_path TEXT NOT NULL,
            run_id {int} NOT NULL,
            run_attempt {int} NOT NULL,
            run_number {int} NOT NULL,
            fix_sha TEXT,
            fix_run_id {int},
            fix_run_attempt {int},
            fix_conclusion TEXT,
            PRIMARY KEY (loop_id, workflow_id)
        )""",
        """CREATE TABLE run_marks (
            repo TEXT NOT NULL,
            branch TEXT NOT NULL,
            workflow_id {int} NOT NULL,
            head_sha TEXT NOT NULL,
            run_id {int} NOT NULL,
            run_number {int} NOT NULL,
            run_attempt {int} NOT NULL,
            created_at {real} NOT NULL,
            conclusion TEXT NOT NULL,
            PRIMARY KEY (repo, branch, workflow_id)
        )""",
        """CREATE TABLE delivery_attempts (
            delivery_id TEXT PRIMARY KEY,
            attempts {int} NOT NULL,
            last_error TEXT NOT NULL
        )""",
    ),
    (
        # Repositories paused because their config is invalid, for /status and the dashboard.
        """CREATE TABLE config_pauses (
            repo TEXT PRIMARY KEY,
            problems TEXT NOT NULL,
            source TEXT,
            at {real} NOT NULL
        )""",
    ),
    # No residue per delivery (issue 20), and what retention needs.  A delivery is a
    # compact row kept for deduplication; its body lives in delivery_bodies only
    # until it is processed, and that row is deleted, not updated.  (SQLite >= 3.35
    # and PostgreSQL both drop a column; the SQLite store then VACUUMs once.)
    (
        """CREATE TABLE delivery_bodies (
            delivery_id TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            body {blob} NOT NULL,
            received_at {real} NOT NULL
        )""",
        "INSERT INTO delivery_bodies (delivery_id, event, body, received_at) "
        "SELECT delivery_id, event, body, received_at FROM deliveries "
        "WHERE outcome IS NULL AND body IS NOT NULL AND length(body) > 0",
        # An empty body was an ignored delivery whose finishing a crash cut off.
        "UPDATE deliveries SET outcome = 'ignored' WHERE outcome IS NULL "
        "AND (body IS NULL OR length(body) = 0)",
        "DROP INDEX deliveries_unfinished",
        "ALTER TABLE deliveries DROP COLUMN body",
        "CREATE INDEX deliveries_received ON deliveries (received_at)",
        "CREATE INDEX loops_ended ON loops (ended_at)",
        "CREATE INDEX loop_events_at ON loop_events (at)",
        """CREATE TABLE ledger_daily (
            day {real} NOT NULL,
            installation_id {int} NOT NULL,
            repo TEXT NOT NULL,
            amount_usd {real} NOT NULL,
            PRIMARY KEY (day, installation_id, repo)
        )""",
    ),
    # What a fixer said it did, and the built-in agent's steps, per iteration (issue 19).
    (
        "ALTER TABLE iterations ADD COLUMN summary TEXT",
        "ALTER TABLE iterations ADD COLUMN transcript TEXT",
        "ALTER TABLE iterations ADD COLUMN model_calls {int} NOT NULL DEFAULT 0",
        "ALTER TABLE iterations ADD COLUMN cache_read_tokens {int} NOT NULL DEFAULT 0",
    ),
    # Intake at GitHub's rate (issue 15).  Keyed by delivery id, every body written
    # and deleted dirtied a page of its own wherever its id sorts (random ids, as
    # the bench then sent, put that page anywhere), about 4 KB of write-ahead log
    # per delivery.
    # Keyed by arrival time the bodies are written and deleted at the ends of
    # one tree, a few pages per group commit; the id-keyed row in ``deliveries``
    # still deduplicates, and finishing finds the body by its arrival time.
    (
        """CREATE TABLE delivery_bodies_by_arrival (
            received_at {real} NOT NULL,
            delivery_id TEXT NOT NULL,
            event TEXT NOT NULL,
            body {blob} NOT NULL,
            PRIMARY KEY (received_at, delivery_id)
        ){without_rowid}""",
        "INSERT INTO delivery_bodies_by_arrival (received_at, delivery_id, event, body) "
        "SELECT d.received_at, b.delivery_id, b.event, b.body FROM delivery_bodies b "
        "JOIN deliveries d ON d.delivery_id = b.delivery_id",
        "DROP TABLE delivery_bodies",
        "ALTER TABLE delivery_bodies_by_arrival RENAME TO delivery_bodies",
    ),
)
