"""Benchmark: what one fixed failure costs with the built-in agent, on scripted scenarios.

The app runs in-process against the fake GitHub and a scripted loopback model
(``tests/fakes/toolmodel.py``) behind the official SDKs; the agent's checks run
in the sandbox.  For each scenario and provider: REST calls to GitHub from the
failure webhook to the opened pull request, model calls, tokens (and how many
of them were cache reads), and wall time from the webhook to the pull request.
Model latency is the loopback server's (near zero): wall time is the app's own
work plus the sandboxed checks.  Median of ``--runs`` runs.

    python bench/agent.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer

from app.server import Overrides, build_app
from bench.machine import describe
from tests.fakes.github import FakeGitHub
from tests.fakes.github.auth import generate_private_key_pem
from tests.fakes.toolmodel import Call, ToolModel, call
from tests.harness import REPO, Harness, make_settings, no_sleep
from tests.scenarios import CALC, TEST_CALC, pytest_log

KEY = "sk-bench-agent"
SCENARIOS: dict[str, list[list[Call]]] = {
    "reads, edits, checks, finishes": [
        [call("read_file", path="tests/test_calc.py")],
        [call("search", pattern="def add")],
        [call("edit_file", path="calc.py", search="return a - b", replace="return a + b")],
        [call("run_check", name="narrow")],
        [call("finish", summary="add adds")],
    ],
    "wrong first edit caught by the narrowed test": [
        [call("edit_file", path="calc.py", search="return a - b", replace="return abs(a - b)")],
        [call("run_check", name="narrow")],
        [call("edit_file", path="calc.py", search="return abs(a - b)", replace="return a + b")],
        [call("run_check", name="narrow")],
        [call("finish", summary="add adds")],
    ],
}


@dataclass(frozen=True)
class Measure:
    rest_calls: int
    model_calls: int
    tokens: int
    cache_read: int
    seconds: float


async def one_run(provider: str, steps: list[list[Call]]) -> Measure:
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        async with (
            ToolModel(api_key=KEY) as model,
            FakeGitHub(private_key_pem=generate_private_key_pem()) as fake,
        ):
            model.script(*steps)
            keys: dict[str, Any] = (
                {"anthropic_api_key": KEY, "anthropic_base_url": model.anthropic_url}
                if provider == "anthropic"
                else {"openai_api_key": KEY, "openai_base_url": model.openai_url}
            )
            settings = make_settings(fake, Path(tmp), **keys)
            overrides = Overrides(clock=lambda: fake.clock().timestamp(), sleeper=no_sleep)
            async with TestClient(TestServer(build_app(settings, overrides))) as client:
                harness = Harness(fake=fake, client=client, settings=settings)
                models = "" if provider == "anthropic" else "models:\n  test: gpt-5\n"
                head = harness.seed_repo(
                    {"calc.py": CALC, "tests/test_calc.py": TEST_CALC},
                    config=f"fixer:\n  kind: agent\n  provider: {provider}\n{models}",
                )
                run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
                fake.requests.clear()
                started = time.perf_counter()
                await harness.deliver("workflow_run", harness.payload(run))
                seconds = time.perf_counter() - started
                if len(fake.pulls(REPO)) != 1:
                    raise SystemExit(f"{provider}: expected one pull request")
                [loop] = await harness.ctx.store.recent_loops()
                [iteration] = await harness.ctx.store.iterations(loop.id)
                return Measure(
                    rest_calls=len(fake.requests),
                    model_calls=iteration.model_calls,
                    tokens=iteration.tokens or 0,
                    cache_read=iteration.cache_read_tokens,
                    seconds=seconds,
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| scenario | provider | REST calls | model calls | tokens (cache reads) | wall time |")
    print("|---|---|---|---|---|---|")
    for name, steps in SCENARIOS.items():
        for provider in ("anthropic", "openai"):
            runs = [asyncio.run(one_run(provider, steps)) for _ in range(args.runs)]
            m = runs[0]
            seconds = statistics.median(r.seconds for r in runs)
            print(
                f"| {name} | {provider} | {m.rest_calls} | {m.model_calls} | "
                f"{m.tokens:,} ({m.cache_read:,}) | {seconds * 1000:.0f} ms |"
            )
    print(f"\nmedian of {args.runs} runs; {describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
