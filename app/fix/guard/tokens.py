"""A small scanner for Go and Rust: comments and string contents blanked, literals listed.

Reliable token rules need to know what is code: ``t.Skip`` inside a string or a
comment is not a skip, and a ``}`` inside a string does not close a function.
The scanner keeps every offset (blanked text has the same length and the same
newlines as the source), so line numbers stay exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Scanned:
    """``code`` is the source with comments and literal contents replaced by spaces."""

    code: str
    literals: list[tuple[int, str]] = field(default_factory=list)  # (offset, literal as written)
    comments: list[tuple[int, str]] = field(default_factory=list)  # (offset, comment text)

    def line_at(self, offset: int) -> int:
        return self.code.count("\n", 0, offset) + 1


_RUST_RAW = re.compile(r'b?r(#*)"')
_RUST_CHAR = re.compile(r"b?'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'")
_NUMBER = re.compile(r"(?<![\w.])\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?(?:[a-z]\w*)?")


def _blank(text: str) -> str:
    return "".join("\n" if ch == "\n" else " " for ch in text)


def scan(text: str, language: str) -> Scanned:
    """Scan Go (``language="go"``) or Rust (``"rust"``) source."""
    out: list[str] = []
    literals: list[tuple[int, str]] = []
    comments: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            comments.append((i, text[i:end]))
            out.append(_blank(text[i:end]))
            i = end
            continue
        if text.startswith("/*", i):
            end = _block_comment_end(text, i, nested=language == "rust")
            comments.append((i, text[i:end]))
            out.append(_blank(text[i:end]))
            i = end
            continue
        if language == "rust":
            raw = _RUST_RAW.match(text, i) if ch in "br" else None
            if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
                closing = '"' + raw.group(1)
                end = text.find(closing, raw.end())
                end = n if end < 0 else end + len(closing)
                literals.append((i, text[i:end]))
                out.append(text[i : raw.end()] + _blank(text[raw.end() : end]))
                i = end
                continue
            if ch in "'b":
                char = _RUST_CHAR.match(text, i)
                if char and (ch == "'" or text.startswith("b'", i)):
                    literals.append((i, char.group(0)))
                    out.append(_blank(char.group(0)))
                    i = char.end()
                    continue
        if ch == '"' or (language == "go" and ch in "`'"):
            end = _string_end(text, i, ch)
            literals.append((i, text[i:end]))
            out.append(ch + _blank(text[i + 1 : end - 1]) + (ch if end - i > 1 else ""))
            i = end
            continue
        out.append(ch)
        i += 1
    code = "".join(out)
    for match in _NUMBER.finditer(code):
        literals.append((match.start(), match.group(0)))
    literals.sort()
    return Scanned(code=code, literals=literals, comments=comments)


def _block_comment_end(text: str, start: int, *, nested: bool) -> int:
    depth, i = 0, start
    while i < len(text):
        if text.startswith("/*", i):
            depth += 1 if nested or depth == 0 else 0
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth <= 0:
                return i
        else:
            i += 1
    return len(text)


def _string_end(text: str, start: int, quote: str) -> int:
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "`":
            i += 2
            continue
        if ch == quote:
            return i + 1
        if ch == "\n" and quote == "'":
            return i
        i += 1
    return len(text)


def matching_brace(code: str, open_at: int) -> int:
    """Offset just past the ``}`` closing the ``{`` at ``open_at`` (end of text if none)."""
    depth = 0
    for i in range(open_at, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(code)


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call's inside (code already blanked)."""
    args: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        args.append("".join(current).strip())
    return args


def literals_between(scanned: Scanned, start: int, end: int) -> list[str]:
    return [text for offset, text in scanned.literals if start <= offset < end]


def normalised(scanned: Scanned, start: int, end: int) -> str:
    """Code between offsets with names blanked and literals kept, whitespace-insensitive."""
    code = re.sub(r"[A-Za-z_]\w*", "_", scanned.code[start:end])
    return " ".join(code.split()) + "|" + "|".join(literals_between(scanned, start, end))


def argument_spans(code: str, open_at: int) -> list[tuple[int, int]]:
    """(start, end) offsets of each top-level argument of the call whose ``(`` is at ``open_at``."""
    spans: list[tuple[int, int]] = []
    depth, start = 0, open_at + 1
    for i in range(open_at, len(code)):
        ch = code[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                if code[start:i].strip():
                    spans.append((start, i))
                return spans
        elif ch == "," and depth == 1:
            spans.append((start, i))
            start = i + 1
    return spans


def literals_outside(
    scanned: Scanned, start: int, end: int, excluded: list[tuple[int, int]]
) -> list[str]:
    """Literals between offsets, leaving out those inside ``excluded`` spans (messages)."""
    return [
        text
        for offset, text in scanned.literals
        if start <= offset < end and not any(s <= offset < e for s, e in excluded)
    ]
