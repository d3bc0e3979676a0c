"""Fetch a repository's effective config the way Probot apps do.

1. ``.github/ci-fix-loop.yml`` in the repository (at ``ref`` when given);
2. if absent, the same path in the owner's ``.github`` repository (org-wide default);
3. ``_extends: repo``, ``_extends: owner/repo`` or ``_extends: .github`` puts that
   repository's config underneath (mappings merged key by key, lists replaced),
   up to ``MAX_EXTENDS`` levels, with cycles reported rather than followed;
4. absent everywhere: all defaults.

Only "not found" (404) means absent; any other API error propagates, because
treating an outage as "no config" would silently re-enable a disabled repo.
Invalid config is *returned* (as problems), not raised, so the caller can tell
the repository on a check run which key to fix; meanwhile the app is disabled there.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import gidgethub
from gidgethub.abc import GitHubAPI

from app.config.model import CONFIG_PATH, RepoConfig
from app.config.schema import (
    EXTENDS_KEY,
    SCHEMA,
    ConfigProblem,
    load_yaml,
    locate,
    parse_repo_config,
    show_value,
)
from app.core.errors import ConfigError
from app.core.markdown import code_span

ORG_CONFIG_REPO = ".github"
MAX_EXTENDS = 3


@dataclass(frozen=True)
class ConfigLoad:
    """The effective config for a repository, where it came from, and what was wrong.

    When ``problems`` is non-empty, ``config`` is a disabled default config:
    nothing runs until the file is fixed.
    """

    config: RepoConfig
    source: str | None
    problems: list[ConfigProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _File:
    """One config file's text and where it was read from."""

    full_name: str
    text: str

    @property
    def source(self) -> str:
        return f"{self.full_name}:{CONFIG_PATH}"


async def load_repo_config(
    gh: GitHubAPI,
    *,
    owner: str,
    repo: str,
    ref: str | None = None,
    allow_fixer_command: bool = False,
) -> ConfigLoad:
    """Read, merge and validate the config that applies to ``owner/repo``."""
    file: _File | None = None
    try:
        file = await _fetch(gh, f"{owner}/{repo}", ref)
        if file is None and repo.lower() != ORG_CONFIG_REPO:
            file = await _fetch(gh, f"{owner}/{ORG_CONFIG_REPO}", None)
        if file is None:
            return ConfigLoad(config=RepoConfig(), source=None)
        raw, sources = await _resolve(gh, file)
        source = " extends ".join(sources)
        config = parse_repo_config(raw, source=source, allow_fixer_command=allow_fixer_command)
    except ConfigError as exc:
        problems = exc.problems
        if file is not None and exc.source.startswith(file.source):
            problems = locate(problems, file.text)  # line and column in the file people edit
        return ConfigLoad(config=RepoConfig(enabled=False), source=exc.source, problems=problems)
    return ConfigLoad(config=config, source=source)


async def _resolve(gh: GitHubAPI, file: _File) -> tuple[Any, list[str]]:
    """Follow ``_extends`` from ``file``; return the merged mapping and the chain of sources."""
    chain = [file]
    raw = load_yaml(file.text, source=file.source)
    layers = [raw]
    while isinstance(raw, dict) and EXTENDS_KEY in raw:
        target = _extends_target(raw[EXTENDS_KEY], chain)
        base = await _fetch(gh, target, None)
        if base is None:
            missing = ConfigProblem(
                EXTENDS_KEY,
                raw[EXTENDS_KEY],
                f"{show_value(raw[EXTENDS_KEY])} is not valid: {target} has no"
                f" readable {CONFIG_PATH}",
                "a repository this app can read that has that file",
            )
            raise ConfigError([missing], source=chain[-1].source)
        chain.append(base)
        raw = load_yaml(base.text, source=base.source)
        if raw is not None and not isinstance(raw, dict):
            # A base must be a mapping too; merging would otherwise drop it silently.
            wrong = ConfigProblem(
                "(top level)", raw, f"{show_value(raw)} is not valid", "a mapping"
            )
            raise ConfigError([wrong], source=base.source)
        layers.append(raw)
    merged: Any = None
    for layer in reversed(layers):
        merged = layer if merged is None else _deep_merge(merged, layer)
    if isinstance(merged, dict):
        merged.pop(EXTENDS_KEY, None)
    return merged, [item.source for item in chain]


