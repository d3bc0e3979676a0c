"""Attacks on what the app publishes, spends and says, through the running app and fake GitHub.

Each test replays one finding of the security review (git metadata written by
the agent, a tampered store, secrets printed by `verify`, greedy budgets, a
silent agent) and asserts the attack now fails.  The agents here are allowed to
write `tmp_path` (the harness lets test agents keep state there), which makes
them stronger than in production, where the jail shows them only the checkout.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.logctx import RedactingFilter
from app.publish.commit import RefRefused, publish_fix
from app.store.records import LoopState
from tests.harness import INSTALLATION_ID, REPO, Harness, HarnessFactory
from tests.scenarios import CALC, TEST_CALC, ci_on_fix_branch, only_loop, pytest_log, scripted_agent

LOG = pytest_log("assert 0 == 4")
FIXED = "def add(a, b):\n    return a + b\n"
SKIPPED_TEST = TEST_CALC.replace(
    "def test_add():", "import pytest\n\n\n@pytest.mark.skip\ndef test_add():"
)


def hostile_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Files an agent writes to make git lie: config with filters, hooks and an fsmonitor
    pointing at a script, `.git/info/attributes` marking everything `-diff`, and a
    `.gitattributes` routing Python files through the filter.  Returns them and the
    marker the script touches if any git of the app ever runs it."""
    marker = tmp_path / "git-ran-agent-code"
    script = tmp_path / "hide.sh"
    # As a clean filter it would publish "hidden" instead of the real file.
    script.write_text(f"#!/bin/sh\ntouch {marker}\necho hidden\n")
    script.chmod(0o755)
    files = {
        ".git/config": (
            f"[core]\n\tfsmonitor = {script}\n\thooksPath = {tmp_path}\n"
            f'[filter "hide"]\n\tclean = {script}\n\tsmudge = {script}\n\trequired = true\n'
            f'[diff "hide"]\n\ttextconv = {script}\n\tcommand = {script}\n'
        ),
        ".git/info/attributes": "* -diff\n",
        ".git/hooks/pre-commit": f"#!/bin/sh\ntouch {marker}\n",
        ".gitattributes": "*.py filter=hide diff=hide\n",
    }
    return files, marker


async def test_git_metadata_from_the_agent_cannot_hide_a_skip_from_the_guard(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    """Finding 3: `* -diff` made the guard see 0 lines; a clean filter showed it other bytes."""
    git_files, marker = hostile_git(tmp_path)
    cheat = {**git_files, "calc.py": FIXED, "tests/test_calc.py": SKIPPED_TEST}
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, [{"files": cheat}]))
    head = harness.seed_repo(
        {"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config="max_iterations: 1\n"
    )
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))

    loop = await only_loop(harness)
    [iteration] = await harness.ctx.store.iterations(loop.id)
    assert iteration.status == "rejected", iteration.outcome
    assert any("skip" in reason for reason in iteration.guard_reasons), iteration.guard_reasons
    assert loop.fix_sha is None
    assert harness.fake.ref(REPO, f"heads/{loop.publish_branch}") is None
    assert not marker.exists(), "a git command of the app ran the agent's filter, hook or monitor"


async def test_git_metadata_from_the_agent_does_not_change_the_published_bytes(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    """Finding 3: what is published is the bytes the agent wrote, not a filter's output.

    The repository's own `.gitattributes` (its data, not the app's instructions) asks
    for a clean filter and line-ending conversion; the agent configures the filter."""
    git_files, marker = hostile_git(tmp_path)
    attributes = git_files.pop(".gitattributes") + "* text eol=lf\n"
    crlf_fix = FIXED.replace("\n", "\r\n")  # `text` would have normalised these
    plan = [{"files": {**git_files, "calc.py": crlf_fix}}]
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, plan))
    head = harness.seed_repo(
        {"calc.py": CALC, "tests/test_calc.py": TEST_CALC, ".gitattributes": attributes}
    )
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))

    loop = await only_loop(harness)
    iterations = await harness.ctx.store.iterations(loop.id)
    assert loop.state is LoopState.AWAITING_CI, [(i.outcome, i.guard_reasons) for i in iterations]
    tree = harness.fake.read_tree(REPO, loop.fix_sha or "")
    assert tree["calc.py"] == crlf_fix.encode()
    assert not any(path.startswith(".git/") for path in tree)
    assert not marker.exists(), "a git command of the app ran the agent's filter, hook or monitor"


TAMPERING_AGENT = """
import json, sqlite3, sys
from pathlib import Path

store, state = sys.argv[1], Path(sys.argv[2])
n = int(state.read_text()) if state.exists() else 0
state.write_text(str(n + 1))
sys.stdin.read()
if n == 0:
    # Found the store (as through /proc/$PPID/fd): send the next fix to main.
    with sqlite3.connect(store, timeout=30) as db:
        db.execute("UPDATE loops SET fix_branch = 'main'")
else:
    Path("calc.py").write_text("def add(a, b):\\n    return a + b\\n")
print(json.dumps({"total_cost_usd": 0.01}))
"""


