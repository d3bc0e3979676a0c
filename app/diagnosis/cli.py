"""``python -m app classify LOGFILE``: diagnose a saved job log from the command line.

Useful to check what the app would conclude about a failure before it acts,
and to build new rules from a log that came out ``unknown``.  The log is read
in chunks through the same streaming reader the app uses, so a log of any size
works, from a file or from standard input (``-``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import BinaryIO, TextIO

from app.diagnosis.classify import classify_parsed
from app.diagnosis.logparse import LogReader
from app.diagnosis.model import Diagnosis

CHUNK_BYTES = 64 * 1024


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``classify`` command on the main parser's subcommands."""
    parser = subparsers.add_parser(
        "classify",
        help="diagnose a saved GitHub Actions job log",
        description="Classify a failed job log: category, confidence, tool and key lines.",
    )
    parser.add_argument("logfile", help="the job log to read, or - for standard input")
    parser.add_argument(
        "--job",
        action="append",
        default=[],
        metavar="NAME",
        help="name of the failed job the log comes from (repeatable; weak evidence only)",
    )
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Classify the log named by ``args``; 0 on success, 2 when the log cannot be read."""
    out = out or sys.stdout
    try:
        diagnosis = diagnose_file(args.logfile, args.job)
    except OSError as exc:
        print(
            f"Cannot read the log {args.logfile!r}: {exc.strerror or exc}. "
            "Pass the path of a saved job log, or - to read it from standard input.",
            file=sys.stderr,
        )
        return 2
    if args.json:
        print(json.dumps(diagnosis.to_dict(), indent=2, ensure_ascii=False), file=out)
    else:
        print(render(diagnosis), file=out)
    return 0


def diagnose_file(path: str, job_names: list[str]) -> Diagnosis:
    """Stream a log file (or stdin for ``-``) through the reader and classify it."""
    reader = LogReader()
    if path == "-":
        _pump(sys.stdin.buffer, reader)
    else:
        with open(path, "rb") as stream:
            _pump(stream, reader)
    return classify_parsed(reader.finish(), job_names)


def _pump(stream: BinaryIO, reader: LogReader) -> None:
    while chunk := stream.read(CHUNK_BYTES):
        reader.feed(chunk)


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as a person reads it in a terminal."""
    lines = [
        f"category:   {diagnosis.category.value}",
        f"confidence: {diagnosis.confidence:.2f}",
        f"tool:       {diagnosis.tool or '-'}",
    ]
    if diagnosis.failed_steps:
        lines.append(f"failed:     {', '.join(diagnosis.failed_steps)}")
    lines.append("key lines:")
    for index, key in enumerate(diagnosis.key_lines, start=1):
        where = f"{key.file}:{key.line}" if key.file and key.line else key.file or "-"
        lines.append(f"  {index:>2}. [{where}] {key.text}")
    lines.extend(f"note: {note}" for note in diagnosis.notes)
    return "\n".join(lines)
