"""The commands a fixing agent may run, derived in code from the config and the diagnosis.

The built-in agent never types a command: it asks to run a check by name, and
the only names are the ones built here.  ``verify`` is the repository's own
command (its config, read from the default branch).  ``narrow`` re-runs just
what failed, rebuilt from the diagnosis's key lines with strict patterns (a
pytest node id, a file path, a Go or Rust test name) so nothing an attacker
wrote into a log can become shell syntax; the values are quoted as well.
Pure: text in, checks out.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from app.diagnosis.model import Category, Diagnosis

# A relative source path: no leading '/', no '..' segment, ordinary characters only.
_PATH = r"(?!/)(?!.*(?:^|/)\.\.(?:/|$))[\w][\w./-]{0,200}"
# A whole whitespace-delimited token: a truncated or embedded id is not run.
_PYTEST_NODE = re.compile(rf"(?<!\S)({_PATH}\.py::[\w\[\]./:-]{{1,200}})(?!\S)")
_GO_TEST = re.compile(r"--- FAIL: (Test\w{1,100})")
_RUST_TEST = re.compile(r"^test ([\w:]{1,200}) \.\.\. FAILED", re.M)
_SAFE_PATH = re.compile(rf"^{_PATH}$")
MAX_TARGETS = 5


@dataclass(frozen=True)
class Check:
    """One command the agent may ask for, by ``name``; ``command`` runs in the sandbox."""

    name: str
    command: str
    description: str


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    output_tail: str


def offered_checks(verify: str | None, diagnosis: Diagnosis) -> tuple[Check, ...]:
    """The checks this attempt offers: the narrowed re-run first, then ``verify``."""
    checks: list[Check] = []
    narrow = narrowed_command(diagnosis)
    if narrow is not None:
        checks.append(
            Check("narrow", narrow, f"re-run only what failed: `{narrow}` (fast; run it first)")
        )
    if verify:
        checks.append(Check("verify", verify, f"the repository's own check: `{verify}`"))
    return tuple(checks)


def narrowed_command(diagnosis: Diagnosis) -> str | None:
    """A command re-running just the failing tests or files, or None when none is certain."""
    tool = (diagnosis.tool or "").lower()
    texts = [k.text for k in diagnosis.key_lines] + [diagnosis.excerpt]
    files = _files(diagnosis)
    if tool == "pytest" or (diagnosis.category is Category.TEST and _found(_PYTEST_NODE, texts)):
        nodes = _found(_PYTEST_NODE, texts)
        if nodes:
            return _join(["python3", "-m", "pytest", "-x", "-q", *nodes])
        py = [f for f in files if f.endswith(".py")]
        return _join(["python3", "-m", "pytest", "-x", "-q", *py]) if py else None
    if tool == "go" or tool == "go test":
        names = _found(_GO_TEST, texts)
        if names:
            return _join(["go", "test", "./...", "-run", "^(" + "|".join(names) + ")$"])
        return None
    if tool in ("cargo", "cargo test"):
        names = _found(_RUST_TEST, texts)
        return _join(["cargo", "test", names[0]]) if len(names) == 1 else None
    per_file = {
        "ruff": ["ruff", "check"],
        "flake8": ["flake8"],
        "mypy": ["mypy"],
        "pyright": ["pyright"],
        "eslint": ["npx", "--no-install", "eslint"],
        "jest": ["npx", "--no-install", "jest"],
        "vitest": ["npx", "--no-install", "vitest", "run"],
    }
    if tool in per_file and files:
        return _join([*per_file[tool], *files])
    return None


def _files(diagnosis: Diagnosis) -> list[str]:
    found: list[str] = []
    for key_line in diagnosis.key_lines:
        name = (key_line.file or "").removeprefix("./")
        if name and _SAFE_PATH.match(name) and name not in found:
            found.append(name)
    return found[:MAX_TARGETS]


def _found(pattern: re.Pattern[str], texts: list[str]) -> list[str]:
    found: list[str] = []
    for text in texts:
        for match in pattern.finditer(text):
            value = match.group(1)
            if value not in found:
                found.append(value)
    return found[:MAX_TARGETS]


def _join(argv: list[str]) -> str:
    return " ".join(shlex.quote(arg) for arg in argv)
