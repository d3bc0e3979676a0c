"""The load generator: ``wrk`` (1 thread) sending signed deliveries, each with a new delivery id.

The bodies and their signatures are written into a Lua script for wrk; every
request takes the next body in order and a delivery id no request used before,
shaped like GitHub's (a GUID: random digits, then a per-run nonce and a
counter), so the server deduplicates nothing and its index sees random keys.  wrk is a C
program and needs about a tenth of the CPU the servers do, which matters on a
machine of two cores.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.serve import Delivery

LUA = """
local bodies = {%(bodies)s}
local signatures = {%(signatures)s}
local path = "%(path)s"
local nonce = "%(nonce)s"
local n = 0

request = function()
  n = n + 1
  local k = (n - 1) %% #bodies + 1
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
  wrk.headers["X-GitHub-Event"] = "workflow_run"
  -- A GUID as GitHub sends: random, so the store's index sees GitHub's key order
  -- (not an ever-growing one); the run's nonce and the counter keep it unique.
  wrk.headers["X-GitHub-Delivery"] = string.format("%%08x-%%04x-4%%03x-%%s-%%08x",
    math.random(0, 0x7fffffff), math.random(0, 0xffff), math.random(0, 0xfff), nonce, n)
  wrk.headers["X-Hub-Signature-256"] = signatures[k]
  return wrk.format("POST", path, nil, bodies[k])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "non2xx": %%d, "socket_errors": %%d, '
    .. '"p50_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_us: int
    non2xx: int
    socket_errors: int
    p50_us: int
    p99_us: int
    max_us: int

    @property
    def rate(self) -> float:
        """Answered deliveries per second (errors excluded)."""
        ok = self.requests - self.non2xx - self.socket_errors
        return ok / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def p99_ms(self) -> float:
        return self.p99_us / 1000


def _long_string(data: bytes) -> str:
    text = data.decode()
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def write_script(deliveries: Sequence[Delivery], path: str, out: Path) -> Path:
    """The wrk script sending ``deliveries`` in order, round and round."""
    out.write_text(
        LUA
        % {
            "bodies": ",\n".join(_long_string(d.body) for d in deliveries),
            "signatures": ", ".join(json.dumps(d.signature) for d in deliveries),
            "path": path,
            "nonce": secrets.token_hex(2),
        }
    )
    return out


def wrk(
    url: str, script: Path, *, seconds: float, connections: int = 16, timeout_s: int = 10
) -> WrkResult:
    """Run wrk with 1 thread and ``connections`` keep-alive connections against ``url``."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(script),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    last = [line for line in out.splitlines() if line.startswith("{")][-1]
    return WrkResult(**json.loads(last))
