"""Servers and deliveries the intake benchmarks share: our app, the Probot peer, signed bodies.

``python -m app serve`` runs as in production (a subprocess with its own SQLite
store, INFO logging, a webhook secret).  The Probot peer is Probot 14's minimal
app (``bench/probot/app.js``, every event answered with nothing), installed with
npm into ``bench/probot/node_modules`` the first time it is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.machine import REPO_ROOT, python_env

SECRET = "bench-webhook-secret-0123456789abcdef"
WEBHOOKS = REPO_ROOT.parent / "shared" / "github" / "webhooks" / "workflow_run"
PROBOT_DIR = REPO_ROOT / "bench" / "probot"
TARGET_BODY_BYTES = 20 * 1024


@dataclass(frozen=True)
class Delivery:
    """One signed ``workflow_run`` body, ready to send with any delivery id."""

    action: str
    body: bytes
    signature: str


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def workflow_run(run_id: int, action: str, conclusion: str | None) -> Delivery:
    """A real ``workflow_run`` payload for ``run_id`` in the state ``action`` reports, 20 KB.

    No ``installation`` block, as in every benchmark here: the app verifies,
    records and processes the delivery, and no handler has a reason to call GitHub.
    """
    payload = json.loads((WEBHOOKS / "completed.1.json").read_text())
    payload["action"] = action
    run = payload["workflow_run"]
    run["id"] = run_id
    run["status"] = {"requested": "queued", "in_progress": "in_progress"}.get(action, "completed")
    run["conclusion"] = conclusion
    body = json.dumps(payload).encode()
    if len(body) < TARGET_BODY_BYTES:
        payload["padding"] = "x" * (TARGET_BODY_BYTES - len(body) - len(', "padding": ""'))
        body = json.dumps(payload).encode()
    return Delivery(action, body, sign(body))


def failures(count: int) -> list[Delivery]:
    """``count`` distinct ``workflow_run.completed`` deliveries with conclusion ``failure``."""
    return [workflow_run(20_000_000 + n, "completed", "failure") for n in range(count)]


def realistic_mix(runs: int) -> list[Delivery]:
    """What GitHub sends for ``runs`` workflow runs: requested, in_progress, completed.

    One run in ten fails; the others succeed.
    """
    out: list[Delivery] = []
    for n in range(runs):
        run_id = 30_000_000 + n
        out.append(workflow_run(run_id, "requested", None))
        out.append(workflow_run(run_id, "in_progress", None))
        out.append(workflow_run(run_id, "completed", "failure" if n % 10 == 0 else "success"))
    return out


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def wait_healthy(server: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as exc:
            if getattr(exc, "code", None) is not None:
                return  # it answered (Probot has no /healthz; a 404 means it listens)
            time.sleep(0.05)  # polling a starting subprocess; not a test
    server.kill()
    raise RuntimeError(f"the server did not answer {url} within {timeout:.0f} s")


def start_app(
    workdir: Path, port: int, key: str, env_extra: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``python -m app serve`` on ``port``, its store in ``workdir``; returns once it answers."""
    env = python_env()
    env.update(
        APP_ID="1",
        PRIVATE_KEY=key,
        WEBHOOK_SECRET=SECRET,
        # Nothing here calls GitHub; a dead loopback port makes any stray call fail fast.
        GITHUB_API_URL=f"http://127.0.0.1:{free_port()}",
        STORE_PATH=str(workdir / "store.sqlite3"),
        HOST="127.0.0.1",
        PORT=str(port),
        FIXER="none",  # intake only: no loop is ever fixed here
    )
    env.update(env_extra or {})
    log = workdir / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    wait_healthy(server, f"http://127.0.0.1:{port}/healthz", log, 60)
    return server


def ensure_probot() -> Path:
    """Install the pinned Probot peer into ``bench/probot/node_modules`` once; its CLI."""
    cli = PROBOT_DIR / "node_modules" / "probot" / "lib" / "bin" / "probot.js"
    if not cli.exists():
        print("installing the Probot peer (npm ci, once) ...", file=sys.stderr)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=PROBOT_DIR, check=True
        )
    return cli


def start_probot(workdir: Path, port: int, key: str) -> subprocess.Popen[bytes]:
    """Probot's own ``probot run`` with the minimal app, webhooks at ``/webhook``."""
    cli = ensure_probot()
    env = dict(os.environ)
    env.update(
        APP_ID="1",
        PRIVATE_KEY=key,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_PATH="/webhook",
        HOST="127.0.0.1",
        PORT=str(port),
        NODE_ENV="production",
    )
    log = workdir / "probot.log"
    server = subprocess.Popen(
        ["node", str(cli), "run", str(PROBOT_DIR / "app.js")],
        cwd=PROBOT_DIR,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_healthy(server, f"http://127.0.0.1:{port}/", log, 60)
    return server


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
