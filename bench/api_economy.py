"""Benchmark: REST calls to GitHub from a failure webhook to the opened pull request.

Every call costs rate limit (5,000 an hour per installation), so the loop's
cost in calls is a figure worth watching.  The app runs in-process against the
fake GitHub, which counts every request; a scripted agent fixes the failure by
changing three files.  Prints the calls in order and one Markdown table row.

    python bench/api_economy.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loopkit import THREE_FILES, failing_run, running_app, scripted_agent, temporary_dir
from bench.machine import describe
from tests.harness import REPO

BUDGET = 20


async def count_calls() -> list[str]:
    with temporary_dir() as tmp:
        workdir = Path(tmp)
        async with running_app(scripted_agent(workdir, THREE_FILES), workdir) as harness:
            run = failing_run(harness)
            harness.fake.requests.clear()
            await harness.deliver("workflow_run", harness.payload(run))
            pulls = harness.fake.pulls(REPO)
            if len(pulls) != 1:
                raise SystemExit(f"expected one pull request, found {len(pulls)}")
            return [f"{r.method} {r.path}" for r in harness.fake.requests]


def main() -> int:
    calls = asyncio.run(count_calls())
    for n, call in enumerate(calls, 1):
        print(f"{n:2d}. {call}")
    verdict = "ok" if len(calls) <= BUDGET else "OVER BUDGET"
    print("\n| measure | calls | aim |")
    print("|---|---|---|")
    print(f"| REST calls, failure webhook to opened PR (3-file fix) | {len(calls)} "
          f"| <= {BUDGET} ({verdict}) |")  # fmt: skip
    print(f"\n{describe()}")
    return 0 if len(calls) <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
