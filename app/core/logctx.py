"""Structured logging: every line carries the delivery, repository and loop it concerns.

The context lives in a ``contextvars.ContextVar``, so a background task started
for a delivery keeps that delivery's fields without passing them around.  With
``LOG_FORMAT=json`` each line is one JSON object, ready for a log pipeline.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "ci_fix_loop_log_context", default=MappingProxyType({})
)
CONTEXT_FIELDS = ("delivery_id", "event", "repo", "loop_id")


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every log line written inside the block (and tasks it starts)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name in CONTEXT_FIELDS:
            setattr(record, name, context.get(name, "-"))
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            entry[name] = getattr(record, name, "-")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


# GitHub's token formats (installation ``ghs_``, OAuth ``gho_``, ...): installation
# tokens are minted at run time, so no list of secrets given at start-up can name them.
GITHUB_TOKEN = re.compile(r"\bgh[pousr]_[A-Za-z0-9_-]{20,}")


class _SecretRedactor(logging.Filter):
    """Last line of defence: a secret that slipped into a message is masked."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # A traceback quotes the exception's message, which may hold a token or URL.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        return True

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return GITHUB_TOKEN.sub("[redacted]", text)


def configure_logging(*, fmt: str, level: str, secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.addFilter(_SecretRedactor(secrets))
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [delivery=%(delivery_id)s repo=%(repo)s "
                "loop=%(loop_id)s] %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log would repeat every delivery; our own line says more.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
