"""Helpers for guard tests: build a change from two dicts of file contents.

A value is the text of a file, ``None`` for an absent file, or a ``FileState``
when the mode or raw bytes matter (symlinks, executables, binaries).
"""

from __future__ import annotations

from collections.abc import Mapping

from app.config.model import GuardConfig
from app.fix.guard import (
    FileState,
    GuardVerdict,
    MappingView,
    changes_between,
    check_change,
)

Files = Mapping[str, "str | FileState | None"]


def tree(files: Files) -> dict[str, FileState]:
    out = {}
    for path, value in files.items():
        if value is None:
            continue
        out[path] = value if isinstance(value, FileState) else FileState(value.encode())
    return out


def judge(before: Files, after: Files, config: GuardConfig | None = None) -> GuardVerdict:
    """Judge ``after`` (``before`` updated by it; None deletes) against ``before``."""
    old = tree(before)
    new = {**old, **tree(after)}
    for path, value in after.items():
        if value is None:
            new.pop(path, None)
    return check_change(
        changes_between(old, new), config or GuardConfig(), context=MappingView(old)
    )


def rules(verdict: GuardVerdict) -> set[str]:
    return {v.rule for v in verdict.violations}
