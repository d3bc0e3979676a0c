"""The diff guard: decides whether a fixer's change may be committed.

A fixing agent is rewarded for green CI, and the cheapest green is cheating:
skip the failing test, silence the linter, lower the coverage bar, let the job
"continue on error".  The guard reads the workspace diff (``git diff
--find-renames <base>``, never the agent's own account of what it did) and
rejects those shapes in code, so no prompt wording is load-bearing.

Every reason is a sentence naming the file (and line when known) that a
maintainer can read in the PR and the next iteration's prompt can act on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath

from app.config.model import GuardConfig


@dataclass(frozen=True)
class GuardVerdict:
    """Whether a diff may be committed, why not, and how big it is."""

    ok: bool
    reasons: tuple[str, ...]
    files_changed: int
    lines_added: int
    lines_removed: int


@dataclass(frozen=True)
class DiffLine:
    """One added or removed line; ``number`` is in the new file (added) or old file (removed)."""

    number: int
    text: str


@dataclass
class FileDiff:
    """What one ``diff --git`` section says about one file."""

    old_path: str | None
    new_path: str | None
    status: str = "modified"  # added | deleted | renamed | modified
    old_mode: str | None = None
    new_mode: str | None = None
    binary: bool = False
    added: list[DiffLine] = field(default_factory=list)
    removed: list[DiffLine] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The path a reader knows the file by: the new one, or the old one if deleted."""
        return self.new_path or self.old_path or "?"


