"""The ``CI Fix Loop`` check run on the failing commit: where the loop's state is visible.

GitHub shows check runs beside the failed workflow, so a maintainer looking at
the red commit sees that the app is working on it, each step as it happens
(diagnosed, fixing attempt N, waiting for CI), and later how it ended, with a
link to the fix's pull request.
"""

from __future__ import annotations

from typing import Any

from gidgethub.abc import GitHubAPI

CHECK_NAME = "CI Fix Loop"
CONCLUSIONS = frozenset(
    {"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"}
)
SUMMARY_LIMIT = 65_535  # GitHub's limit on output.summary


async def start_check(
    gh: GitHubAPI,
    *,
    repo: str,
    head_sha: str,
    details_url: str | None = None,
    title: str | None = None,
    summary_markdown: str | None = None,
) -> int:
    """Create the check run ``in_progress`` on ``head_sha``; return its id."""
    data: dict[str, Any] = {"name": CHECK_NAME, "head_sha": head_sha, "status": "in_progress"}
    if details_url:
        data["details_url"] = details_url
    if title and summary_markdown:
        data["output"] = _output(title, summary_markdown)
    run = await gh.post(f"/repos/{repo}/check-runs", data=data)
    return int(run["id"])


async def completed_check(
    gh: GitHubAPI,
    *,
    repo: str,
    head_sha: str,
    conclusion: str,
    title: str,
    summary_markdown: str,
    name: str = CHECK_NAME,
) -> int:
    """Create a check run that is already complete (nothing to follow); return its id."""
    _require_conclusion(conclusion)
    run = await gh.post(
        f"/repos/{repo}/check-runs",
        data={
            "name": name,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": conclusion,
            "output": _output(title, summary_markdown),
        },
    )
    return int(run["id"])


def _require_conclusion(conclusion: str) -> None:
    if conclusion not in CONCLUSIONS:
        raise ValueError(
            f"{conclusion!r} is not a check run conclusion; use one of {sorted(CONCLUSIONS)}"
        )


def _output(title: str, summary_markdown: str) -> dict[str, str]:
    return {"title": title[:255], "summary": summary_markdown[:SUMMARY_LIMIT]}


async def update_check(
    gh: GitHubAPI,
    *,
    repo: str,
    check_run_id: int,
    title: str,
    summary_markdown: str,
    details_url: str | None = None,
) -> None:
    """Show the loop's current step on the running check run (it stays ``in_progress``)."""
    data: dict[str, Any] = {"status": "in_progress", "output": _output(title, summary_markdown)}
    if details_url:
        data["details_url"] = details_url
    await gh.patch(f"/repos/{repo}/check-runs/{check_run_id}", data=data)


async def finish_check(
    gh: GitHubAPI,
    *,
    repo: str,
    check_run_id: int,
    conclusion: str,
    summary_markdown: str,
    title: str,
    details_url: str | None = None,
) -> None:
    """Complete the check run with a conclusion and the loop's summary."""
    _require_conclusion(conclusion)
    data: dict[str, Any] = {
        "status": "completed",
        "conclusion": conclusion,
        "output": _output(title, summary_markdown),
    }
    if details_url:
        data["details_url"] = details_url
    await gh.patch(f"/repos/{repo}/check-runs/{check_run_id}", data=data)
