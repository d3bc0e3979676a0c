"""The load generator: ``wrk`` (1 thread) sending signed deliveries, each with a new delivery id.

The bodies and their signatures are written into a Lua script for wrk; every
request takes the next body in order and a delivery id no request used before,
made the way GitHub makes its own, so the server deduplicates nothing and its
index sees the key order GitHub's ids have.

GitHub's ``X-GitHub-Delivery`` is a version-1 UUID, made from a clock: the
example in GitHub's REST description of a hook delivery,
``58474f00-b361-11eb-836d-0e4f3503ccbe``, decodes to 2021-05-12 20:33:43.92,
the second before that delivery's ``delivered_at`` (2021-05-12T20:33:44Z), and
the older examples in its webhook documentation (``72d3162e-cc78-11e3-...``,
``0b989ba4-242f-11e5-...``) are version 1 too.  Its text starts with the low 32
bits of the time, so ids of deliveries made one after another sort one after
another (the order turns over every 7 minutes 9 seconds).  Each request here
takes the next tick of such a clock (``ID_STEP`` ticks of 100 ns after the last,
starting at the wall-clock time of the run) under a random node per run;
``--random-ids`` sends version-4-like random ids instead, the worst case for the
store's index.  wrk is a C program and needs about a tenth of the CPU the servers
do, which matters on a machine of two cores.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.serve import Delivery

LUA = """
local bodies = {%(bodies)s}
local signatures = {%(signatures)s}
local path = "%(path)s"
local nonce = "%(nonce)s"
local clock_node = "%(clock_node)s"
local n = 0

-- A version-1 UUID as GitHub sends (see bench/load.py), or a random one.
local random_ids = %(random_ids)s
local time_low, time_mid, time_hi, step = %(time_low)d, %(time_mid)d, %(time_hi)d, %(step)d
local function delivery_id(k)
  if random_ids then
    -- the run's nonce and the counter keep it unique
    return string.format("%%08x-%%04x-4%%03x-%%04x-%%s%%08x", math.random(0, 0x7fffffff),
      math.random(0, 0xffff), math.random(0, 0xfff), math.random(0x8000, 0xbfff), nonce, k)
  end
  local ticks = time_low + k * step
  local low = ticks %% 4294967296
  local mid = (time_mid + math.floor(ticks / 4294967296)) %% 65536
  -- (LuaJIT's %%x takes 32-bit signed integers: the low word goes in two halves)
  return string.format("%%04x%%04x-%%04x-1%%03x-%%s",
    math.floor(low / 65536), low %% 65536, mid, time_hi, clock_node)
end

request = function()
  n = n + 1
  local k = (n - 1) %% #bodies + 1
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
  wrk.headers["X-GitHub-Event"] = "workflow_run"
  wrk.headers["X-GitHub-Delivery"] = delivery_id(n)
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


ID_STEP = 100  # 100 ns ticks between two requests' ids: 10 us, faster than any server here


def write_script(
    deliveries: Sequence[Delivery], path: str, out: Path, *, random_ids: bool = False
) -> Path:
    """The wrk script sending ``deliveries`` in order, round and round."""
    now = uuid.uuid1()
    out.write_text(
        LUA
        % {
            "bodies": ",\n".join(_long_string(d.body) for d in deliveries),
            "signatures": ", ".join(json.dumps(d.signature) for d in deliveries),
            "path": path,
            "nonce": secrets.token_hex(2),
            "random_ids": "true" if random_ids else "false",
            "time_low": now.time_low,
            "time_mid": now.time_mid,
            "time_hi": now.time_hi_version & 0x0FFF,
            "step": ID_STEP,
            # clock sequence and node: random per run, as if from a host of GitHub's
            "clock_node": f"{0x8000 | secrets.randbits(14):04x}-{secrets.token_hex(6)}",
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