# ── Parsing ──────────────────────────────────────────────────────────────────

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_C_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f"}


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual paths (``"a/caf\\303\\251.py"``)."""
    if not (len(path) >= 2 and path[0] == '"' and path[-1] == '"'):
        return path
    out = bytearray()
    body, i = path[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":  # git always writes three octal digits per byte
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out.extend(_C_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        out.extend(ch.encode())
        i += 1
    return out.decode("utf-8", errors="replace")


def _strip_prefix(path: str) -> str | None:
    path = _unquote(path.strip())
    if path == "/dev/null":
        return None
    return path[2:] if path[:2] in ("a/", "b/") else path


def _paths_from_git_line(rest: str) -> tuple[str | None, str | None]:
    """Split ``a/X b/Y`` from a ``diff --git`` line; exact for quoted or identical paths."""
    if rest.startswith('"'):
        end = rest.index('"', 1)
        while rest[end - 1] == "\\":
            end = rest.index('"', end + 1)
        return _strip_prefix(rest[: end + 1]), _strip_prefix(rest[end + 2 :])
    # Unquoted paths may contain spaces; when old and new are equal the split is unique.
    half = (len(rest) - 1) // 2
    if rest[half] == " " and rest[:half][2:] == rest[half + 1 :][2:]:
        return _strip_prefix(rest[:half]), _strip_prefix(rest[half + 1 :])
    old, _, new = rest.partition(" b/")
    return _strip_prefix(old), _strip_prefix("b/" + new)


def parse_diff(diff: str) -> list[FileDiff]:
    """Parse a unified git diff into per-file records of added and removed lines."""
    files: list[FileDiff] = []
    current: FileDiff | None = None
    old_no = new_no = 0
    old_left = new_left = 0
    for raw in diff.splitlines():
        if current is not None and (old_left > 0 or new_left > 0):
            tag, text = raw[:1], raw[1:]
            if tag == "+":
                current.added.append(DiffLine(new_no, text))
                new_no, new_left = new_no + 1, new_left - 1
                continue
            if tag == "-":
                current.removed.append(DiffLine(old_no, text))
                old_no, old_left = old_no + 1, old_left - 1
                continue
            if tag in (" ", ""):
                old_no, new_no = old_no + 1, new_no + 1
                old_left, new_left = old_left - 1, new_left - 1
                continue
            if tag == "\\":  # "\ No newline at end of file"
                continue
            old_left = new_left = 0  # malformed hunk: fall through to header parsing
        if raw.startswith("diff --git "):
            old, new = _paths_from_git_line(raw[len("diff --git ") :])
            current = FileDiff(old_path=old, new_path=new)
            files.append(current)
            continue
        if current is None:
            continue
        if raw.startswith("@@"):
            match = _HUNK.match(raw)
            if match:
                old_no, new_no = int(match[1]), int(match[3])
                old_left = int(match[2]) if match[2] is not None else 1
                new_left = int(match[4]) if match[4] is not None else 1
        elif raw.startswith("new file mode "):
            current.status, current.old_path = "added", None
            current.new_mode = raw.split()[-1]
        elif raw.startswith("deleted file mode "):
            current.status, current.new_path = "deleted", None
            current.old_mode = raw.split()[-1]
        elif raw.startswith("old mode "):
            current.old_mode = raw.split()[-1]
        elif raw.startswith("new mode "):
            current.new_mode = raw.split()[-1]
        elif raw.startswith("index ") and len(raw.split()) == 3:
            current.old_mode = current.new_mode = raw.split()[-1]
        elif raw.startswith(("rename from ", "copy from ")):
            current.old_path = _unquote(raw.split(" ", 2)[2])
            current.status = "renamed" if raw.startswith("rename") else "added"
        elif raw.startswith(("rename to ", "copy to ")):
            current.new_path = _unquote(raw.split(" ", 2)[2])
        elif raw.startswith("--- "):
            if current.status != "added":
                current.old_path = _strip_prefix(raw[4:].split("\t")[0]) or current.old_path
        elif raw.startswith("+++ "):
            if current.status != "deleted":
                current.new_path = _strip_prefix(raw[4:].split("\t")[0]) or current.new_path
        elif raw.startswith(("Binary files ", "GIT binary patch")):
            current.binary = True
    return files


# ── Path classification ─────────────────────────────────────────────────────

_TEST_DIRS = frozenset({"tests", "test", "__tests__", "spec", "specs", "testing", "e2e"})
_TEST_NAME = re.compile(
    r"""^(
        test_.+\.py | .+_test\.py | conftest\.py
      | .+_test\.go
      | .+\.(test|spec)\.[a-z]+
      | .+_spec\.rb | test_.+\.rb | .+_test\.rb
      | .+Tests?\.(java|kt|kts|scala|cs|swift|php)
    )$""",
    re.VERBOSE,
)

_CI_TEST_CONFIG_NAMES = re.compile(
    r"""^(
        pyproject\.toml | setup\.cfg | tox\.ini | pytest\.ini | \.coveragerc | noxfile\.py
      | package\.json | Makefile | justfile | Taskfile\.ya?ml | \.gitlab-ci\.yml
      | (jest|vitest|vite|karma|playwright|cypress)\.config\.[a-z]+ | \.mocharc\.[a-z]+
      | \.nycrc(\.[a-z]+)? | \.c8rc(\.[a-z]+)? | codecov\.ya?ml | \.codecov\.ya?ml
    )$""",
    re.VERBOSE,
)
_CI_DIRS = frozenset({".github", ".circleci", ".buildkite", "ci", ".ci"})

_LINT_CONFIG_NAMES = re.compile(
    r"""^(
        pyproject\.toml | setup\.cfg | tox\.ini | \.flake8 | \.?ruff\.toml | mypy\.ini
      | \.pylintrc | pylintrc | pyrightconfig\.json
      | \.eslintrc(\.[a-z]+)? | eslint\.config\.[a-z]+ | tsconfig(\..+)?\.json
      | biome\.jsonc? | \.oxlintrc\.json | \.golangci\.ya?ml | clippy\.toml | \.rubocop\.yml
    )$""",
    re.VERBOSE,
)


def is_test_path(path: str) -> bool:
    """True for files a test runner collects or that tests depend on, across ecosystems."""
    parts = PurePosixPath(path).parts
    if any(part in _TEST_DIRS for part in parts[:-1]):
        return True
    if "src" in parts and "test" in parts:  # Maven/Gradle src/test/...
        return True
    return bool(_TEST_NAME.match(parts[-1])) if parts else False


def is_ci_or_test_config(path: str) -> bool:
    """True for files that decide how CI and tests run (where timeouts and bars live)."""
    parts = PurePosixPath(path).parts
    if not parts:
        return False
    return (
        is_test_path(path) or parts[0] in _CI_DIRS or bool(_CI_TEST_CONFIG_NAMES.match(parts[-1]))
    )


def _is_lint_config(path: str) -> bool:
    return bool(_LINT_CONFIG_NAMES.match(PurePosixPath(path).name))


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: ``**`` spans directories, ``*`` and ``?`` stay within one.

    A pattern without a slash matches a file name anywhere, as in ``.gitignore``.
    """
    if "/" not in pattern:
        pattern = "**/" + pattern
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(r".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append(r"[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    # A directory pattern ("vendor/") forbids everything below it.
    return re.compile("".join(out) + (r".*" if pattern.endswith("/") else r"(?:/.*)?") + r"\Z")


def matches_glob(path: str, pattern: str) -> bool:
    return bool(_glob_regex(pattern.lstrip("/")).match(path))


# ── Line rules ───────────────────────────────────────────────────────────────

_SKIP_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), label)
    for p, label in (
        (r"pytest\.mark\.(skip|skipif|xfail)\b", "a pytest skip/xfail mark"),
        (r"\bpytest\.(skip|xfail|importorskip)\s*\(", "a pytest.skip/xfail call"),
        (r"@(unittest\.)?(skip|skipIf|skipUnless|expectedFailure)\b", "a unittest skip"),
        (r"\bunittest\.skip", "a unittest skip"),
        (r"\bself\.skipTest\s*\(", "a skipTest call"),
        (r"\b(it|describe|test|context|suite)\.(skip|todo|fixme)\b", "a skipped JS test"),
        (r"\.only\s*\(", "a focused test (.only), which skips all others"),
        (r"(?<![.\w])x(it|describe|test|context)\s*\(", "a skipped JS test (x-prefixed)"),
        (r"(?<![.\w])f(it|describe)\s*\(", "a focused JS test, which skips all others"),
        (r"\bt\.Skip(Now|f)?\s*\(", "a Go t.Skip"),
        (r"#\[ignore\b", "a Rust #[ignore]"),
        (r"@(Disabled|Ignore)\b", "a JUnit @Disabled/@Ignore"),
        (r"--deselect\b", "a pytest --deselect"),
    )
)

