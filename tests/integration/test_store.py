"""The durable store, against a real database: every backend must pass the same tests.

The tests are parametrized over ``store_backend`` (``BACKENDS``); a backend is a way to
open a store on one database, as often as a test likes, so persistence across a
restart is tested by opening a second store object on the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from app.store.base import Store
from app.store.migrations import MIGRATIONS
from app.store.records import (
    BreakerState,
    Iteration,
    LoopEvent,
    LoopRun,
    LoopState,
    NewLoop,
)
from app.store.retention import RetentionPolicy
from app.store.sql import SqlStore

BACKENDS = ["sqlite", "postgres"]
T0 = 1_700_000_000.0

Opener = Callable[[], Awaitable[SqlStore]]


def make_opener(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Opener:
    """How to open (and reopen) a store on this test's database."""
    if backend == "sqlite":
        from app.store.sqlite import open_sqlite_store

        path = tmp_path / "store.sqlite3"
        return lambda: open_sqlite_store(path)
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")  # a new database for each test
        from app.store.postgres import open_postgres_store

        return lambda: open_postgres_store(url)
    raise ValueError(f"unknown store backend {backend!r}")


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Opener:
    return make_opener(store_backend, tmp_path, request)


@pytest.fixture
async def store(open_store: Opener) -> AsyncIterator[SqlStore]:
    opened = await open_store()
    try:
        yield opened
    finally:
        await opened.close()


def new_loop(n: int = 1, *, repo: str = "octo/app", installation_id: int = 1) -> NewLoop:
    return NewLoop(
        installation_id=installation_id,
        repo=repo,
        workflow_id=100,
        workflow_name="CI",
        workflow_path=".github/workflows/ci.yml",
        branch=f"feature-{n}",
        head_sha=f"{n:040x}",
        run_id=9000 + n,
        run_attempt=1,
        run_url=f"https://github.com/{repo}/actions/runs/{9000 + n}",
    )


# --- schema ------------------------------------------------------------------------------


async def test_migrations_are_idempotent_across_opens(open_store: Opener) -> None:
    first = await open_store()
    version = await first.migrate()
    assert version == len(MIGRATIONS)
    assert await first.migrate() == version
    await first.close()
    second = await open_store()
    try:
        assert await second.migrate() == version
    finally:
        await second.close()


async def test_store_satisfies_the_store_protocol(store: SqlStore) -> None:
    typed: Store = store  # the type checker checks signatures; this, that every method exists
    names = [name for name in vars(Store) if not name.startswith("_")]
    missing = [name for name in names if not callable(getattr(typed, name, None))]
    assert missing == []


# --- loops -------------------------------------------------------------------------------


async def test_open_loop_creates_a_loop_with_the_run_facts(store: SqlStore) -> None:
    loop, created = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    assert created
    assert loop.state is LoopState.QUEUED
    assert loop.fix_branch == "ci-fix/9001"
    assert (loop.created_at, loop.updated_at, loop.ended_at) == (T0, T0, None)
    assert (loop.iteration, loop.cost_usd, loop.lease_owner) == (0, 0.0, None)
    assert await store.get_loop(loop.id) == loop
    assert await store.find_loop(new_loop().key) == loop


async def test_fifty_concurrent_open_loop_calls_create_exactly_one(store: SqlStore) -> None:
    results = await asyncio.gather(
        *(store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0 + i) for i in range(50))
    )
    assert sum(created for _, created in results) == 1
    assert len({loop.id for loop, _ in results}) == 1
    assert await store.count_loops() == {"queued": 1}


async def test_open_loop_for_a_known_key_returns_the_existing_loop(store: SqlStore) -> None:
    first, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    await store.update_loop(first.id, now=T0 + 5, state=LoopState.FIXING)
    again, created = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0 + 10)
    assert not created
    assert again.id == first.id
    assert again.state is LoopState.FIXING


