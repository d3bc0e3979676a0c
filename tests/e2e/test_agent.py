"""The built-in agent end to end: the app, a scripted model behind the official SDKs, the jail.

Each scenario runs the real loop (signed webhook in, fake GitHub out) with
``fixer.kind: agent`` and a loopback model that answers with scripted tool
calls; the agent's tools run in this process and its checks in the sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.fix.checks import Check, CheckResult
from app.fix.fixers.agent import AgentFixer, AgentLimits
from app.fix.fixers.base import FixRequest
from app.store.records import LoopState
from tests.fakes.toolmodel import ToolModel, call
from tests.harness import REPO, HarnessFactory
from tests.scenarios import CALC, TEST_CALC, pytest_log

KEY = "sk-agent-test-key"
FIXED = "def add(a, b):\n    return a + b\n"
PROVIDERS = ["anthropic", "openai"]


def settings_for(provider: str, model: ToolModel) -> dict[str, str]:
    if provider == "anthropic":
        return {"anthropic_api_key": KEY, "anthropic_base_url": model.anthropic_url}
    return {"openai_api_key": KEY, "openai_base_url": model.openai_url}


def config_for(provider: str, extra: str = "") -> str:
    models = "" if provider == "anthropic" else "models:\n  test: gpt-5\n"
    return f"fixer:\n  kind: agent\n  provider: {provider}\n{models}{extra}"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_agent_reads_edits_runs_the_narrowed_test_in_the_jail_and_finishes(
    app_harness: HarnessFactory, provider: str
) -> None:
    async with ToolModel(api_key=KEY) as model:
        model.script(
            [call("read_file", path="tests/test_calc.py")],
            [call("search", pattern="def add")],
            [call("edit_file", path="calc.py", search="return a - b", replace="return a + b")],
            [call("run_check", name="narrow")],
            [call("finish", summary="`add` subtracted; it now adds, as its test expects.")],
        )
        harness = await app_harness(**settings_for(provider, model))
        head = harness.seed_repo(
            {"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config=config_for(provider)
        )
        run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
        await harness.deliver("workflow_run", harness.payload(run))

        [loop] = await harness.ctx.store.recent_loops()
        its = await harness.ctx.store.iterations(loop.id)
        assert loop.state is LoopState.AWAITING_CI, [(i.status, i.outcome, i.fixer) for i in its]
        assert harness.fake.read_tree(REPO, loop.fix_sha or "")["calc.py"] == FIXED.encode()
        results = model.tool_results()
        assert "assert add(2, 2) == 4" in results[0]  # it read the failing test
        assert "calc.py:1: def add(a, b):" in results[1]
        check = results[3]
        assert check.startswith("narrow (python3 -m pytest -x -q tests/test_calc.py::test_add)")
        assert "PASSED" in check.splitlines()[0]
        [iteration] = await harness.ctx.store.iterations(loop.id)
        assert iteration.fixer == "agent" and iteration.model_calls == 5
        assert iteration.summary == "`add` subtracted; it now adds, as its test expects."
        assert [step["tool"] for step in iteration.transcript] == [
            "read_file",
            "search",
            "edit_file",
            "run_check",
        ]
        assert iteration.cost_usd > 0 and loop.cost_usd == pytest.approx(iteration.cost_usd)
        assert iteration.cache_read_tokens > 0  # the unchanging prefix was cached
        sent = json.dumps(model.requests)
        assert KEY not in sent and harness.settings.webhook_secret not in sent
        assert model.problems == []


async def test_a_first_edit_that_fails_the_narrowed_test_is_fixed_in_the_same_attempt(
    app_harness: HarnessFactory,
) -> None:
    async with ToolModel(api_key=KEY) as model:
        model.script(
            [call("edit_file", path="calc.py", search="return a - b", replace="return abs(a - b)")],
            [call("run_check", name="narrow")],
            [call("edit_file", path="calc.py", search="return abs(a - b)", replace="return a + b")],
            [call("run_check", name="narrow")],
            [call("finish", summary="add adds.")],
        )
        harness = await app_harness(**settings_for("anthropic", model))
        head = harness.seed_repo(
            {"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config=config_for("anthropic")
        )
        run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
        await harness.deliver("workflow_run", harness.payload(run))

        [loop] = await harness.ctx.store.recent_loops()
        assert loop.state is LoopState.AWAITING_CI, loop.reason
        checks = [r.splitlines()[0] for r in model.tool_results() if r.startswith("narrow")]
        assert ["FAILED" in c for c in checks] == [True, False]
        assert ["PASSED" in c for c in checks] == [False, True]
        # One iteration, one commit: the wrong first guess never cost a CI run.
        assert len(await harness.ctx.store.iterations(loop.id)) == 1
        assert harness.fake.read_tree(REPO, loop.fix_sha or "")["calc.py"] == FIXED.encode()


async def test_the_agent_stops_when_the_loops_budget_is_spent(
    app_harness: HarnessFactory,
) -> None:
    async with ToolModel(api_key=KEY, input_tokens=200_000, output_tokens=4_000) as model:
        model.script(*([call("list_files")] for _ in range(10)))
        harness = await app_harness(**settings_for("anthropic", model))
        config = config_for("anthropic", "budget:\n  per_loop_usd: 2\n")
        head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config=config)
        run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
        await harness.deliver("workflow_run", harness.payload(run))

        [loop] = await harness.ctx.store.recent_loops()
        iterations = await harness.ctx.store.iterations(loop.id)
        assert "budget left for this loop ($2.00) is spent" in (iterations[0].outcome or "")
        # Stopped inside the conversation, a call or so past the line, not after ten calls.
        assert model.calls < 10
        assert loop.state is LoopState.ESCALATED
        assert "budget" in (loop.reason or "").lower()
        assert harness.fake.pulls(REPO) == []


async def test_reads_outside_the_workspace_and_unoffered_commands_are_refused(
    app_harness: HarnessFactory,
) -> None:
    async with ToolModel(api_key=KEY) as model:
        model.script(
            [call("read_file", path="../../../etc/passwd")],
            [call("read_file", path="/etc/hostname")],
            [call("run_check", name="rm -rf /")],
            [call("bash", command="cat ~/.ssh/id_rsa")],
            [call("edit_file", path="calc.py", search="return a - b", replace="return a + b")],
            [call("finish", summary="fixed")],
        )
        harness = await app_harness(**settings_for("anthropic", model))
        head = harness.seed_repo(
            {"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config=config_for("anthropic")
        )
        run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
        await harness.deliver("workflow_run", harness.payload(run))

        [loop] = await harness.ctx.store.recent_loops()
        assert loop.state is LoopState.AWAITING_CI, loop.reason
        results = model.tool_results()
        assert all(r.startswith("refused:") for r in results[:4]), results[:4]
        assert "root:" not in "".join(results)
        [iteration] = await harness.ctx.store.iterations(loop.id)
        refused = [step["tool"] for step in iteration.transcript if step.get("refused")]
        assert refused == ["read_file", "read_file", "run_check", "bash"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_agent_stops_at_its_step_limit(tmp_path: Path, provider: str) -> None:
    (tmp_path / "calc.py").write_text(CALC)
    async with ToolModel(api_key=KEY) as model:
        model.script(*([call("list_files")] for _ in range(10)))
        base = model.anthropic_url if provider == "anthropic" else model.openai_url
        fixer = AgentFixer(provider, KEY, base, limits=AgentLimits(max_steps=3))
        result = await fixer.fix(
            FixRequest(
                workspace=tmp_path,
                diagnosis=Diagnosis(category=Category.TEST, confidence=1.0),
                prompt="fix the test",
                model="claude-sonnet-4-5" if provider == "anthropic" else "gpt-5",
                iteration=1,
            )
        )
    assert result.error == "stopped at the step limit (3 model calls)"
    assert model.calls == 3 and result.model_calls == 3
    assert len(result.transcript) == 3


async def test_the_guard_objection_goes_back_to_the_agent_within_the_attempt(
    tmp_path: Path,
) -> None:
    (tmp_path / "calc.py").write_text(CALC)
    objections = [("tests/test_calc.py:5: a test was skipped",), ()]

    async def judge() -> tuple[str, ...]:
        return objections.pop(0)

    async def run_check(check: Check) -> CheckResult:
        return CheckResult(ok=True, output_tail="1 passed")

    async with ToolModel(api_key=KEY) as model:
        model.script(
            [call("finish", summary="first try")],
            [call("run_check", name="narrow")],
            [call("finish", summary="second try")],
        )
        fixer = AgentFixer("anthropic", KEY, model.anthropic_url)
        result = await fixer.fix(
            FixRequest(
                workspace=tmp_path,
                diagnosis=Diagnosis(
                    category=Category.TEST,
                    confidence=1.0,
                    tool="pytest",
                    key_lines=(KeyLine(text="FAILED tests/test_calc.py::test_add - x"),),
                ),
                prompt="fix the test",
                model="claude-sonnet-4-5",
                iteration=1,
                checks=(Check("narrow", "python3 -m pytest -x -q t.py::t", "re-run"),),
                run_check=run_check,
                judge=judge,
            )
        )
    assert result.summary == "second try" and result.error is None
    assert model.tool_results()[0].startswith("The guard rejects this change")
    assert "a test was skipped" in model.tool_results()[0]
