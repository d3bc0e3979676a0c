"""The guard's rules, one by one: each cheat refused with a sentence naming file, line and rule,
and the honest change of the same shape accepted."""

from __future__ import annotations

import pytest

from app.config.model import GuardConfig
from app.config.schema import parse_repo_config
from app.core.errors import ConfigError
from app.fix.guard import FileState, is_test_path, matches_glob
from tests.guard_support import judge, rules

PY_TEST = (
    "import pytest\n\n\ndef test_one():\n    assert f() == 1\n\n\ndef test_two():\n    assert g()\n"
)


def test_honest_fix_passes_with_stats():
    v = judge(
        {"src/app.py": "def f():\n    return 2\n", "tests/test_app.py": PY_TEST},
        {"src/app.py": "def f():\n    return 1\n", "src/new.py": "X = 1\n"},
    )
    assert v.ok, v.reasons
    assert (v.files_changed, v.lines_added, v.lines_removed) == (2, 2, 1)


def test_no_change_passes():
    v = judge({"a.py": "x = 1\n"}, {})
    assert v.ok and v.files_changed == 0


def test_every_reason_names_file_line_and_rule():
    skipped = PY_TEST.replace("def test_two", "@pytest.mark.skip\ndef test_two")
    v = judge({"tests/test_app.py": PY_TEST}, {"tests/test_app.py": skipped})
    (item,) = v.violations
    assert (item.rule, item.path, item.line) == ("test-skip", "tests/test_app.py", 8)
    assert item.message.startswith("tests/test_app.py:8 ")
    assert item.message.endswith("(rule: test-skip).")
    assert v.reasons == (item.message,)


def test_too_many_lines_rejected_and_limit_inclusive():
    exact = judge({"a.py": ""}, {"a.py": "x = 1\n" * 10}, GuardConfig(10, 10))
    assert exact.ok
    over = judge({"a.py": ""}, {"a.py": "x = 1\n" * 11}, GuardConfig(10, 10))
    assert rules(over) == {"size-lines"}
    assert "touches 11 lines" in over.reasons[0] and "limit is 10" in over.reasons[0]
    assert "Largest: a.py (+11/-0)" in over.reasons[0]


def test_too_many_files_rejected():
    after = {f"m{i}.py": "x = 1\n" for i in range(4)}
    assert judge({}, after, GuardConfig(max_files=4)).ok
    v = judge({}, after, GuardConfig(max_files=3))
    assert any("touches 4 files (m0.py, m1.py, m2.py, m3.py)" in r for r in v.reasons)


def test_workflow_edit_forbidden_even_when_allowed():
    config = GuardConfig(allow_paths=(".github/**",))
    v = judge(
        {".github/workflows/ci.yml": "on: push\n"},
        {".github/workflows/ci.yml": "on: [push]\n"},
        config,
    )
    assert rules(v) == {"forbidden-path"}
    assert ".github/workflows/**" in v.reasons[0]


def test_app_config_cannot_be_allowed():
    config = GuardConfig(allow_paths=("**",))
    v = judge({}, {".github/ci-fix-loop.yml": "guard:\n  allow_test_edits: true\n"}, config)
    assert rules(v) == {"forbidden-path"}


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        (".github/CODEOWNERS", "ci-config"),
        (".github/actions/setup/action.yml", "ci-config"),
        ("CODEOWNERS", "repo-metadata"),
        ("docs/CODEOWNERS", "repo-metadata"),
        (".gitattributes", "repo-metadata"),
        (".gitmodules", "repo-metadata"),
        (".gitignore", "repo-metadata"),
        ("pytest.ini", "test-config"),
        ("tox.ini", "test-config"),
        (".coveragerc", "test-config"),
        ("jest.config.js", "test-config"),
        ("vitest.config.ts", "test-config"),
        ("eslint.config.js", "lint-config"),
        (".eslintrc.json", "lint-config"),
        ("tsconfig.json", "lint-config"),
        ("mypy.ini", "lint-config"),
        (".golangci.yml", "lint-config"),
        ("clippy.toml", "lint-config"),
        ("Makefile", "build-config"),
        ("build.rs", "build-config"),
        ("scripts/test.sh", "ci-script"),
        ("tools/run.sh", "ci-script"),
    ],
)
def test_what_ci_runs_is_refused_by_default_and_allowable(path, rule):
    v = judge({path: "a = 1\n"}, {path: "a = 2\n"})
    assert rule in rules(v), v.reasons
    allowed = judge({path: "a = 1\n"}, {path: "a = 2\n"}, GuardConfig(allow_paths=(path,)))
    assert allowed.ok, allowed.reasons


