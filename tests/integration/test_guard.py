"""The diff guard, on diffs produced by real ``git diff --find-renames``.

Each rule is checked both ways: the cheating change is rejected with a reason
naming the file, and an honest change of the same shape passes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.config.model import GuardConfig
from app.fix.guard import check_diff, is_test_path, matches_glob, parse_diff

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "core.quotePath=true"]


def git_diff(root: Path, before: dict[str, str], after: dict[str, str | None]) -> str:
    """Commit ``before``, apply ``after`` (None deletes), return the staged diff against HEAD."""
    subprocess.run([*GIT, "init", "-q", str(root)], check=True)
    for path, text in before.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", "base"], cwd=root, check=True)
    for path, text in after.items():
        target = root / path
        if text is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    out = subprocess.run(
        [*GIT, "diff", "--cached", "--find-renames", "HEAD"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def verdict(tmp_path: Path, before, after, config: GuardConfig | None = None):
    return check_diff(git_diff(tmp_path, before, after), config or GuardConfig())


PY_TEST = (
    "import pytest\n\n\ndef test_one():\n    assert f() == 1\n\n\ndef test_two():\n    assert g()\n"
)


def test_honest_fix_passes_with_stats(tmp_path):
    v = verdict(
        tmp_path,
        {"src/app.py": "def f():\n    return 2\n", "tests/test_app.py": PY_TEST},
        {"src/app.py": "def f():\n    return 1\n", "src/new.py": "X = 1\n"},
    )
    assert v.ok, v.reasons
    assert (v.files_changed, v.lines_added, v.lines_removed) == (2, 2, 1)


def test_empty_diff_passes():
    v = check_diff("", GuardConfig())
    assert v.ok and v.files_changed == 0


def test_too_many_lines_rejected_and_limit_inclusive(tmp_path):
    before = {"a.py": ""}
    exact = verdict(tmp_path / "ok", before, {"a.py": "x = 1\n" * 10}, GuardConfig(10, 10))
    assert exact.ok
    over = verdict(tmp_path / "no", before, {"a.py": "x = 1\n" * 11}, GuardConfig(10, 10))
    assert not over.ok
    assert "changes 11 lines" in over.reasons[0] and "limit is 10" in over.reasons[0]
    assert "Largest: a.py (+11/-0)" in over.reasons[0]


def test_too_many_files_rejected(tmp_path):
    after = {f"m{i}.py": "x = 1\n" for i in range(4)}
    assert verdict(tmp_path / "ok", {}, after, GuardConfig(max_files=4)).ok
    v = verdict(tmp_path / "no", {}, after, GuardConfig(max_files=3))
    assert any("touches 4 files (m0.py, m1.py, m2.py, m3.py)" in r for r in v.reasons)


def test_workflow_edit_forbidden_by_default(tmp_path):
    v = verdict(
        tmp_path,
        {".github/workflows/ci.yml": "on: push\n"},
        {".github/workflows/ci.yml": "on: [push]\n"},
    )
    assert not v.ok
    assert ".github/workflows/ci.yml" in v.reasons[0] and ".github/workflows/**" in v.reasons[0]


def test_other_github_files_allowed(tmp_path):
    v = verdict(tmp_path, {".github/CODEOWNERS": "* @a\n"}, {".github/CODEOWNERS": "* @b\n"})
    assert v.ok, v.reasons


def test_renaming_into_forbidden_path_rejected(tmp_path):
    body = "".join(f"line {i}\n" for i in range(30))
    v = verdict(
        tmp_path,
        {"docs/x.yml": body},
        {"docs/x.yml": None, "vendor/lib/x.yml": body},
        GuardConfig(forbidden_paths=("vendor/**",)),
    )
    assert any("vendor/lib/x.yml" in r and "vendor/**" in r for r in v.reasons)


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        (".github/workflows/ci.yml", ".github/workflows/**", True),
        (".github/workflows/sub/x.yml", ".github/workflows/**", True),
        (".github/dependabot.yml", ".github/workflows/**", False),
        ("a/b/secrets.env", "secrets.env", True),
        ("pkg/migrations/0001.sql", "**/migrations/*.sql", True),
        ("migrations/0001.sql", "**/migrations/*.sql", True),
        ("pkg/migrations/x/0001.sql", "**/migrations/*.sql", False),
        ("vendor/x.go", "vendor/", True),
        ("src/vendor.go", "vendor/", False),
    ],
)
def test_glob_matching(path, pattern, expected):
    assert matches_glob(path, pattern) is expected


@pytest.mark.parametrize(
    "path",
    [
        "tests/test_a.py",
        "pkg/test_a.py",
        "pkg/a_test.py",
        "tests/conftest.py",
        "cmd/a_test.go",
        "src/a.test.ts",
        "src/a.test.tsx",
        "web/a.test.mjs",
        "src/a.spec.js",
        "src/__tests__/a.ts",
        "crate/tests/integration.rs",
        "src/test/java/FooTest.java",
        "spec/models/user_spec.rb",
    ],
)
def test_test_files_recognised(path):
    assert is_test_path(path)


@pytest.mark.parametrize("path", ["src/app.py", "src/contest.py", "latest.ts", "attestation.go"])
def test_non_test_files_not_recognised(path):
    assert not is_test_path(path)


def test_deleting_a_test_file_rejected(tmp_path):
    v = verdict(tmp_path, {"tests/test_app.py": PY_TEST, "a.py": ""}, {"tests/test_app.py": None})
    assert any("Deleted the test file tests/test_app.py" in r for r in v.reasons)


def test_deleting_a_source_file_allowed(tmp_path):
    v = verdict(tmp_path, {"src/old.py": "X = 1\n", "a.py": ""}, {"src/old.py": None})
    assert v.ok, v.reasons


def test_renaming_a_test_file_rejected(tmp_path):
    v = verdict(
        tmp_path,
        {"tests/test_app.py": PY_TEST},
        {"tests/test_app.py": None, "tests/app_disabled.py": PY_TEST},
    )
    assert any("Renamed the test file tests/test_app.py" in r for r in v.reasons)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("tests/test_app.py", "@pytest.mark.skip(reason='later')"),
        ("tests/test_app.py", "@pytest.mark.skipif(True, reason='x')"),
        ("tests/test_app.py", "@pytest.mark.xfail"),
        ("tests/test_app.py", "    pytest.skip('flaky')"),
        ("tests/test_app.py", "@unittest.skip('x')"),
        ("web/a.test.ts", "it.skip('works', () => {})"),
        ("web/a.test.ts", "describe.skip('suite', () => {})"),
        ("web/a.test.ts", "test.skip('works', () => {})"),
        ("web/a.test.ts", "it.only('works', () => {})"),
        ("web/a.test.ts", "xit('works', () => {})"),
        ("web/a.test.ts", "xdescribe('suite', () => {})"),
        ("pkg/a_test.go", '\tt.Skip("later")'),
        ("tests/it.rs", "#[ignore]"),
        ("pyproject.toml", 'addopts = "--deselect tests/test_app.py::test_one"'),
    ],
)
def test_newly_skipped_tests_rejected(tmp_path, path, line):
    v = verdict(tmp_path, {path: "// base\n"}, {path: f"// base\n{line}\n"})
    assert not v.ok
    assert f"{path}:2" in v.reasons[0]
    assert "skip" in v.reasons[0] or "focused" in v.reasons[0]


def test_existing_skip_moved_is_not_new(tmp_path):
    before = "@pytest.mark.skip(reason='x')\ndef test_a():\n    pass\n"
    after = "import os\n\n\n    @pytest.mark.skip(reason='x')\ndef test_a():\n    pass\n"
    v = verdict(tmp_path, {"tests/test_a.py": before}, {"tests/test_a.py": after})
    assert v.ok, v.reasons


def test_fit_in_application_code_is_not_a_focused_test(tmp_path):
    v = verdict(tmp_path, {"ml/train.py": "m = 1\n"}, {"ml/train.py": "m = 1\nmodel.fit(x)\n"})
    assert v.ok, v.reasons


def test_removed_test_function_rejected(tmp_path):
    v = verdict(
        tmp_path,
        {"tests/test_app.py": PY_TEST},
        {"tests/test_app.py": "import pytest\n\n\ndef test_one():\n    assert f() == 1\n"},
    )
    assert len(v.reasons) == 1
    assert "tests/test_app.py" in v.reasons[0] and "test_two" in v.reasons[0]


def test_rewritten_test_function_allowed(tmp_path):
    after = PY_TEST.replace("assert g()", "assert g() is True")
    v = verdict(tmp_path, {"tests/test_app.py": PY_TEST}, {"tests/test_app.py": after})
    assert v.ok, v.reasons


def test_test_moved_between_files_allowed(tmp_path):
    v = verdict(
        tmp_path,
        {"tests/test_a.py": PY_TEST, "tests/test_b.py": "import pytest\n"},
        {
            "tests/test_a.py": "import pytest\n\n\ndef test_one():\n    assert f() == 1\n",
            "tests/test_b.py": "import pytest\n\n\ndef test_two():\n    assert g()\n",
        },
    )
    assert v.ok, v.reasons


def test_removed_js_test_rejected(tmp_path):
    before = "it('adds', () => {\n  expect(1).toBe(1)\n})\ntest(\"subtracts\", () => {})\n"
    v = verdict(tmp_path, {"a.test.ts": before}, {"a.test.ts": "it('adds', () => {\n})\n"})
    assert any('test("subtracts"' in r for r in v.reasons)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("src/a.py", "x = f()  # noqa: E501"),
        ("src/a.py", "x = f()  # type: ignore[arg-type]"),
        ("src/a.py", "x = f()  # pyright: ignore"),
        ("src/a.py", "x = f()  # pylint: disable=unused"),
        ("src/a.py", "# fmt: off"),
        ("src/a.ts", "// eslint-disable-next-line no-console"),
        ("src/a.ts", "// @ts-ignore"),
        ("src/a.ts", "// @ts-expect-error"),
        ("src/a.ts", "// @ts-nocheck"),
        ("src/a.ts", "// biome-ignore lint: x"),
        ("src/a.ts", "// prettier-ignore"),
        ("src/lib.rs", "#[allow(dead_code)]"),
        ("main.go", "x := f() //nolint"),
    ],
)
def test_new_suppressions_rejected(tmp_path, path, line):
    v = verdict(tmp_path, {path: "base\n"}, {path: f"base\n{line}\n"})
    assert not v.ok
    assert f"{path}:2" in v.reasons[0] and "suppression" in v.reasons[0]


def test_removing_a_suppression_allowed(tmp_path):
    v = verdict(tmp_path, {"a.py": "x = f()  # noqa\n"}, {"a.py": "x = f()\n"})
    assert v.ok, v.reasons


def test_loosening_lint_config_rejected(tmp_path):
    v = verdict(
        tmp_path,
        {"pyproject.toml": "[tool.ruff.lint]\nselect = ['E']\n"},
        {"pyproject.toml": "[tool.ruff.lint]\nselect = ['E']\nignore = ['E501']\n"},
    )
    assert any("pyproject.toml:3" in r and "lint" in r for r in v.reasons)


def test_continue_on_error_rejected_anywhere(tmp_path):
    config = GuardConfig(forbidden_paths=())
    v = verdict(
        tmp_path,
        {"ci/steps.yml": "steps:\n  - run: make\n"},
        {"ci/steps.yml": "steps:\n  - run: make\n    continue-on-error: true\n"},
        config,
    )
    assert any("continue-on-error" in r and "ci/steps.yml:3" in r for r in v.reasons)


def test_swallowed_failure_in_ci_config_rejected(tmp_path):
    v = verdict(
        tmp_path, {"Makefile": "test:\n\tpytest\n"}, {"Makefile": "test:\n\tpytest || true\n"}
    )
    assert any("Makefile:2" in r and "swallows" in r for r in v.reasons)


@pytest.mark.parametrize(
    ("path", "before", "after"),
    [
        ("pyproject.toml", "[report]\nfail_under = 90\n", "[report]\nfail_under = 80\n"),
        ("setup.cfg", "[x]\nopts = --cov-fail-under=85\n", "[x]\nopts = --cov-fail-under=70\n"),
        ("jest.config.js", "global: {\n  branches: 80,\n", "global: {\n  branches: 60,\n"),
        ("vitest.config.ts", "thresholds: {\n  lines: 90,\n", "thresholds: {\n  lines: 89.5,\n"),
    ],
)
def test_lowered_coverage_threshold_rejected(tmp_path, path, before, after):
    v = verdict(tmp_path, {path: before}, {path: after})
    assert any("lowers the coverage threshold" in r and f"{path}:2" in r for r in v.reasons)


def test_raised_coverage_threshold_allowed(tmp_path):
    v = verdict(
        tmp_path,
        {"pyproject.toml": "[tool.coverage.report]\nfail_under = 80\n"},
        {"pyproject.toml": "[tool.coverage.report]\nfail_under = 85\n"},
    )
    assert v.ok, v.reasons


def test_removed_coverage_threshold_rejected(tmp_path):
    v = verdict(
        tmp_path,
        {".coveragerc": "[report]\nfail_under = 80\nshow_missing = true\n"},
        {".coveragerc": "[report]\nshow_missing = true\n"},
    )
    assert any("removes the coverage threshold" in r for r in v.reasons)


@pytest.mark.parametrize(
    ("path", "before", "after"),
    [
        (".github/ci.yml", "    timeout-minutes: 10\n", "    timeout-minutes: 30\n"),
        ("jest.config.js", "  testTimeout: 5000,\n", "  testTimeout: 60000,\n"),
        ("pytest.ini", "timeout = 30\n", "timeout = 300\n"),
        ("package.json", '"test": "mocha --timeout 2000"\n', '"test": "mocha --timeout 10000"\n'),
        ("Makefile", "\tgo test -timeout 60s ./...\n", "\tgo test -timeout 5m ./...\n"),
    ],
)
def test_raised_timeouts_rejected(tmp_path, path, before, after):
    v = verdict(
        tmp_path, {path: "x\n" + before}, {path: "x\n" + after}, GuardConfig(forbidden_paths=())
    )
    assert any("raises the timeout" in r and f"{path}:2" in r for r in v.reasons), v.reasons


def test_new_jest_timeout_above_default_rejected(tmp_path):
    v = verdict(
        tmp_path,
        {"src/a.test.ts": "it('x', () => {})\n"},
        {"src/a.test.ts": "jest.setTimeout(30000)\nit('x', () => {})\n"},
    )
    assert any("src/a.test.ts:1" in r and "above its default" in r for r in v.reasons)


def test_lowered_timeout_and_app_timeouts_allowed(tmp_path):
    v = verdict(
        tmp_path,
        {"pytest.ini": "timeout = 300\n", "src/client.py": "TIMEOUT = 5\n"},
        {"pytest.ini": "timeout = 60\n", "src/client.py": "TIMEOUT = 50\nr = get(u, timeout=60)\n"},
    )
    assert v.ok, v.reasons


def test_symlinks_rejected(tmp_path):
    diff = (
        "diff --git a/link b/link\nnew file mode 120000\nindex 0000000..3594e94\n"
        "--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n"
    )
    v = check_diff(diff, GuardConfig())
    assert v.reasons == ("link is a symbolic link; the fix must not add or change symlinks.",)


def test_parser_handles_spaces_quoting_binary_and_line_numbers(tmp_path):
    (tmp_path / "r").mkdir()
    diff = git_diff(
        tmp_path / "r",
        {"dir with space/a b.py": "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "café.py": "a\n"},
        {"dir with space/a b.py": "1\n2\n3\n4\n5\n6\nseven\n8\n9\n", "café.py": "b\n"},
    )
    (tmp_path / "r" / "img.bin").write_bytes(b"\x00\x01\x02")
    files = {f.path: f for f in parse_diff(diff)}
    assert set(files) == {"dir with space/a b.py", "café.py"}
    spaced = files["dir with space/a b.py"]
    assert [(ln.number, ln.text) for ln in spaced.added] == [(7, "seven")]
    assert [(ln.number, ln.text) for ln in spaced.removed] == [(7, "7")]

    binary = git_diff(tmp_path / "b", {"img.bin": ""}, {"img.bin": "\x00\x01"})
    (parsed,) = parse_diff(binary)
    assert parsed.binary and parsed.path == "img.bin"


def test_removed_line_that_looks_like_a_header_is_a_removed_line():
    diff = (
        "diff --git a/notes.md b/notes.md\n--- a/notes.md\n+++ b/notes.md\n"
        "@@ -1,2 +1,1 @@\n--- a/fake\n keep\n"
    )
    (fd,) = parse_diff(diff)
    assert [ln.text for ln in fd.removed] == ["-- a/fake"]
    assert fd.path == "notes.md"
