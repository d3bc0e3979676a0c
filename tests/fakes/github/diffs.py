"""Diffs between two trees as GitHub shows them, and which lines a review comment may touch.

Pull request files, commit files and compare all show the same per-file patches, and a
review comment is only accepted on a line inside one of those patches' hunks; deriving
both from one parse keeps the fake's files API and its review validation in agreement.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .gitobjects import TREE_MODE, ObjectStore, TreeEntry

CONTEXT_LINES = 3
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
LEFT, RIGHT = "LEFT", "RIGHT"


@dataclass(frozen=True)
class DiffLine:
    """One body line of a hunk with its line numbers (None on the side it is absent from)."""

    text: str  # with its " ", "-" or "+" prefix
    old: int | None
    new: int | None

    def number(self, side: str) -> int | None:
        return self.old if side == LEFT else self.new


@dataclass(frozen=True)
class Hunk:
    header: str
    lines: tuple[DiffLine, ...]

    def covers(self, side: str, line: int) -> bool:
        return any(item.number(side) == line for item in self.lines)

    def text_through(self, side: str, line: int) -> str:
        """GitHub's ``diff_hunk`` of a comment: the hunk header down to the commented line."""
        out = [self.header]
        for item in self.lines:
            out.append(item.text)
            if item.number(side) == line:
                break
        return "\n".join(out)


@dataclass(frozen=True)
class FileDiff:
    """One changed path; ``hunks`` is empty for a binary file (GitHub sends no patch then)."""

    path: str
    status: str  # added, removed, modified
    sha: str  # the new blob, or the old one for a removed file
    hunks: tuple[Hunk, ...]
    binary: bool

    @property
    def patch(self) -> str:
        return "\n".join(
            "\n".join([hunk.header, *(item.text for item in hunk.lines)]) for hunk in self.hunks
        )

    @property
    def additions(self) -> int:
        return sum(item.text.startswith("+") for hunk in self.hunks for item in hunk.lines)

    @property
    def deletions(self) -> int:
        return sum(item.text.startswith("-") for hunk in self.hunks for item in hunk.lines)

    def hunk_at(self, side: str, line: int) -> Hunk | None:
        """The hunk showing ``line`` of ``side``; None when the line is outside the diff."""
        return next((hunk for hunk in self.hunks if hunk.covers(side, line)), None)

    def at_position(self, position: int) -> tuple[str, int, Hunk] | None:
        """Side, line and hunk of the deprecated ``position`` (lines below the first ``@@``).

        Later hunk headers count as positions too, as GitHub documents.
        """
        count = 0
        for index, hunk in enumerate(self.hunks):
            if index:
                count += 1  # this hunk's own header line
            for item in hunk.lines:
                count += 1
                if count == position:
                    side = LEFT if item.text.startswith("-") else RIGHT
                    number = item.number(side)
                    assert number is not None
                    return side, number, hunk
        return None


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


def _hunks(old: bytes, new: bytes) -> tuple[Hunk, ...]:
    old_lines = old.decode(errors="replace").splitlines()
    new_lines = new.decode(errors="replace").splitlines()
    raw = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=CONTEXT_LINES))[2:]
    hunks: list[Hunk] = []
    header = ""
    body: list[DiffLine] = []
    old_no = new_no = 0
    for text in raw:
        found = _HUNK_HEADER.match(text)
        if found:
            if header:
                hunks.append(Hunk(header, tuple(body)))
            header, body = text, []
            old_no, new_no = int(found[1]), int(found[3])
            continue
        if text.startswith("-"):
            body.append(DiffLine(text, old_no, None))
            old_no += 1
        elif text.startswith("+"):
            body.append(DiffLine(text, None, new_no))
            new_no += 1
        else:
            body.append(DiffLine(text, old_no, new_no))
            old_no += 1
            new_no += 1
    if header:
        hunks.append(Hunk(header, tuple(body)))
    return tuple(hunks)


def _files(store: ObjectStore, tree: str | None) -> dict[str, TreeEntry]:
    if tree is None:
        return {}
    return {path: entry for path, entry in store.walk(tree) if entry.mode != TREE_MODE}


def tree_diff(store: ObjectStore, old_tree: str | None, new_tree: str) -> list[FileDiff]:
    """Every path that differs between two trees, by path, with hunks of 3 context lines."""
    old, new = _files(store, old_tree), _files(store, new_tree)
    diffs = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before and after and before.sha == after.sha:
            continue
        status = "added" if before is None else "removed" if after is None else "modified"
        old_data = store.blob(before.sha) if before and before.type == "blob" else b""
        new_data = store.blob(after.sha) if after and after.type == "blob" else b""
        binary = _is_binary(old_data) or _is_binary(new_data)
        entry = after or before
        assert entry is not None
        hunks = () if binary else _hunks(old_data, new_data)
        diffs.append(FileDiff(path, status, entry.sha, hunks, binary))
    return diffs
