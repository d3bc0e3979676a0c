"""Validate a repository's `.github/ci-fix-loop.yml` and turn it into a `RepoConfig`.

The schema is data (``SCHEMA`` below): one small spec per key, each able to say
what it accepts.  That one description drives both the checks and the wording
of every problem, so a maintainer always reads the key, the bad value and what
would have been accepted, e.g.::

    guard.max_files: "ten" is not valid: expected an integer from 1 to 100

All problems are collected before anything is raised, so one push can fix them all.

A repository config can only *narrow* what the operator allows, never widen it:

* ``.github/workflows/**`` is always forbidden to the fixer, whatever
  ``guard.forbidden_paths`` says (a repo's list is added to it);
* ``fixer.command`` (the agent CLI, which runs with the operator's model API
  key) is refused unless the operator opted in (``allow_fixer_command``); a repo
  may still pick a fixer *kind* and set ``autofix``/``verify`` commands, which
  run in the sandboxed workspace without secrets;
* budgets are upper bounds the engine combines with the operator's global caps
  (the lower one wins); numeric ranges here are hard limits.
"""

from __future__ import annotations

import difflib
import json
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import yaml

from app.config.model import (
    ALWAYS_FORBIDDEN,
    DEFAULT_MODELS,
    GIVE_UP_ACTIONS,
    PULL_REQUEST_MODES,
    BudgetConfig,
    EscalationConfig,
    FixerConfig,
    GuardConfig,
    ModelConfig,
    RepoConfig,
)
from app.core.errors import ConfigError
from app.diagnosis.model import Category

EXTENDS_KEY = "_extends"


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file, worded for the maintainer who must fix it."""

    key_path: str
    value: Any
    message: str
    allowed: str
    line: int | None = None  # 1-based, where the key (or the file's problem) is
    column: int | None = None

    @property
    def where(self) -> str:
        """``line 4, column 3``, or empty when the position is unknown."""
        return f"line {self.line}, column {self.column}" if self.line else ""

    def __str__(self) -> str:
        text = f"{self.key_path}: {self.message}"
        if self.allowed:
            text += f": expected {self.allowed}"
        return f"{text} ({self.where})" if self.where and self.where not in text else text


_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def show_value(value: Any, limit: int = 60) -> str:
    """A short, unambiguous rendering of a YAML value (strings keep their quotes).

    Only as much of the value is encoded as is shown: YAML aliases can make a
    few hundred bytes of file stand for billions of nested items.
    """
    text = ""
    try:
        for chunk in _JSON.iterencode(value):
            text += chunk
            if len(text) > limit:
                break
    except ValueError:  # circular structures from YAML anchors
        text = reprlib.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _invalid(path: str, value: Any, allowed: str) -> ConfigProblem:
    return ConfigProblem(path, value, f"{show_value(value)} is not valid", allowed)


class Spec(Protocol):
    """One key's rule: what it accepts, in words and in code."""

    @property
    def allowed(self) -> str: ...

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None: ...

    def json_schema(self) -> dict[str, Any]:
        """The same rule as JSON Schema (draft 2020-12), for editors and `config schema`."""


@dataclass(frozen=True)
class Bool:
    @property
    def allowed(self) -> str:
        return "true or false"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        if not isinstance(value, bool):
            problems.append(_invalid(path, value, self.allowed))


@dataclass(frozen=True)
class Int:
    low: int
    high: int

    @property
    def allowed(self) -> str:
        return f"an integer from {self.low} to {self.high}"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        # bool is an int subclass in Python; `max_files: yes` must not mean 1.
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or not self.low <= value <= self.high:
            problems.append(_invalid(path, value, self.allowed))


@dataclass(frozen=True)
class Number:
    """A positive number with an upper bound (money, minutes)."""

    high: float
    unit: str

    @property
    def allowed(self) -> str:
        return f"a number of {self.unit} greater than 0 and at most {self.high:g}"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "number", "exclusiveMinimum": 0, "maximum": self.high}

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not 0 < value <= self.high:
            problems.append(_invalid(path, value, self.allowed))


@dataclass(frozen=True)
class Text:
    """A non-empty string, optionally restricted by a pattern (described in words)."""

    description: str
    pattern: str | None = None
    max_length: int = 1000

    @property
    def allowed(self) -> str:
        return self.description

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "string",
            "minLength": 1,
            "maxLength": self.max_length,
            "description": self.description,
        }
        if self.pattern is not None:
            schema["pattern"] = f"^(?:{self.pattern})$"
        return schema

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        ok = isinstance(value, str) and len(value.strip()) > 0 and len(value) <= self.max_length
        if ok and self.pattern is not None:
            ok = re.fullmatch(self.pattern, value) is not None
        if not ok:
            problems.append(_invalid(path, value, self.allowed))


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.values)

    def json_schema(self) -> dict[str, Any]:
        return {"enum": list(self.values)}

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        if value not in self.values:
            problems.append(_invalid(path, value, self.allowed))


