"""Suggested changes in review comments, applied the way GitHub's "Commit suggestion" does.

A test that has the app post suggestions should check that accepting them gives exactly the
fix the app verified; this applies every suggestion of a review to the files it comments on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .models import ReviewComment

_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})suggestion\s*$")


class SuggestionError(ValueError):
    """A suggestion GitHub would not let a user apply (outdated, overlapping, on a deletion)."""


def suggestion_of(body: str) -> list[str] | None:
    """The replacement lines of the comment's one ```` ```suggestion ```` block, or None.

    An empty block suggests deleting the commented lines. A longer fence (````` ```` `````)
    lets the suggestion itself contain ```` ``` ````, as on GitHub.
    """
    lines = body.replace("\r\n", "\n").split("\n")
    found: list[list[str]] = []
    index = 0
    while index < len(lines):
        opened = _FENCE_OPEN.match(lines[index].strip())
        index += 1
        if not opened:
            continue
        fence = opened["fence"]
        block: list[str] = []
        while index < len(lines):
            text = lines[index]
            index += 1
            closing = text.strip()
            if closing and set(closing) == {fence[0]} and len(closing) >= len(fence):
                break
            block.append(text)
        found.append(block)
    if len(found) > 1:
        raise SuggestionError("a comment carries more than one suggestion block")
    return found[0] if found else None


def apply_suggestions(
    files: Mapping[str, bytes], comments: Iterable[ReviewComment]
) -> dict[str, bytes]:
    """``files`` with each suggestion replacing the lines its comment covers.

    Raises :class:`SuggestionError` for what GitHub refuses to apply in one batch:
    overlapping suggestions, a suggestion on the base side (deleted lines), or on a file
    or line that does not exist.
    """
    out = dict(files)
    by_path: dict[str, list[tuple[int, int, list[str]]]] = {}
    for comment in comments:
        replacement = suggestion_of(comment.body)
        if replacement is None:
            continue
        if comment.line is None or comment.side != "RIGHT":
            raise SuggestionError(f"comment {comment.id} suggests a change off the head's lines")
        first = comment.start_line if comment.start_line is not None else comment.line
        by_path.setdefault(comment.path, []).append((first, comment.line, replacement))
    for path, edits in by_path.items():
        if path not in out:
            raise SuggestionError(f"{path} does not exist in the pull request's head")
        text = out[path].decode()
        lines = text.splitlines(keepends=True)
        edits.sort(reverse=True)
        for (_, last, _), (next_first, _, _) in zip(edits[1:], edits, strict=False):
            if last >= next_first:
                raise SuggestionError(f"suggestions on {path} overlap at line {next_first}")
        for first, last, replacement in edits:
            if not 1 <= first <= last <= len(lines):
                raise SuggestionError(f"{path} has no lines {first}-{last}")
            ends_file = last == len(lines) and not lines[-1].endswith("\n")
            new = [line + "\n" for line in replacement]
            if ends_file and new:
                new[-1] = new[-1][:-1]
            lines[first - 1 : last] = new
        out[path] = "".join(lines).encode()
    return out
