"""Check runs the app creates and updates, and annotations (of jobs and of check runs)."""

from __future__ import annotations

from typing import Any

from . import bodies
from .http import ApiError, Reply, not_found, validation_failed
from .models import CheckRun
from .routing import Ctx, RouteTable

routes = RouteTable()
MAX_ANNOTATIONS_PER_REQUEST = 50


def _apply(ctx: Ctx, check: CheckRun, fields: dict[str, Any]) -> None:
    """Apply create/update fields with GitHub's rules for status and conclusion."""
    now = ctx.state.clock()
    for name in ("name", "details_url", "external_id"):
        if name in fields:
            setattr(check, name, fields[name])
    if "conclusion" in fields:
        # Providing a conclusion completes the check run, whatever status says.
        check.conclusion = fields["conclusion"]
        check.status = "completed"
    elif "status" in fields:
        check.status = fields["status"]
    if check.status == "completed" and check.conclusion is None:
        raise validation_failed("CheckRun", "missing_field", field="conclusion")
    if check.status != "queued":
        check.started_at = bodies.parse_time(fields.get("started_at")) or check.started_at or now
    if check.status == "completed":
        check.completed_at = (
            bodies.parse_time(fields.get("completed_at")) or check.completed_at or now
        )
    output = fields.get("output") or {}
    annotations = output.get("annotations", [])
    if len(annotations) > MAX_ANNOTATIONS_PER_REQUEST:
        raise ApiError(422, "Only 50 annotations can be sent per request")
    check.output.update({k: v for k, v in output.items() if k in ("title", "summary", "text")})
    check.annotations.extend(annotations)


@routes.add("POST", "/repos/{owner}/{repo}/check-runs")
def create_check_run(ctx: Ctx) -> Reply:
    repo = ctx.the_repo
    fields = ctx.body_dict()
    if repo.objects.kind(fields["head_sha"]) != "commit":
        raise validation_failed("CheckRun", "invalid", field="head_sha")
    check = CheckRun(
        id=ctx.state.new_job_id(),
        repo=repo.full_name,
        name=fields["name"],
        head_sha=fields["head_sha"],
        status="queued",
        conclusion=None,
        started_at=None,
        completed_at=None,
        details_url=None,
        external_id=None,
        output={},
    )
    _apply(ctx, check, {"status": "queued", **fields})
    ctx.state.check_run_records[check.id] = check
    return Reply(201, bodies.check_run(ctx.state, check))


@routes.add("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
def update_check_run(ctx: Ctx) -> Reply:
    check = ctx.state.check_run_records.get(ctx.params["check_run_id"])
    if check is None or check.repo.lower() != ctx.the_repo.key:
        raise not_found()
    _apply(ctx, check, ctx.body_dict())
    return Reply(200, bodies.check_run(ctx.state, check))


@routes.add("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations")
def list_annotations(ctx: Ctx) -> Reply:
    """A job's check run has the job's id, so job annotations are found the same way."""
    check_id = ctx.params["check_run_id"]
    repo = ctx.the_repo
    check = ctx.state.check_run_records.get(check_id)
    job = ctx.state.jobs.get(check_id)
    if check is not None and check.repo.lower() == repo.key:
        raw = check.annotations
    elif job is not None and ctx.state.runs[job.run_id].repo.lower() == repo.key:
        raw = job.annotations
    else:
        raise not_found()
    return ctx.page([bodies.annotation(ctx.state, repo.full_name, a) for a in raw])
