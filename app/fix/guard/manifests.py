"""Manifests that mix dependencies with configuration: only the dependencies may change.

A missing dependency is an honest fix (``pyproject.toml``'s ``dependencies``,
``package.json``'s ``devDependencies``, ``Cargo.toml``'s ``[dependencies]``,
``go.mod``'s ``require``).  Everything else in these files configures how CI
builds, lints and tests (``[tool.pytest.ini_options]``, ``"scripts"``,
``[lints]``, ``replace``), so each changed key outside the dependency tables
is a violation naming the key and its line.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import yaml

from app.fix.guard.verdict import Violation, violation

_ADVICE = "fix the code instead of how CI builds, lints or tests it"

_PYPROJECT_ALLOWED = (
    "project.dependencies",
    "project.optional-dependencies",
    "dependency-groups",
    "tool.poetry.dependencies",
    "tool.poetry.dev-dependencies",
    "tool.poetry.group.*.dependencies",
    "tool.pdm.dev-dependencies",
    "tool.uv.dev-dependencies",
)
_CARGO_ALLOWED = (
    "dependencies",
    "dev-dependencies",
    "build-dependencies",
    "target.*.dependencies",
    "target.*.dev-dependencies",
    "target.*.build-dependencies",
    "workspace.dependencies",
)
_SETUP_CFG_ALLOWED = ("options.install_requires", "options.extras_require")
_PACKAGE_JSON_ALLOWED = (
    "dependencies",
    "devDependencies",
    "peerDependencies",
    "optionalDependencies",
)
_TEST_TOOLS = re.compile(r"pytest|coverage|tox|nox|hypothesis|jest|vitest|mocha|nyc|c8|ava|test")
_LINT_TOOLS = re.compile(
    r"ruff|mypy|black|isort|flake8|pylint|pyright|pyre|bandit|codespell|docformatter|pydocstyle"
    r"|pycodestyle|eslint|prettier|stylelint|lint|clippy|rustfmt|semistandard|standard|xo"
)
# A dependency that resolves to a path on disk can replace the real library with a stub.
_LOCAL_SPEC = re.compile(r"^\s*(file:|link:|portal:|\.{0,2}/)")


def _rule_for(key: str) -> str:
    if key.startswith("scripts"):
        return "ci-script"
    if _TEST_TOOLS.search(key) or key.startswith(("test", "[[test", "lib.test", "bench")):
        return "test-config"
    if _LINT_TOOLS.search(key):
        return "lint-config"
    return "build-config"


def _differences(before: Any, after: Any, prefix: str, allowed: tuple[str, ...]) -> list[str]:
    """Dotted keys whose values differ, outside the ``allowed`` subtrees."""
    if any(fnmatch.fnmatchcase(prefix, pattern) for pattern in allowed):
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(before.keys() | after.keys(), key=str):
            child = f"{prefix}.{key}" if prefix else str(key)
            old, new = before.get(key), after.get(key)
            if (key not in before or key not in after) and not isinstance(old or new, dict):
                if not any(fnmatch.fnmatchcase(child, pattern) for pattern in allowed):
                    out.append(child)
            else:
                # A new or removed table is compared with an empty one, so a dependency
                # table inside it (``[target."cfg(unix)".dependencies]``) stays allowed.
                old = old if key in before else {}
                new = new if key in after else {}
                out.extend(_differences(old, new, child, allowed))
        return out
    return [] if before == after else [prefix or "(whole file)"]


def _line_of(text: str, key: str) -> int | None:
    """The line where ``key`` (dotted) is declared: a table header, or its last part."""
    parts = key.split(".")
    for size in range(len(parts), 0, -1):
        header = re.escape(".".join(parts[:size]))
        match = re.search(rf"^\s*\[\[?\s*{header}\s*\]\]?\s*$", text, re.MULTILINE)
        if match:
            return text.count("\n", 0, match.start()) + 1
    last = re.escape(parts[-1])
    match = re.search(rf"^\s*[\"']?{last}[\"']?\s*[=:]", text, re.MULTILINE)
    if match:
        return text.count("\n", 0, match.start()) + 1
    return None


def _load_toml(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def _load_json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _load_setup_cfg(text: str) -> dict[str, Any]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return {section: dict(parser[section]) for section in parser.sections()}


def _load_go_mod(text: str) -> dict[str, Any]:
    """go.mod as ``{directive: {entry: True}}``; ``require`` entries keyed by module path."""
    out: dict[str, Any] = {}
    block: str | None = None
    for raw in text.split("\n"):
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = None
                continue
            directive, entry = block, line
        else:
            directive, _, entry = line.partition(" ")
            entry = entry.strip()
            if entry == "(":
                block = directive
                continue
        out.setdefault(directive, {})[" ".join(entry.split())] = True
    return out


_Loader = Callable[[str], dict[str, Any]]
_FORMATS: dict[str, tuple[_Loader, tuple[str, ...]]] = {
    "pyproject.toml": (_load_toml, _PYPROJECT_ALLOWED),
    "Cargo.toml": (_load_toml, _CARGO_ALLOWED),
    "package.json": (_load_json, _PACKAGE_JSON_ALLOWED),
    "setup.cfg": (_load_setup_cfg, _SETUP_CFG_ALLOWED),
    "go.mod": (_load_go_mod, ("require",)),
    "Pipfile": (_load_toml, ("packages", "dev-packages")),
}


def _local_dependencies(path: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """package.json dependencies newly pointing at a path on disk."""
    if PurePosixPath(path).name != "package.json":
        return []
    found = []
    for table in _PACKAGE_JSON_ALLOWED:
        old, new = before.get(table) or {}, after.get(table) or {}
        if not isinstance(new, dict):
            continue
        for name, spec in new.items():
            if isinstance(spec, str) and _LOCAL_SPEC.match(spec) and old.get(name) != spec:
                found.append(f"{table}.{name}")
    return found


def check_manifest(path: str, before: str | None, after: str | None) -> list[Violation]:
    """Violations for keys changed outside the dependency tables of a manifest."""
    loader, allowed = _FORMATS[PurePosixPath(path).name]
    try:
        old = loader(before) if before is not None else {}
    except (ValueError, configparser.Error):
        old = None
    try:
        new = loader(after) if after is not None else {}
    except (ValueError, configparser.Error) as exc:
        first = str(exc).split("\n")[0][:200]
        return [
            violation(
                "build-config",
                path,
                None,
                f"cannot be parsed after the change ({first})",
                "keep the file valid and change only its dependency entries",
            )
        ]
    if old is None:
        # Unreadable before: nothing can be compared, so nothing may change.
        return [
            violation(
                "build-config",
                path,
                None,
                "was unreadable before the change, so no change to it can be judged",
                _ADVICE,
            )
        ]
    text = after if after is not None else before or ""
    out = []
    for key in _differences(old, new, "", allowed):
        rule = _rule_for(key)
        what = "the script" if rule == "ci-script" else "the setting"
        out.append(
            violation(
                rule,
                path,
                _line_of(text, key),
                f"changes {what} `{key}`, which decides how CI builds, lints or tests "
                "(only dependency entries may change)",
                _ADVICE,
            )
        )
    for key in _local_dependencies(path, old, new):
        out.append(
            violation(
                "build-config",
                path,
                _line_of(text, key),
                f"points the dependency `{key}` at a path on disk, which can replace the real "
                "library",
                "depend on a published version",
            )
        )
    return out


def is_manifest(path: str) -> bool:
    return PurePosixPath(path).name in _FORMATS


_ANCHOR = re.compile(r"(^|[\s:\[{,-])&[^\s]+", re.MULTILINE)
_MEANING_LIMIT = 256 * 1024


def _load_yaml(text: str) -> Any:
    # Anchors let a small file expand into a huge graph whose comparison never ends.
    if _ANCHOR.search(text):
        raise ValueError("YAML anchors are not compared")
    return yaml.safe_load(text)


_MEANING: dict[str, Callable[[str], Any]] = {
    ".json": json.loads,
    ".toml": tomllib.loads,
    ".yml": _load_yaml,
    ".yaml": _load_yaml,
    ".ini": _load_setup_cfg,
    ".cfg": _load_setup_cfg,
}


def same_meaning(path: str, before: str | None, after: str | None) -> bool:
    """True when a data file changed only in formatting or comments (a formatter's output).

    Only for formats read as data (JSON, TOML, YAML, INI); a Makefile or a script
    whose whitespace changed may well behave differently.
    """
    load = _MEANING.get(PurePosixPath(path).suffix.lower())
    if load is None or before is None or after is None:
        return False
    if len(before) > _MEANING_LIMIT or len(after) > _MEANING_LIMIT:
        return False
    try:
        return bool(load(before) == load(after))
    except (ValueError, configparser.Error, yaml.YAMLError, RecursionError):
        return False