def test_a_script_the_workflow_runs_is_refused():
    before = {
        ".github/workflows/ci.yml": "jobs:\n  t:\n    steps:\n"
        "      - run: python tools/check_docs.py\n",
        "tools/check_docs.py": "import sys\nsys.exit(check())\n",
    }
    v = judge(before, {"tools/check_docs.py": "import sys\nsys.exit(0)\n"})
    assert rules(v) == {"ci-script"}


@pytest.mark.parametrize(
    ("path", "before", "after", "key"),
    [
        (
            "pyproject.toml",
            "[tool.pytest.ini_options]\naddopts = '-q'\n",
            "[tool.pytest.ini_options]\naddopts = '-q -k \"not test_x\"'\n",
            "tool.pytest.ini_options.addopts",
        ),
        (
            "package.json",
            '{"scripts": {"test": "jest"}}\n',
            '{"scripts": {"test": "exit 0"}}\n',
            "scripts.test",
        ),
        (
            "Cargo.toml",
            "[package]\nname = 'a'\n",
            "[package]\nname = 'a'\n\n[lints.rust]\nwarnings = 'allow'\n",
            "lints",
        ),
        (
            "go.mod",
            "module m\n\ngo 1.22\n",
            "module m\n\ngo 1.22\n\nreplace x => ./fake\n",
            "replace",
        ),
        (
            "setup.cfg",
            "[flake8]\nmax-line-length = 100\n",
            "[flake8]\nmax-line-length = 200\n",
            "flake8.max-line-length",
        ),
    ],
)
def test_manifest_settings_refused(path, before, after, key):
    v = judge({path: before}, {path: after})
    assert not v.ok
    assert any(f"`{key}" in r for r in v.reasons), v.reasons


@pytest.mark.parametrize(
    ("path", "before", "after"),
    [
        (
            "pyproject.toml",
            "[project]\nname = 'a'\ndependencies = []\n",
            "[project]\nname = 'a'\ndependencies = ['requests>=2']\n",
        ),
        (
            "package.json",
            '{"name": "a", "dependencies": {}}\n',
            '{"name": "a", "dependencies": {"lodash": "^4.17.21"}}\n',
        ),
        (
            "Cargo.toml",
            "[package]\nname = 'a'\n\n[dependencies]\n",
            "[package]\nname = 'a'\n\n[dependencies]\nserde = '1'\n",
        ),
        (
            "go.mod",
            "module m\n\nrequire a.b/c v1.0.0\n",
            "module m\n\nrequire (\n\ta.b/c v1.0.0\n\tx.y/z v1.2.3\n)\n",
        ),
        ("requirements.txt", "flask\n", "flask\nrequests==2.32.0\n"),
    ],
)
def test_adding_a_dependency_is_allowed(path, before, after):
    v = judge({path: before}, {path: after})
    assert v.ok, v.reasons


def test_local_path_dependency_refused():
    v = judge(
        {"package.json": '{"dependencies": {"left-pad": "^1.3.0"}}\n'},
        {"package.json": '{"dependencies": {"left-pad": "file:./stub"}}\n'},
    )
    assert rules(v) == {"build-config"}


@pytest.mark.parametrize(
    ("state", "rule"),
    [
        (FileState(b"../../etc/passwd", "120000"), "symlink"),
        (FileState(b"", "160000"), "submodule"),
        (FileState(b"\x89PNG\r\n\x1a\n\x00\x00", "100644"), "binary"),
        (FileState(b"print(1)\n", "100755"), "mode-change"),
    ],
)
def test_links_submodules_binaries_and_executables_refused(state, rule):
    v = judge({}, {"src/thing": state})
    assert rules(v) == {rule}