def _extends_target(value: Any, chain: list[_File]) -> str:
    """The repository ``value`` names (``repo`` and ``.github`` are in the current owner).

    Raises `ConfigError` for a malformed name, a cycle, or a chain deeper than ``MAX_EXTENDS``.
    """
    source = chain[-1].source
    problems: list[ConfigProblem] = []
    SCHEMA.fields[EXTENDS_KEY].check(value, EXTENDS_KEY, problems)
    if problems:
        raise ConfigError(problems, source=source)
    owner = chain[-1].full_name.split("/", 1)[0]
    target = value if "/" in value else f"{owner}/{value}"
    names = [item.full_name for item in chain]
    if target.lower() in (name.lower() for name in names):
        loop = " -> ".join([*names, target])
        problem = ConfigProblem(EXTENDS_KEY, value, f"cycle: {loop}", "a chain without cycles")
        raise ConfigError([problem], source=source)
    if len(chain) > MAX_EXTENDS:
        problem = ConfigProblem(
            EXTENDS_KEY,
            value,
            f"too deep: {' -> '.join([*names, target])}",
            f"at most {MAX_EXTENDS} levels of _extends",
        )
        raise ConfigError([problem], source=source)
    return target


def _deep_merge(base: Any, overlay: Any) -> Any:
    """Overlay wins; mappings merge key by key, everything else (lists too) is replaced."""
    if not isinstance(base, dict) or not isinstance(overlay, dict):
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        merged[key] = _deep_merge(base[key], value) if key in base else value
    return merged


async def _fetch(gh: GitHubAPI, full_name: str, ref: str | None) -> _File | None:
    """The config file's text in ``full_name``, or None when it does not exist (404)."""
    owner, repo = full_name.split("/", 1)
    url_vars: dict[str, str] = {"owner": owner, "repo": repo, "path": CONFIG_PATH}
    if ref:
        url_vars["ref"] = ref
    try:
        item = await gh.getitem("/repos/{owner}/{repo}/contents/{+path}{?ref}", url_vars)
    except gidgethub.BadRequest as exc:
        if exc.status_code == HTTPStatus.NOT_FOUND:
            return None
        raise
    file = _File(full_name=full_name, text="")
    if not isinstance(item, dict) or item.get("type") != "file":
        raise ConfigError(
            [ConfigProblem("(file)", None, f"{CONFIG_PATH} is not a regular file", "a file")],
            source=file.source,
        )
    try:
        text = base64.b64decode(item.get("content", ""), validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        problem = ConfigProblem("(file)", None, f"cannot be read as UTF-8 text ({exc})", "")
        raise ConfigError([problem], source=file.source) from exc
    return _File(full_name=full_name, text=text)


def render_config_problems(problems: list[ConfigProblem], source: str | None) -> str:
    """Markdown for a check run or comment: which file, which keys, what to write instead."""
    where = f"`{source}`" if source else f"`{CONFIG_PATH}`"
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    lines = [
        "### ci-fix-loop configuration is invalid",
        "",
        f"{where} has {count}, so ci-fix-loop is paused for this repository"
        " until the file is fixed:",
        "",
    ]
    for problem in problems:
        detail = problem.message
        if problem.allowed:
            detail += f"; expected {problem.allowed}"
        where = f" ({problem.where})" if problem.where and problem.where not in detail else ""
        lines.append(f"- {code_span(problem.key_path)}{where}: {_plain(detail)}")
    lines += [
        "",
        "Fix the file on the default branch; the next failing run reads it again."
        " Every key and its default is documented in the README, section *Configuration*.",
    ]
    return "\n".join(lines)


def _plain(text: str) -> str:
    """Neutralise Markdown in user-supplied text: one line, no code spans, mentions or HTML."""
    text = " ".join(text.split())
    return text.replace("`", "'").replace("@", "@\u200b").replace("<", "&lt;").replace(">", "&gt;")
