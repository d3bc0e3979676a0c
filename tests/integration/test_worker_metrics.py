"""A worker's ``/metrics``: served on its own port, with the store's fix rate and spend."""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp

from app.core.metrics import Metrics
from app.store.records import LoopState, NewLoop
from app.store.sqlite import open_sqlite_store
from app.worker import serve_metrics


def loop(n: int) -> NewLoop:
    return NewLoop(
        installation_id=1, repo="octo/app", workflow_id=1, workflow_name="CI",
        workflow_path=".github/workflows/ci.yml", branch="main", head_sha=f"{n:040x}",
        run_id=n, run_attempt=1, run_url=f"https://github.com/octo/app/actions/runs/{n}",
    )  # fmt: skip


async def test_a_worker_serves_the_stores_numbers_and_survives_a_taken_port(
    tmp_path: Path,
) -> None:
    store = await open_sqlite_store(tmp_path / "store.sqlite3")
    for n, state in enumerate([LoopState.SUCCEEDED, LoopState.ESCALATED], start=1):
        opened, _ = await store.open_loop(loop(n), state=LoopState.QUEUED, now=1000.0)
        await store.update_loop(opened.id, now=2000.0, state=state)
    await store.add_spend(installation_id=1, repo="octo/app", loop_id=1, amount_usd=1.25, at=1500)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = await serve_metrics(Metrics(), store, "127.0.0.1", port, lambda: 3000.0)
        try:
            [(_, bound)] = [a for a in runner.addresses if isinstance(a, tuple)]
            assert bound != port  # the taken port was not fatal
            url = f"http://127.0.0.1:{bound}/metrics"
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                text = await response.text()
        finally:
            await runner.cleanup()
            await store.close()
    assert "cifix_fix_rate 0.5" in text
    assert "cifix_spend_usd 1.25" in text
