"""Soak test: does the SQLite store stay small under sustained load?

``python -m app serve`` (SQLite, the default store) gets two wrk load generators
at once for ``--minutes``: signed 20 KB ``workflow_run.completed`` failures
(8 connections) and the realistic mix of ``requested``/``in_progress``/
``completed`` with one run in ten failing (8 connections), every delivery with
a new id.  Retention is short (``--retention`` seconds for delivery ids,
passes every 10 s), so the database must stop growing once the oldest ids
expire.  Every 10 s the database file, its WAL and the server's RSS are sampled;
after the load, ``--tail`` more seconds show the WAL cut back.

    python bench/soak.py [--minutes 10] [--retention 60] [--out bench/results]

Writes ``soak.md`` (the table), ``soak.json`` (the samples) and the chart,
``soak.svg`` and ``soak.png`` (rendered by headless Chromium), into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import write_script
from bench.machine import REPO_ROOT, describe
from bench.serve import (
    failures,
    free_port,
    private_key_pem,
    realistic_mix,
    rss_bytes,
    start_app,
    stop_server,
)

MB = 1024 * 1024
WAL_CEILING_MB = 64  # the default SQLITE_WAL_MAX_MB, documented in the README


@dataclass(frozen=True)
class Sample:
    t: float
    load: bool
    db_mb: float
    wal_mb: float
    rss_mb: float
    delivery_rows: int


def file_mb(path: Path) -> float:
    try:
        return path.stat().st_size / MB
    except FileNotFoundError:
        return 0.0


def delivery_rows(store: Path) -> int:
    """Rows in ``deliveries`` (read-only, a short read transaction)."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
        return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])


