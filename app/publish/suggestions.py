"""A verified fix as GitHub suggested changes: which lines each suggestion replaces, and
what cannot be suggested (it goes into the review body as a patch).

GitHub anchors a review comment to lines of the pull request's diff only: a
suggestion must replace a run of lines of the head's file that lies inside one
hunk of ``GET pulls/{n}/files`` (right side).  Everything else, such as a change
to a file the pull request does not touch, a new or deleted file, or lines
outside the hunks, is returned as a unified diff for the body, with a note.
Pure: the reporter fetches the files and posts the review.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


@dataclass(frozen=True)
class Suggestion:
    """Replace lines ``start``..``end`` (1-based, inclusive, head side) of ``path``."""

    path: str
    start: int
    end: int
    lines: tuple[str, ...]  # the replacement, without line ends

    def comment(self) -> dict[str, object]:
        """The review comment GitHub takes (``comments[]`` of ``POST pulls/{n}/reviews``)."""
        text = "\n".join(self.lines)
        fence = "`" * max(3, _longest_backtick_run(text) + 1)
        block = f"{text}\n" if self.lines else ""  # an empty block deletes the lines
        body = f"{fence}suggestion\n{block}{fence}"
        raw: dict[str, object] = {
            "path": self.path,
            "line": self.end,
            "side": "RIGHT",
            "body": body,
        }
        if self.start != self.end:
            raw["start_line"] = self.start
            raw["start_side"] = "RIGHT"
        return raw


@dataclass(frozen=True)
class SuggestionPlan:
    suggestions: tuple[Suggestion, ...]
    outside: str  # a unified diff of what no suggestion can carry; "" when nothing


def hunk_ranges(patch: str | None) -> list[tuple[int, int]]:
    """The head-side line ranges (first, last) each hunk of a file's ``patch`` shows."""
    ranges = []
    for match in _HUNK.finditer(patch or ""):
        first = int(match[1])
        count = int(match[2]) if match[2] is not None else 1
        if count:
            ranges.append((first, first + count - 1))
    return ranges


def plan_suggestions(
    files: Sequence[tuple[str, bytes | None, bytes | None]],
    pull_patches: Mapping[str, str | None],
) -> SuggestionPlan:
    """Split the verified change into suggestions and a leftover patch.

    ``files`` are (path, head content, fixed content); ``pull_patches`` maps each
    path the pull request changes to its ``patch``.  A file is suggested only as
    a whole: if any of its changes falls outside the hunks, the whole file goes
    to the patch, so applying every suggestion never gives half of a file's fix.
    """
    suggestions: list[Suggestion] = []
    leftovers: list[str] = []
    for path, before, after in files:
        edits = None
        if before is not None and after is not None and path in pull_patches:
            edits = _file_suggestions(path, before, after, hunk_ranges(pull_patches[path]))
        if edits is None:
            leftovers.append(_unified(path, before, after))
        else:
            suggestions.extend(edits)
    return SuggestionPlan(tuple(suggestions), "".join(leftovers))


def _file_suggestions(
    path: str, before: bytes, after: bytes, hunks: list[tuple[int, int]]
) -> list[Suggestion] | None:
    try:
        old = before.decode().splitlines()
        new = after.decode().splitlines()
    except UnicodeDecodeError:
        return None
    if before.endswith(b"\n") != after.endswith(b"\n") and old and new:
        return None  # a newline at end of file cannot be suggested
    out = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for group in matcher.get_grouped_opcodes(0):
        i1, i2 = group[0][1], group[-1][2]
        j1, j2 = group[0][3], group[-1][4]
        if i1 == i2:
            # A pure insertion: suggest it together with a neighbouring line.
            if not old:
                return None
            if i1 > 0:
                i1, j1 = i1 - 1, j1 - 1
            else:
                i2, j2 = i2 + 1, j2 + 1
        start, end = i1 + 1, i2
        if not any(first <= start and end <= last for first, last in hunks):
            return None
        out.append(Suggestion(path, start, end, tuple(new[j1:j2])))
    return out


def _unified(path: str, before: bytes | None, after: bytes | None) -> str:
    old = [] if before is None else before.decode(errors="replace").splitlines(keepends=True)
    new = [] if after is None else after.decode(errors="replace").splitlines(keepends=True)
    lines = difflib.unified_diff(
        old,
        new,
        fromfile="/dev/null" if before is None else f"a/{path}",
        tofile="/dev/null" if after is None else f"b/{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
