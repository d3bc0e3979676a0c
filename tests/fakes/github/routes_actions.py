"""GitHub Actions: workflow runs, jobs, their logs (redirected to the blob host), reruns."""

from __future__ import annotations

import io
import re
import zipfile

from . import bodies
from .http import ApiError, Reply, not_found
from .models import Job, WorkflowRun
from .routing import Ctx, RouteTable

routes = RouteTable()
RUN_STATUSES = ("completed", "in_progress", "queued", "requested", "waiting", "pending")


def _run(ctx: Ctx) -> WorkflowRun:
    run = ctx.state.runs.get(ctx.params["run_id"])
    if run is None or run.repo.lower() != ctx.the_repo.key:
        raise not_found()
    return run


def _job(ctx: Ctx) -> Job:
    job = ctx.state.jobs.get(ctx.params["job_id"])
    if job is None or ctx.state.runs[job.run_id].repo.lower() != ctx.the_repo.key:
        raise not_found()
    return job


def _run_list(ctx: Ctx, runs: list[WorkflowRun]) -> Reply:
    query = ctx.query
    status = query.get("status")
    selected = [
        run
        for run in sorted(runs, key=lambda r: r.id, reverse=True)
        if run.repo.lower() == ctx.the_repo.key
        and query.get("branch") in (None, run.head_branch)
        and query.get("head_sha") in (None, run.head_sha)
        and query.get("event") in (None, run.event)
        and (status is None or status in (run.status, run.conclusion))
    ]
    reply = ctx.page(selected)
    reply.body = {
        "total_count": len(selected),
        "workflow_runs": [ctx.state.run_body(run) for run in reply.body],
    }
    return reply


@routes.add("GET", "/repos/{owner}/{repo}/actions/runs")
def list_runs(ctx: Ctx) -> Reply:
    return _run_list(ctx, list(ctx.state.runs.values()))


@routes.add("GET", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs")
def list_workflow_runs(ctx: Ctx) -> Reply:
    """``workflow_id`` is the numeric id or the workflow's file name, as on GitHub."""
    workflow = str(ctx.params["workflow_id"])
    runs = [
        run
        for run in ctx.state.runs.values()
        if workflow in (str(run.workflow_id), run.path.rsplit("/", 1)[-1])
    ]
    return _run_list(ctx, runs)


@routes.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}")
def get_run(ctx: Ctx) -> Reply:
    return Reply(200, ctx.state.run_body(_run(ctx)))


def _job_page(ctx: Ctx, jobs: list[Job]) -> Reply:
    reply = ctx.page(jobs)
    reply.body = {
        "total_count": len(jobs),
        "jobs": [bodies.job(ctx.state, job) for job in reply.body],
    }
    return reply


@routes.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs")
def list_jobs(ctx: Ctx) -> Reply:
    run = _run(ctx)
    jobs = run.jobs
    if ctx.query.get("filter", "latest") == "latest":
        jobs = [job for job in jobs if job.run_attempt == run.run_attempt]
    return _job_page(ctx, jobs)


@routes.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs")
def list_attempt_jobs(ctx: Ctx) -> Reply:
    """The jobs of one attempt; an attempt the run has not reached yet is 404."""
    run = _run(ctx)
    attempt = ctx.params["attempt_number"]
    if not 1 <= attempt <= run.run_attempt:
        raise not_found()
    jobs = [job for job in run.jobs if job.run_attempt == attempt]
    return _job_page(ctx, jobs)


@routes.add("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}")
def get_job(ctx: Ctx) -> Reply:
    return Reply(200, bodies.job(ctx.state, _job(ctx)))


@routes.add("GET", "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs")
def get_job_logs(ctx: Ctx) -> Reply:
    job = _job(ctx)
    if job.log is None:
        raise ApiError(410, "Gone")
    location = ctx.state.sign_blob(f"/job-logs/{job.id}", "text/plain", job.log)
    return Reply(302, None, {"Location": location})


def _logs_zip(run: WorkflowRun) -> bytes:
    """The run's logs archive: one ``<n>_<job name>.txt`` per job, as GitHub lays it out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, job in enumerate(run.jobs, start=1):
            if job.log is not None:
                safe = re.sub(r"[/\\:]", "_", job.name)
                archive.writestr(f"{number}_{safe}.txt", job.log)
    return buffer.getvalue()


@routes.add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/logs")
def get_run_logs(ctx: Ctx) -> Reply:
    run = _run(ctx)
    if run.jobs and all(job.log is None for job in run.jobs):
        raise ApiError(410, "Gone")
    location = ctx.state.sign_blob(f"/run-logs/{run.id}.zip", "application/zip", _logs_zip(run))
    return Reply(302, None, {"Location": location})


@routes.add("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs")
def rerun_failed_jobs(ctx: Ctx) -> Reply:
    """Records the rerun; what it changes is up to the test's ``on_rerun`` hook."""
    run = _run(ctx)
    ctx.state.reruns.append(run.id)
    if ctx.state.on_rerun:
        ctx.state.on_rerun(run)
    return Reply(201, {})


@routes.add("POST", "/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun")
def rerun_job(ctx: Ctx) -> Reply:
    job = _job(ctx)
    ctx.state.job_reruns.append(job.id)
    return Reply(201, {})
