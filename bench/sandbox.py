"""Benchmark: what the jail costs per untrusted step (median ms of ``true``, jailed vs bare).

Every agent run, autofix command and verify command starts one bubblewrap jail
(namespaces, mounts, a fresh /proc, the args file) and ends it (its init killed
and waited for).  The agent's jail also opens the egress sockets and starts the
relay.  This measures exactly that overhead: the same ``true`` through
``Sandbox.run`` in each mode, against ``SANDBOX=none`` (allow-listed environment,
private HOME and process-group kill only).

    python bench/sandbox.py [--runs 41]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.fix.egress import Endpoint
from app.fix.sandbox import Network, Sandbox, SandboxMode
from bench.machine import describe


async def median_ms(sandbox: Sandbox, network: Network, runs: int, workspace: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        outcome = await sandbox.run(["true"], workspace=workspace, network=network, timeout_s=30)
        times.append((time.perf_counter() - start) * 1000)
        if outcome.exit_code != 0:
            raise SystemExit(f"`true` failed in the sandbox: {outcome.stderr.decode()}")
    return statistics.median(times)


async def main(runs: int) -> None:
    model = (Endpoint("127.0.0.1", 8080), Endpoint("api.anthropic.com", 443))
    cases = [
        ("bare (SANDBOX=none)", Sandbox(mode=SandboxMode.NONE), Network.NONE),
        ("jail, no network (verify, autofix)", Sandbox(), Network.NONE),
        ("jail, model egress (agent)", Sandbox(agent_endpoints=model), Network.MODEL),
    ]
    print(describe())
    with tempfile.TemporaryDirectory() as tmp:
        results = [(name, await median_ms(s, n, runs, Path(tmp))) for name, s, n in cases]
    bare = results[0][1]
    print(f"{'mode':<38} {'median ms':>10} {'overhead':>10}")
    for name, ms in results:
        print(f"{name:<38} {ms:>10.1f} {ms - bare:>+10.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=41)
    asyncio.run(main(parser.parse_args().runs))
