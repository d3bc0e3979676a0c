"""Fixers against real tools: ruff, small agent scripts, and the real SDKs on a fake model API."""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.config.model import FixerConfig, RepoConfig
from app.core.errors import EditError, FixerUnavailable
from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.fix.fixers.api import ApiFixer
from app.fix.fixers.autofix import AutofixFixer
from app.fix.fixers.base import FixRequest
from app.fix.fixers.command import CommandFixer
from app.fix.fixers.edits import Edit, apply_edits
from app.fix.fixers.pricing import PriceTable
from app.fix.fixers.select import FixerSettings, choose_fixers
from app.fix.sandbox import Sandbox
from app.fix.workspace import Workspace
from app.settings import DEFAULT_UNREPORTED_COST_USD, Settings
from tests.fakes.model import FakeModel
from tests.support import SECRETS, processes_with, sandbox_for_tests, tarball_of

# The project's default models are ones the SDK already calls deprecated; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

AGENTS = Path(__file__).parents[1] / "fakes" / "agents"
RUFF = Path(sys.executable).parent / "ruff"
BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
PROMPT = "# CI Fix Loop\nThe test test_add fails: add(2, 2) returned 0.\n"
MODEL_KEY = "sk-test-model-key"


def agent(script: str, *args: str) -> str:
    """A command line running one of tests/agents/ with this interpreter."""
    return shlex.join([sys.executable, str(AGENTS / script), *args])


def request_for(ws: Workspace, *, model: str = "claude-sonnet-4-5", timeout_s: float = 60):
    diagnosis = Diagnosis(
        category=Category.TEST,
        confidence=0.9,
        tool="pytest",
        key_lines=(
            KeyLine(
                "AssertionError: assert 0 == 4",
                file="/home/runner/work/repo/repo/calc.py",
                line=2,
            ),
            KeyLine("E   in test_add", file="test_calc.py", line=3),
            KeyLine("not in the repository", file="/etc/passwd"),
        ),
    )
    return FixRequest(ws.path, diagnosis, PROMPT, model, iteration=1, timeout_s=timeout_s)


