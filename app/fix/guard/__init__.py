"""The guard: decides in code whether a fixer's change may be published.

A fixing agent is rewarded for green CI, and the cheapest green is cheating:
skip the failing test, change what it expects, silence the linter, edit the
script CI runs.  The guard reads both versions of every changed file and
refuses those shapes, so no prompt wording is load-bearing.  It does no I/O
beyond reading the trees it is given, and runs no process.
"""

from app.fix.guard.check import TEST_EDIT_RULES, check_change
from app.fix.guard.diff import DiffLine, FileDiff, line_changes, parse_diff, split_lines
from app.fix.guard.paths import is_test_path, matches_glob
from app.fix.guard.tree import (
    DirView,
    FileChange,
    FileState,
    MappingView,
    TreeView,
    changes_between,
    published_changes,
    read_tree,
)
from app.fix.guard.verdict import GuardVerdict, Violation

__all__ = [
    "TEST_EDIT_RULES",
    "DiffLine",
    "DirView",
    "FileChange",
    "FileDiff",
    "FileState",
    "GuardVerdict",
    "MappingView",
    "TreeView",
    "Violation",
    "changes_between",
    "check_change",
    "is_test_path",
    "line_changes",
    "matches_glob",
    "parse_diff",
    "published_changes",
    "read_tree",
    "split_lines",
]
