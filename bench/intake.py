"""Benchmark: webhook intake throughput and acknowledgement latency of ``python -m app serve``.

The server runs as in production (a subprocess, its own SQLite store, INFO logging)
and receives ``workflow_run.requested`` deliveries: a real ~22 KB payload that the
app verifies, parses and records durably, but that no handler consumes, so the
numbers measure intake alone and no GitHub call is made.  A load generator in a
second process keeps ``concurrency`` keep-alive connections busy with signed
deliveries, each with its own ``X-GitHub-Delivery`` id, for at most ``--seconds``
or ``--requests``.  After each run the server is stopped and the store is counted:
every acknowledged delivery must be in it.

    python bench/intake.py [--concurrency 32 64] [--runs 3] [--seconds 10] [--requests 20000]

Prints one Markdown table row per concurrency (the median of the runs).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import REPO_ROOT, describe, median, percentile, python_env

SECRET = "bench-webhook-secret-0123456789abcdef"
WEBHOOKS = REPO_ROOT.parent / "shared" / "github" / "webhooks" / "workflow_run"
# ``requested``: verified, parsed and recorded, then ignored (no handler), as are two of
# the three deliveries GitHub sends per workflow run.  ``completed``: a successful run,
# handled by the engine (it looks for loops to cancel) without any call to GitHub.
EVENTS = {"requested": "requested.1.json", "completed": "completed.success.2.json"}
DISTINCT_BODIES = 256
TARGET_BODY_BYTES = 20 * 1024


@dataclass(frozen=True)
class LoadResult:
    """What the load generator saw in one run."""

    sent: int
    accepted: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class RunResult:
    load: LoadResult
    stored: int
    server_cpu_s: float

    @property
    def cpu_us_per_delivery(self) -> float:
        """Server CPU per delivery: steadier than throughput on a machine others share."""
        return self.server_cpu_s / max(self.load.accepted, 1) * 1e6


def signed_bodies(action: str, count: int) -> list[tuple[bytes, str]]:
    """``count`` distinct ``workflow_run.<action>`` bodies (>= 20 KB) with their signatures."""
    base = json.loads((WEBHOOKS / EVENTS[action]).read_text())
    base["action"] = action
    bodies = []
    for n in range(count):
        payload = copy.deepcopy(base)
        payload["workflow_run"]["id"] = 10_000_000 + n
        body = json.dumps(payload).encode()
        if len(body) < TARGET_BODY_BYTES:
            payload["padding"] = "x" * (TARGET_BODY_BYTES - len(body))
            body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        bodies.append((body, signature))
    return bodies


# --------------------------------------------------------------------- load generator


async def generate_load(
    url: str, action: str, concurrency: int, limit: int, seconds: float
) -> LoadResult:
    """Keep ``concurrency`` requests in flight until ``limit`` were sent or time is up."""
    import aiohttp

    bodies = signed_bodies(action, DISTINCT_BODIES)
    latencies: list[float] = []
    counts = {"sent": 0, "accepted": 0, "errors": 0}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        cpu_started = time.process_time()
        deadline = started + seconds

        async def worker() -> None:
            while counts["sent"] < limit and time.perf_counter() < deadline:
                body, signature = bodies[counts["sent"] % len(bodies)]
                counts["sent"] += 1
                headers = {
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "workflow_run",
                    "X-GitHub-Delivery": str(uuid.uuid4()),
                    "X-Hub-Signature-256": signature,
                    "User-Agent": "GitHub-Hookshot/bench",
                }
                sent_at = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        ok = response.status == 202
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - sent_at)
                counts["accepted" if ok else "errors"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    return LoadResult(
        sent=counts["sent"],
        accepted=counts["accepted"],
        errors=counts["errors"],
        seconds=elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        cpu_s=cpu,
    )


# --------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def start_server(workdir: Path, port: int, key: str) -> subprocess.Popen[bytes]:
    env = python_env()
    env.update(
        APP_ID="1",
        PRIVATE_KEY=key,
        WEBHOOK_SECRET=SECRET,
        # Nothing here calls GitHub; a dead loopback port makes any stray call fail fast.
        GITHUB_API_URL=f"http://127.0.0.1:{free_port()}",
        STORE_PATH=str(workdir / "store.sqlite3"),
        HOST="127.0.0.1",
        PORT=str(port),
        FIXER="none",  # intake only: no loop is ever fixed here
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "server.log").open("wb"),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {(workdir / 'server.log').read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.05)  # polling a starting subprocess; not a test
    server.kill()
    raise RuntimeError("the server did not answer /healthz within 20 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_deliveries(workdir: Path) -> int:
    with sqlite3.connect(workdir / "store.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])


def run_once(key: str, action: str, concurrency: int, limit: int, seconds: float) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        server = start_server(workdir, port, key)
        try:
            cpu_before = cpu_seconds(server.pid)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--generate",
                    f"http://127.0.0.1:{port}/webhook",
                    "--event",
                    action,
                    "--concurrency",
                    str(concurrency),
                    "--requests",
                    str(limit),
                    "--seconds",
                    str(seconds),
                ],
                env=python_env(),
                check=True,
                capture_output=True,
            )
            server_cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            stop_server(server)
        load = LoadResult(**json.loads(out.stdout))
        return RunResult(load=load, stored=stored_deliveries(workdir), server_cpu_s=server_cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--event", choices=sorted(EVENTS), nargs="+", default=sorted(EVENTS))
    parser.add_argument("--generate", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        result = asyncio.run(
            generate_load(
                args.generate, args.event[0], args.concurrency[0], args.requests, args.seconds
            )
        )
        print(json.dumps(asdict(result)))
        return 0

    key = private_key_pem()
    complete = True
    print(
        "| workflow_run | concurrency | deliveries | deliveries/s | p50 ack | p99 ack "
        "| CPU/delivery: server | load generator | errors | stored |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for action, concurrency in itertools.product(args.event, args.concurrency):
        runs = [
            run_once(key, action, concurrency, args.requests, args.seconds)
            for _ in range(args.runs)
        ]
        lost = [r for r in runs if r.stored < r.load.accepted]
        if lost:
            complete = False
            print(f"LOST DELIVERIES: acknowledged but not stored in {len(lost)} run(s)")
        print(
            f"| {action} | {concurrency} | {median([r.load.accepted for r in runs]):.0f} "
            f"| {median([r.load.rate for r in runs]):,.0f} "
            f"| {median([r.load.p50_ms for r in runs]):.1f} ms "
            f"| {median([r.load.p99_ms for r in runs]):.1f} ms "
            f"| {median([r.cpu_us_per_delivery for r in runs]):.0f} µs "
            f"| {median([r.load.cpu_s / max(r.load.sent, 1) * 1e6 for r in runs]):.0f} µs "
            f"| {sum(r.load.errors for r in runs)} "
            f"| {'all' if not lost else 'MISSING'} |"
        )
    print(f"\nMedian of {args.runs} runs; {describe()}; load generator on the same machine.")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
