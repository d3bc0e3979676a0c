"""Structured logging: every line carries the delivery, repository and loop it concerns.

The context lives in a ``contextvars.ContextVar``, so a background task started
for a delivery keeps that delivery's fields without passing them around.  With
``LOG_FORMAT=json`` each line is one JSON object, ready for a log pipeline.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from app.core.redact import Redactor

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


# Fields a log call may add with ``extra=`` (one INFO line per loop step carries them).
STEP_FIELDS = {
    "step": str,
    "iteration": int,
    "category": str,
    "state": str,
    "conclusion": str,
    "run_id": int,
    "pr": int,
    "cost_usd": float,
    "sha": str,
}
# The JSON type of each context field, whatever type the code that set it used.
_CONTEXT_TYPES: dict[str, type] = {"delivery_id": str, "event": str, "repo": str, "loop_id": int}
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _typed(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (``"17"`` and ``17`` are one loop id); None when absent or odd."""
    if value is None or value == "-":
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: an ISO 8601 time with its UTC offset, fixed field types."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, kind in _CONTEXT_TYPES.items():
            entry[name] = _typed(getattr(record, name, None), kind)
        for name, kind in STEP_FIELDS.items():
            if name in record.__dict__ and name not in _RESERVED:
                entry[name] = _typed(record.__dict__[name], kind)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


class RedactingFilter(logging.Filter):
    """Last line of defence: a secret that slipped into a message or traceback is masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        # The message is formatted once, here; the formatter then finds it done.
        record.msg, record.args = self._redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            # A traceback quotes the exception's message, which may hold a token or URL.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        return True


class _TextFormatter(logging.Formatter):
    """The text format, its timestamp formatted once a second rather than once a line."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            # UTC, said by the Z: no guessing the server's zone.
            self._second, self._stamp = (
                second,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)),
            )
        return self._stamp


class OneLineRequestErrors(logging.Filter):
    """A malformed HTTP request from anyone is one log line, not a traceback.

    aiohttp's server logs a request it cannot parse (or a client that hangs up)
    with the full traceback; anyone on the internet can cause that, so it is
    cut to the message and the error's one-line description.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            first = str(error).splitlines()[0] if str(error) else ""
            description = f"{type(error).__name__}: {first}".strip()
            record.msg, record.args = f"{record.getMessage()} ({description})", None
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(
    *, fmt: str, level: str, redactor: Redactor | None = None, secrets: tuple[str, ...] = ()
) -> None:
    """One stderr handler for the process, with context fields and secrets redacted.

    Pass the app's ``redactor`` so installation tokens minted later are masked by
    value too; ``secrets`` alone builds one from fixed values.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.addFilter(RedactingFilter(redactor or Redactor(secrets)))
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            _TextFormatter(
                "%(asctime)s %(levelname)s %(name)s [delivery=%(delivery_id)s repo=%(repo)s "
                "loop=%(loop_id)s] %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # No format here uses the caller's file and line, the thread or the process:
    # not collecting them is the logging HOWTO's "optimization" recipe, and it
    # takes a seventh off each line (intake writes one per delivery).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # aiohttp's access log would repeat every delivery; our own line says more.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, OneLineRequestErrors) for f in server_log.filters):
        server_log.addFilter(OneLineRequestErrors())
