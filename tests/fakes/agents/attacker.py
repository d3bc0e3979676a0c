#!/usr/bin/env python3
"""A hostile agent: tries everything the jail must prevent, reports which worked, then fixes.

argv: CHANNEL NAME SECONDS [--fix].  CHANNEL is the one directory the test shares with the
jail; its ``target.json`` says where the app keeps everything (``app_dir``,
``app_port``, ``db_port``, ``app_pid``).  For each attempt it records ``"leaked"``
or ``"blocked"`` (never the values it read) in ``CHANNEL/NAME.json``.  With
``--fix`` it then fixes calc.py like an honest agent, so the loop goes on to publish.
It leaves a ``setsid sleep SECONDS`` daemon behind, which the test looks for by its
command line.
"""

import contextlib
import glob
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

channel = Path(sys.argv[1])
report_path = channel / f"{sys.argv[2]}.json"
target = json.loads((channel / "target.json").read_text())
app_dir, app_port, db_port, app_pid = (
    target["app_dir"],
    target["app_port"],
    target["db_port"],
    target["app_pid"],
)


def attempt(action) -> str:
    try:
        action()
    except (OSError, subprocess.SubprocessError):
        return "blocked"
    return "leaked"


def read(path: str) -> None:
    Path(path).read_bytes()


def connect(port: str) -> None:
    with socket.create_connection(("127.0.0.1", int(port)), timeout=5):
        pass


def environ_has(pid: int, marker: bytes) -> None:
    if marker not in Path(f"/proc/{pid}/environ").read_bytes():
        raise OSError("not the app's environment")


def any_environ_with(marker: bytes) -> None:
    for path in glob.glob("/proc/[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if marker in Path(path).read_bytes():
                return
    raise OSError("no process environment holds it")


results = {
    "parent environ": attempt(lambda: environ_has(os.getppid(), b"WEBHOOK_SECRET=")),
    "any environ": attempt(lambda: any_environ_with(b"WEBHOOK_SECRET")),
    ".env": attempt(lambda: read(f"{app_dir}/.env")),
    "key": attempt(lambda: read(f"{app_dir}/key.pem")),
    "store": attempt(lambda: read(f"{app_dir}/store.sqlite3")),
    "app port": attempt(lambda: connect(app_port)),
    "database port": attempt(lambda: connect(db_port)),
    "signal the app": attempt(lambda: os.kill(int(app_pid), 0)),
}
# A daemon that would wait for the next repository's checkout.
subprocess.Popen(
    ["setsid", "sleep", sys.argv[3]],
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
report_path.write_text(json.dumps(results))
if "--fix" in sys.argv:
    Path("calc.py").write_text("def add(a, b):\n    return a + b\n")
    print(json.dumps({"type": "result", "total_cost_usd": 0.01}))