async def test_a_store_tampered_to_point_at_main_never_gets_main_written(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    """Finding 5: `fix_branch='main'` in the store fast-forwarded main with no PR."""
    agent = tmp_path / "tamper.py"
    agent.write_text(TAMPERING_AGENT)
    harness = await app_harness(
        fixer_command=f"{sys.executable} {agent} {tmp_path / 'store.sqlite3'} {tmp_path / 'n'}"
    )
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))

    loop = await only_loop(harness)
    assert loop.fix_branch == "main", "the agent did tamper with the store"
    assert loop.state is LoopState.AWAITING_CI, loop.reason
    assert harness.fake.ref(REPO, "heads/main") == head
    ref_writes = [
        r for r in harness.fake.requests if r.method in ("POST", "PATCH") and "/git/refs" in r.path
    ]
    assert ref_writes
    for request in ref_writes:
        written = request.json.get("ref", "") if request.method == "POST" else request.path
        assert "refs/heads/ci-fix/" in written or "/git/refs/heads/ci-fix/" in written, written
    assert harness.fake.ref(REPO, f"heads/ci-fix/{loop.run_id}") == loop.fix_sha
    [pr] = harness.fake.pulls(REPO)
    assert pr.pull is not None and pr.pull.head_ref == f"ci-fix/{loop.run_id}"


async def test_publishing_refuses_main_before_writing_anything(
    app_harness: HarnessFactory,
) -> None:
    """The last check sits in publishing itself: not even a blob is written for `main`."""
    harness = await app_harness()
    head = harness.seed_repo({"calc.py": CALC})
    gh = harness.ctx.clients.for_installation(INSTALLATION_ID)
    before = len(harness.fake.requests)
    with pytest.raises(RefRefused, match="only ever writes branches under refs/heads/ci-fix/"):
        await publish_fix(
            gh, repo=REPO, base_sha=head, parent_sha=head, branch="main",
            changes={"calc.py": FIXED.encode()}, message="fix",
        )  # fmt: skip
    assert harness.fake.requests[before:] == []
    assert harness.fake.ref(REPO, "heads/main") == head


# -- secret values --------------------------------------------------------------------------

MODEL_KEY = "model-key-that-has-no-token-shape-123"


def dotenv(harness: Harness) -> str:
    """The app's `.env` as a verify command that could read it would print it."""
    s = harness.settings
    key_lines = "\n".join(s.private_key.strip().splitlines()[1:4])  # a partial dump
    return (
        f"WEBHOOK_SECRET={s.webhook_secret}\nSTATUS_TOKEN={s.status_token}\n"
        f"CI_HOOK_TOKEN={s.ci_hook_token}\nOPENAI_API_KEY={s.openai_api_key}\n"
        f"PRIVATE_KEY_PART=\n{key_lines}\n"
    )


def secret_values(harness: Harness) -> list[str]:
    s = harness.settings
    key_lines = s.private_key.strip().splitlines()[1:4]
    values = [s.webhook_secret, s.status_token, s.ci_hook_token, s.openai_api_key, *key_lines]
    return [v for v in values if v] + list(harness.fake.tokens)


@pytest.fixture
def captured_logs() -> Iterator[list[logging.Handler]]:
    """Handlers added to the root logger for one test, removed afterwards."""
    added: list[logging.Handler] = []
    root = logging.getLogger()
    level = root.level
    yield added
    for handler in added:
        root.removeHandler(handler)
    root.setLevel(level)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_secret_values_printed_by_verify_reach_no_outbound_text(
    app_harness: HarnessFactory, tmp_path: Path, captured_logs: list[logging.Handler]
) -> None:
    """Finding 6: the webhook secret, tokens and key printed by verify were published."""
    plan = [{"files": {"calc.py": "def add(a, b):\n    return 0\n"}}, {"files": {"calc.py": FIXED}}]
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, plan), openai_api_key=MODEL_KEY
    )
    logs = _Lines()
    logs.addFilter(RedactingFilter(harness.ctx.clients.redactor))
    logging.getLogger().addHandler(logs)
    logging.getLogger().setLevel(logging.DEBUG)
    captured_logs.append(logs)
    leak = tmp_path / "app.env"
    leak.write_text(dotenv(harness))
    verify = f"cat {leak}; grep -q 'a + b' calc.py"
    head = harness.seed_repo(
        {"calc.py": CALC, "tests/test_calc.py": TEST_CALC},
        config=f'max_iterations: 2\nverify: "{verify}"\n',
    )
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))
    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI, loop.reason
    # Iteration 1 failed verify (its output went to iteration 2's prompt); 2 was published.
    await ci_on_fix_branch(harness, loop, "failure", pytest_log("assert 1 == 4"))
    loop = await only_loop(harness)
    assert loop.state is LoopState.EXHAUSTED, loop.reason

    [pr] = harness.fake.pulls(REPO)
    [issue] = harness.fake.issues(REPO)
    [check] = harness.fake.check_runs(REPO)
    prompts = [(tmp_path / f"prompt-{n}.txt").read_text() for n in (1, 2)]
    assert "[redacted]" in prompts[1]  # iteration 1's verify output did reach the prompt
    assert "[redacted]" in (pr.body or "")  # and the PR's verification output
    outbound = {
        "pull request": pr.body or "",
        "issue": issue.body or "",
        "check run": json.dumps(check.output),
        "prompts": "\n".join(prompts),
        "every request to GitHub": json.dumps(
            [r.json for r in harness.fake.requests if not r.path.endswith("/git/blobs")]
        ),
        "logs": "\n".join(logs.lines),
        "store": (tmp_path / "store.sqlite3").read_bytes().decode("latin-1"),
    }
    secrets = secret_values(harness)
    assert len(secrets) >= 8 and harness.fake.tokens
    for where, text in outbound.items():
        for secret in secrets:
            assert secret not in text, f"a secret value reached the {where}"