async def test_update_loop_applies_changes_when_the_state_is_expected(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    diagnosis = {"category": "lint", "key_lines": [{"text": "E501"}]}
    updated = await store.update_loop(
        loop.id, expect=[LoopState.QUEUED], now=T0 + 1, state=LoopState.FIXING,
        iteration=1, diagnosis=diagnosis, pr_number=7,
    )  # fmt: skip
    assert updated is not None
    assert updated.state is LoopState.FIXING
    assert (updated.iteration, updated.pr_number, updated.updated_at) == (1, 7, T0 + 1)
    assert updated.diagnosis == diagnosis
    assert await store.get_loop(loop.id) == updated


async def test_update_loop_refuses_when_the_state_is_not_expected(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    await store.update_loop(loop.id, now=T0 + 1, state=LoopState.FIXING)
    refused = await store.update_loop(
        loop.id, expect=[LoopState.QUEUED, LoopState.RERUNNING], now=T0 + 2,
        state=LoopState.SUPERSEDED,
    )  # fmt: skip
    assert refused is None
    current = await store.get_loop(loop.id)
    assert current is not None
    assert (current.state, current.updated_at) == (LoopState.FIXING, T0 + 1)


async def test_update_loop_of_an_unknown_loop_returns_none(store: SqlStore) -> None:
    assert await store.update_loop(12345, now=T0, reason="x") is None


async def test_update_loop_rejects_fields_a_loop_does_not_have(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    with pytest.raises(ValueError, match="not loop fields"):
        await store.update_loop(loop.id, now=T0, colour="red")


async def test_terminal_state_sets_ended_at_and_clears_the_lease(store: SqlStore) -> None:
    await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    claimed = await store.claim_loop(
        states=[LoopState.QUEUED], owner="worker-1", lease_s=60, now=T0 + 1
    )
    assert claimed is not None and claimed.lease_owner == "worker-1"
    ended = await store.update_loop(
        claimed.id, now=T0 + 2, state=LoopState.SUCCEEDED, reason="green"
    )
    assert ended is not None
    assert ended.ended_at == T0 + 2
    assert (ended.lease_owner, ended.lease_until) == (None, None)
    assert await store.active_loops() == []


async def test_non_terminal_state_keeps_ended_at_unset(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    updated = await store.update_loop(loop.id, now=T0 + 1, state=LoopState.AWAITING_CI)
    assert updated is not None and updated.ended_at is None


async def test_claim_loop_leases_each_loop_to_one_owner_oldest_first(store: SqlStore) -> None:
    older, _ = await store.open_loop(new_loop(1), state=LoopState.QUEUED, now=T0)
    newer, _ = await store.open_loop(new_loop(2), state=LoopState.QUEUED, now=T0 + 1)
    first = await store.claim_loop(states=[LoopState.QUEUED], owner="a", lease_s=60, now=T0 + 2)
    second = await store.claim_loop(states=[LoopState.QUEUED], owner="b", lease_s=60, now=T0 + 2)
    third = await store.claim_loop(states=[LoopState.QUEUED], owner="c", lease_s=60, now=T0 + 2)
    assert first is not None and second is not None
    assert (first.id, first.lease_owner, first.lease_until) == (older.id, "a", T0 + 62)
    assert (second.id, second.lease_owner) == (newer.id, "b")
    assert third is None


async def test_concurrent_claims_never_lease_one_loop_twice(store: SqlStore) -> None:
    for n in range(5):
        await store.open_loop(new_loop(n), state=LoopState.QUEUED, now=T0 + n)
    claims = await asyncio.gather(
        *(
            store.claim_loop(states=[LoopState.QUEUED], owner=f"w{i}", lease_s=60, now=T0 + 10)
            for i in range(20)
        )
    )
    won = [c for c in claims if c is not None]
    assert len(won) == 5
    assert len({c.id for c in won}) == 5


async def test_claim_loop_takes_a_loop_whose_lease_expired(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    await store.claim_loop(states=[LoopState.QUEUED], owner="dead", lease_s=60, now=T0)
    at_expiry = await store.claim_loop(
        states=[LoopState.QUEUED], owner="new", lease_s=60, now=T0 + 60
    )
    assert at_expiry is None
    after = await store.claim_loop(
        states=[LoopState.QUEUED], owner="new", lease_s=60, now=T0 + 60.5
    )
    assert after is not None
    assert (after.id, after.lease_owner, after.lease_until) == (loop.id, "new", T0 + 120.5)


async def test_claim_loop_only_takes_loops_in_the_wanted_states(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    await store.update_loop(loop.id, now=T0, state=LoopState.AWAITING_CI)
    assert await store.claim_loop(states=[LoopState.QUEUED], owner="a", lease_s=60, now=T0) is None
    claimed = await store.claim_loop(
        states=[LoopState.QUEUED, LoopState.AWAITING_CI], owner="a", lease_s=60, now=T0
    )
    assert claimed is not None and claimed.id == loop.id


async def test_release_loop_frees_the_lease_only_for_its_owner(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    await store.claim_loop(states=[LoopState.QUEUED], owner="a", lease_s=60, now=T0)
    await store.release_loop(loop.id, "b", now=T0 + 1)
    still = await store.get_loop(loop.id)
    assert still is not None and still.lease_owner == "a"
    await store.release_loop(loop.id, "a", now=T0 + 1)
    freed = await store.get_loop(loop.id)
    assert freed is not None and (freed.lease_owner, freed.lease_until) == (None, None)
    again = await store.claim_loop(states=[LoopState.QUEUED], owner="b", lease_s=60, now=T0 + 2)
    assert again is not None and again.lease_owner == "b"


async def test_loop_lookups_by_fix_branch_run_and_number(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    await store.update_loop(loop.id, now=T0, pr_number=12, issue_number=13)
    found = [
        await store.loop_for_fix_branch("octo/app", "ci-fix/9001"),
        await store.loop_for_run("octo/app", 9001),
        await store.loop_for_number("octo/app", 12),
        await store.loop_for_number("octo/app", 13),
    ]
    assert [f.id if f else None for f in found] == [loop.id] * 4
    assert await store.loop_for_number("octo/app", 14) is None
    assert await store.loop_for_run("other/repo", 9001) is None
    assert await store.loop_for_fix_branch("octo/app", "ci-fix/1") is None


async def test_active_loops_filters_and_excludes_ended_loops(store: SqlStore) -> None:
    a, _ = await store.open_loop(new_loop(1), state=LoopState.QUEUED, now=T0)
    b, _ = await store.open_loop(new_loop(2, installation_id=2), state=LoopState.FIXING, now=T0)
    c, _ = await store.open_loop(new_loop(3, repo="octo/other"), state=LoopState.QUEUED, now=T0)
    ended, _ = await store.open_loop(new_loop(4), state=LoopState.QUEUED, now=T0)
    await store.update_loop(ended.id, now=T0, state=LoopState.ESCALATED)
    assert [x.id for x in await store.active_loops()] == [a.id, b.id, c.id]
    assert [x.id for x in await store.active_loops(repo="octo/app")] == [a.id, b.id]
    assert [x.id for x in await store.active_loops(installation_id=2)] == [b.id]
    assert [x.id for x in await store.active_loops(branch="feature-3")] == [c.id]
    assert await store.active_loops(workflow_id=999) == []


async def test_recent_loops_are_newest_first_and_counted_by_state(store: SqlStore) -> None:
    ids = [
        (await store.open_loop(new_loop(n), state=LoopState.QUEUED, now=T0))[0].id for n in range(3)
    ]
    await store.update_loop(ids[0], now=T0, state=LoopState.FLAKY)
    assert [x.id for x in await store.recent_loops(2)] == [ids[2], ids[1]]
    assert await store.count_loops() == {"queued": 2, "flaky": 1}


# --- iterations --------------------------------------------------------------------------


async def test_iterations_are_added_updated_and_listed_with_json_fields(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.FIXING, now=T0)
    first = Iteration(
        loop_id=loop.id, n=1, status="rejected", category="lint", fingerprint="abc",
        guard_ok=False, guard_reasons=("touches .github/workflows", "too large"),
        verify={"ran": ["ruff"], "ok": False}, started_at=T0,
    )  # fmt: skip
    second = Iteration(loop_id=loop.id, n=2, started_at=T0 + 10)
    await store.add_iteration(second)
    await store.add_iteration(first)
    assert await store.iterations(loop.id) == [first, second]

    await store.update_iteration(
        loop.id, 2, status="published", guard_ok=True, guard_reasons=(),
        verify={"ok": True}, fix_sha="f" * 40, cost_usd=0.25, tokens=1200, ended_at=T0 + 20,
    )  # fmt: skip
    listed = await store.iterations(loop.id)
    assert listed[1] == replace(
        second, status="published", guard_ok=True, verify={"ok": True}, fix_sha="f" * 40,
        cost_usd=0.25, tokens=1200, ended_at=T0 + 20,
    )  # fmt: skip
    assert listed[0] == first


async def test_adding_an_iteration_twice_keeps_the_first(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.FIXING, now=T0)
    original = Iteration(loop_id=loop.id, n=1, status="running", started_at=T0)
    await store.add_iteration(original)
    await store.add_iteration(replace(original, status="published"))
    assert await store.iterations(loop.id) == [original]


async def test_update_iteration_rejects_unknown_fields(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.FIXING, now=T0)
    await store.add_iteration(Iteration(loop_id=loop.id, n=1, started_at=T0))
    with pytest.raises(ValueError, match="not iteration fields"):
        await store.update_iteration(loop.id, 1, mood="hopeful")


# --- ledger ------------------------------------------------------------------------------


async def test_ledger_sums_spend_per_installation_globally_and_per_loop(store: SqlStore) -> None:
    one, _ = await store.open_loop(new_loop(1, installation_id=1), state=LoopState.FIXING, now=T0)
    two, _ = await store.open_loop(new_loop(2, installation_id=2), state=LoopState.FIXING, now=T0)
    day = T0 + 1000
    await store.add_spend(installation_id=1, repo="octo/app", loop_id=one.id, amount_usd=5.0,
                          at=day - 1)  # yesterday  # fmt: skip
    await store.add_spend(installation_id=1, repo="octo/app", loop_id=one.id, amount_usd=1.25,
                          at=day)  # fmt: skip
    await store.add_spend(installation_id=1, repo="octo/app", loop_id=one.id, amount_usd=0.5,
                          at=day + 10)  # fmt: skip
    await store.add_spend(installation_id=2, repo="octo/app", loop_id=two.id, amount_usd=2.0,
                          at=day + 20)  # fmt: skip

    assert await store.spend_since(day) == pytest.approx(3.75)
    assert await store.spend_since(day, installation_id=1) == pytest.approx(1.75)
    assert await store.spend_since(day, installation_id=2) == pytest.approx(2.0)
    assert await store.spend_since(day, installation_id=3) == 0.0
    assert await store.spend_since(day + 1000) == 0.0
    assert await store.loop_spend(one.id) == pytest.approx(6.75)
    assert await store.loop_spend(two.id) == pytest.approx(2.0)
    loop = await store.get_loop(one.id)
    assert loop is not None and loop.cost_usd == pytest.approx(6.75)


# --- breakers, events, installations ------------------------------------------------------


async def test_unknown_repository_has_a_closed_breaker(store: SqlStore) -> None:
    assert await store.get_breaker("octo/app") == BreakerState("octo/app")
    assert await store.breakers() == []


async def test_put_breaker_inserts_then_updates(store: SqlStore) -> None:
    await store.put_breaker(BreakerState("octo/b", 1, None))
    await store.put_breaker(BreakerState("octo/a", 3, T0 + 3600))
    await store.put_breaker(BreakerState("octo/b", 2, None))
    assert await store.get_breaker("octo/b") == BreakerState("octo/b", 2, None)
    assert await store.breakers() == [
        BreakerState("octo/a", 3, T0 + 3600),
        BreakerState("octo/b", 2, None),
    ]


async def test_events_are_listed_in_time_order_with_their_details(store: SqlStore) -> None:
    loop, _ = await store.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    later = LoopEvent(loop.id, T0 + 5, "published", {"sha": "abc", "files": ["a.py"]})
    earlier = LoopEvent(loop.id, T0, "opened", {})
    other = LoopEvent(loop.id + 1, T0, "opened", {})
    for event in (later, earlier, other):
        await store.add_event(event)
    assert await store.events(loop.id) == [earlier, later]


async def test_installations_are_upserted_with_their_repositories(store: SqlStore) -> None:
    await store.put_installation(2, "octo-org", suspended=False, now=T0)
    await store.put_installation(1, "someone", suspended=False, now=T0)
    await store.put_installation(1, "someone-renamed", suspended=True, now=T0 + 1)
    assert await store.installations() == [(1, "someone-renamed", True), (2, "octo-org", False)]

    await store.set_installation_repos(1, added=["b/y", "a/x", "c/z"], removed=[])
    await store.set_installation_repos(1, added=["a/x"], removed=["c/z", "never/there"])
    await store.set_installation_repos(2, added=["octo-org/app"], removed=[])
    assert await store.installation_repos(1) == ["a/x", "b/y"]
    assert await store.installation_repos(2) == ["octo-org/app"]


async def test_removing_an_installation_forgets_its_repositories(store: SqlStore) -> None:
    await store.put_installation(1, "someone", suspended=False, now=T0)
    await store.put_installation(2, "other", suspended=False, now=T0)
    await store.set_installation_repos(1, added=["a/x"], removed=[])
    await store.set_installation_repos(2, added=["b/y"], removed=[])
    await store.remove_installation(1)
    assert await store.installations() == [(2, "other", False)]
    assert await store.installation_repos(1) == []
    assert await store.installation_repos(2) == ["b/y"]


# --- deliveries --------------------------------------------------------------------------


async def test_a_delivery_id_is_recorded_once(store: SqlStore) -> None:
    assert await store.add_delivery("d-1", "workflow_run", b'{"a": 1}', T0)
    assert not await store.add_delivery("d-1", "workflow_run", b'{"other": 2}', T0 + 1)
    assert await store.unfinished_deliveries() == [("d-1", "workflow_run", b'{"a": 1}')]


async def test_unfinished_deliveries_are_replayed_oldest_first(store: SqlStore) -> None:
    await store.add_delivery("late", "push", b"2", T0 + 2)
    await store.add_delivery("early", "ping", b"1", T0 + 1)
    await store.add_delivery("done", "push", b"3", T0)
    await store.finish_delivery("done", "ok")
    assert await store.unfinished_deliveries() == [("early", "ping", b"1"), ("late", "push", b"2")]


async def test_finishing_a_delivery_deletes_its_body_and_keeps_its_id(store: SqlStore) -> None:
    await store.add_delivery("d-1", "workflow_run", b"secret-ish payload", T0)
    await store.finish_delivery("d-1", "processed")
    assert await store.unfinished_deliveries() == []
    # Looked at through the backend's connection: the body's row is gone, not emptied.
    row = await store._conn.fetchone(
        "SELECT COUNT(*) AS n FROM delivery_bodies WHERE delivery_id = ?", ("d-1",)
    )
    assert row is not None and row["n"] == 0
    assert await store.delivery_outcome("d-1") == "processed"
    assert not await store.add_delivery("d-1", "workflow_run", b"again", T0 + 1)
    assert await store.unfinished_deliveries() == []


async def test_a_delivery_sent_again_at_the_same_instant_keeps_one_body_until_finished(
    store: SqlStore,
) -> None:
    """Bodies are keyed by arrival time; a repeat with the very same time (a fixed clock,
    or two webs racing on PostgreSQL) must neither add a body nor revive a finished one."""
    assert await store.add_delivery("d-1", "workflow_run", b"first", T0)
    assert not await store.add_delivery("d-1", "workflow_run", b"second", T0)
    assert await store.unfinished_deliveries() == [("d-1", "workflow_run", b"first")]
    await store.finish_delivery("d-1", "processed")
    assert not await store.add_delivery("d-1", "workflow_run", b"third", T0)
    assert await store.unfinished_deliveries() == []


async def test_finishing_one_delivery_leaves_another_of_the_same_instant(store: SqlStore) -> None:
    await store.add_delivery("a", "push", b"1", T0)
    await store.add_delivery("b", "push", b"2", T0)
    await store.finish_delivery("a", "processed")
    assert await store.unfinished_deliveries() == [("b", "push", b"2")]


async def test_a_delivery_finished_on_arrival_stores_no_body(store: SqlStore) -> None:
    assert await store.add_delivery("d-1", "workflow_run", None, T0, outcome="ignored")
    assert not await store.add_delivery("d-1", "workflow_run", b"{}", T0 + 1)
    assert await store.delivery_outcome("d-1") == "ignored"
    assert await store.unfinished_deliveries() == []


# --- persistence -------------------------------------------------------------------------


async def test_a_new_store_on_the_same_database_sees_everything(open_store: Opener) -> None:
    first = await open_store()
    opened, _ = await first.open_loop(new_loop(), state=LoopState.QUEUED, now=T0)
    loop = await first.update_loop(
        opened.id, now=T0 + 1, state=LoopState.AWAITING_CI, diagnosis={"category": "test"},
        iteration=1, pr_number=5,
    )  # fmt: skip
    assert loop is not None
    iteration = Iteration(
        loop_id=loop.id, n=1, status="published", guard_reasons=("ok",), verify={"ok": True},
        started_at=T0,
    )  # fmt: skip
    await first.add_iteration(iteration)
    await first.add_spend(installation_id=1, repo="octo/app", loop_id=loop.id, amount_usd=0.4,
                          at=T0)  # fmt: skip
    await first.put_breaker(BreakerState("octo/app", 2, None))
    await first.add_event(LoopEvent(loop.id, T0, "opened", {"why": "red"}))
    await first.put_installation(1, "octo", suspended=False, now=T0)
    await first.set_installation_repos(1, added=["octo/app"], removed=[])
    await first.add_delivery("d-1", "workflow_run", b"body", T0)
    await first.close()

    second = await open_store()
    try:
        reopened = await second.get_loop(loop.id)
        assert reopened == replace(loop, cost_usd=pytest.approx(0.4))
        assert await second.iterations(loop.id) == [iteration]
        assert await second.spend_since(T0) == pytest.approx(0.4)
        assert await second.get_breaker("octo/app") == BreakerState("octo/app", 2, None)
        assert await second.events(loop.id) == [LoopEvent(loop.id, T0, "opened", {"why": "red"})]
        assert await second.installations() == [(1, "octo", False)]
        assert await second.installation_repos(1) == ["octo/app"]
        assert await second.unfinished_deliveries() == [("d-1", "workflow_run", b"body")]
        _, created = await second.open_loop(new_loop(), state=LoopState.QUEUED, now=T0 + 9)
        assert not created
    finally:
        await second.close()


# --- retention ---------------------------------------------------------------------------

DAY = 86400.0
POLICY = RetentionPolicy(deliveries_s=7 * DAY, history_s=90 * DAY, batch=2)


async def ended_loop(store: SqlStore, n: int, *, at: float, spend: float = 0.0) -> int:
    """A loop opened at ``at`` that ended (exhausted) an hour later, with a full history."""
    loop, _ = await store.open_loop(new_loop(n), state=LoopState.QUEUED, now=at)
    await store.add_loop_run(LoopRun(loop.id, 100, "CI", "ci.yml", 9000 + n, 1))
    await store.add_iteration(Iteration(loop_id=loop.id, n=1, started_at=at))
    await store.add_event(LoopEvent(loop.id, at, "opened", {}))
    if spend:
        await store.add_spend(installation_id=1, repo="octo/app", loop_id=loop.id,
                              amount_usd=spend, at=at)  # fmt: skip
    ended = await store.update_loop(loop.id, now=at + 3600, state=LoopState.EXHAUSTED)
    assert ended is not None
    return loop.id


async def test_retention_forgets_processed_delivery_ids_after_the_dedupe_window(
    store: SqlStore,
) -> None:
    now = T0 + 30 * DAY
    for n in range(5):  # more than one batch
        await store.add_delivery(f"old-{n}", "workflow_run", None, now - 8 * DAY, outcome="ignored")
    await store.add_delivery("old-unfinished", "workflow_run", b"{}", now - 8 * DAY)
    await store.add_delivery("recent", "workflow_run", None, now - 6 * DAY, outcome="ignored")
    await store.count_delivery_failure("old-0", "boom")
    await store.count_delivery_failure("recent", "boom")

    report = await store.prune(POLICY, now)

    assert report.deliveries == 5
    attempts = await store._conn.fetchall("SELECT delivery_id FROM delivery_attempts")
    assert [r["delivery_id"] for r in attempts] == ["recent"]
    assert [await store.delivery_outcome(f"old-{n}") for n in range(5)] == [None] * 5
    # Still needed: the one a restart must replay, and everything inside the window.
    assert await store.unfinished_deliveries() == [("old-unfinished", "workflow_run", b"{}")]
    assert await store.delivery_outcome("recent") == "ignored"


async def test_a_redelivery_inside_the_dedupe_window_is_still_a_duplicate(
    store: SqlStore,
) -> None:
    assert await store.add_delivery("d-1", "workflow_run", b"{}", T0)
    await store.finish_delivery("d-1", "processed")
    await store.prune(POLICY, T0 + 7 * DAY - 1)
    assert not await store.add_delivery("d-1", "workflow_run", b"{}", T0 + 7 * DAY - 1)
    # Past the window the id is forgotten: GitHub does not redeliver that late.
    await store.prune(POLICY, T0 + 7 * DAY + 1)
    assert await store.delivery_outcome("d-1") is None


async def test_retention_removes_ended_loops_with_their_history_and_keeps_their_spend(
    store: SqlStore,
) -> None:
    now = T0 + 200 * DAY
    old = [await ended_loop(store, n, at=T0 + n, spend=0.25) for n in range(1, 4)]
    recent = await ended_loop(store, 10, at=now - 10 * DAY, spend=1.0)

    report = await store.prune(POLICY, now)

    assert (report.loops, report.iterations, report.events, report.ledger) == (3, 3, 3, 3)
    assert report.runs == 3
    for loop_id in old:
        assert await store.get_loop(loop_id) is None
        assert await store.loop_runs(loop_id) == []
        assert await store.iterations(loop_id) == []
        assert await store.events(loop_id) == []
        assert await store.loop_spend(loop_id) == 0
    # The spend detail became one row for its day: budgets over that day still see it.
    assert await store.spend_since(T0 - T0 % DAY) == pytest.approx(0.75 + 1.0)
    assert await store.spend_since(T0 - T0 % DAY, installation_id=1) == pytest.approx(1.75)
    kept = await store.get_loop(recent)
    assert kept is not None and await store.iterations(recent) != []
    assert len(await store.loop_runs(recent)) == 1
    assert await store.loop_spend(recent) == pytest.approx(1.0)


async def test_retention_never_touches_a_loop_that_has_not_ended(store: SqlStore) -> None:
    now = T0 + 365 * DAY
    loop, _ = await store.open_loop(new_loop(1), state=LoopState.QUEUED, now=T0)
    await store.update_loop(loop.id, now=T0 + 1, state=LoopState.AWAITING_CI, iteration=1)
    await store.add_iteration(Iteration(loop_id=loop.id, n=1, started_at=T0))
    await store.add_loop_run(LoopRun(loop.id, 100, "CI", "ci.yml", 9001, 1))
    await store.add_event(LoopEvent(loop.id, T0, "opened", {}))
    await store.add_spend(installation_id=1, repo="octo/app", loop_id=loop.id, amount_usd=0.5,
                          at=T0)  # fmt: skip

    report = await store.prune(POLICY, now)

    assert report.total == 0
    still = await store.get_loop(loop.id)
    assert still is not None and still.state is LoopState.AWAITING_CI
    assert len(await store.iterations(loop.id)) == 1
    assert len(await store.events(loop.id)) == 1
    assert len(await store.loop_runs(loop.id)) == 1
    assert await store.loop_spend(loop.id) == pytest.approx(0.5)


async def test_storage_reports_sizes_and_the_oldest_row_kept(store: SqlStore) -> None:
    await store.add_delivery("d-1", "workflow_run", None, T0 + 5, outcome="ignored")
    await ended_loop(store, 1, at=T0 + 7, spend=0.1)

    report = await store.storage()

    assert report["database_bytes"] > 0
    assert report["oldest"]["delivery"] == T0 + 5
    assert report["oldest"]["loop"] == T0 + 7
    assert report["oldest"]["loop_event"] == T0 + 7
    assert report["oldest"]["ledger_daily"] is None
