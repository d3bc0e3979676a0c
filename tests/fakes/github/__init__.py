"""A fake GitHub for tests: stateful, on loopback, checked against GitHub's own descriptions.

REST requests are checked against ``shared/github/openapi-subset.json``, GraphQL documents
(``POST /graphql``) against ``shared/github/graphql-schema.graphql``. Start with the
``fake_github`` fixture (``tests/conftest.py``) or ``async with FakeGitHub()``.

Arrange: ``add_installation``, ``add_repo``, ``commit``, ``fork_repo``, ``add_pull``,
``add_workflow_run``/``add_job``, ``set_permission``, ``add_team``, ``protect_branch``,
``add_delivery``/``add_failed_delivery``, ``inject`` (faults). Inspect: ``read_tree``,
``ref``, ``pull(repo, n)`` (``.reviews``, ``.review_comments``, ``.requested_reviewers``,
``.pr.draft``), ``pull_files``, ``apply_suggestions``, ``issues``, ``issue_comments``,
``check_runs``, ``deliveries``/``redelivery_requests``, ``calls``. Webhooks out:
``webhook_url`` + ``send_webhook``, redeliveries settled by ``settle_deliveries``.
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
