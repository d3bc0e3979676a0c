"""Collects the evidence of a failed run from GitHub and hands it to the classifier.

For each failed job: its conclusion and failed steps (what GitHub says besides
the log, which the classifier weighs first), its log (streamed through the log
reader, so memory stays bounded however large the log) and its check run's
annotations.  What cannot be fetched (an expired log, a network fault) becomes
a note on the diagnosis instead of an exception: a diagnosis that says "the log
is gone" is still useful to a maintainer.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import aiohttp
from gidgethub import HTTPException

from app.diagnosis.classify import Annotation, JobLog, classify
from app.diagnosis.logparse import LogReader, ParsedLog
from app.diagnosis.model import Diagnosis
from app.github.client import AppGitHubAPI

log = logging.getLogger(__name__)

FAILED_JOB_CONCLUSIONS = frozenset({"failure", "timed_out"})
MAX_JOBS_READ = 5  # a matrix can fail 40 jobs the same way; five show the pattern
MAX_ANNOTATIONS = 50


class LogGatherer:
    """The engine's ``Diagnoser``: GitHub in, ``Diagnosis`` out."""

    def __init__(self, *, tail_bytes: int) -> None:
        self._tail_bytes = tail_bytes

    async def diagnose(self, gh: AppGitHubAPI, repo: str, run_id: int) -> Diagnosis:
        owner, name = repo.split("/", 1)
        where = {"owner": owner, "repo": name}
        jobs = [
            job
            async for job in gh.getiter(
                "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs{?filter,per_page}",
                {**where, "run_id": run_id, "filter": "latest", "per_page": 100},
                iterable_key="jobs",
            )
        ]
        failed = [job for job in jobs if job.get("conclusion") in FAILED_JOB_CONCLUSIONS]
        notes: list[str] = []
        if not failed:
            notes.append("GitHub lists no failed job for this run (it may have failed to start).")
        if len(failed) > MAX_JOBS_READ:
            notes.append(f"{len(failed)} jobs failed; the logs of the first {MAX_JOBS_READ} read.")
        logs: list[JobLog] = []
        annotations: list[Annotation] = []
        for job in failed[:MAX_JOBS_READ]:
            parsed, note = await self._job_log(gh, where, job)
            if note:
                notes.append(note)
            logs.append(
                JobLog(
                    job_name=str(job.get("name", "")),
                    parsed=parsed,
                    failed_steps=tuple(
                        str(step.get("name", ""))
                        for step in job.get("steps") or []
                        if step.get("conclusion") in FAILED_JOB_CONCLUSIONS
                    ),
                    conclusion=job.get("conclusion"),
                )
            )
            annotations.extend(await self._annotations(gh, where, job))
        diagnosis = classify(logs, annotations)
        extra_jobs = tuple(str(j.get("name", "")) for j in failed[MAX_JOBS_READ:])
        return replace(
            diagnosis,
            failed_jobs=tuple(diagnosis.failed_jobs) + extra_jobs,
            notes=tuple(diagnosis.notes) + tuple(notes),
        )

    async def _job_log(
        self, gh: AppGitHubAPI, where: dict[str, Any], job: dict[str, Any]
    ) -> tuple[ParsedLog, str | None]:
        """The job's parsed log, and a note when it could not be read in full."""
        reader = LogReader(tail_bytes=self._tail_bytes)
        name = job.get("name", job.get("id"))
        try:
            status = await gh.download(
                "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs",
                {**where, "job_id": job["id"]},
                reader.feed,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return reader.finish(), f"The log of job {name!r} could not be downloaded ({exc})."
        if status in (404, 410):
            return reader.finish(), (
                f"The log of job {name!r} is no longer available (HTTP {status}): "
                "GitHub deletes logs after the repository's retention period."
            )
        if status != 200:
            return reader.finish(), f"The log of job {name!r} could not be read (HTTP {status})."
        return reader.finish(), None

    async def _annotations(
        self, gh: AppGitHubAPI, where: dict[str, Any], job: dict[str, Any]
    ) -> list[Annotation]:
        found: list[Annotation] = []
        try:
            async for item in gh.getiter(
                "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations{?per_page}",
                {**where, "check_run_id": job["id"], "per_page": 100},
            ):
                if item.get("annotation_level") != "failure":
                    continue
                found.append(
                    Annotation(
                        path=str(item.get("path") or ""),
                        start_line=item.get("start_line"),
                        message=str(item.get("message") or ""),
                        annotation_level=str(item.get("annotation_level")),
                        title=item.get("title"),
                    )
                )
                if len(found) >= MAX_ANNOTATIONS:
                    break
        except (HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            # Annotations only add to the log's evidence: the diagnosis goes on without them.
            log.info("annotations of job %s unavailable: %r", job.get("id"), exc)
        return found
