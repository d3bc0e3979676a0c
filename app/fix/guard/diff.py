"""Lines added and removed: from two versions of a file, or from a unified git diff.

Lines end at ``\\n`` and nowhere else.  ``str.splitlines`` also ends a line at
``\\r``, form feed, U+2028 and other separators; a parser using it falls out of
step with git's hunk counts, and every line after the desync goes unjudged.
The guard judges file contents before and after, so it needs no diff at all;
``parse_diff`` stays for reading diffs a person hands over, with the same rule.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DiffLine:
    """One added or removed line; ``number`` is in the new file (added) or old file (removed)."""

    number: int
    text: str


@dataclass
class FileDiff:
    """What one ``diff --git`` section says about one file."""

    old_path: str | None
    new_path: str | None
    status: str = "modified"  # added | deleted | renamed | modified
    old_mode: str | None = None
    new_mode: str | None = None
    binary: bool = False
    added: list[DiffLine] = field(default_factory=list)
    removed: list[DiffLine] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The path a reader knows the file by: the new one, or the old one if deleted."""
        return self.new_path or self.old_path or "?"


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only (a trailing newline does not start another line)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def line_changes(before: str, after: str) -> tuple[list[DiffLine], list[DiffLine]]:
    """(added, removed) lines between two texts, numbered in their own file (1-based)."""
    old, new = split_lines(before), split_lines(after)
    # The unchanged head and tail are most of a file; matching only the middle is
    # what keeps a large file with a small change cheap.
    head = 0
    while head < len(old) and head < len(new) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < len(old) - head and tail < len(new) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    middle_old, middle_new = old[head : len(old) - tail], new[head : len(new) - tail]
    matcher = difflib.SequenceMatcher(None, middle_old, middle_new, autojunk=False)
    added: list[DiffLine] = []
    removed: list[DiffLine] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        removed.extend(DiffLine(head + i + 1, middle_old[i]) for i in range(i1, i2))
        added.extend(DiffLine(head + j + 1, middle_new[j]) for j in range(j1, j2))
    return added, removed


# ── Reading a unified diff ───────────────────────────────────────────────────

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_C_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f"}


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual paths (``"a/caf\\303\\251.py"``)."""
    if not (len(path) >= 2 and path[0] == '"' and path[-1] == '"'):
        return path
    out = bytearray()
    body, i = path[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":  # git always writes three octal digits per byte
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out.extend(_C_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        out.extend(ch.encode())
        i += 1
    return out.decode("utf-8", errors="replace")


def _strip_prefix(path: str) -> str | None:
    path = _unquote(path.strip())
    if path == "/dev/null":
        return None
    return path[2:] if path[:2] in ("a/", "b/") else path


def _paths_from_git_line(rest: str) -> tuple[str | None, str | None]:
    """Split ``a/X b/Y`` from a ``diff --git`` line; exact for quoted or identical paths."""
    if rest.startswith('"'):
        end = rest.index('"', 1)
        while rest[end - 1] == "\\":
            end = rest.index('"', end + 1)
        return _strip_prefix(rest[: end + 1]), _strip_prefix(rest[end + 2 :])
    # Unquoted paths may contain spaces; when old and new are equal the split is unique.
    half = (len(rest) - 1) // 2
    if rest[half] == " " and rest[:half][2:] == rest[half + 1 :][2:]:
        return _strip_prefix(rest[:half]), _strip_prefix(rest[half + 1 :])
    old, _, new = rest.partition(" b/")
    return _strip_prefix(old), _strip_prefix("b/" + new)


def _header(current: FileDiff, raw: str) -> None:
    """Apply one extended header line (modes, renames, ---/+++) to ``current``."""
    if raw.startswith("new file mode "):
        current.status, current.old_path = "added", None
        current.new_mode = raw.split()[-1]
    elif raw.startswith("deleted file mode "):
        current.status, current.new_path = "deleted", None
        current.old_mode = raw.split()[-1]
    elif raw.startswith("old mode "):
        current.old_mode = raw.split()[-1]
    elif raw.startswith("new mode "):
        current.new_mode = raw.split()[-1]
    elif raw.startswith("index ") and len(raw.split()) == 3:
        current.old_mode = current.new_mode = raw.split()[-1]
    elif raw.startswith(("rename from ", "copy from ")):
        current.old_path = _unquote(raw.split(" ", 2)[2])
        current.status = "renamed" if raw.startswith("rename") else "added"
    elif raw.startswith(("rename to ", "copy to ")):
        current.new_path = _unquote(raw.split(" ", 2)[2])
    elif raw.startswith("--- "):
        if current.status != "added":
            current.old_path = _strip_prefix(raw[4:].split("\t")[0]) or current.old_path
    elif raw.startswith("+++ "):
        if current.status != "deleted":
            current.new_path = _strip_prefix(raw[4:].split("\t")[0]) or current.new_path
    elif raw.startswith(("Binary files ", "GIT binary patch")):
        current.binary = True


def parse_diff(diff: str) -> list[FileDiff]:
    """Parse a unified git diff into per-file records of added and removed lines.

    Lines are split on ``\\n`` only: a ``\\r``, form feed or U+2028 inside a
    line is part of that line, exactly as git counted it in the hunk header.
    """
    files: list[FileDiff] = []
    current: FileDiff | None = None
    old_no = new_no = 0
    old_left = new_left = 0
    for raw in diff.split("\n"):
        if current is not None and (old_left > 0 or new_left > 0):
            tag, text = raw[:1], raw[1:]
            if tag == "+":
                current.added.append(DiffLine(new_no, text))
                new_no, new_left = new_no + 1, new_left - 1
                continue
            if tag == "-":
                current.removed.append(DiffLine(old_no, text))
                old_no, old_left = old_no + 1, old_left - 1
                continue
            if tag in (" ", ""):
                old_no, new_no = old_no + 1, new_no + 1
                old_left, new_left = old_left - 1, new_left - 1
                continue
            if tag == "\\":  # "\ No newline at end of file"
                continue
            old_left = new_left = 0  # malformed hunk: fall through to header parsing
        if raw.startswith("diff --git "):
            old, new = _paths_from_git_line(raw[len("diff --git ") :])
            current = FileDiff(old_path=old, new_path=new)
            files.append(current)
            continue
        if current is None:
            continue
        if raw.startswith("@@"):
            match = _HUNK.match(raw)
            if match:
                old_no, new_no = int(match[1]), int(match[3])
                old_left = int(match[2]) if match[2] is not None else 1
                new_left = int(match[4]) if match[4] is not None else 1
        else:
            _header(current, raw)
    return files