def test_mode_change_refused():
    v = judge({"src/run.py": "print(1)\n"}, {"src/run.py": FileState(b"print(1)\n", "100755")})
    assert rules(v) == {"mode-change"}
    assert "100644 to 100755" in v.reasons[0]


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
    ["tests/test_a.py", "pkg/test_a.py", "pkg/a_test.py", "tests/conftest.py", "cmd/a_test.go",
     "src/a.test.ts", "src/a.spec.js", "src/__tests__/a.ts", "crate/tests/integration.rs",
     "src/test/java/FooTest.java", "spec/models/user_spec.rb"],
)  # fmt: skip
def test_test_files_recognised(path):
    assert is_test_path(path)


@pytest.mark.parametrize("path", ["src/app.py", "src/contest.py", "latest.ts", "attestation.go"])
def test_non_test_files_not_recognised(path):
    assert not is_test_path(path)


def test_removed_test_rejected_and_moved_test_allowed():
    removed = judge(
        {"tests/test_app.py": PY_TEST},
        {"tests/test_app.py": "import pytest\n\n\ndef test_one():\n    assert f() == 1\n"},
    )
    assert rules(removed) == {"test-removed"}
    assert "test_two" in removed.reasons[0] and "tests/test_app.py:8" in removed.reasons[0]
    moved = judge(
        {"tests/test_a.py": PY_TEST, "tests/test_b.py": "import pytest\n"},
        {
            "tests/test_a.py": "import pytest\n\n\ndef test_one():\n    assert f() == 1\n",
            "tests/test_b.py": "import pytest\n\n\ndef test_two():\n    assert g()\n",
        },
    )
    assert moved.ok, moved.reasons
    assert "test `test_two` moved from tests/test_a.py to tests/test_b.py" in moved.test_changes


def test_test_moved_into_a_file_nobody_collects_is_removed():
    v = judge(
        {"tests/test_app.py": PY_TEST, "README.md": "# app\n"},
        {
            "tests/test_app.py": "import pytest\n\n\ndef test_one():\n    assert f() == 1\n",
            "README.md": "# app\n\n```python\ndef test_two():\n    assert g()\n```\n",
        },
    )
    assert rules(v) == {"test-removed"}


def test_strengthened_test_allowed_and_listed():
    after = PY_TEST.replace("assert g()", "assert g()\n    assert g() is True")
    v = judge({"tests/test_app.py": PY_TEST}, {"tests/test_app.py": after})
    assert v.ok, v.reasons
    assert v.test_changes == ("tests/test_app.py: test `test_two` changed",)


def test_allow_test_edits_lifts_expectation_changes_but_not_skips():
    config = GuardConfig(allow_test_edits=True)
    changed = PY_TEST.replace("== 1", "== 2")
    assert judge({"tests/test_app.py": PY_TEST}, {"tests/test_app.py": changed}, config).ok
    assert not judge({"tests/test_app.py": PY_TEST}, {"tests/test_app.py": changed}).ok
    skipped = PY_TEST.replace("def test_one", "@pytest.mark.skip\ndef test_one")
    v = judge({"tests/test_app.py": PY_TEST}, {"tests/test_app.py": skipped}, config)
    assert rules(v) == {"test-skip"}


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("src/a.py", "x = f()  # noqa: E501"),
        ("src/a.py", "# ruff: noqa"),
        ("src/a.py", "# flake8: noqa"),
        ("src/a.py", "# mypy: ignore-errors"),
        ("src/a.py", "x = f()  # type: ignore[arg-type]"),
        ("src/a.py", "x = f()  # pyright: ignore"),
        ("src/a.py", "x = f()  # pylint: disable=unused"),
        ("src/a.py", "# fmt: off"),
        ("src/a.ts", "/* eslint-disable */"),
        ("src/a.ts", "// eslint-disable-next-line no-console"),
        ("src/a.ts", "// @ts-ignore"),
        ("src/a.ts", "// @ts-nocheck"),
        ("src/a.ts", "// biome-ignore lint: x"),
        ("src/lib.rs", "#![allow(clippy::all)]"),
        ("src/lib.rs", "#[allow(dead_code)]"),
        ("main.go", "x := f() //nolint"),
    ],
)
def test_new_suppressions_rejected(path, line):
    v = judge({path: "base\n"}, {path: f"base\n{line}\n"})
    assert "suppression" in rules(v)
    assert any(r.startswith(f"{path}:2 ") for r in v.reasons)


