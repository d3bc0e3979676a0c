"""The guard against real git and real processes: diffs git writes, trees on disk, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app.config.model import GuardConfig
from app.fix.guard import DirView, check_change, parse_diff, published_changes
from app.fix.workspace import Workspace
from tests.support import tarball_of

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "core.quotePath=true"]
ROOT = Path(__file__).resolve().parents[2]


def git_diff(root: Path, before: dict[str, str], after: dict[str, str | None]) -> str:
    """Commit ``before``, apply ``after`` (None deletes), return the staged diff against HEAD."""
    subprocess.run([*GIT, "init", "-q", str(root)], check=True)
    for path, text in before.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, newline="")
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", "base"], cwd=root, check=True)
    for path, text in after.items():
        target = root / path
        if text is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, newline="")
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    out = subprocess.run(
        [*GIT, "diff", "--cached", "--find-renames", "HEAD"], cwd=root, check=True,
        capture_output=True,
    )  # fmt: skip
    return out.stdout.decode()


def test_parser_handles_spaces_quoting_binary_and_line_numbers(tmp_path):
    (tmp_path / "r").mkdir()
    diff = git_diff(
        tmp_path / "r",
        {"dir with space/a b.py": "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "café.py": "a\n"},
        {"dir with space/a b.py": "1\n2\n3\n4\n5\n6\nseven\n8\n9\n", "café.py": "b\n"},
    )
    files = {f.path: f for f in parse_diff(diff)}
    assert set(files) == {"dir with space/a b.py", "café.py"}
    spaced = files["dir with space/a b.py"]
    assert [(ln.number, ln.text) for ln in spaced.added] == [(7, "seven")]
    assert [(ln.number, ln.text) for ln in spaced.removed] == [(7, "7")]
    binary = git_diff(tmp_path / "b", {"img.bin": ""}, {"img.bin": "\x00\x01"})
    (parsed,) = parse_diff(binary)
    assert parsed.binary and parsed.path == "img.bin"


def test_parser_stays_in_step_with_git_across_form_feed_u2028_and_cr(tmp_path):
    """Git counts lines by ``\\n``; so must the parser, or later lines go unjudged."""
    before = {"tests/test_a.py": "import pytest\n", "src/b.py": "x = 1\n"}
    after = {
        "tests/test_a.py": "import pytest\n# a\f b\u2028 c\r d\n@pytest.mark.skip\ndef test_a():\n"
        "    pass\n",
        "src/b.py": "x = 2\n",
    }
    files = {f.path: f for f in parse_diff(git_diff(tmp_path, before, after))}
    added = [(ln.number, ln.text) for ln in files["tests/test_a.py"].added]
    assert added == [
        (2, "# a\f b\u2028 c\r d"),
        (3, "@pytest.mark.skip"),
        (4, "def test_a():"),
        (5, "    pass"),
    ]
    assert [ln.text for ln in files["src/b.py"].added] == ["x = 2"]


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "app", "guard", *args], capture_output=True, text=True, env=env,
        cwd=ROOT,
    )  # fmt: skip


def test_cli_rejects_with_exit_1_and_json_naming_rule_path_and_line(tmp_path):
    test = "import pytest\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
    _write(tmp_path / "before", {"tests/test_add.py": test})
    _write(tmp_path / "after", {"tests/test_add.py": test.replace("== 4", "== 5")})
    result = _cli(str(tmp_path / "before"), str(tmp_path / "after"), "--json")
    assert result.returncode == 1, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is False
    assert verdict["violations"][0]["rule"] == "test-expectation"
    assert verdict["violations"][0]["path"] == "tests/test_add.py"
    assert verdict["violations"][0]["line"] == 4
    assert (verdict["files_changed"], verdict["lines_added"], verdict["lines_removed"]) == (1, 1, 1)


def test_cli_accepts_an_honest_fix_with_exit_0(tmp_path):
    _write(tmp_path / "before", {"src/add.py": "def add(a, b):\n    return a - b\n"})
    _write(tmp_path / "after", {"src/add.py": "def add(a, b):\n    return a + b\n"})
    result = _cli(str(tmp_path / "before"), str(tmp_path / "after"), "--category", "test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Accepted: 1 file(s), +1/-1 lines.")


def test_cli_bad_usage_exits_2(tmp_path):
    (tmp_path / "before").mkdir()
    missing = _cli(str(tmp_path / "before"), str(tmp_path / "nope"))
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
    category = _cli(str(tmp_path / "before"), str(tmp_path / "before"), "--category", "x")
    assert category.returncode == 2
    (tmp_path / "bad.yml").write_text("guard:\n  max_files: ten\n")
    config = _cli(str(tmp_path / "before"), str(tmp_path / "before"), "--config",
                  str(tmp_path / "bad.yml"))  # fmt: skip
    assert config.returncode == 2 and "guard.max_files" in config.stderr


def test_cli_reads_allow_paths_from_the_config(tmp_path):
    _write(tmp_path / "before", {"scripts/gen.sh": "echo 1\n"})
    _write(tmp_path / "after", {"scripts/gen.sh": "echo 2\n"})
    refused = _cli(str(tmp_path / "before"), str(tmp_path / "after"))
    assert refused.returncode == 1 and "rule: ci-script" in refused.stdout
    (tmp_path / "cfg.yml").write_text("guard:\n  allow_paths: ['scripts/gen.sh']\n")
    allowed = _cli(str(tmp_path / "before"), str(tmp_path / "after"), "--config",
                   str(tmp_path / "cfg.yml"))  # fmt: skip
    assert allowed.returncode == 0, allowed.stdout


def test_cli_sees_symlinks_and_modes_on_disk(tmp_path):
    _write(tmp_path / "before", {"src/a.py": "x = 1\n"})
    _write(tmp_path / "after", {"src/a.py": "x = 1\n"})
    (tmp_path / "after" / "src" / "a.py").chmod(0o755)
    (tmp_path / "after" / "link").symlink_to("/etc/passwd")
    result = _cli(str(tmp_path / "before"), str(tmp_path / "after"), "--json")
    rules = {v["rule"] for v in json.loads(result.stdout)["violations"]}
    assert rules == {"mode-change", "symlink"}


async def test_a_workspace_change_is_judged_from_its_baseline_blobs(tmp_path):
    """The loop's path: changed files and modes from git, originals from the baseline."""
    archive = tarball_of(
        {
            "src/calc.py": "def add(a, b):\n    return a - b\n",
            "tests/test_calc.py": "from src.calc import add\n\n\ndef test_add():\n"
            "    assert add(2, 2) == 4\n",
        }
    )
    async with await Workspace.from_tarball(archive) as ws:
        (ws.path / "tests" / "test_calc.py").write_text(
            "from src.calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 0\n"
        )
        (ws.path / "src" / "calc.py").chmod(0o755)
        changed = await ws.changed_files()
        verdict = check_change(
            published_changes(changed, await ws.file_modes(), await ws.originals(changed)),
            GuardConfig(),
            context=DirView(ws.path),
        )
    assert {v.rule for v in verdict.violations} == {"test-expectation", "mode-change"}
    assert (verdict.files_changed, verdict.lines_added, verdict.lines_removed) == (2, 1, 1)


def test_cli_judges_with_defaults_when_the_trees_own_config_is_invalid(tmp_path):
    _write(tmp_path / "before", {".github/ci-fix-loop.yml": "guard: [", "src/a.py": "x = 1\n"})
    _write(tmp_path / "after", {".github/ci-fix-loop.yml": "guard: [", "src/a.py": "x = 2\n"})
    result = _cli(str(tmp_path / "before"), str(tmp_path / "after"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Judging with the default guard settings" in result.stderr


def test_the_guard_reads_no_file_through_a_planted_symlinked_folder(tmp_path: Path) -> None:
    from app.fix.guard.tree import DirView

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("app secret\n")
    root = tmp_path / "checkout"
    (root / "src").mkdir(parents=True)
    (root / "src" / "ok.py").write_text("x = 1\n")
    (root / "tests").symlink_to(outside)
    view = DirView(root)
    assert view.read("src/ok.py") == b"x = 1\n"
    assert view.read("tests/secret.txt") is None
    assert view.read("../outside/secret.txt") is None
    assert view.read(str(outside / "secret.txt")) is None
