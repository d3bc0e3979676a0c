"""Helpers shared by every test module: where the shared data lives, and optional components.

`require_or_skip` exists because a skipped test is a silent hole in CI: locally a missing
chromium or postgres should only skip the tests that need it, but with ``CI_REQUIRE_ALL=1``
(set by ``.ci/run``) the same absence must fail the run so nobody ships untested code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DIR_ENV = "CI_FIX_SHARED_DIR"
REQUIRE_ALL_ENV = "CI_REQUIRE_ALL"


def shared_dir() -> Path:
    """The read-only ``shared/`` directory beside the clone (or ``$CI_FIX_SHARED_DIR``)."""
    override = os.environ.get(SHARED_DIR_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[1] / ".." / "shared"
    path = path.resolve()
    if not (path / "github" / "openapi-subset.json").is_file():
        raise FileNotFoundError(
            f"shared test data not found at {path}: clone the project with ../shared beside it "
            f"or point {SHARED_DIR_ENV} at the directory holding github/openapi-subset.json"
        )
    return path


def require_or_skip(condition: bool, reason: str) -> None:
    """Skip the calling test unless ``condition`` holds; in CI (``CI_REQUIRE_ALL=1``) fail instead.

    Use it for optional system components, e.g.
    ``require_or_skip(shutil.which("chromium") is not None, "chromium is not installed")``.
    """
    if condition:
        return
    if os.environ.get(REQUIRE_ALL_ENV) == "1":
        pytest.fail(f"{reason} (required because {REQUIRE_ALL_ENV}=1)", pytrace=False)
    pytest.skip(reason)
