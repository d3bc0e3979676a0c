"""Benchmark: cold start of ``python -m app serve`` until it answers ``/healthz``.

Each run starts a fresh interpreter (no warm ``__pycache__`` is removed: that is
what a restarted service sees too) with a new, empty SQLite store and measures
the wall time from ``exec`` to the first successful ``GET /healthz``; the app is
then stopped.  Also prints the interpreter's own start-up (``python -c pass``) as
the floor nothing in the app can go below, measured the same way.

    python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe, median, python_env
from bench.serve import cpu_seconds, free_port, private_key_pem, stop_server


def time_to_listening(key: str) -> tuple[float, float]:
    """Wall seconds from spawning ``python -m app serve`` to its first ``/healthz`` answer,
    and the CPU seconds the server had used by then (steadier on a shared machine)."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        port = free_port()
        env = python_env()
        env.update(
            APP_ID="1",
            PRIVATE_KEY=key,
            WEBHOOK_SECRET="bench-startup-secret-0123456789",
            GITHUB_API_URL=f"http://127.0.0.1:{free_port()}",
            STORE_PATH=str(Path(tmp) / "store.sqlite3"),
            HOST="127.0.0.1",
            PORT=str(port),
            FIXER="none",  # start-up of the web service, no fixer to probe
        )
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                if server.poll() is not None:
                    raise RuntimeError("the server exited during start-up")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        return time.perf_counter() - started, cpu_seconds(server.pid)
                except OSError:
                    time.sleep(0.005)  # polling a starting subprocess; not a test
        finally:
            stop_server(server)


def interpreter_floor() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    key = private_key_pem()
    time_to_listening(key)  # compile bytecode once, as an installed app would have it
    runs = [time_to_listening(key) for _ in range(args.runs)]
    floor = median([interpreter_floor() for _ in range(args.runs)])
    walls = [wall for wall, _ in runs]
    cpus = [cpu for _, cpu in runs]
    print(
        f"start to listening: median {median(walls):.2f} s wall "
        f"({', '.join(f'{w:.2f}' for w in walls)}), {median(cpus):.2f} s CPU "
        f"({', '.join(f'{c:.2f}' for c in cpus)}) over {args.runs} runs; "
        f"bare interpreter {floor:.2f} s; load average {os.getloadavg()[0]:.1f}"
    )
    print(describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
