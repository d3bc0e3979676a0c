"""Rules on added lines: suppressions, swallowed failures, raised timeouts.

These shapes are the same in every language and need no parser: a comment
that silences a checker (``# noqa``, ``// @ts-nocheck``, ``#![allow(...)]``,
``//nolint``), ``continue-on-error``, ``|| true``, a test timeout raised.
Added lines that merely move an existing line (same text, re-indented) are not
new and are not judged again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import PurePosixPath

from app.fix.guard.diff import DiffLine
from app.fix.guard.paths import is_code, is_test_path
from app.fix.guard.verdict import Violation, violation

SUPPRESSIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), label)
    for p, label in (
        (r"#\s*(ruff|flake8)\s*:\s*noqa\b", "a file-level `# ruff/flake8: noqa`"),
        (r"#\s*noqa\b", "# noqa"),
        (r"#\s*type:\s*ignore\b", "# type: ignore"),
        (r"#\s*pyright:\s*(ignore|basic|reportGeneralTypeIssues\s*=\s*false)", "# pyright:"),
        (r"#\s*mypy:\s*(ignore-errors|disable-error-code|allow-|no-strict)", "a `# mypy:` switch"),
        (r"#\s*pyre-(ignore|fixme|unsafe)", "# pyre-ignore"),
        (r"#\s*pylint:\s*(disable|skip-file)", "# pylint: disable/skip-file"),
        (r"#\s*(isort|ruff:\s*isort)\s*:\s*(skip|off)", "# isort: skip"),
        (r"#\s*nosec\b", "# nosec"),
        (r"#\s*pragma:\s*no\s*(cover|branch)", "# pragma: no cover"),
        (r"#\s*fmt:\s*(off|skip)\b", "# fmt: off/skip"),
        (r"\b(eslint|oxlint)-(disable|enable)", "eslint-disable"),
        (r"/\*\s*eslint\s+[\w@/-]+\s*:", "an inline eslint rule change"),
        (r"/\*\s*(globals?|jshint|jscs)\s", "an inline linter directive"),
        (r"\btslint:disable", "tslint:disable"),
        (r"@ts-(ignore|expect-error|nocheck)\b", "a @ts- suppression"),
        (r"#!?\[\s*(allow|expect)\s*\(", "a Rust #[allow(...)] or #[expect(...)]"),
        (r"#!?\[\s*cfg_attr\s*\(.*\b(allow|expect)\s*\(", "a Rust cfg_attr(allow(...))"),
        (r"//\s*nolint\b", "//nolint"),
        (r"//\s*lint:(file-)?ignore\b", "//lint:ignore"),
        (r"//\s*#?nosec\b", "// #nosec"),
        (r"\bbiome-ignore\b", "biome-ignore"),
        (r"\bprettier-ignore\b", "prettier-ignore"),
        (r"\bdeno-lint-ignore", "deno-lint-ignore"),
        (r"\b(istanbul|c8|v8)\s+ignore\b", "a coverage ignore comment"),
        (r"\brubocop:disable\b", "rubocop:disable"),
        (r"\bswiftlint:disable\b", "swiftlint:disable"),
        (r"\bshellcheck\s+disable\b", "shellcheck disable"),
        (r"@SuppressWarnings\b", "@SuppressWarnings"),
    )
)
# A cast to Any silences mypy as surely as a comment does (TypeScript's ``any`` is
# found by the parser, so a comment that mentions "any" is not mistaken for one).
TYPE_ESCAPES: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = dict.fromkeys(
    (".py", ".pyi"), ((re.compile(r"\bcast\(\s*(typing\.)?Any\b"), "a cast to Any"),)
)

# Rust lint levels that make warnings errors; removing them loosens the build.
_LINT_LEVEL = re.compile(r"#!?\[\s*(deny|forbid|warn)\s*\(")
_CONTINUE_ON_ERROR = re.compile(r"continue-on-error", re.IGNORECASE)
_SWALLOWED = re.compile(r"\|\|\s*(?:true\b|exit\s+0\b|:(?!\w))|\bset \+e\b")

_NUMBER = r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|min)?\b"
_TIMEOUTS: tuple[tuple[str, re.Pattern[str], float | None], ...] = (
    # Known defaults (seconds) let a timeout added where none was be judged too.
    ("testTimeout", re.compile(r"\btestTimeout[\"']?\s*[:=]\s*" + _NUMBER), 5.0),
    ("hookTimeout", re.compile(r"\bhookTimeout[\"']?\s*[:=]\s*" + _NUMBER), 10.0),
    ("setTimeout", re.compile(r"\b(?:jest|vi)\.setTimeout\s*\(\s*" + _NUMBER), 5.0),
    ("this.timeout", re.compile(r"\bthis\.timeout\s*\(\s*" + _NUMBER), 2.0),
    (
        "pytest.mark.timeout",
        re.compile(r"\bmark\.timeout\s*\(\s*(?:timeout\s*=\s*)?" + _NUMBER),
        60.0,
    ),
    (
        "test timeout",
        re.compile(r"\b(?:it|test|describe)\s*\(.*,\s*" + _NUMBER + r"\s*\)\s*;?$"),
        5,
    ),
)
_MS_SETTINGS = frozenset(
    {"testTimeout", "hookTimeout", "setTimeout", "this.timeout", "test timeout"}
)


def fresh_lines(added: list[DiffLine], removed: list[DiffLine]) -> list[DiffLine]:
    """Added lines that are not merely a removed line moved or re-indented."""
    gone = Counter(line.text.strip() for line in removed)
    fresh = []
    for line in added:
        key = line.text.strip()
        if gone[key] > 0:
            gone[key] -= 1
        else:
            fresh.append(line)
    return fresh


def _seconds(name: str, value: str, unit: str | None) -> float:
    number = float(value)
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
    if unit in scale:
        return number * scale[unit]
    return number / 1000 if name in _MS_SETTINGS else number


def _timeouts(lines: Iterable[DiffLine]) -> dict[str, list[tuple[DiffLine, float, str]]]:
    found: dict[str, list[tuple[DiffLine, float, str]]] = {}
    for line in lines:
        for name, pattern, _ in _TIMEOUTS:
            match = pattern.search(line.text)
            if match:
                value = _seconds(name, match.group(1), match.group(2))
                found.setdefault(name, []).append((line, value, match.group(0).strip()))
                break
    return found


def line_rules(path: str, added: list[DiffLine], removed: list[DiffLine]) -> list[Violation]:
    """Suppressions, swallowed failures and raised test timeouts on the new lines of ``path``."""
    fresh = fresh_lines(added, removed)
    out: list[Violation] = []
    code = is_code(path)
    escapes = TYPE_ESCAPES.get(PurePosixPath(path).suffix.lower(), ())
    for line in fresh:
        for escape, label in escapes:
            if escape.search(line.text):
                out.append(
                    violation(
                        "suppression",
                        path,
                        line.number,
                        f"adds {label}, which silences the type checker",
                        "give the value its real type instead",
                    )
                )
                break
        if code:
            for pattern, label in SUPPRESSIONS:
                if pattern.search(line.text):
                    out.append(
                        violation(
                            "suppression",
                            path,
                            line.number,
                            f"adds the suppression {label}",
                            "fix the reported problem instead of silencing the checker",
                        )
                    )
                    break
        if _CONTINUE_ON_ERROR.search(line.text):
            out.append(
                violation(
                    "continue-on-error",
                    path,
                    line.number,
                    "adds `continue-on-error`",
                    "a failing step must keep failing the run",
                )
            )
        elif (is_test_path(path) or path.endswith((".yml", ".yaml"))) and _SWALLOWED.search(
            line.text
        ):
            out.append(
                violation(
                    "swallowed-failure",
                    path,
                    line.number,
                    "swallows a command's failure (`|| true`, `set +e`)",
                    "a failing check must keep failing",
                )
            )
    if code:
        kept = Counter(line.text.strip() for line in added)
        for line in removed:
            if _LINT_LEVEL.search(line.text) and not kept[line.text.strip()]:
                out.append(
                    violation(
                        "suppression",
                        path,
                        line.number,
                        f"removes the lint level `{line.text.strip()}`",
                        "keep the lint level and fix the warnings it reports",
                    )
                )
    if code and is_test_path(path):
        out.extend(_timeout_rules(path, fresh, removed))
    return out


def _timeout_rules(path: str, fresh: list[DiffLine], removed: list[DiffLine]) -> list[Violation]:
    before, after = _timeouts(removed), _timeouts(fresh)
    advice = "a slow or hanging test must be made faster, not given more time"
    out = []
    defaults = {name: default for name, _, default in _TIMEOUTS}
    for name, news in after.items():
        olds = before.get(name, [])
        for i, (line, seconds, raw) in enumerate(news):
            limit = olds[i][1] if i < len(olds) else defaults[name]
            if limit is not None and seconds > limit:
                out.append(
                    violation(
                        "timeout", path, line.number, f"raises a test timeout (`{raw}`)", advice
                    )
                )
    return out
