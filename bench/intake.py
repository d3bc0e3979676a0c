"""Benchmark: webhook intake of ``python -m app serve`` side by side with Probot, in one run.

Both servers get the same load from wrk (1 thread, 16 connections): signed 20 KB
``workflow_run`` deliveries, each with a delivery id no request used before,
made as GitHub makes them (``bench/load.py``; ``--random-ids`` for random ones).
Two workloads:

* ``failure``: ``completed`` with conclusion ``failure`` (the delivery this app
  exists for: verified, recorded durably with its body, processed, finished);
* ``mix``: what GitHub sends for a workflow run (``requested``, ``in_progress``,
  ``completed``), one run in ten failing.

The peer is Probot 14 (``bench/probot``, pinned, installed with npm on first
use) running its minimal app, which answers every event with nothing and keeps
nothing.  Each round starts each server fresh, warms it up for 2 s, then
measures; the order of the two alternates between rounds, so drift in what else
the machine runs hits both.  With ``--pin`` (the default on a machine of two or
more cores) every thread of the server runs on CPU 0 and wrk on CPU 1, the same
for both servers: on a two-core machine this keeps the scheduler from putting
the load generator on the server's core now and then, which made single runs
vary by a third.

After each of our runs the store is counted: every delivery answered 2xx must be
in it (a 202 is sent only after the commit).  Our app answers first and handles
later (README, *Intake*): under a burst its workers defer to the door, so the
bench then waits until every delivery of the run has been handled and reports
how long that took after the load stopped, and the sustained rate (deliveries
over load time plus that drain), which counts everything the app does for them.

    python bench/intake.py [--runs 3] [--seconds 10] [--workload failure mix] [--no-pin]
                           [--random-ids]

Prints each run, then the medians with the ratio (ours / Probot's deliveries per second).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import WrkResult, write_script, wrk
from bench.machine import describe, median
from bench.serve import (
    Delivery,
    cpu_seconds,
    failures,
    free_port,
    private_key_pem,
    realistic_mix,
    start_app,
    start_probot,
    stop_server,
)

WORKLOADS: dict[str, Callable[[], list[Delivery]]] = {
    "failure": lambda: failures(64),
    "mix": lambda: realistic_mix(20),
}
WARMUP_S = 2.0


DRAIN_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Measured:
    result: WrkResult
    cpu_us_per_delivery: float
    stored_ok: bool
    drain_s: float = 0.0  # after the load stopped, until every delivery was handled

    @property
    def sustained(self) -> float:
        """Deliveries answered and handled per second, the drain included."""
        answered = self.result.rate * self.result.duration_us / 1e6
        return answered / (self.result.duration_us / 1e6 + self.drain_s)


def stored_deliveries(store: Path) -> int:
    with sqlite3.connect(store) as db:
        return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])


def unhandled_deliveries(store: Path) -> int:
    """Deliveries recorded but not yet handled (their kept bodies wait in the store)."""
    with sqlite3.connect(store, timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM delivery_bodies").fetchone()[0])


def wait_handled(store: Path) -> float:
    """Seconds until the server has handled every delivery it accepted."""
    started = time.monotonic()
    while unhandled_deliveries(store):
        if time.monotonic() - started > DRAIN_TIMEOUT_S:
            raise RuntimeError(f"deliveries still unhandled after {DRAIN_TIMEOUT_S:.0f} s")
        time.sleep(0.05)  # polling a running server's store; not a test
    return time.monotonic() - started


def pin(pid: int) -> None:
    """Every thread of ``pid`` on CPU 0, this process (and so wrk) on CPU 1."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {0})
    os.sched_setaffinity(0, {1})


