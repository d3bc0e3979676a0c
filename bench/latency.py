"""Benchmark: time from a failure webhook's POST to the fixing agent's process start.

Everything between the two is the app's own overhead: verifying and recording
the delivery, reading the repository config, opening the check run, fetching and
classifying the log, downloading and extracting the tarball, building the prompt
and starting the agent.  The app runs in-process against the fake GitHub on
loopback; the agent is the scripted test agent behind a two-line prelude that
writes the wall-clock time the moment its interpreter runs user code.  Each run
uses a fresh app and fake, so it includes minting an installation token.

    python bench/latency.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loopkit import THREE_FILES, failing_run, running_app, scripted_agent, temporary_dir
from bench.machine import describe

AIM_S = 1.0
PRELUDE = """import runpy, sys, time
open({mark!r}, "w").write(repr(time.time()))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


async def one_run() -> float:
    """Seconds from sending the webhook to the agent's first line of code."""
    with temporary_dir() as tmp:
        workdir = Path(tmp)
        mark = workdir / "agent-started"
        prelude = workdir / "prelude.py"
        prelude.write_text(PRELUDE.format(mark=str(mark)))
        agent = scripted_agent(workdir, THREE_FILES, prelude=prelude)
        async with running_app(agent, workdir) as harness:
            run = failing_run(harness)
            payload = harness.payload(run)
            sent = time.time()
            await harness.deliver("workflow_run", payload)
            if not mark.exists():
                raise SystemExit("the agent never started: see the app's log")
            return float(mark.read_text()) - sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    latencies = [asyncio.run(one_run()) for _ in range(args.runs)]
    median = statistics.median(latencies)
    print("| measure | median | min | max | aim |")
    print("|---|---|---|---|---|")
    print(f"| failure webhook POST to agent process start | {median * 1000:.0f} ms "
          f"| {min(latencies) * 1000:.0f} ms | {max(latencies) * 1000:.0f} ms "
          f"| < {AIM_S * 1000:.0f} ms ({'ok' if median < AIM_S else 'MISSED'}) |")  # fmt: skip
    print(f"\nMedian of {args.runs} runs, loopback; {describe()}")
    return 0 if median < AIM_S else 1


if __name__ == "__main__":
    sys.exit(main())