@dataclass(frozen=True)
class Mode:
    """A ``Choice`` whose first value is "off": YAML 1.1 reads a bare ``off`` as false."""

    values: tuple[str, ...]

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.values)

    def json_schema(self) -> dict[str, Any]:
        return {"enum": [*self.values, False]}

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        if value is not False and value not in self.values:
            problems.append(_invalid(path, value, self.allowed))

    def read(self, value: Any, default: str) -> str:
        """The mode named by ``value`` (already checked); false is the first, "off"."""
        if value is None:
            return default
        return self.values[0] if value is False else str(value)


PULL_REQUESTS = Mode(PULL_REQUEST_MODES)


@dataclass(frozen=True)
class Nullable:
    """``null`` means "use the default"; anything else must satisfy ``spec``."""

    spec: Spec

    @property
    def allowed(self) -> str:
        return f"{self.spec.allowed}, or null"

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [self.spec.json_schema(), {"type": "null"}]}

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        if value is not None:
            self.spec.check(value, path, problems)


@dataclass(frozen=True)
class ListOf:
    item: Spec
    max_items: int

    @property
    def allowed(self) -> str:
        return f"a list of at most {self.max_items} items, each {self.item.allowed}"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "maxItems": self.max_items, "items": self.item.json_schema()}

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        if not isinstance(value, list) or len(value) > self.max_items:
            problems.append(_invalid(path, value, self.allowed))
            return
        for index, item in enumerate(value):
            self.item.check(item, f"{path}[{index}]", problems)


@dataclass(frozen=True)
class Section:
    """A mapping with known keys; unknown keys are errors with a "did you mean"."""

    fields: Mapping[str, Spec]

    @property
    def allowed(self) -> str:
        return "a mapping with keys " + ", ".join(self.fields)

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {key: spec.json_schema() for key, spec in self.fields.items()},
            "additionalProperties": False,
        }

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        if not isinstance(value, dict):
            problems.append(_invalid(path or "(top level)", value, self.allowed))
            return
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            spec = self.fields.get(key) if isinstance(key, str) else None
            if spec is None:
                problems.append(_unknown_key(key, key_path, item, tuple(self.fields)))
            else:
                spec.check(item, key_path, problems)


@dataclass(frozen=True)
class Either:
    """A string shorthand for a section (``verify: make test``)."""

    shorthand: Spec
    section: Section

    @property
    def allowed(self) -> str:
        return f"{self.shorthand.allowed}, or {self.section.allowed}"

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [self.shorthand.json_schema(), self.section.json_schema()]}

    def check(self, value: Any, path: str, problems: list[ConfigProblem]) -> None:
        if isinstance(value, str):
            self.shorthand.check(value, path, problems)
        elif isinstance(value, dict):
            self.section.check(value, path, problems)
        else:
            problems.append(_invalid(path, value, self.allowed))


def _unknown_key(key: Any, key_path: str, value: Any, known: tuple[str, ...]) -> ConfigProblem:
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return ConfigProblem(key_path, value, f"unknown key{hint}", "one of " + ", ".join(known))


COMMAND = Text("a non-empty command line (at most 1000 characters)")
MODEL = Text(
    "a model name such as claude-sonnet-4-5 (letters, digits, '.', '_', ':', '/', '-')",
    pattern=r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}",
)
MINUTES = Number(high=120, unit="minutes")

