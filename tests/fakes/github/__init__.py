"""A fake GitHub REST API for tests: stateful, on loopback, checked against GitHub's OpenAPI.

Start with the ``fake_github`` fixture (``tests/conftest.py``) or ``async with FakeGitHub()``.
"""

from .faults import Fault
from .models import FakeJob, Leak, RecordedRequest, Violation
from .openapi import OpenAPI
from .server import FakeGitHub, load_spec
from .state import FakeClock

__all__ = [
    "FakeClock",
    "FakeGitHub",
    "FakeJob",
    "Fault",
    "Leak",
    "OpenAPI",
    "RecordedRequest",
    "Violation",
    "load_spec",
]
