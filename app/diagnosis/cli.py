"""``python -m app classify LOGFILE``: diagnose a saved job log from the command line.

Useful to check what the app would conclude about a failure before it acts,
and to build new rules from a log that came out ``unknown``.  The log is read
in chunks through the same streaming reader the app uses, so a log of any size
works, from a file or from standard input (``-``).  It may be a job log as the
API returns it, the output of ``gh run view --log-failed``, an excerpt copied
from the web UI, a log saved as UTF-16 by Windows PowerShell, or the run's log
archive as downloaded (a zip, recognised by its first bytes, whose job logs are
read one by one).  Output cut short by the
reader (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import codecs
import io
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO, BinaryIO, TextIO

from app.diagnosis.classify import JobLog, classify, classify_parsed
from app.diagnosis.logparse import LogReader
from app.diagnosis.model import Diagnosis

CHUNK_BYTES = 64 * 1024
ZIP_MAGIC = b"PK\x03\x04"
# A log saved by Windows PowerShell's ``>`` is UTF-16 with a byte-order mark.
UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
# A run's archive holds one log per job (and per step); a matrix of hundreds is still bounded.
MAX_ZIP_MEMBERS = 2000
MAX_ZIP_JOBS = 5
# Decompressed bytes read from one archive: a zip bomb stops here, not at the disk's end.
MAX_ZIP_BYTES = 2 * 1024**3
CONCLUSIONS = ("failure", "cancelled", "timed_out")
_ORDER_PREFIX = re.compile(r"^(\d+)_")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``classify`` command on the main parser's subcommands."""
    parser = subparsers.add_parser(
        "classify",
        help="diagnose a saved GitHub Actions job log",
        description=(
            "Classify a failed job log: category, confidence, tool and key lines. "
            "Reads a job log, `gh run view --log-failed` output, an excerpt copied from the "
            "web UI, or the run's downloaded log archive (zip)."
        ),
    )
    parser.add_argument("logfile", help="the job log to read, or - for standard input")
    parser.add_argument(
        "--job",
        action="append",
        default=[],
        metavar="NAME",
        help="name of the failed job the log comes from (repeatable; weak evidence only)",
    )
    parser.add_argument(
        "--conclusion",
        choices=CONCLUSIONS,
        help="the job's conclusion as GitHub reports it (cancelled and timed_out decide infra)",
    )
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Classify the log named by ``args``; 0 on success, 2 when the log cannot be read."""
    out = out or sys.stdout
    try:
        diagnosis = diagnose_file(args.logfile, args.job, getattr(args, "conclusion", None))
    except OSError as exc:
        print(
            f"Cannot read the log {args.logfile!r}: {exc.strerror or exc}. "
            "Pass the path of a saved job log, or - to read it from standard input.",
            file=sys.stderr,
        )
        return 2
    except (zipfile.BadZipFile, NotImplementedError) as exc:
        print(
            f"Cannot read the log archive {args.logfile!r}: {exc}. "
            "Download it again (Actions run page, or `gh run download`), or pass one job's log.",
            file=sys.stderr,
        )
        return 2
    if args.json:
        text = json.dumps(diagnosis.to_dict(), indent=2, ensure_ascii=False)
    else:
        text = render(diagnosis)
    try:
        print(text, file=out)
        out.flush()
    except BrokenPipeError:
        _silence(out)
    return 0


def _silence(out: TextIO) -> None:
    """The reader stopped reading (``| head``): that is its choice, not an error.

    Python would still try to flush the stream at exit and print a traceback, so the
    stream's descriptor is pointed at ``/dev/null`` (the recipe of Python's ``signal`` docs).
    """
    try:
        fileno = out.fileno()
    except (OSError, io.UnsupportedOperation):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fileno)
    finally:
        os.close(devnull)


def diagnose_file(path: str, job_names: list[str], conclusion: str | None = None) -> Diagnosis:
    """Stream a log file (or stdin for ``-``) through the reader and classify it."""
    if path == "-":
        return _diagnose_stream(sys.stdin.buffer, job_names, conclusion)
    with open(path, "rb") as stream:
        return _diagnose_stream(stream, job_names, conclusion)


def _diagnose_stream(stream: BinaryIO, job_names: list[str], conclusion: str | None) -> Diagnosis:
    first = stream.read(len(ZIP_MAGIC))
    if first == ZIP_MAGIC:
        return _diagnose_archive(first, stream, job_names, conclusion)
    reader = LogReader()
    encoding = UTF16_BOMS.get(first[:2])
    if encoding is not None:
        _pump_utf16(first[2:], stream, reader, encoding)
    else:
        reader.feed(first)
        _pump(stream, reader)
    return classify_parsed(reader.finish(), job_names, conclusion)


def _pump_utf16(first: bytes, stream: IO[bytes], reader: LogReader, encoding: str) -> None:
    """Re-encode a UTF-16 log to the UTF-8 the reader works on, chunk by chunk."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    reader.feed(decoder.decode(first).encode("utf-8"))
    while chunk := stream.read(CHUNK_BYTES):
        reader.feed(decoder.decode(chunk).encode("utf-8"))
    reader.feed(decoder.decode(b"", final=True).encode("utf-8"))