def measure(
    server_name: str,
    deliveries: list[Delivery],
    key: str,
    seconds: float,
    connections: int,
    pinned: bool,
    random_ids: bool = False,
) -> Measured:
    with tempfile.TemporaryDirectory(prefix=f"bench-intake-{server_name}-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        # Each script's ids have a node of their own: the warm-up's never repeat in the run.
        script = write_script(deliveries, "/webhook", workdir / "load.lua", random_ids=random_ids)
        warm = write_script(deliveries, "/webhook", workdir / "warm.lua", random_ids=random_ids)
        start = start_probot if server_name == "probot" else start_app
        server = start(workdir, port, key)
        url = f"http://127.0.0.1:{port}"
        store = workdir / "store.sqlite3"
        drain_s = 0.0
        try:
            if pinned:
                pin(server.pid)
            warmup = wrk(url, warm, seconds=WARMUP_S, connections=connections)
            if server_name != "probot":
                wait_handled(store)  # the warm-up's backlog is not the measured run's
            cpu_before = cpu_seconds(server.pid)
            result = wrk(url, script, seconds=seconds, connections=connections)
            if server_name != "probot":
                drain_s = wait_handled(store)
            # Through the drain: the CPU of handling what the run delivered counts too.
            cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            stop_server(server)
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        answered = sum(r.requests - r.non2xx - r.socket_errors for r in (warmup, result))
        stored_ok = server_name == "probot" or stored_deliveries(store) >= answered
        return Measured(result, cpu / max(result.requests, 1) * 1e6, stored_ok, drain_s)


def row(label: str, probot: Measured, ours: Measured) -> str:
    return (
        f"| {label} | {probot.result.rate:,.0f} | {probot.result.p99_ms:.1f} ms "
        f"| {ours.result.rate:,.0f} | {ours.result.p99_ms:.1f} ms "
        f"| {ours.result.rate / probot.result.rate:.2f} "
        f"| {probot.cpu_us_per_delivery:.0f} / {ours.cpu_us_per_delivery:.0f} µs "
        f"| {ours.result.non2xx + ours.result.socket_errors} "
        f"| {'all' if ours.stored_ok else 'MISSING'} "
        f"| {ours.drain_s:.1f} s | {ours.sustained:,.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workload", choices=sorted(WORKLOADS), nargs="+", default=["failure", "mix"]
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="server on CPU 0, wrk on CPU 1 (default with two or more cores)",
    )
    parser.add_argument(
        "--random-ids",
        action="store_true",
        help="random version-4-like delivery ids instead of GitHub's clock-made ones",
    )
    args = parser.parse_args()
    key = private_key_pem()
    complete = True
    print(
        "| workload, run | Probot req/s | Probot p99 | ci-fix-loop req/s | ci-fix-loop p99 "
        "| ratio | server CPU/delivery (Probot / ours) | our errors | stored "
        "| ours: all handled after | ours: sustained req/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.workload:
        deliveries = WORKLOADS[name]()
        pairs: list[tuple[Measured, Measured]] = []
        for n in range(args.runs):
            order = ["probot", "app"] if n % 2 == 0 else ["app", "probot"]
            got = {
                s: measure(
                    s, deliveries, key, args.seconds, args.connections, args.pin, args.random_ids
                )
                for s in order
            }
            pairs.append((got["probot"], got["app"]))
            complete = complete and got["app"].stored_ok
            print(row(f"{name} {n + 1}", got["probot"], got["app"]), flush=True)
        p_rate = median([p.result.rate for p, _ in pairs])
        o_rate = median([o.result.rate for _, o in pairs])
        ratios = median([o.result.rate / p.result.rate for p, o in pairs])
        print(
            f"| **{name}, median** | **{p_rate:,.0f}** "
            f"| **{median([p.result.p99_ms for p, _ in pairs]):.1f} ms** "
            f"| **{o_rate:,.0f}** | **{median([o.result.p99_ms for _, o in pairs]):.1f} ms** "
            f"| **{ratios:.2f}** "
            f"| {median([p.cpu_us_per_delivery for p, _ in pairs]):.0f} / "
            f"{median([o.cpu_us_per_delivery for _, o in pairs]):.0f} µs | | "
            f"| {median([o.drain_s for _, o in pairs]):.1f} s "
            f"| {median([o.sustained for _, o in pairs]):,.0f} |",
            flush=True,
        )
    print(
        f"\nwrk 1 thread, {args.connections} connections, {args.seconds:.0f} s per run after a "
        f"{WARMUP_S:.0f} s warm-up; median of {args.runs} runs; {describe()}; "
        "load generator on the same machine"
        + ("; server on CPU 0, wrk on CPU 1" if args.pin else ", unpinned")
        + ("; random delivery ids." if args.random_ids else "; delivery ids made as GitHub's.")
    )
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
