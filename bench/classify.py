"""Benchmark: streaming parse + classify of a large GitHub Actions job log.

Generates a realistic log (many steps, timestamps, colour codes, nested groups,
warnings, a pytest failure near the end), then measures, in a fresh process per
run so the generator's memory does not count, the throughput of feeding it in
64 KB chunks to ``LogReader`` and classifying the result, and that process's
peak RSS.  Prints one Markdown table row (median of the runs).  Throughput is
given by wall clock and by the process's CPU time: on a machine shared with
other work the wall clock measures the neighbours, the CPU time the code.

    python -m bench.classify [--mb 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _stamp(seconds: float) -> str:
    whole = int(seconds)
    return (
        f"2026-11-20T{10 + whole // 3600 % 12:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}."
        f"{int((seconds - whole) * 1e7):07d}Z "
    )


def _step_output(rng: random.Random, index: int) -> Iterator[str]:
    """Noise a real step prints: installs, colourful test progress, nested groups, warnings."""
    kind = index % 4
    for n in range(rng.randint(2000, 6000)):
        if kind == 0:
            yield f"  Downloading package_{n}-1.{n % 17}.0-py3-none-any.whl (12{n % 10} kB)"
        elif kind == 1:
            yield (
                f"tests/test_module_{index}.py::test_case_{n} \x1b[32mPASSED\x1b[0m"
                f"{' ' * 20}[{n % 100:3d}%]"
            )
        elif kind == 2:
            yield f"\x1b[36m[webpack]\x1b[39m asset chunk-{n:05x}.js {n % 900} KiB [emitted]"
        else:
            yield f"  src/module_{n % 40}/file_{n}.ts \x1b[2m{n % 50}ms\x1b[22m (unchanged)"
        if n % 997 == 0:
            yield "##[group]Collecting environment"
            yield f"PYTHON_VERSION=3.11.{n % 9}"
            yield "##[endgroup]"
        if n % 1499 == 0:
            yield f"##[warning]Deprecated option used in step {index}"


def _failure() -> Iterator[str]:
    yield "=================================== FAILURES ==================================="
    yield "_________________________________ test_tax_at __________________________________"
    yield "    def test_tax_at(invoice):"
    yield '>       assert invoice.tax() == Decimal("9.00")'
    yield "E       KeyError: 'AT'"
    yield ""
    yield "src/invoicer/tax.py:15: KeyError"
    yield "=========================== short test summary info ============================"
    yield "FAILED tests/test_models.py::test_tax_at - KeyError: 'AT'"
    yield "=================== 1 failed, 9999 passed in 312.45s (0:05:12) ==================="
    yield "##[error]Process completed with exit code 1."


def generate(path: Path, megabytes: int, seed: int = 7) -> int:
    """Write a log of about ``megabytes`` MB; returns its size in bytes."""
    rng = random.Random(seed)
    target = megabytes * 1024 * 1024
    clock = 0.0
    written = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:

        def emit(lines: Iterator[str]) -> None:
            nonlocal clock, written
            batch = []
            for line in lines:
                clock += 0.0013
                batch.append(_stamp(clock) + line + "\n")
            text = "".join(batch)
            written += len(text.encode())
            out.write(text)

        emit(
            iter(
                [
                    "Current runner version: '2.329.0'",
                    "##[group]Operating System",
                    "Ubuntu",
                    "##[endgroup]",
                ]
            )
        )
        index = 0
        while written < target - 2 * 1024 * 1024:
            emit(
                iter(
                    [
                        f"##[group]Run make step-{index}",
                        f"make step-{index}",
                        "shell: /usr/bin/bash -e {0}",
                        "##[endgroup]",
                    ]
                )
            )
            emit(_step_output(rng, index))
            index += 1
        emit(
            iter(
                [
                    "##[group]Run pytest -q",
                    "pytest -q",
                    "shell: /usr/bin/bash -e {0}",
                    "##[endgroup]",
                ]
            )
        )
        emit(_step_output(rng, 1))
        emit(_failure())
        emit(iter(["Post job cleanup.", "Cleaning up orphan processes"]))
    return written


def measure(path: Path) -> dict[str, object]:
    """One run: stream the file through the reader and classify; report time and peak RSS."""
    from app.diagnosis.cli import diagnose_file

    started, cpu_started = time.perf_counter(), time.process_time()
    diagnosis = diagnose_file(str(path), ["tests"])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "bytes": path.stat().st_size,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "category": diagnosis.category.value,
        "key_line": diagnosis.key_lines[0].text if diagnosis.key_lines else "",
    }


def _run_fresh(path: Path) -> dict[str, object]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.classify", "--measure", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the generated log")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.log"
        size = generate(path, args.mb)
        runs = [_run_fresh(path) for _ in range(args.runs)]
    speeds = [size / 1e6 / float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
    cpu_speeds = [size / 1e6 / float(r["cpu_seconds"]) for r in runs]  # type: ignore[arg-type]
    rss = [int(r["max_rss_kb"]) / 1024 for r in runs]  # type: ignore[call-overload]
    print(
        f"| log size | throughput (median of {args.runs}) | by CPU time | peak RSS (median) "
        "| category | top key line |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {size / 1e6:.0f} MB | {statistics.median(speeds):.0f} MB/s "
        f"| {statistics.median(cpu_speeds):.0f} MB/s | {statistics.median(rss):.0f} MB "
        f"| {runs[0]['category']} | `{runs[0]['key_line']}` |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
