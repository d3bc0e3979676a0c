"""The one store interface the engine talks to; SQLite and PostgreSQL back it.

Every method is a single transaction, so a crash between two calls leaves the
store in a state the engine knows how to resume from.  Uniqueness (one loop
per failing commit and workflow, one record per delivery) is enforced by the
database, never by checking first and inserting after.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from app.store.records import (
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
from app.store.retention import PruneReport, RetentionPolicy


class Store(Protocol):
    async def close(self) -> None: ...

    # deliveries: the durable inbox of webhook deliveries
    async def add_delivery(
        self,
        delivery_id: str,
        event: str,
        body: bytes | None,
        received_at: float,
        *,
        outcome: str | None = None,
    ) -> bool:
        """Record a delivery; False when this delivery id was seen before.

        Without ``outcome`` the body is kept (apart from the compact id row) until
        :meth:`finish_delivery`; with it, the delivery is recorded finished in one
        small write and the body is not stored at all.
        """

    async def finish_delivery(self, delivery_id: str, outcome: str) -> None:
        """Record the outcome and delete the body; the id stays for deduplication."""

    async def delivery_outcome(self, delivery_id: str) -> str | None:
        """How a delivery ended (``processed``, ``ignored``, ``error: ...``); None if unknown."""

    async def unfinished_deliveries(self, limit: int | None = None) -> list[tuple[str, str, bytes]]:
        """Deliveries accepted but not processed, oldest first: id, event, body."""

    # loops
    async def open_loop(self, new: NewLoop, *, state: LoopState, now: float) -> tuple[Loop, bool]:
        """Insert the loop unless one with the same key exists; True when inserted."""

    async def get_loop(self, loop_id: int) -> Loop | None: ...

    async def loop_for_commit(self, repo: str, branch: str, head_sha: str) -> Loop | None:
        """The loop of this failing commit on this branch."""

    # the workflows that failed on a loop's commit
    async def add_loop_run(self, run: LoopRun) -> bool:
        """Add a workflow to the loop; False when the loop already has it."""

    async def update_loop_run(self, loop_id: int, workflow_id: int, **changes: Any) -> None: ...

    async def remove_loop_run(self, loop_id: int, workflow_id: int) -> None:
        """The workflow passed later on the loop's commit: it no longer needs fixing."""

    async def loop_runs(self, loop_id: int) -> list[LoopRun]: ...

    # the newest completed run seen per branch and workflow (event order)
    async def branch_runs(self, repo: str, branch: str) -> list[BranchRun]: ...

    async def put_branch_run(self, run: BranchRun, *, replacing: BranchRun | None) -> bool:
        """Compare-and-set the workflow's newest run on the branch; False if it moved."""

    # deliveries whose handling failed
    async def count_delivery_failure(self, delivery_id: str, error: str) -> int:
        """One more failed attempt at handling the delivery; the total so far."""

    async def delivery_known(self, delivery_id: str) -> bool:
        """Whether this delivery id was ever recorded (finished or not)."""

    async def failed_deliveries(self, limit: int = 20) -> list[tuple[str, str, str]]:
        """Deliveries parked as failed: id, event, outcome."""

    async def find_loop(self, key: LoopKey) -> Loop | None: ...

    async def loop_for_fix_branch(self, repo: str, fix_branch: str) -> Loop | None: ...

    async def loop_for_run(self, repo: str, run_id: int) -> Loop | None: ...

    async def loop_for_number(self, repo: str, number: int) -> Loop | None:
        """The latest loop whose PR or escalation issue has this number."""

    async def active_loops(
        self,
        *,
        repo: str | None = None,
        workflow_id: int | None = None,
        branch: str | None = None,
        installation_id: int | None = None,
    ) -> list[Loop]: ...

    async def update_loop(
        self,
        loop_id: int,
        *,
        expect: Iterable[LoopState] | None = None,
        now: float,
        **changes: Any,
    ) -> Loop | None:
        """Apply ``changes`` if the loop's state is one of ``expect``; None otherwise."""

    async def claim_loop(
        self,
        *,
        states: Iterable[LoopState],
        owner: str,
        lease_s: float,
        now: float,
        loop_id: int | None = None,
    ) -> Loop | None:
        """Atomically take a loop in ``states`` whose lease is free or expired.

        ``loop_id`` names the loop; without it, the one that waited longest.
        """

    async def release_loop(self, loop_id: int, owner: str, *, now: float) -> None: ...

    async def recent_loops(self, limit: int = 100) -> list[Loop]: ...

    async def count_loops(self) -> dict[str, int]: ...

    # iterations
    async def add_iteration(self, iteration: Iteration) -> None: ...

    async def update_iteration(self, loop_id: int, n: int, **changes: Any) -> None: ...

    async def iterations(self, loop_id: int) -> list[Iteration]: ...

    # spend ledger
    async def add_spend(
        self, *, installation_id: int, repo: str, loop_id: int, amount_usd: float, at: float
    ) -> None: ...

    async def spend_since(self, since: float, *, installation_id: int | None = None) -> float: ...

    async def loop_spend(self, loop_id: int) -> float: ...

    # circuit breakers
    async def get_breaker(self, repo: str) -> BreakerState: ...

    async def put_breaker(self, state: BreakerState) -> None: ...

    async def breakers(self) -> list[BreakerState]: ...

    # history
    async def add_event(self, event: LoopEvent) -> None: ...

    async def events(self, loop_id: int) -> list[LoopEvent]: ...

    # repositories paused by an invalid config
    async def put_config_pause(self, pause: ConfigPause) -> None: ...

    async def clear_config_pause(self, repo: str) -> None: ...

    async def config_pauses(self) -> list[ConfigPause]: ...

    # installations
    async def put_installation(
        self, installation_id: int, account: str, *, suspended: bool, now: float
    ) -> None: ...

    async def remove_installation(self, installation_id: int) -> None: ...

    async def set_installation_repos(
        self, installation_id: int, *, added: Iterable[str], removed: Iterable[str]
    ) -> None: ...

    async def installation_repos(self, installation_id: int) -> list[str]: ...

    async def installations(self) -> list[tuple[int, str, bool]]: ...

    # retention and size
    async def prune(self, policy: RetentionPolicy, now: float) -> PruneReport:
        """Delete what ``policy`` no longer keeps; never a loop that has not ended."""

    async def reclaim(self) -> int:
        """Give freed space back to the file system; bytes returned."""

    async def storage(self) -> dict[str, Any]:
        """Sizes on disk (database, WAL) and the oldest row kept of each kind."""
