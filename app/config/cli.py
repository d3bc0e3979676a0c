"""``python -m app config validate [FILE]`` and ``python -m app config schema``.

An admin checks a `.github/ci-fix-loop.yml` before pushing it, with the same
validation the app applies (the same schema, the same words), each problem
as ``FILE:LINE:COLUMN: key: message`` so editors and terminals can jump to it.
``schema`` prints the file's JSON Schema (also committed in the repository at
``schema/ci-fix-loop.schema.json``) for editors that complete and check YAML.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

from app.config.model import CONFIG_PATH
from app.config.schema import EXTENDS_KEY, json_schema, load_yaml, locate, parse_repo_config
from app.core.errors import ConfigError

MAX_CONFIG_BYTES = 1024 * 1024  # GitHub's contents API serves files up to 1 MB inline


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="validate a repository config, print its schema")
    actions = config.add_subparsers(dest="config_command", required=True)
    validate = actions.add_parser(
        "validate", help=f"check a config file (default: {CONFIG_PATH} here)"
    )
    validate.add_argument("file", nargs="?", default=CONFIG_PATH)
    validate.add_argument(
        "--allow-fixer-command",
        action="store_true",
        help="accept fixer.command, as an operator with ALLOW_REPO_FIXER_COMMANDS=1 does",
    )
    actions.add_parser("schema", help="print the JSON Schema of the config file")


def run(args: argparse.Namespace) -> int:
    """0: valid (or the schema printed); 1: the file has problems; 2: it cannot be read."""
    if args.config_command == "schema":
        print(json.dumps(json_schema(), indent=2))
        return 0
    return validate(args.file, allow_fixer_command=_allowed(args.allow_fixer_command))


def _allowed(flag: bool) -> bool:
    return flag or os.environ.get("ALLOW_REPO_FIXER_COMMANDS", "").lower() in ("1", "true", "yes")


def validate(path: str, *, allow_fixer_command: bool = False) -> int:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        print(f"{path}: cannot be read: {exc.strerror}", file=sys.stderr)
        return 2
    if len(data) > MAX_CONFIG_BYTES:
        print(
            f"{path}: larger than {MAX_CONFIG_BYTES} bytes; GitHub would not serve it",
            file=sys.stderr,
        )
        return 1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        print(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return 1
    try:
        raw = load_yaml(text, source=path)
        parse_repo_config(raw, source=path, allow_fixer_command=allow_fixer_command)
    except ConfigError as exc:
        problems = locate(exc.problems, text)
        for problem in problems:
            where = f"{problem.line}:{problem.column}:" if problem.line else ""
            print(f"{path}:{where} {replace(problem, line=None, column=None)}")
        print(f"{len(problems)} problem(s): the app pauses for a repository with this file.")
        return 1
    print(f"{path} is a valid ci-fix-loop config.")
    if isinstance(raw, dict) and EXTENDS_KEY in raw:
        print(
            f"It extends {raw[EXTENDS_KEY]!r}, which is read from GitHub and not checked here; "
            "the merged result is checked when a push changes the file."
        )
    return 0