_SUPPRESSION_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), label)
    for p, label in (
        (r"#\s*noqa\b", "# noqa"),
        (r"#\s*type:\s*ignore\b", "# type: ignore"),
        (r"#\s*pyright:\s*(ignore|basic|strict=false)", "# pyright: ignore"),
        (r"#\s*mypy:\s*ignore-errors", "# mypy: ignore-errors"),
        (r"#\s*pylint:\s*disable", "# pylint: disable"),
        (r"#\s*nosec\b", "# nosec"),
        (r"#\s*pragma:\s*no\s*cover", "# pragma: no cover"),
        (r"#\s*fmt:\s*(off|skip)\b", "# fmt: off/skip"),
        (r"\b(eslint|oxlint)-disable", "eslint-disable"),
        (r"@ts-(ignore|expect-error|nocheck)\b", "a @ts- suppression"),
        (r"#!?\[allow\(", "a Rust #[allow(...)]"),
        (r"//\s*nolint\b", "//nolint"),
        (r"//\s*lint:ignore\b", "//lint:ignore"),
        (r"\bbiome-ignore\b", "biome-ignore"),
        (r"\bprettier-ignore\b", "prettier-ignore"),
        (r"\bdeno-lint-ignore\b", "deno-lint-ignore"),
        (r"\b(istanbul|c8|v8)\s+ignore\b", "a coverage ignore comment"),
        (r"\brubocop:disable\b", "rubocop:disable"),
        (r"\bswiftlint:disable\b", "swiftlint:disable"),
        (r"@SuppressWarnings\b", "@SuppressWarnings"),
    )
)

# In lint and type-checker configuration, these added lines loosen the checks.
_LOOSENED_LINT_CONFIG = re.compile(
    r"""(
        \b(extend-)?ignore\b | per-file-ignores | \bdisable\b | ["']off["'] | ignore_errors
      | ["']?(strict|noImplicitAny|strictNullChecks)["']?\s*[:=]\s*false | skipLibCheck
      | ignore_missing_imports | \bwarn_unused_ignores\s*=\s*false
    )""",
    re.VERBOSE | re.IGNORECASE,
)

_CONTINUE_ON_ERROR = re.compile(r"continue-on-error", re.IGNORECASE)
_SWALLOWED_FAILURE = re.compile(r"\|\|\s*(?:true\b|exit\s+0\b|:(?!\w))|\bset \+e\b")