SCHEMA = Section(
    {
        EXTENDS_KEY: Text(
            "another repository: 'repo', 'owner/repo' or '.github'",
            pattern=r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?",
        ),
        "enabled": Bool(),
        "branches": ListOf(
            Text(
                "a branch name or glob without spaces, such as main or release/*",
                pattern=r"[^\s~^:\[\\]+",
                max_length=255,
            ),
            max_items=50,
        ),
        "max_iterations": Int(1, 20),
        "budget": Section(
            {
                "per_loop_usd": Number(high=1000, unit="USD"),
                "per_day_usd": Number(high=10000, unit="USD"),
            }
        ),
        "models": Section(
            {
                **{category.value: MODEL for category in Category},
                "stronger": Nullable(MODEL),
                "stronger_from_iteration": Int(1, 20),
            }
        ),
        "fixer": Section(
            {
                "kind": Choice(("auto", "agent", "command", "api", "none")),
                "command": Nullable(COMMAND),
                "provider": Choice(("anthropic", "openai")),
                "timeout_minutes": MINUTES,
            }
        ),
        "autofix": ListOf(COMMAND, max_items=20),
        "verify": Nullable(
            Either(COMMAND, Section({"command": COMMAND, "timeout_minutes": MINUTES}))
        ),
        "guard": Section(
            {
                "max_changed_lines": Int(1, 5000),
                "max_files": Int(1, 100),
                "forbidden_paths": ListOf(
                    Text(
                        "a glob such as 'docs/**' (negation with '!' is not supported)",
                        pattern=r"[^!\s][^\s]*",
                    ),
                    max_items=100,
                ),
                # Workflows and this file can never be allowed; the guard enforces that
                # for any pattern, this refuses the patterns that plainly try.
                "allow_paths": ListOf(
                    Text(
                        "a glob such as 'scripts/gen.sh' (never .github/workflows/** nor "
                        ".github/ci-fix-loop.yml)",
                        pattern=r"(?!/?\.github/workflows)(?!/?\.github/ci-fix-loop\.yml$)"
                        r"[^!\s][^\s]*",
                    ),
                    max_items=100,
                ),
                "allow_test_edits": Bool(),
            }
        ),
        "rerun_flaky_tests": Bool(),
        "escalation": Section(
            {
                "labels": ListOf(Text("a label name of at most 50 characters", max_length=50), 20),
                "assignees": ListOf(
                    Text(
                        "a GitHub login such as octocat",
                        pattern=r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})",
                    ),
                    max_items=10,
                ),
            }
        ),
        "dry_run": Bool(),
        "pull_requests": PULL_REQUESTS,
        "on_give_up": Choice(GIVE_UP_ACTIONS),
    }
)


SCHEMA_ID = "https://github.com/ci-fix-loop/ci-fix-loop/schema/ci-fix-loop.schema.json"


def json_schema() -> dict[str, Any]:
    """`.github/ci-fix-loop.yml` as JSON Schema, generated from ``SCHEMA`` (one source of truth).

    The copy committed at ``schema/ci-fix-loop.schema.json`` is what editors read
    (``# yaml-language-server: $schema=...``); a test keeps it equal to this.
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "ci-fix-loop repository configuration (.github/ci-fix-loop.yml)",
        "description": "Every key is optional; README.md lists the defaults.",
        "anyOf": [SCHEMA.json_schema(), {"type": "null"}],
    }


def locate(problems: list[ConfigProblem], text: str) -> list[ConfigProblem]:
    """The problems with the line and column of the key each one names, where ``text`` has it.

    Positions come from the YAML parser's node marks; a problem whose key is not
    in this text (it came from an ``_extends`` base) keeps no position.  The
    text is composed, never constructed, so aliases are not expanded.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return problems
    out = []
    for problem in problems:
        node = _find(root, problem.key_path) if root is not None else None
        if node is None or problem.line is not None:
            out.append(problem)
            continue
        mark = node.start_mark
        out.append(replace(problem, line=mark.line + 1, column=mark.column + 1))
    return out


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _find(root: yaml.Node, key_path: str) -> yaml.Node | None:
    """The node a problem's ``a.b[2]`` path names: the key node for mapping entries."""
    node: yaml.Node | None = root
    found: yaml.Node | None = None
    for match in _PATH_PART.finditer(key_path):
        key, index = match.group(1), match.group(2)
        if key is not None and isinstance(node, yaml.MappingNode):
            pair = next((kv for kv in node.value if getattr(kv[0], "value", None) == key), None)
            if pair is None:
                return None  # not in this file: it came from an _extends base
            found, node = pair[0], pair[1]
        elif index is not None and isinstance(node, yaml.SequenceNode):
            position = int(index)
            if position >= len(node.value):
                return None
            found = node = node.value[position]
        elif key == "(top level)":
            return root
        else:
            return None
    return found