def _diagnose_archive(
    first: bytes, stream: BinaryIO, job_names: list[str], conclusion: str | None
) -> Diagnosis:
    """A run's log archive: zip needs to seek, so a pipe is spooled to a temporary file first."""
    with tempfile.TemporaryFile() as spool:
        spool.write(first)
        shutil.copyfileobj(stream, spool, CHUNK_BYTES)
        spool.seek(0)
        with zipfile.ZipFile(spool) as archive:
            logs = list(_archive_jobs(archive, conclusion))
    failed = [log for log in logs if log.parsed.failed_steps or log.parsed.errors]
    chosen = (failed or logs)[:MAX_ZIP_JOBS]
    return classify(chosen)


def _archive_jobs(archive: zipfile.ZipFile, conclusion: str | None) -> Iterator[JobLog]:
    """One parsed log per job: the archive's top-level ``N_job.txt`` files hold whole job logs;
    without them, each job's folder holds its steps as ``N_step.txt``, read in step order."""
    members = [m for m in archive.infolist()[:MAX_ZIP_MEMBERS] if not m.is_dir()]
    top = [m for m in members if "/" not in m.filename.strip("/")]
    jobs: dict[str, list[zipfile.ZipInfo]] = {}
    if top:
        for member in top:
            jobs.setdefault(_job_name(member.filename), []).append(member)
    else:
        for member in members:
            folder = member.filename.split("/", 1)[0]
            jobs.setdefault(folder, []).append(member)
    budget = [MAX_ZIP_BYTES]
    for name, parts in jobs.items():
        reader = LogReader()
        for member in sorted(parts, key=lambda m: _step_order(m.filename)):
            with archive.open(member) as part:
                _pump(part, reader, budget)
        yield JobLog(job_name=name, parsed=reader.finish(), conclusion=conclusion)


def _job_name(filename: str) -> str:
    base = filename.rsplit("/", 1)[-1]
    base = base[: -len(".txt")] if base.endswith(".txt") else base
    return _ORDER_PREFIX.sub("", base)


def _step_order(filename: str) -> tuple[int, str]:
    base = filename.rsplit("/", 1)[-1]
    number = _ORDER_PREFIX.match(base)
    return (int(number.group(1)) if number else 1 << 30, base)


def _pump(stream: IO[bytes], reader: LogReader, budget: list[int] | None = None) -> None:
    while chunk := stream.read(CHUNK_BYTES):
        if budget is not None:
            if budget[0] <= 0:
                return
            chunk = chunk[: budget[0]]
            budget[0] -= len(chunk)
        reader.feed(chunk)


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as a person reads it in a terminal."""
    lines = [
        f"category:   {diagnosis.category.value}",
        f"confidence: {diagnosis.confidence:.2f}",
        f"tool:       {diagnosis.tool or '-'}",
    ]
    if diagnosis.failed_jobs:
        lines.append(f"jobs:       {', '.join(diagnosis.failed_jobs)}")
    if diagnosis.failed_steps:
        lines.append(f"failed:     {', '.join(diagnosis.failed_steps)}")
    lines.append("key lines:")
    for index, key in enumerate(diagnosis.key_lines, start=1):
        where = f"{key.file}:{key.line}" if key.file and key.line else key.file or "-"
        lines.append(f"  {index:>2}. [{where}] {key.text}")
    lines.extend(f"note: {note}" for note in diagnosis.notes)
    return "\n".join(lines)