# Each pattern's ``name`` group identifies a test; nameless markers identify by themselves.
_TEST_DEFINITIONS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^\s*(?:async\s+)?def\s+(?P<name>test\w*)\s*\("),
    re.compile(r"^\s*class\s+(?P<name>Test\w*)\b"),
    re.compile(r"(?<![.\w])(?P<name>(?:it|test)\s*\(\s*(['\"`]).+?\2)"),
    re.compile(r"^\s*func\s+(?P<name>Test\w+)\s*\("),
    re.compile(r"^\s*(?P<name>#\[(?:tokio::)?test)\b"),
    re.compile(r"^\s*(?P<name>@Test)\b"),
)

_NUMBER = r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|min)?\b"

# (setting, regex capturing value and unit); _COVERAGE_FILES says where they count.
_COVERAGE_SETTINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("--cov-fail-under", re.compile(r"--cov-fail-under[= ]\s*" + _NUMBER)),
    ("fail_under", re.compile(r"\bfail_under\b[\"']?\s*[=:]\s*" + _NUMBER)),
    ("fail-under", re.compile(r"\bfail-under\b[\"']?\s*[=:]\s*" + _NUMBER)),
    ("codecov target", re.compile(r"^\s*target\s*:\s*" + _NUMBER)),
    (
        "coverage threshold",
        re.compile(r"^\s*[\"']?(?:branches|lines|functions|statements)[\"']?\s*:\s*" + _NUMBER),
    ),
    ("--check-coverage", re.compile(r"--(?:lines|branches|functions|statements)[= ]\s*" + _NUMBER)),
)
_COVERAGE_FILES = re.compile(
    r"(jest|vitest|vite|karma)\.config\.|package\.json$|\.nycrc|\.c8rc|codecov\.ya?ml$"
    r"|pyproject\.toml$|setup\.cfg$|tox\.ini$|pytest\.ini$|\.coveragerc$|Makefile$|noxfile\.py$"
    r"|^\.github/|\.gitlab-ci\.yml$"
)

_TIMEOUT_SETTINGS: tuple[tuple[str, re.Pattern[str], float | None], ...] = (
    # Known defaults (seconds) let an added-where-absent timeout be judged too.
    ("timeout-minutes", re.compile(r"\btimeout-minutes\s*:\s*" + _NUMBER), 360 * 60),
    ("testTimeout", re.compile(r"\btestTimeout[\"']?\s*[:=]\s*" + _NUMBER), 5.0),
    ("hookTimeout", re.compile(r"\bhookTimeout[\"']?\s*[:=]\s*" + _NUMBER), 10.0),
    ("jest.setTimeout", re.compile(r"\b(?:jest|vi)\.setTimeout\s*\(\s*" + _NUMBER), 5.0),
    ("this.timeout", re.compile(r"\bthis\.timeout\s*\(\s*" + _NUMBER), 2.0),
    ("--timeout", re.compile(r"(?<![\w-])--?timeout[= ]\s*" + _NUMBER), None),
    ("pytest timeout", re.compile(r"^\s*timeout\s*=\s*" + _NUMBER), None),
    ("pytest.mark.timeout", re.compile(r"pytest\.mark\.timeout\s*\(\s*" + _NUMBER), None),
)
_TIMEOUT_DEFAULTS = {name: default for name, _, default in _TIMEOUT_SETTINGS}
_MS_SETTINGS = frozenset({"testTimeout", "hookTimeout", "jest.setTimeout", "this.timeout"})
_PYTEST_CONFIG = re.compile(r"(^|/)(pyproject\.toml|setup\.cfg|tox\.ini|pytest\.ini)$")


def _seconds(setting: str, value: str, unit: str | None) -> float:
    """Normalise a timeout to seconds so ``10m`` and ``600s`` compare."""
    number = float(value)
    if unit == "ms":
        return number / 1000
    if unit in ("m", "min"):
        return number * 60
    if unit == "h":
        return number * 3600
    if unit == "s":
        return number
    if setting in _MS_SETTINGS:
        return number / 1000
    if setting == "timeout-minutes":
        return number * 60
    return number


def _where(path: str, number: int | None) -> str:
    return f"{path}:{number}" if number else path


def _new_lines(fd: FileDiff) -> list[DiffLine]:
    """Added lines that are not merely a removed line moved or re-indented."""
    removed = Counter(line.text.strip() for line in fd.removed)
    fresh = []
    for line in fd.added:
        key = line.text.strip()
        if removed[key] > 0:
            removed[key] -= 1
        else:
            fresh.append(line)
    return fresh