def test_removing_a_suppression_allowed_and_moving_one_is_not_new():
    assert judge({"a.py": "x = f()  # noqa\n"}, {"a.py": "x = f()\n"}).ok
    moved = judge({"a.py": "a = 1\nx = f()  # noqa\n"}, {"a.py": "x = f()  # noqa\na = 1\n"})
    assert moved.ok, moved.reasons


def test_raised_test_timeout_rejected():
    v = judge(
        {"src/a.test.ts": "it('x', () => {\n  expect(f()).toBe(1)\n})\n"},
        {"src/a.test.ts": "jest.setTimeout(30000)\nit('x', () => {\n  expect(f()).toBe(1)\n})\n"},
    )
    assert "timeout" in rules(v)


def test_deleting_a_source_file_allowed_and_a_test_file_not():
    assert judge({"src/old.py": "X = 1\n", "a.py": ""}, {"src/old.py": None}).ok
    v = judge({"tests/test_app.py": PY_TEST}, {"tests/test_app.py": None})
    assert rules(v) == {"test-removed"}


def test_config_reads_allow_paths_and_allow_test_edits():
    config = parse_repo_config(
        {"guard": {"allow_paths": ["scripts/gen.sh"], "allow_test_edits": True}}, source="t"
    )
    assert config.guard.allow_paths == ("scripts/gen.sh",)
    assert config.guard.allow_test_edits is True
    assert parse_repo_config(None, source="t").guard.allow_test_edits is False


@pytest.mark.parametrize("pattern", [".github/workflows/**", ".github/workflows/ci.yml",
                                     ".github/ci-fix-loop.yml"])  # fmt: skip
def test_config_refuses_allowing_workflows_or_its_own_file(pattern):
    with pytest.raises(ConfigError) as caught:
        parse_repo_config({"guard": {"allow_paths": [pattern]}}, source="t")
    assert "guard.allow_paths" in str(caught.value)


def test_a_broad_allow_pattern_still_never_covers_workflows():
    config = GuardConfig(allow_paths=("**", "*"))
    v = judge({".github/workflows/ci.yml": "a\n"}, {".github/workflows/ci.yml": "b\n"}, config)
    assert rules(v) == {"forbidden-path"}


def test_code_nested_too_deeply_to_judge_is_refused():
    deep = "it('x', () => {\n  expect(f(" + "[" * 3000 + "]" * 3000 + ")).toBe(1);\n});\n"
    v = judge({"src/a.test.js": "x = 1;\n"}, {"src/a.test.js": deep})
    assert rules(v) == {"unparseable"}


def test_typescript_any_is_found_by_the_parser_not_in_comments():
    before = "export function f(a: number): number {\n  return a;\n}\n"
    comment = judge({"src/a.ts": before}, {"src/a.ts": "// Note: any caller\n" + before})
    assert comment.ok, comment.reasons
    cast = judge(
        {"src/a.ts": before}, {"src/a.ts": before.replace("return a;", "return a as any;")}
    )
    assert rules(cast) == {"suppression"}


@pytest.mark.parametrize(
    ("path", "before", "after"),
    [
        ("Cargo.toml", "[package]\nname = 'a'\n",
         "[package]\nname = 'a'\n\n[target.'cfg(unix)'.dependencies]\nlibc = '0.2'\n"),
        ("Pipfile", "[packages]\nflask = '*'\n", "[packages]\nflask = '*'\nrequests = '*'\n"),
    ],
)  # fmt: skip
def test_new_dependency_tables_are_allowed(path, before, after):
    v = judge({path: before}, {path: after})
    assert v.ok, v.reasons


def test_a_formatter_run_over_configuration_is_no_change():
    before = '{"compilerOptions":{"strict":true}}'
    formatted = '{\n  "compilerOptions": {\n    "strict": true\n  }\n}\n'
    assert judge({"tsconfig.json": before}, {"tsconfig.json": formatted}).ok
    loosened = '{"compilerOptions":{"strict":false}}'
    assert rules(judge({"tsconfig.json": before}, {"tsconfig.json": loosened})) == {"lint-config"}


def test_yaml_anchors_are_never_taken_as_unchanged():
    before = "linters:\n  enable: [a]\n"
    after = "base: &b [a]\nlinters:\n  enable: *b\n"
    assert rules(judge({".golangci.yml": before}, {".golangci.yml": after})) == {"lint-config"}
