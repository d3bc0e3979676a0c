"""``python -m app guard BEFORE_DIR AFTER_DIR``: judge the change between two trees.

The same ``check_change`` a loop runs, on two directories instead of a
workspace: maintainers use it to see why a fix was refused, and the corpus
tests and benchmark use it.  Exit code 0: accepted; 1: rejected; 2: bad usage
(a missing directory, an invalid config file, an unknown category).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from app.config.model import CONFIG_PATH, GuardConfig
from app.config.schema import EXTENDS_KEY, load_yaml, parse_repo_config
from app.core.errors import ConfigError
from app.diagnosis.model import Category
from app.fix.guard.check import check_change
from app.fix.guard.tree import MappingView, changes_between, read_tree
from app.fix.guard.verdict import GuardVerdict


class UsageError(Exception):
    """A problem with the command line or its inputs, worded for the person who typed it."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``guard`` command on the main parser's subcommands."""
    parser = subparsers.add_parser(
        "guard",
        help="judge the change between two directory trees as a fix loop would",
        description=(
            "Judge the change from BEFORE_DIR to AFTER_DIR with the diff guard. Exit code 0: "
            "accepted, 1: rejected, 2: bad usage. The guard configuration comes from --config, "
            f"else from BEFORE_DIR/{CONFIG_PATH}, else the defaults."
        ),
    )
    parser.add_argument("before", metavar="BEFORE_DIR", help="the tree before the fix")
    parser.add_argument("after", metavar="AFTER_DIR", help="the tree after the fix")
    parser.add_argument(
        "--category",
        choices=[c.value for c in Category],
        help="the failure's category (recorded; the rules are the same for every category)",
    )
    parser.add_argument("--config", metavar="FILE", help=f"a {CONFIG_PATH} to read the guard from")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")


def load_guard_config(path: Path) -> GuardConfig:
    """The ``guard`` section of a repository config file (``_extends`` is not followed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read the config file {path}: {exc}") from exc
    try:
        raw = load_yaml(text, source=str(path))
        if isinstance(raw, dict):
            raw.pop(EXTENDS_KEY, None)
        return parse_repo_config(raw, source=str(path), allow_fixer_command=True).guard
    except ConfigError as exc:
        raise UsageError(f"The config file {path} is invalid:\n{exc}") from exc


def _directory(name: str, label: str) -> Path:
    path = Path(name)
    if not path.is_dir():
        raise UsageError(f"{label} {name!r} is not a directory; pass two directory trees.")
    return path


def judge(before_dir: str, after_dir: str, config_file: str | None,
          category: str | None) -> GuardVerdict:  # fmt: skip
    """Read both trees and the config, then judge exactly as a loop would."""
    before_root = _directory(before_dir, "BEFORE_DIR")
    after_root = _directory(after_dir, "AFTER_DIR")
    if config_file is not None:
        config = load_guard_config(Path(config_file))
    elif (before_root / CONFIG_PATH).is_file():
        try:
            config = load_guard_config(before_root / CONFIG_PATH)
        except UsageError as exc:
            # A loop would pause for an invalid config; judging with the defaults
            # (the strictest settings) still answers the question asked.
            print(f"{exc}\nJudging with the default guard settings.", file=sys.stderr)
            config = GuardConfig()
    else:
        config = GuardConfig()
    try:
        before, after = read_tree(before_root), read_tree(after_root)
    except OSError as exc:
        raise UsageError(f"Cannot read the trees: {exc}") from exc
    return check_change(
        changes_between(before, after), config, context=MappingView(before), category=category
    )


def render(verdict: GuardVerdict) -> str:
    size = f"{verdict.files_changed} file(s), +{verdict.lines_added}/-{verdict.lines_removed} lines"
    lines = [f"{'Accepted' if verdict.ok else 'Rejected'}: {size}."]
    lines += [f"- {reason}" for reason in verdict.reasons]
    if verdict.test_changes:
        lines += ["Test changes for the reviewer:"]
        lines += [f"- {change}" for change in verdict.test_changes]
    return "\n".join(lines)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Judge the two trees named by ``args``; 0 accepted, 1 rejected, 2 bad usage."""
    out = out or sys.stdout
    try:
        verdict = judge(args.before, args.after, args.config, args.category)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.json:
        data = {**verdict.to_json(), "category": args.category}
        print(json.dumps(data, indent=2, ensure_ascii=False), file=out)
    else:
        print(render(verdict), file=out)
    return 0 if verdict.ok else 1
