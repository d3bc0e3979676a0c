"""The real Claude Code CLI as the agent, inside the jail, fixing a planted bug end to end.

The CLI (pinned in ``tests/fakes/node/package.json``, installed by ``.ci/run``) runs as
``FIXER_COMMAND`` under bubblewrap with the model API on loopback: a scripted
Anthropic Messages API that streams a ``Read`` tool call, then an ``Edit``, then a
final text.  The jail lets the CLI reach that one endpoint and nothing else; the
app opens the pull request and charges what the CLI reported (``total_cost_usd``).
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator

import pytest

from app.settings import DEFAULT_UNREPORTED_COST_USD
from app.store.records import LoopState
from tests.fakes.model import FakeModel
from tests.harness import REPO, HarnessFactory
from tests.scenarios import CALC, TEST_CALC, only_loop, pytest_log
from tests.support import FAKES, jail_tool_paths, require_or_skip

NODE_DIR = FAKES / "node"
CLAUDE = NODE_DIR / "node_modules" / ".bin" / "claude"
MODEL_KEY = "sk-ant-test-key-for-the-jailed-cli"
FIXED = "def add(a, b):\n    return a + b\n"
# What the pinned CLI reports for the scripted usage: three turns of 100 input and
# 20 output tokens at its list price for its default model.
REPORTED_COST_USD = 0.0024


@pytest.fixture
async def model() -> AsyncIterator[FakeModel]:
    async with FakeModel(api_key=MODEL_KEY) as fake:
        yield fake


def claude_command() -> str:
    return shlex.join(
        [
            "env",
            "IS_SANDBOX=1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
            str(CLAUDE),
            "-p",
            "--output-format",
            "json",
            "--permission-mode",
            "acceptEdits",
        ]
    )


async def test_claude_code_in_the_jail_fixes_the_bug_and_opens_a_pr(
    app_harness: HarnessFactory, model: FakeModel
) -> None:
    require_or_skip(CLAUDE.exists(), f"Claude Code is not installed in {NODE_DIR} (.ci/run does)")
    model.tool_use("Read", {"file_path": "{cwd}/calc.py"})
    model.tool_use(
        "Edit", {"file_path": "{cwd}/calc.py", "old_string": "a - b", "new_string": "a + b"}
    )
    model.reply("Fixed `add`: it subtracted instead of adding.")
    harness = await app_harness(
        fixer_command=claude_command(),
        anthropic_api_key=MODEL_KEY,
        anthropic_base_url=model.anthropic_url,
        # The CLI and its package read-only; nothing writable but the workspace.
        sandbox_readonly_paths=(*jail_tool_paths(), NODE_DIR),
        sandbox_writable_paths=(),
    )
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))

    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI, loop.reason
    [pr] = harness.fake.pulls(REPO)
    assert harness.fake.read_tree(REPO, loop.fix_sha)["calc.py"] == FIXED.encode()
    assert harness.fake.ref(REPO, f"heads/ci-fix/{run['id']}") == loop.fix_sha
    assert pr is not None
    # The cost is the CLI's own report, not the charge for a silent agent.
    assert loop.cost_usd == pytest.approx(REPORTED_COST_USD)
    assert loop.cost_usd != DEFAULT_UNREPORTED_COST_USD
    # Every scripted turn was used, through the jail's egress, with the key it was given.
    assert model.problems == []
    assert not model.replies
    tool_requests = [r for r in model.requests if r.body.get("tools")]
    assert len(tool_requests) == 3
    assert all(r.headers.get("x-api-key") == MODEL_KEY for r in tool_requests)
    # The CLI ran in the workspace inside the jail, as the request it sent says.
    assert "Primary working directory: /tmp/" in str(tool_requests[0].body)