def _forbidden(fd: FileDiff, patterns: Iterable[str]) -> list[str]:
    reasons = []
    for path in dict.fromkeys(p for p in (fd.old_path, fd.new_path) if p):
        hit = next((p for p in patterns if matches_glob(path, p)), None)
        if hit:
            reasons.append(
                f"{path} is under the forbidden path `{hit}`; the fix must not touch it "
                "(change the code or tests instead, or ask a maintainer to change it)."
            )
    return reasons


def _test_file_removal(fd: FileDiff) -> list[str]:
    if fd.status == "deleted" and fd.old_path and is_test_path(fd.old_path):
        return [
            f"Deleted the test file {fd.old_path}; tests must be fixed, not removed. "
            "Restore it and fix the code it tests."
        ]
    if fd.status == "renamed" and fd.old_path and is_test_path(fd.old_path):
        return [
            f"Renamed the test file {fd.old_path} to {fd.new_path}; a renamed test may no "
            "longer be collected. Keep it at its original path."
        ]
    return []


def _special_modes(fd: FileDiff) -> list[str]:
    """Symlinks and submodules can point outside the repository or pin foreign code."""
    if fd.status != "deleted" and "120000" in (fd.old_mode, fd.new_mode):
        return [f"{fd.path} is a symbolic link; the fix must not add or change symlinks."]
    if "160000" in (fd.old_mode, fd.new_mode):
        return [f"{fd.path} is a submodule; the fix must not add or move submodules."]
    return []


def _line_rules(fd: FileDiff, fresh: list[DiffLine]) -> list[str]:
    reasons = []
    path = fd.path
    ci_or_test, lint_config = is_ci_or_test_config(path), _is_lint_config(path)
    for line in fresh:
        for pattern, label in _SKIP_PATTERNS if ci_or_test else ():
            if pattern.search(line.text):
                reasons.append(
                    f"{_where(path, line.number)} adds {label}; do not skip or disable tests, "
                    "fix the code so the test passes."
                )
                break
        for pattern, label in _SUPPRESSION_PATTERNS:
            if pattern.search(line.text):
                reasons.append(
                    f"{_where(path, line.number)} adds the suppression `{label}`; fix the "
                    "reported problem instead of silencing the checker."
                )
                break
        if _CONTINUE_ON_ERROR.search(line.text):
            reasons.append(
                f"{_where(path, line.number)} adds `continue-on-error`; a failing step must "
                "keep failing the run."
            )
        elif ci_or_test and _SWALLOWED_FAILURE.search(line.text):
            reasons.append(
                f"{_where(path, line.number)} swallows a command's failure (`|| true`, "
                "`set +e`); a failing check must keep failing."
            )
        if lint_config and _LOOSENED_LINT_CONFIG.search(line.text):
            reasons.append(
                f"{_where(path, line.number)} loosens the lint or type-checker configuration; "
                "fix the reported code instead of changing the rules."
            )
    return reasons


Setting = tuple[DiffLine, float, str]  # the line, its value made comparable, as written


def _settings(
    lines: list[DiffLine], table: Iterable[tuple[str, re.Pattern[str]]], *, timeouts: bool
) -> dict[str, list[Setting]]:
    """Numeric settings found in ``lines``, by setting name, in order of appearance."""
    found: dict[str, list[Setting]] = {}
    for line in lines:
        for name, pattern in table:
            match = pattern.search(line.text)
            if match:
                value, unit = match.group(1), match.group(2)
                number = _seconds(name, value, unit) if timeouts else float(value)
                found.setdefault(name, []).append((line, number, value + (unit or "")))
                break
    return found


def _coverage_rules(fd: FileDiff) -> list[str]:
    path = fd.path
    if not _COVERAGE_FILES.search(path):
        return []
    before = _settings(fd.removed, _COVERAGE_SETTINGS, timeouts=False)
    after = _settings(fd.added, _COVERAGE_SETTINGS, timeouts=False)
    reasons = []
    for name, olds in before.items():
        news = after.get(name, [])
        for i, (old_line, old_value, old_raw) in enumerate(olds):
            if i >= len(news):
                reasons.append(
                    f"{_where(path, old_line.number)} removes the coverage threshold "
                    f"{name} = {old_raw}; keep the bar and add tests instead."
                )
                continue
            new_line, new_value, new_raw = news[i]
            if new_value < old_value:
                reasons.append(
                    f"{_where(path, new_line.number)} lowers the coverage threshold {name} "
                    f"from {old_raw} to {new_raw}; keep the bar and add tests instead."
                )
    return reasons


