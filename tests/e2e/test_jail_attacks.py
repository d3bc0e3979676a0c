"""The jail findings, replayed as an attacker through the running app and the fake GitHub.

A repository's own ``verify`` command and a hostile agent each try what was done
before the jail existed: read the app's environment, ``.env``, private key and
store; connect to the app's port and the database; signal the app; leave a
``setsid`` daemon behind.  The app runs as in production (its secrets in its own
environment and in ``.env`` beside the store); the attacker is told exactly where
everything is.  Each attempt reports only "leaked" or "blocked", so redaction
cannot hide a success; every one must be blocked, and the fix is still published.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.store.records import LoopState
from tests.harness import REPO, Harness, HarnessFactory
from tests.scenarios import CALC, TEST_CALC, only_loop, pytest_log
from tests.support import FAKES, jail_tool_paths, processes_with

ATTACKER = FAKES / "agents" / "attacker.py"
ATTEMPTS = (
    "parent environ",
    "any environ",
    ".env",
    "key",
    "store",
    "app port",
    "database port",
    "signal the app",
)
FIXED = "def add(a, b):\n    return a + b\n"


@dataclass
class Installation:
    """Where the app keeps what the attacker wants, and the one directory shared with it."""

    app_dir: Path
    channel: Path
    db_port: int


@pytest.fixture
def installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_private_key: str
) -> Installation:
    app_dir = tmp_path / "app"
    channel = tmp_path / "channel"
    app_dir.mkdir()
    channel.mkdir()
    (app_dir / ".env").write_text("WEBHOOK_SECRET=test-webhook-secret-0123456789\n")
    (app_dir / "key.pem").write_text(app_private_key)
    # The app's own environment holds its secrets, as in production.
    monkeypatch.setenv("WEBHOOK_SECRET", "test-webhook-secret-0123456789")
    monkeypatch.setenv("PRIVATE_KEY_PATH", str(app_dir / "key.pem"))
    database = os.environ.get("TEST_DATABASE_URL", "postgresql://127.0.0.1:54330/")
    return Installation(app_dir, channel, urlsplit(database).port or 5432)


async def start(app_harness: HarnessFactory, where: Installation, fixer_command: str) -> Harness:
    """The app with its store beside ``.env`` and the key, out of the jail's reach."""
    return await app_harness(
        fixer_command=fixer_command,
        store_path=where.app_dir / "store.sqlite3",
        sandbox_readonly_paths=jail_tool_paths(),
        sandbox_writable_paths=(where.channel,),
    )


DAEMONS = {"agent": "300.901", "verify": "300.902", "unjailed": "300.903"}


def attack(where: Installation, name: str, *flags: str) -> str:
    """The attacker's command line; it reports to ``channel/<name>.json``."""
    return shlex.join(
        [sys.executable, str(ATTACKER), str(where.channel), name, DAEMONS[name], *flags]
    )


def aim(harness: Harness, where: Installation) -> None:
    """Tell the attacker exactly where the app keeps everything (the strongest attacker)."""
    target = {
        "app_dir": str(where.app_dir),
        "app_port": harness.client.server.port,
        "db_port": where.db_port,
        "app_pid": os.getpid(),
    }
    (where.channel / "target.json").write_text(json.dumps(target))


async def fix_calc(harness: Harness, *, config: str | None = None) -> None:
    head = harness.seed_repo({"calc.py": CALC, "tests/test_calc.py": TEST_CALC}, config=config)
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run))


async def assert_published(harness: Harness) -> None:
    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI, loop.reason
    assert harness.fake.read_tree(REPO, loop.fix_sha)["calc.py"] == FIXED.encode()
    assert len(harness.fake.pulls(REPO)) == 1


async def test_a_hostile_agent_reaches_nothing_of_the_app(
    app_harness: HarnessFactory, installation: Installation
) -> None:
    harness = await start(app_harness, installation, attack(installation, "agent", "--fix"))
    aim(harness, installation)
    await fix_calc(harness)

    results = json.loads((installation.channel / "agent.json").read_text())
    assert results == dict.fromkeys(ATTEMPTS, "blocked")
    assert processes_with(f"sleep {DAEMONS['agent']}") == [], "the daemon died with the jail"
    await assert_published(harness)


async def test_a_hostile_verify_command_reaches_nothing_and_leaves_nothing_running(
    app_harness: HarnessFactory, installation: Installation, tmp_path: Path
) -> None:
    honest = installation.channel / "honest.py"
    honest.write_text(
        "import json, pathlib\npathlib.Path('calc.py').write_text("
        f"{FIXED!r})\nprint(json.dumps({{'total_cost_usd': 0.01}}))\n"
    )
    harness = await start(app_harness, installation, shlex.join([sys.executable, str(honest)]))
    aim(harness, installation)
    # The repository's own verify command is the attacker.
    verify = attack(installation, "verify")
    await fix_calc(harness, config=f"verify: {json.dumps(verify)}\n")

    results = json.loads((installation.channel / "verify.json").read_text())
    assert results == dict.fromkeys(ATTEMPTS, "blocked")
    assert processes_with(f"sleep {DAEMONS['verify']}") == [], "the daemon died with the jail"
    await assert_published(harness)


async def test_without_the_jail_the_same_agent_reaches_the_apps_secrets(
    app_harness: HarnessFactory, installation: Installation
) -> None:
    """The control: the attacker's report is truthful, so "blocked" above means the jail."""
    harness = await app_harness(
        fixer_command=attack(installation, "unjailed", "--fix"),
        store_path=installation.app_dir / "store.sqlite3",
        sandbox="none",
        insecure_no_sandbox=True,
    )
    aim(harness, installation)
    await fix_calc(harness)

    results = json.loads((installation.channel / "unjailed.json").read_text())
    survivors = processes_with(f"sleep {DAEMONS['unjailed']}")
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    for reached in (".env", "key", "store", "app port", "signal the app"):
        assert results[reached] == "leaked", reached
    assert survivors, "unjailed, the setsid daemon outlived the run"
