"""Removes the app's secrets from every text that leaves the process.

Shapes alone are not enough: a webhook secret, a status token or a database
password has no recognisable shape, and a repository's ``verify`` command that
prints the app's ``.env`` would otherwise put them in a pull request.  So the
redactor knows the exact values (fed from the operator's settings at start-up,
plus each installation token as it is minted) and also masks anything shaped
like a credential (tokens it was never told about, keys committed by mistake).

It is applied at the edges: the log handler, every request body sent to GitHub
except file contents being committed, the prompt given to a fixer, and the
fixer and verify output kept in the store.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

MASK = "[redacted]"
# Shorter values would mask ordinary words; settings warn about secrets this short.
MIN_SECRET_LENGTH = 8
# Live installation tokens remembered; each lives an hour, so this is generous.
LIVE_TOKENS_KEPT = 4096

SECRET_SHAPES = re.compile(
    r"""(
        \bgh[pousr]_[A-Za-z0-9_-]{20,} | \bgithub_pat_[A-Za-z0-9_]{20,}
      | \bsk-(?:ant-)?[A-Za-z0-9_-]{20,} | \bxox[abprs]-[A-Za-z0-9-]{10,}
      | \bAKIA[0-9A-Z]{16} | \beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}
      | -----BEGIN[ A-Z]*PRIVATE\ KEY-----[\s\S]*?(?:-----END[ A-Z]*PRIVATE\ KEY-----|\Z)
    )""",
    re.VERBOSE,
)


def redact_shapes(text: str) -> str:
    """Mask strings shaped like credentials (GitHub, model provider, AWS and Slack tokens,
    JWTs, PEM private keys), whoever they belong to."""
    return SECRET_SHAPES.sub(MASK, text)


def secret_variants(value: str) -> set[str]:
    """The forms a secret is likely to be printed in: as is, percent-encoded, and for a
    PEM key each base64 line of its body (a partial dump is still a leak)."""
    variants = {value, quote(value, safe="")}
    if "-----BEGIN" in value:
        lines = [line.strip() for line in value.splitlines() if not line.startswith("-----")]
        variants.update(lines)
        # Rewrapped or unwrapped, any run of 48 characters of the key's body holds one
        # of these aligned 32-character pieces.
        body = "".join(lines)
        variants.update(body[i : i + 32] for i in range(0, len(body) - 31, 16))
    return {v for v in variants if len(v) >= MIN_SECRET_LENGTH}


class Redactor:
    """Masks known secret values and credential shapes in text and JSON-like data."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._static: set[str] = set()
        self._live: deque[str] = deque(maxlen=LIVE_TOKENS_KEPT)
        self._pattern: re.Pattern[str] | None = None
        for value in values:
            self._static.update(secret_variants(value))
        self._compile()

    def add(self, value: str) -> None:
        """Remember one more secret (an installation token just minted)."""
        if len(value) >= MIN_SECRET_LENGTH and value not in self._live:
            self._live.append(value)
            self._compile()

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return redact_shapes(text)

    def data(self, value: Any) -> Any:
        """``value`` with every string inside (dict values, list items) redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value

    def contains_secret(self, data: bytes) -> bool:
        """True when ``data`` holds the exact value of a known secret (not merely a shape)."""
        if self._pattern is None:
            return False
        return self._pattern.search(data.decode("utf-8", errors="replace")) is not None

    def _compile(self) -> None:
        values = sorted({*self._static, *self._live}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None
