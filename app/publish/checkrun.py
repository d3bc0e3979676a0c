"""The ``CI Fix Loop`` check run on the failing commit: where the loop's state is visible.

GitHub shows check runs beside the failed workflow, so a maintainer looking at
the red commit sees that the app is working on it, and later how it ended.
"""

from __future__ import annotations

from gidgethub.abc import GitHubAPI

CHECK_NAME = "CI Fix Loop"
CONCLUSIONS = frozenset(
    {"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"}
)
SUMMARY_LIMIT = 65_535  # GitHub's limit on output.summary


async def start_check(
    gh: GitHubAPI, *, repo: str, head_sha: str, details_url: str | None = None
) -> int:
    """Create the check run ``in_progress`` on ``head_sha``; return its id."""
    data = {"name": CHECK_NAME, "head_sha": head_sha, "status": "in_progress"}
    if details_url:
        data["details_url"] = details_url
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
) -> int:
    """Create a check run that is already complete (nothing to follow); return its id."""
    _require_conclusion(conclusion)
    run = await gh.post(
        f"/repos/{repo}/check-runs",
        data={
            "name": CHECK_NAME,
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


async def finish_check(
    gh: GitHubAPI,
    *,
    repo: str,
    check_run_id: int,
    conclusion: str,
    summary_markdown: str,
    title: str,
) -> None:
    """Complete the check run with a conclusion and the loop's summary."""
    _require_conclusion(conclusion)
    await gh.patch(
        f"/repos/{repo}/check-runs/{check_run_id}",
        data={
            "status": "completed",
            "conclusion": conclusion,
            "output": _output(title, summary_markdown),
        },
    )