def _timeout_rules(fd: FileDiff) -> list[str]:
    path = fd.path
    if not is_ci_or_test_config(path):
        return []
    table = [
        (name, pattern)
        for name, pattern, _ in _TIMEOUT_SETTINGS
        if name != "pytest timeout" or _PYTEST_CONFIG.search(path)
    ]
    before = _settings(fd.removed, table, timeouts=True)
    after = _settings(fd.added, table, timeouts=True)
    advice = "a slow or hanging test must be made faster, not given more time."
    reasons = []
    for name in dict.fromkeys([*before, *after]):
        olds, news = before.get(name, []), after.get(name, [])
        for i, (new_line, new_s, new_raw) in enumerate(news):
            if i < len(olds):
                _, old_s, old_raw = olds[i]
                if new_s > old_s:
                    reasons.append(
                        f"{_where(path, new_line.number)} raises the timeout {name} from "
                        f"{old_raw} to {new_raw}; {advice}"
                    )
            elif (default := _TIMEOUT_DEFAULTS[name]) is not None and new_s > default:
                reasons.append(
                    f"{_where(path, new_line.number)} sets the timeout {name} to {new_raw}, "
                    f"above its default; {advice}"
                )
        for old_line, _, old_raw in olds[len(news) :]:
            reasons.append(
                f"{_where(path, old_line.number)} removes the timeout {name} = {old_raw}; {advice}"
            )
    return reasons


def _test_key(text: str) -> str | None:
    for pattern in _TEST_DEFINITIONS:
        match = pattern.search(text)
        if match:
            return re.sub(r"\s+", "", match["name"]) if "(" in match["name"] else match["name"]
    return None


def _removed_tests(files: list[FileDiff]) -> list[str]:
    """Test definitions removed without an equivalent added anywhere in the diff.

    Matching is by name across all files, so moving a test between files is allowed;
    nameless markers (``#[test]``, ``@Test``) are matched by count.
    """
    added = Counter(k for fd in files for line in fd.added if (k := _test_key(line.text)))
    reasons = []
    for fd in files:
        if fd.status == "deleted":
            continue  # the deleted-test-file rule already names it
        gone = []
        for line in fd.removed:
            key = _test_key(line.text)
            if key is None:
                continue
            if added[key] > 0:
                added[key] -= 1
            else:
                shown = f"{key})" if key.endswith(("'", '"', "`")) else key
                gone.append(f"{shown} (line {line.number})")

        if gone:
            reasons.append(
                f"{fd.path} removes the test(s) {', '.join(gone)} with no replacement; "
                "tests must be fixed, not deleted."
            )
    return reasons


def check_diff(diff: str, config: GuardConfig) -> GuardVerdict:
    """Judge a workspace diff against the repository's guard configuration."""
    files = parse_diff(diff)
    added = sum(len(fd.added) for fd in files)
    removed = sum(len(fd.removed) for fd in files)
    reasons: list[str] = []
    if added + removed > config.max_changed_lines:
        biggest = sorted(files, key=lambda fd: len(fd.added) + len(fd.removed), reverse=True)
        largest = ", ".join(
            f"{fd.path} (+{len(fd.added)}/-{len(fd.removed)})" for fd in biggest[:5]
        )
        reasons.append(
            f"The diff changes {added + removed} lines ({added} added, {removed} removed); "
            f"the limit is {config.max_changed_lines}. Largest: {largest}. "
            "Make a smaller, more focused fix."
        )
    if len(files) > config.max_files:
        paths = ", ".join(fd.path for fd in files[:20]) + (", ..." if len(files) > 20 else "")
        reasons.append(
            f"The diff touches {len(files)} files ({paths}); the limit is {config.max_files}. "
            "Change only the files the failure needs."
        )

    for fd in files:
        reasons.extend(_forbidden(fd, config.forbidden_paths))
        reasons.extend(_test_file_removal(fd))
        reasons.extend(_special_modes(fd))
        reasons.extend(_line_rules(fd, _new_lines(fd)))
        reasons.extend(_coverage_rules(fd))
        reasons.extend(_timeout_rules(fd))
    reasons.extend(_removed_tests(files))
    return GuardVerdict(
        ok=not reasons,
        reasons=tuple(dict.fromkeys(reasons)),
        files_changed=len(files),
        lines_added=added,
        lines_removed=removed,
    )
