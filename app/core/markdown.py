"""Markdown that untrusted text cannot break out of, shared by every stage that writes it.

Log lines, job and branch names and an agent's words reach pull requests,
issues, check runs and prompts.  Such text only appears inside a fence or code
span it cannot close (inside code GitHub neither renders markdown nor turns
``@name`` into a notification), cut to a size, and with credential-shaped
strings masked.  Pure functions: text in, text out.
"""

from __future__ import annotations

import re

from app.core.redact import redact_shapes


def redact_secrets(text: str) -> str:
    """Mask strings shaped like credentials (the shapes live in ``app.core.redact``).

    GitHub masks registered secrets in logs, but a token printed by a test or a
    key committed by mistake is not registered; it must not travel further into
    a prompt (sent to a model provider) or a public issue.  The exact values of
    the app's own secrets are removed again where text leaves the process.
    """
    return redact_shapes(text)


def fence(text: str, info: str = "text") -> str:
    """A fenced code block that ``text`` cannot close.

    CommonMark closes a backtick fence only with a run of at least as many
    backticks, so the fence is one longer than the longest run inside.
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{text.rstrip(chr(10))}\n{ticks}"


def code_span(text: str) -> str:
    """An inline code span for a short untrusted string (a job, branch or file name)."""
    flat = " ".join(text.split()) or " "
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def tail(text: str, limit: int) -> str:
    """The last ``limit`` characters, starting at a line boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    return cut[newline + 1 :] if 0 <= newline < 200 else cut