async def test_a_fix_that_would_publish_a_secret_value_is_refused(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    plan = [{"files": {"calc.py": FIXED + f"# {MODEL_KEY}\n"}}]
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, plan), openai_api_key=MODEL_KEY
    )
    head = harness.seed_repo({"calc.py": CALC}, config="max_iterations: 1\n")
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))
    loop = await only_loop(harness)
    [iteration] = await harness.ctx.store.iterations(loop.id)
    assert "would publish a secret of the app's" in (iteration.outcome or "")
    assert not [r for r in harness.fake.requests if r.path.endswith("/git/blobs")]


# -- budgets ---------------------------------------------------------------------------------

GREEDY_CONFIG = """\
max_iterations: 20
budget:
  per_loop_usd: 1000
  per_day_usd: 10000
fixer:
  timeout_minutes: 120
"""


async def test_repository_budgets_above_the_operators_are_clamped(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    """Finding 7: a repository asked for $1000 a loop, 20 iterations and 2-hour runs."""
    no_progress = [{"files": {}, "cost": 0.7}]  # spends, changes nothing: the loop retries
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, no_progress),
        max_loop_budget_usd=1.0,
        max_daily_budget_usd=3.0,
        max_fixer_minutes=10.0,
    )
    head = harness.seed_repo({"calc.py": CALC}, config=GREEDY_CONFIG)
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))

    loop = await only_loop(harness)
    assert loop.state is LoopState.ESCALATED
    assert loop.reason == "Loop budget exhausted: $1.40 / $1.00"
    assert len(await harness.ctx.store.iterations(loop.id)) == 2
    [check] = harness.fake.check_runs(REPO)
    summary = check.output["summary"]
    for note in (
        "budget.per_loop_usd: 1000 is above the operator's maximum (MAX_LOOP_BUDGET_USD=1); "
        "1 applies.",
        "budget.per_day_usd: 10000 is above the operator's maximum (MAX_DAILY_BUDGET_USD=3)",
        "max_iterations: 20 is above the operator's maximum (MAX_ITERATIONS=10)",
        "fixer.timeout_minutes: 120 is above the operator's maximum (MAX_FIXER_MINUTES=10)",
    ):
        assert note in summary


async def test_repository_iterations_above_the_operators_are_clamped(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(
        fixer_command=scripted_agent(tmp_path, [{"files": {}, "cost": 0.01}]), max_iterations=2
    )
    head = harness.seed_repo({"calc.py": CALC}, config=GREEDY_CONFIG)
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))

    loop = await only_loop(harness)
    assert loop.state is LoopState.EXHAUSTED
    assert len(await harness.ctx.store.iterations(loop.id)) == 2


SILENT_AGENT = """
import sys
from pathlib import Path
sys.stdin.read()
Path("calc.py").write_text("def add(a, b):\\n    return a + b\\n")
"""


async def test_a_silent_agent_is_charged_the_operators_default(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    """Finding 7: an agent that reports no cost was charged $0."""
    agent = tmp_path / "silent.py"
    agent.write_text(SILENT_AGENT)
    harness = await app_harness(fixer_command=f"{sys.executable} {agent}", unreported_cost_usd=0.75)
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC})
    await harness.deliver("workflow_run", harness.payload(harness.failing_run(head, log=LOG)))

    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI, loop.reason
    assert loop.cost_usd == pytest.approx(0.75)
    assert await harness.ctx.store.loop_spend(loop.id) == pytest.approx(0.75)
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:
        [(ledger,)] = db.execute("SELECT SUM(amount_usd) FROM ledger").fetchall()
    assert ledger == pytest.approx(0.75)