def wrk_process(url: str, script: Path, seconds: int, connections: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout=10s",
            "-s",
            str(script),
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wrk_summary(proc: subprocess.Popen[str]) -> dict[str, int]:
    out, _ = proc.communicate()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def soak(
    minutes: float, retention_s: float, tail_s: float
) -> tuple[list[Sample], dict[str, object]]:
    key = private_key_pem()
    seconds = int(minutes * 60)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        workdir = Path(tmp)
        store = workdir / "store.sqlite3"
        port = free_port()
        server = start_app(
            workdir,
            port,
            key,
            {
                "DELIVERY_RETENTION_DAYS": repr(retention_s / 86400),
                "RETENTION_INTERVAL_SECONDS": "10",
                "SQLITE_WAL_MAX_MB": str(WAL_CEILING_MB),
            },
        )
        url = f"http://127.0.0.1:{port}"
        fail_script = write_script(failures(64), "/webhook", workdir / "failure.lua")
        mix_script = write_script(realistic_mix(20), "/webhook", workdir / "mix.lua")
        samples: list[Sample] = []
        started = time.monotonic()
        loads = [
            wrk_process(url, fail_script, seconds, 8),
            wrk_process(url, mix_script, seconds, 8),
        ]
        try:
            while True:
                now = time.monotonic() - started
                running = any(p.poll() is None for p in loads)
                samples.append(
                    Sample(
                        t=round(now),
                        load=running,
                        db_mb=file_mb(store),
                        wal_mb=file_mb(Path(f"{store}-wal")),
                        rss_mb=rss_bytes(server.pid) / MB,
                        delivery_rows=delivery_rows(store),
                    )
                )
                print(samples[-1], file=sys.stderr, flush=True)
                if not running and now >= seconds + tail_s:
                    break
                time.sleep(10 - (time.monotonic() - started) % 10)  # the sampling period
            summaries = {"failure": wrk_summary(loads[0]), "mix": wrk_summary(loads[1])}
        finally:
            for proc in loads:
                if proc.poll() is None:
                    proc.kill()
            stop_server(server)
    return samples, summaries


def table(samples: list[Sample]) -> str:
    rows = [
        "| time | load | deliveries kept | database | WAL | RSS |",
        "|---|---|---|---|---|---|",
    ]
    for s in samples:
        rows.append(
            f"| {s.t:.0f} s | {'on' if s.load else 'off'} | {s.delivery_rows:,} "
            f"| {s.db_mb:.1f} MB | {s.wal_mb:.1f} MB | {s.rss_mb:.0f} MB |"
        )
    return "\n".join(rows)


def svg_chart(samples: list[Sample], ceiling_mb: float) -> str:
    """Database, WAL and RSS over time as one SVG line chart (no plotting library needed)."""
    width, height, left, right, top, bottom = 900, 420, 60, 150, 30, 50
    t_max = max(s.t for s in samples) or 1
    y_max = max(max(s.db_mb, s.wal_mb, s.rss_mb) for s in samples)
    y_max = max(y_max, ceiling_mb) * 1.1

    def x(t: float) -> float:
        return left + (width - left - right) * t / t_max

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - v / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">ci-fix-loop soak: SQLite store under '
        "sustained webhook load (MB over seconds)</text>",
    ]
    for i in range(6):
        v = y_max * i / 5
        parts.append(
            f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" '
            'stroke="#ddd"/>'
        )
        parts.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
    step = 120 if t_max > 300 else 10
    for t in range(0, int(t_max) + 1, step):
        parts.append(
            f'<text x="{x(t):.1f}" y="{height - bottom + 18}" text-anchor="middle">{t:.0f}</text>'
        )
    load_end = max((s.t for s in samples if s.load), default=0)
    parts.append(
        f'<rect x="{x(load_end):.1f}" y="{top}" width="{x(t_max) - x(load_end):.1f}" '
        f'height="{height - top - bottom}" fill="#f4f4f4"/>'
    )
    parts.append(
        f'<line x1="{left}" y1="{y(ceiling_mb):.1f}" x2="{width - right}" '
        f'y2="{y(ceiling_mb):.1f}" stroke="#c00" stroke-dasharray="6,4"/>'
    )
    parts.append(
        f'<text x="{width - right + 6}" y="{y(ceiling_mb) + 4:.1f}" fill="#c00">'
        f"WAL ceiling {ceiling_mb:.0f} MB</text>"
    )
    for n, (name, colour, values) in enumerate(
        (
            ("database file", "#1f77b4", [s.db_mb for s in samples]),
            ("WAL file", "#d62728", [s.wal_mb for s in samples]),
            ("server RSS", "#2ca02c", [s.rss_mb for s in samples]),
        )
    ):
        points = " ".join(f"{x(s.t):.1f},{y(v):.1f}" for s, v in zip(samples, values, strict=True))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="{width - right + 6}" y="{height - bottom - 50 + 18 * n}" '
            f'fill="{colour}">{name}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
        "seconds (shaded: load stopped)</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def to_png(svg: Path, png: Path) -> None:
    """Render the SVG with headless Chromium (Debian's ``chromium``), if it is installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print(f"no chromium: the chart stays {svg}", file=sys.stderr)
        return
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=900,420", f"--screenshot={png}", svg.resolve().as_uri()],
        check=True, capture_output=True,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--retention", type=float, default=60.0, help="delivery ids kept, s")
    parser.add_argument("--tail", type=float, default=30.0, help="seconds sampled after the load")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--replot", action="store_true", help="redraw the chart from soak.json")
    args = parser.parse_args()
    if args.replot:
        saved = json.loads((args.out / "soak.json").read_text())
        svg = args.out / "soak.svg"
        svg.write_text(svg_chart([Sample(**s) for s in saved["samples"]], WAL_CEILING_MB))
        to_png(svg, args.out / "soak.png")
        return 0
    samples, summaries = soak(args.minutes, args.retention, args.tail)
    args.out.mkdir(parents=True, exist_ok=True)
    loaded = [s for s in samples if s.load]
    sent = {k: v.get("requests", 0) for k, v in summaries.items()}
    errors = {k: v.get("non2xx", 0) + v.get("socket_errors", 0) for k, v in summaries.items()}
    text = (
        f"{table(samples)}\n\n"
        f"{args.minutes:g} minutes of load, delivery ids kept {args.retention:g} s; "
        f"failure deliveries answered: {sent.get('failure', 0):,}, mix: {sent.get('mix', 0):,} "
        f"(errors {errors}); WAL peak {max(s.wal_mb for s in samples):.1f} MB "
        f"(ceiling {WAL_CEILING_MB} MB); database {min(s.db_mb for s in loaded):.1f}–"
        f"{max(s.db_mb for s in loaded):.1f} MB under load; {describe()}.\n"
    )
    (args.out / "soak.md").write_text(text)
    (args.out / "soak.json").write_text(
        json.dumps({"samples": [asdict(s) for s in samples], "wrk": summaries}, indent=1)
    )
    svg = args.out / "soak.svg"
    svg.write_text(svg_chart(samples, WAL_CEILING_MB))
    to_png(svg, args.out / "soak.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
