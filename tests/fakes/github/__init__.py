"""A fake GitHub REST API for tests: stateful, on loopback, checked against GitHub's OpenAPI.

Start with the ``fake_github`` fixture (``tests/conftest.py``) or ``async with FakeGitHub()``.
"""

from .faults import Fault
from .models import (
    FakeJob,
    HookDelivery,
    Issue,
    Leak,
    RecordedRequest,
    Review,
    ReviewComment,
    Violation,
)
from .openapi import OpenAPI
from .server import FakeGitHub, load_spec
from .state import FakeClock
from .suggestions import SuggestionError, suggestion_of

__all__ = [
    "FakeClock",
    "FakeGitHub",
    "FakeJob",
    "Fault",
    "HookDelivery",
    "Issue",
    "Leak",
    "OpenAPI",
    "RecordedRequest",
    "Review",
    "ReviewComment",
    "SuggestionError",
    "Violation",
    "load_spec",
    "suggestion_of",
]