@pytest.fixture
async def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Workspace]:
    """A workspace (and private homes) under tmp_path, so stray agent writes land there too."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = {
        "calc.py": BUGGY,
        "test_calc.py": "from calc import add\n\ndef test_add():\n    assert add(2, 2) == 4\n",
    }
    async with await Workspace.from_tarball(tarball_of(files)) as workspace:
        yield workspace


@pytest.fixture
async def fake_model() -> AsyncIterator[FakeModel]:
    async with FakeModel(api_key=MODEL_KEY) as fake:
        yield fake


@pytest.fixture
def app_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


# -- autofix -----------------------------------------------------------------------------


async def test_autofix_runs_ruff_fix_and_reports_the_change(ws: Workspace, jail: Sandbox) -> None:
    (ws.path / "lint_me.py").write_text("import os\nimport sys\n\nprint(sys.argv)\n")
    (ws.path / "ruff.toml").write_text('[lint]\nselect = ["F401"]\n')
    # Absolute path: the clean environment's PATH is the app's, which need not hold the venv.
    fixer = AutofixFixer([f"{RUFF} check --fix --no-cache ."], 60, jail)
    result = await fixer.fix(request_for(ws))
    assert result.error is None
    assert result.cost_usd == 0
    assert (ws.path / "lint_me.py").read_text() == "import sys\n\nprint(sys.argv)\n"
    assert "lint_me.py" in await ws.changed_files()
    assert "exit 0" in result.transcript_tail


async def test_autofix_command_failure_is_reported_not_fatal(ws: Workspace, jail: Sandbox) -> None:
    fixer = AutofixFixer(["echo could not fix everything; exit 1", "echo second ran"], 60, jail)
    result = await fixer.fix(request_for(ws))
    assert result.error is None
    assert "exit 1" in result.transcript_tail
    assert "second ran" in result.transcript_tail


async def test_autofix_timeout_is_an_error(ws: Workspace, jail: Sandbox) -> None:
    result = await AutofixFixer(["sleep 300"], 0.5, jail).fix(request_for(ws))
    assert result.error is not None and "timed out" in result.error


# -- command -----------------------------------------------------------------------------


async def test_command_agent_fixes_the_bug_and_reports_its_cost(
    ws: Workspace, jail: Sandbox
) -> None:
    fixer = CommandFixer(agent("fix_bug.py", "--model", "{model}"), 60, sandbox=jail)
    result = await fixer.fix(request_for(ws, model="claude-opus-4-6"))
    assert result.error is None
    assert (ws.path / "calc.py").read_text() == FIXED
    assert list(await ws.changed_files()) == ["calc.py"]
    assert result.cost_usd == pytest.approx(0.12)
    assert result.tokens == 1200
    assert result.escalate_reason is None
    report = json.loads(result.transcript_tail.strip().splitlines()[-1])
    assert report["argv"] == ["--model", "claude-opus-4-6"]
    assert report["prompt_first_line"] == "# CI Fix Loop"


async def test_command_agent_escalation_is_parsed(ws: Workspace, jail: Sandbox) -> None:
    result = await CommandFixer(agent("escalate.py"), 60, sandbox=jail).fix(request_for(ws))
    assert result.escalate_reason == "cannot fix"
    assert result.changed_files == ()


async def test_command_agent_timeout_kills_it_and_its_children(
    ws: Workspace, tmp_path: Path, jail: Sandbox
) -> None:
    pid_file = tmp_path / "child.pid"
    result = await CommandFixer(agent("sleeper.py", str(pid_file)), 60, sandbox=jail).fix(
        request_for(ws, timeout_s=2.0)
    )
    assert result.error is not None and "timed out" in result.error
    assert pid_file.read_text(), "the agent's child had started"
    assert processes_with(str(pid_file)) == []


async def test_command_agent_gets_a_clean_environment(
    ws: Workspace, tmp_path: Path, app_secrets: dict[str, str], jail: Sandbox
) -> None:
    dump = tmp_path / "env.json"
    fixer = CommandFixer(
        agent("dump_env.py", str(dump)),
        60,
        extra_env={"ANTHROPIC_API_KEY": MODEL_KEY},
        sandbox=jail,
    )
    result = await fixer.fix(request_for(ws))
    assert result.error is None
    assert result.cost_usd == pytest.approx(0.01)
    seen = json.loads(dump.read_text())
    leaked = [n for n, v in app_secrets.items() if any(v in x for x in seen["env"].values())]
    assert leaked == []
    assert not set(seen["env"]) & set(app_secrets)
    assert seen["env"]["ANTHROPIC_API_KEY"] == MODEL_KEY
    assert seen["cwd"] == str(ws.path)
    assert seen["env"]["HOME"] == "/home/sandbox", "a private tmpfs HOME, not the app's"


async def test_command_agent_writes_only_the_workspace(
    ws: Workspace, tmp_path: Path, jail: Sandbox
) -> None:
    """Outside the workspace the jail has only private tmpfs: a write next to the workspace
    never reaches the host; the workflow edit inside reaches the diff, where the guard
    refuses it."""
    strict = sandbox_for_tests()  # nothing writable but the workspace
    result = await CommandFixer(agent("escape.py"), 60, sandbox=strict).fix(request_for(ws))
    assert result.error is None, result.transcript_tail
    assert ".github/workflows/ci.yml" in await ws.changed_files()
    assert not (ws.path.parent / "escaped.txt").exists()


async def test_command_agent_nonzero_exit_sets_error(ws: Workspace, jail: Sandbox) -> None:
    command = shlex.join([sys.executable, "-c", "import sys; sys.exit('model overloaded')"])
    result = await CommandFixer(command, 60, sandbox=jail).fix(request_for(ws))
    assert result.error == "the agent exited with code 1: model overloaded"
    # It may have spent before failing; silence is charged the operator's default.
    assert result.cost_usd == DEFAULT_UNREPORTED_COST_USD > 0
    assert "reported no cost" in result.transcript_tail


async def test_command_that_does_not_exist_says_what_to_do(ws: Workspace, jail: Sandbox) -> None:
    result = await CommandFixer("no-such-agent-cli -p", 60, sandbox=jail).fix(request_for(ws))
    assert result.error is not None
    assert "no-such-agent-cli" in result.error and "fixer.command" in result.error


async def test_command_cost_from_pretty_printed_json_and_nested_usage(
    ws: Workspace, jail: Sandbox
) -> None:
    report = {"result": "done\nESCALATE: needs a human", "usage": {"cost_usd": 0.5}}
    script = f"import json; print(json.dumps({report!r}, indent=2))"
    fixer = CommandFixer(shlex.join([sys.executable, "-c", script]), 60, sandbox=jail)
    result = await fixer.fix(request_for(ws))
    assert result.cost_usd == pytest.approx(0.5)
    assert result.escalate_reason == "needs a human"


# -- api ---------------------------------------------------------------------------------


def _edit_reply(path: str, search: str, replace: str) -> str:
    edits = {"edits": [{"path": path, "search": search, "replace": replace}], "escalate": None}
    return "```json\n" + json.dumps(edits) + "\n```"


async def test_api_fixer_anthropic_applies_edits_and_costs_the_usage(
    ws: Workspace, fake_model: FakeModel, app_secrets: dict[str, str]
) -> None:
    fake_model.reply(
        _edit_reply("calc.py", "return a - b", "return a + b"),
        input_tokens=1000,
        output_tokens=200,
    )
    fixer = ApiFixer("anthropic", MODEL_KEY, base_url=fake_model.anthropic_url)
    result = await fixer.fix(request_for(ws, model="claude-sonnet-4-5"))

    assert fake_model.problems == []
    assert result.error is None
    assert (ws.path / "calc.py").read_text() == FIXED
    assert result.changed_files == ("calc.py",)
    assert result.cost_usd == pytest.approx((1000 * 3 + 200 * 15) / 1e6)
    assert result.tokens == 1200

    [sent] = fake_model.requests
    assert sent.body["model"] == "claude-sonnet-4-5"
    assert PROMPT in sent.text
    assert "### calc.py\n```\n" + BUGGY in sent.text  # the runner path mapped to the file
    assert "### test_calc.py" in sent.text
    assert "root:" not in sent.text  # /etc/passwd was never read
    wire = json.dumps(sent.body) + json.dumps(sent.headers)
    assert [n for n, v in app_secrets.items() if v in wire] == []


async def test_api_fixer_openai_applies_edits_and_costs_the_usage(
    ws: Workspace, fake_model: FakeModel
) -> None:
    fake_model.reply(
        _edit_reply("calc.py", "return a - b", "return a + b"),
        input_tokens=2000,
        output_tokens=100,
    )
    fixer = ApiFixer("openai", MODEL_KEY, base_url=fake_model.openai_url)
    result = await fixer.fix(request_for(ws, model="gpt-4o"))
    assert fake_model.problems == []
    assert result.error is None
    assert (ws.path / "calc.py").read_text() == FIXED
    assert result.cost_usd == pytest.approx((2000 * 2.5 + 100 * 10) / 1e6)
    [sent] = fake_model.requests
    assert sent.api == "openai"
    assert "### calc.py" in sent.text


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("../outside.py", "not a relative path inside"),
        ("/etc/cron.d/evil", "not a relative path inside"),
        (".git/hooks/pre-commit", "inside .git"),
    ],
)
async def test_api_fixer_refuses_an_edit_outside_the_workspace(
    ws: Workspace, fake_model: FakeModel, path: str, expected: str
) -> None:
    fake_model.reply(_edit_reply(path, "", "evil\n"))
    fixer = ApiFixer("anthropic", MODEL_KEY, base_url=fake_model.anthropic_url)
    result = await fixer.fix(request_for(ws))
    assert result.error is not None and expected in result.error
    assert result.cost_usd > 0  # the call was still paid for
    assert not (ws.path.parent / "outside.py").exists()
    assert await ws.changed_files() == {}


async def test_api_fixer_escalation_and_bad_replies(ws: Workspace, fake_model: FakeModel) -> None:
    fixer = ApiFixer("anthropic", MODEL_KEY, base_url=fake_model.anthropic_url)
    fake_model.reply('{"edits": [], "escalate": "the test itself is wrong"}')
    assert (await fixer.fix(request_for(ws))).escalate_reason == "the test itself is wrong"

    fake_model.reply("I think you should change calc.py.")
    assert "no JSON object" in (await fixer.fix(request_for(ws))).error

    fake_model.reply('{"edits": [{"path": "calc.py", "search": "a', stop="max_tokens")
    assert "cut off" in (await fixer.fix(request_for(ws))).error
    assert fake_model.problems == []


async def test_api_fixer_unknown_model_is_charged_conservatively(
    ws: Workspace, fake_model: FakeModel
) -> None:
    fake_model.reply('{"edits": []}', input_tokens=1_000_000, output_tokens=0)
    fixer = ApiFixer("anthropic", MODEL_KEY, base_url=fake_model.anthropic_url)
    result = await fixer.fix(request_for(ws, model="claude-future-9"))
    assert result.cost_usd == pytest.approx(15.0)
    assert "no price known for model 'claude-future-9'" in result.transcript_tail


async def test_api_fixer_reports_an_api_error(ws: Workspace, fake_model: FakeModel) -> None:
    fake_model.reply("unused")
    fixer = ApiFixer("anthropic", "sk-wrong-key", base_url=fake_model.anthropic_url)
    result = await fixer.fix(request_for(ws))
    assert result.error is not None and "anthropic API call failed" in result.error
    assert fake_model.problems == ["wrong or missing API key header"]


# -- edits and pricing -------------------------------------------------------------------


def test_edits_must_match_exactly_once_and_apply_all_or_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\nx = 1\n")
    (tmp_path / "b.py").write_text("y = 1\n")
    with pytest.raises(EditError, match="found 2 times"):
        apply_edits(tmp_path, [Edit("b.py", "y = 1", "y = 2"), Edit("a.py", "x = 1", "x = 2")])
    assert (tmp_path / "b.py").read_text() == "y = 1\n"
    with pytest.raises(EditError, match="was not found"):
        apply_edits(tmp_path, [Edit("b.py", "z = 1", "z = 2")])
    with pytest.raises(EditError, match="already exists"):
        apply_edits(tmp_path, [Edit("b.py", "", "new")])
    changed = apply_edits(
        tmp_path,
        [Edit("b.py", "y = 1", "y = 2"), Edit("b.py", "y = 2", "y = 3"), Edit("n/c.py", "", "z\n")],
    )
    assert changed == ("b.py", "n/c.py")
    assert (tmp_path / "b.py").read_text() == "y = 3\n"
    assert (tmp_path / "n" / "c.py").read_text() == "z\n"


def test_edit_through_a_symlink_leaving_the_workspace_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("s")
    (root / "link").symlink_to("../secret.txt")
    with pytest.raises(EditError, match="resolves outside"):
        apply_edits(root, [Edit("link", "s", "owned")])
    assert (tmp_path / "secret.txt").read_text() == "s"


def test_edit_through_a_symlink_into_git_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    (tmp_path / "meta").symlink_to(".git")
    with pytest.raises(EditError, match=r"leads into \.git"):
        apply_edits(tmp_path, [Edit("meta/config", "[core]\n", "[filter]\n")])
    assert (tmp_path / ".git" / "config").read_text() == "[core]\n"


def test_price_table_matches_dated_ids_and_takes_overrides() -> None:
    table = PriceTable()
    assert table.cost("claude-sonnet-4-5-20250929", 1_000_000, 0).usd == pytest.approx(3.0)
    assert table.cost("anthropic/claude-sonnet-4-5", 0, 1_000_000).usd == pytest.approx(15.0)
    assert table.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0).usd == pytest.approx(0.15)
    custom = PriceTable.from_mapping({"my-model": {"input": 1, "output": 2}})
    cost = custom.cost("my-model", 1_000_000, 1_000_000)
    assert cost.usd == pytest.approx(3.0) and cost.note is None
    with pytest.raises(ValueError, match="numeric 'input' and 'output'"):
        PriceTable.from_mapping({"bad": {"input": "cheap"}})


# -- choosing fixers ---------------------------------------------------------------------

SETTINGS = FixerSettings(default_command="claude -p --model {model}", anthropic_api_key="sk")


def test_lint_with_autofix_runs_autofix_first() -> None:
    config = RepoConfig(autofix=("ruff check --fix .",))
    fixers = choose_fixers(config, Category.LINT, SETTINGS)
    assert [f.name for f in fixers] == ["autofix", "command"]
    assert [f.name for f in choose_fixers(config, Category.TEST, SETTINGS)] == ["command"]


def test_kind_none_means_autofix_only() -> None:
    config = RepoConfig(autofix=("ruff format .",), fixer=FixerConfig(kind="none"))
    assert [f.name for f in choose_fixers(config, Category.LINT, SETTINGS)] == ["autofix"]
    assert choose_fixers(config, Category.TEST, SETTINGS) == []


def test_api_kind_uses_the_configured_provider() -> None:
    config = RepoConfig(fixer=FixerConfig(kind="api", provider="anthropic"))
    [fixer] = choose_fixers(config, Category.BUILD, SETTINGS)
    assert isinstance(fixer, ApiFixer) and fixer.provider == "anthropic"


def test_missing_credentials_or_command_say_what_to_set() -> None:
    with pytest.raises(FixerUnavailable, match="OPENAI_API_KEY"):
        choose_fixers(
            RepoConfig(fixer=FixerConfig(kind="api", provider="openai")), Category.TEST, SETTINGS
        )
    with pytest.raises(FixerUnavailable, match="FIXER_COMMAND"):
        choose_fixers(RepoConfig(), Category.TEST, FixerSettings())


def test_settings_hand_agents_the_model_key_and_nothing_else() -> None:
    settings = Settings(
        app_id=1,
        private_key="-----BEGIN RSA PRIVATE KEY-----",
        webhook_secret="whsec",
        status_token="status",
        anthropic_api_key="sk-ant",
        fixer_command="claude -p --model {model}",
    )
    fixer_settings = FixerSettings.from_settings(settings)
    assert dict(fixer_settings.command_env) == {"ANTHROPIC_API_KEY": "sk-ant"}
    [fixer] = choose_fixers(RepoConfig(), Category.TEST, fixer_settings)
    assert isinstance(fixer, CommandFixer)
    assert fixer.argv == ["claude", "-p", "--model", "{model}"]
