"""A delivery's body, read once, and only as far as the app needs it.

A ``workflow_run`` body is 15-25 KB of JSON, and a workflow run sends three of
them; the app reads a few dozen fields of the one that completes, and only the
action of the others.  Decoding every body into Python objects (``json`` or
``orjson``) was the largest single cost of intake.  simdjson validates the whole
document (structure, UTF-8, nesting, 64-bit numbers) at about a gigabyte a
second and builds Python objects only for what is read: the envelope's few
fields for every delivery, a handler's :data:`~app.intake.payloads.Shape` for a
shaped event, and the whole document only for the rare events that have none.

Each body gets its own ``simdjson.Parser`` (no slower than reusing one): a
parser's objects are invalidated by its next parse, so one per body means no
request can see another's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simdjson

from app.intake.payloads import Shape

_OBJECT = (dict, simdjson.Object)
_ARRAY = (list, simdjson.Array)


def _plain(value: Any) -> Any:
    """``value`` as Python objects (dict, list, str, ...), however it was parsed."""
    if isinstance(value, simdjson.Object):
        return value.as_dict()
    if isinstance(value, simdjson.Array):
        return value.as_list()
    return value


Projector = Callable[[Any], Any]
_MISSING = object()
_SCALARS = frozenset({str, int, float, bool, type(None)})  # kept as they are, no call


def projector(shape: Shape) -> Projector:
    """A function returning the part of a value that ``shape`` names, as Python objects.

    ``True`` keeps a value whole, a mapping keeps those keys of an object (each
    by its own shape), and a one-item tuple keeps every item of a list by that
    shape.  A value that is not what its shape expects (a list where an object
    was documented) is kept whole, so a malformed payload stays exactly as
    malformed and is refused the same way.  Works on ``dict``/``list`` values and
    on a simdjson document alike.  The shape is turned into nested closures once,
    so projecting walks no shape at run time (half the cost of interpreting it).
    """
    if shape is True:
        return _plain
    if isinstance(shape, tuple):
        item = projector(shape[0])

        def each(value: Any) -> Any:
            if isinstance(value, _ARRAY):
                return [item(v) for v in value]
            return _plain(value)

        return each
    keys = tuple((key, projector(inner)) for key, inner in shape.items())

    def pick(value: Any) -> Any:
        if not isinstance(value, _OBJECT):
            return _plain(value)
        out = {}
        for key, inner in keys:
            found = value.get(key, _MISSING)
            if found is not _MISSING:
                out[key] = found if found.__class__ in _SCALARS else inner(found)
        return out

    return pick


def project(value: Any, shape: Shape) -> Any:
    """The part of ``value`` that ``shape`` names (see :func:`projector`)."""
    return projector(shape)(value)


class Body:
    """One parsed body: a document to project from, or to take whole."""

    __slots__ = ("_document",)

    def __init__(self, document: Any) -> None:
        self._document = document

    @classmethod
    def parse(cls, raw: bytes) -> Body | str:
        """The parsed body, or why it is not a JSON document (a 400's reason)."""
        try:
            return cls(simdjson.Parser().parse(raw))
        except RuntimeError as exc:
            if "DEPTH" in str(exc):
                return "body is nested too deeply to be a GitHub payload"
            return "body is not valid JSON"
        except ValueError:  # structure, strings, and UnicodeDecodeError for invalid UTF-8
            return "body is not valid JSON"

    def project(self, pick: Projector) -> Any:
        """What ``pick`` (a :func:`projector`) takes of the document."""
        return pick(self._document)

    def whole(self) -> Any:
        return _plain(self._document)
