"""The app writes no ref outside refs/heads/ci-fix/, whatever branch text reaches publishing."""

from __future__ import annotations

import pytest

from app.publish.commit import RefRefused, fix_ref
from app.store.records import Loop, LoopState, fix_branch_for


@pytest.mark.parametrize("branch", ["ci-fix/123", "ci-fix/9001", "ci-fix/a/b_c-1.2"])
def test_fix_branches_are_allowed(branch: str) -> None:
    assert fix_ref(branch) == f"refs/heads/{branch}"


@pytest.mark.parametrize(
    "branch",
    [
        "main",
        "ci-fix",
        "ci-fix/",
        "ci-fix/../main",
        "ci-fix/x/../../main",
        "ci-fixed/1",
        "refs/heads/main",
        "ci-fix/1 main",
        "ci-fix/1\nmain",
        "ci-fix/1.lock",
        "ci-fix/@{u}",
        "CI-FIX/1",
        "",
    ],
)
def test_anything_else_is_refused(branch: str) -> None:
    with pytest.raises(RefRefused, match="only ever writes branches under refs/heads/ci-fix/"):
        fix_ref(branch)


def test_the_branch_a_loop_publishes_to_comes_from_its_run_not_the_stored_text() -> None:
    tampered = Loop(
        id=1, installation_id=1, repo="o/r", workflow_id=1, workflow_name="CI",
        workflow_path=".github/workflows/ci.yml", branch="main", head_sha="a" * 40,
        run_id=42, run_attempt=1, run_url="https://github.com/o/r/actions/runs/42",
        state=LoopState.QUEUED, fix_branch="main",
    )  # fmt: skip
    assert tampered.publish_branch == fix_branch_for(42) == "ci-fix/42"