def load_yaml(text: str, *, source: str) -> Any:
    """Parse YAML text; syntax errors become a `ConfigError` naming line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        reason = exc.problem or exc.context or "syntax error"
        problem = ConfigProblem(
            "(file)",
            None,
            f"YAML syntax error at {where}: {reason}",
            "",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        )
        raise ConfigError([problem], source=source) from exc
    except yaml.YAMLError as exc:
        problem = ConfigProblem("(file)", None, f"YAML error: {exc}", "")
        raise ConfigError([problem], source=source) from exc


def parse_repo_config(raw: Any, *, source: str, allow_fixer_command: bool = False) -> RepoConfig:
    """Validate a YAML-loaded config and build the `RepoConfig` it describes.

    ``raw`` is what ``yaml.safe_load`` returned: ``None`` (an empty file) means
    all defaults.  ``allow_fixer_command`` is the operator's opt-in to let a
    repository choose the agent command itself.
    """
    data = {} if raw is None else raw
    problems: list[ConfigProblem] = []
    SCHEMA.check(data, "", problems)
    if isinstance(data, dict):
        command = _get(data, "fixer", "command")
        if command is not None and not allow_fixer_command:
            problems.append(
                ConfigProblem(
                    "fixer.command",
                    command,
                    "is chosen by the app's operator, not by a repository: the agent"
                    " runs with the operator's model credentials (an operator can allow"
                    " it with ALLOW_REPO_FIXER_COMMANDS=1)",
                    "no fixer.command; choose fixer.kind "
                    "(auto, agent, command, api or none) instead",
                )
            )
    if problems:
        raise ConfigError(problems, source=source)
    return _build(data)


def _get(data: dict[str, Any], section: str, key: str) -> Any:
    value = data.get(section)
    return value.get(key) if isinstance(value, dict) else None


def _build(data: dict[str, Any]) -> RepoConfig:
    """Turn validated data into a `RepoConfig`; absent keys keep the documented defaults."""
    defaults = RepoConfig()
    budget = data.get("budget", {})
    models = data.get("models", {})
    fixer = data.get("fixer", {})
    guard = data.get("guard", {})
    escalation = data.get("escalation", {})
    verify = data.get("verify")
    verify_section = verify if isinstance(verify, dict) else {"command": verify}

    by_category: dict[str, str] = {
        **DEFAULT_MODELS,
        **{c.value: models[c] for c in Category if c in models},
    }
    stronger_from = models.get("stronger_from_iteration", defaults.models.stronger_from_iteration)
    extra_forbidden = tuple(guard.get("forbidden_paths", ()))

    return RepoConfig(
        enabled=data.get("enabled", defaults.enabled),
        branches=tuple(data.get("branches", defaults.branches)),
        max_iterations=data.get("max_iterations", defaults.max_iterations),
        budget=BudgetConfig(
            per_loop_usd=float(budget.get("per_loop_usd", defaults.budget.per_loop_usd)),
            per_day_usd=float(budget.get("per_day_usd", defaults.budget.per_day_usd)),
        ),
        models=ModelConfig(
            by_category=by_category,
            stronger=models.get("stronger"),
            stronger_from_iteration=stronger_from,
        ),
        fixer=FixerConfig(
            kind=fixer.get("kind", defaults.fixer.kind),
            command=fixer.get("command"),
            provider=fixer.get("provider", defaults.fixer.provider),
            timeout_s=_seconds(fixer.get("timeout_minutes"), defaults.fixer.timeout_s),
        ),
        autofix=tuple(data.get("autofix", defaults.autofix)),
        verify=verify_section.get("command"),
        verify_timeout_s=_seconds(verify_section.get("timeout_minutes"), defaults.verify_timeout_s),
        guard=GuardConfig(
            max_changed_lines=guard.get("max_changed_lines", defaults.guard.max_changed_lines),
            max_files=guard.get("max_files", defaults.guard.max_files),
            # A repo's list is added to, never replaces, the always-forbidden paths.
            forbidden_paths=tuple(dict.fromkeys(ALWAYS_FORBIDDEN + extra_forbidden)),
            allow_paths=tuple(guard.get("allow_paths", ())),
            allow_test_edits=guard.get("allow_test_edits", defaults.guard.allow_test_edits),
        ),
        rerun_flaky_tests=data.get("rerun_flaky_tests", defaults.rerun_flaky_tests),
        escalation=EscalationConfig(
            labels=tuple(escalation.get("labels", defaults.escalation.labels)),
            assignees=tuple(escalation.get("assignees", defaults.escalation.assignees)),
        ),
        dry_run=data.get("dry_run", defaults.dry_run),
        pull_requests=PULL_REQUESTS.read(data.get("pull_requests"), defaults.pull_requests),
        on_give_up=data.get("on_give_up", defaults.on_give_up),
    )


def _seconds(minutes: float | None, default_s: float) -> float:
    return default_s if minutes is None else float(minutes) * 60.0
