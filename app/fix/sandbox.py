"""How untrusted subprocesses run: a stripped environment, a private home, a bounded life.

Autofix commands, agent CLIs and verify commands execute code that whoever pushed
the failing commit controls (a ``conftest.py``, a ``package.json`` script, the
repository's own lint config).  They therefore never see the app's environment:
the environment is *built* from an allowlist instead of copied and filtered, so a
secret added to the app later cannot leak by default.

The one trade-off: an agent CLI such as ``claude -p`` needs its model credential
(``ANTHROPIC_API_KEY``) to work at all.  Such credentials are passed explicitly
through ``extra`` by the operator's fixer configuration, and only there.  The app's
own secrets (GitHub App key, webhook secret, tokens, database URL) are refused even
through ``extra``, so a misconfiguration cannot hand them to repository code.  The
model key *is* readable by repository code run by the agent; operators who mind
should use a key with a spending limit, or the ``api`` fixer, which keeps the key
inside the app process.

Every process also runs in its own process group, so a timeout kills the agent and
everything it spawned, and its output is kept as a bounded tail so a chatty or
hostile process cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Copied from the app's environment when set: locale, terminal and CA bundle paths only.
PASSED_THROUGH = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

# Set for every subprocess: behave like CI, no colour codes in logs, no bytecode or
# caches written into the workspace (they would show up in the diff), and an
# identity for agents that commit.
FIXED = {
    "CI": "true",
    "NO_COLOR": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "ci-fix-loop",
    "GIT_AUTHOR_EMAIL": "ci-fix-loop@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "ci-fix-loop",
    "GIT_COMMITTER_EMAIL": "ci-fix-loop@users.noreply.github.com",
}

# Names of the app's own secrets: refused even when passed explicitly in ``extra``.
APP_SECRET_PATTERNS = (
    "GITHUB_*",
    "GH_*",
    "APP_ID",
    "*PRIVATE_KEY*",
    "WEBHOOK_*",
    "DATABASE_URL",
    "STATUS_TOKEN",
    "CI_HOOK_TOKEN",
)

OUTPUT_TAIL_BYTES = 4096
KILL_GRACE_S = 5.0


def is_app_secret_name(name: str) -> bool:
    """True for variable names the app's own secrets use."""
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern) for pattern in APP_SECRET_PATTERNS)


def clean_env(
    extra: Mapping[str, str] | None = None,
    *,
    home: Path | None = None,
    tmpdir: Path | None = None,
) -> dict[str, str]:
    """The environment every sandboxed subprocess gets; see the module docstring.

    ``home`` and ``tmpdir`` should be private directories (``private_env`` makes
    them); without ``home`` the variable is left unset rather than pointing at the
    app's real home, whose dotfiles may hold credentials.
    """
    env = {name: os.environ[name] for name in PASSED_THROUGH if os.environ.get(name)}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(FIXED)
    if home is not None:
        env["HOME"] = str(home)
        env["XDG_CONFIG_HOME"] = str(home / ".config")
        env["XDG_CACHE_HOME"] = str(home / ".cache")
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    for name, value in (extra or {}).items():
        if is_app_secret_name(name):
            raise ValueError(
                f"{name} looks like one of the app's own secrets and is never passed to "
                "fixer subprocesses; pass only the model credential the agent needs "
                "(for example ANTHROPIC_API_KEY)."
            )
        env[name] = value
    return env


@contextlib.contextmanager
def private_env(extra: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """A clean environment with a fresh private HOME and TMPDIR, removed afterwards.

    The home lives outside the workspace so caches and agent state never reach the
    diff, and is fresh per run so nothing one repository's code leaves behind is
    seen by the next.
    """
    base = Path(tempfile.mkdtemp(prefix="ci-fix-home-"))
    try:
        home = base / "home"
        tmp = base / "tmp"
        home.mkdir(mode=0o700)
        tmp.mkdir(mode=0o700)
        yield clean_env(extra, home=home, tmpdir=tmp)
    finally:
        remove_tree(base)


def remove_tree(path: Path) -> None:
    """Delete a tree even where a tool left read-only directories (Go's module cache)."""

    def make_writable_and_retry(func, failed_path, _exc_info) -> None:  # type: ignore[no-untyped-def]
        parent = os.path.dirname(failed_path)
        with contextlib.suppress(OSError):
            os.chmod(parent, stat.S_IRWXU)
            if not os.path.islink(failed_path) and os.path.isdir(failed_path):
                os.chmod(failed_path, stat.S_IRWXU)
        func(failed_path)

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onerror=make_writable_and_retry)


@dataclass(frozen=True)
class ProcessOutcome:
    """How a sandboxed process ended; ``exit_code`` is None when it was killed on timeout."""

    exit_code: int | None
    timed_out: bool
    stdout: bytes
    stderr: bytes


async def run_sandboxed(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    stdin: bytes | None = None,
    output_limit: int = OUTPUT_TAIL_BYTES,
    merge_stderr: bool = False,
) -> ProcessOutcome:
    """Run ``argv`` (no shell) in its own process group; kill the group on timeout.

    The group is also killed after a normal exit, so daemons an agent started do not
    outlive the run and keep writing into a workspace about to be published.  Only
    the last ``output_limit`` bytes of each stream are kept.  Raises
    ``FileNotFoundError`` when ``argv[0]`` does not exist.
    """
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _ExitAwareProtocol(loop),
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    streams = [proc.stdout] if merge_stderr else [proc.stdout, proc.stderr]
    readers = [asyncio.create_task(_read_tail(s, output_limit)) for s in streams if s]
    feeder = (
        asyncio.create_task(_feed(proc.stdin, stdin)) if proc.stdin and stdin is not None else None
    )
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(protocol.exited), timeout_s)
    except TimeoutError:
        timed_out = True
    except BaseException:
        _kill_group(proc.pid)
        for task in [*readers, feeder]:
            if task:
                task.cancel()
        raise
    _kill_group(proc.pid)
    # Not proc.wait(): on 3.11 it also waits for the pipes, which an escaped daemon holds.
    await protocol.exited
    if feeder:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
    # A process that left the group (setsid) may still hold the pipes; don't wait forever.
    done, pending = await asyncio.wait(readers, timeout=KILL_GRACE_S)
    for task in pending:
        task.cancel()
    transport.close()  # our ends of pipes an escaped daemon still holds
    tails = [t.result() if t in done else b"" for t in readers]
    return ProcessOutcome(
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        stdout=tails[0],
        stderr=b"" if merge_stderr else tails[1],
    )


def tail_text(data: bytes, limit: int = OUTPUT_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of output as text, for reports and prompts."""
    return data[-limit:].decode("utf-8", errors="replace")


class _ExitAwareProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Reports the process's exit as soon as it happens.

    ``Process.wait()`` (Python 3.11) returns only once every pipe is closed, so a
    daemon the agent left holding stdout would keep a finished run waiting for its
    full timeout; ``exited`` resolves on the exit itself.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _read_tail(stream: asyncio.StreamReader, limit: int) -> bytes:
    buffer = bytearray()
    while chunk := await stream.read(65536):
        buffer += chunk
        if len(buffer) > limit:
            del buffer[:-limit]
    return bytes(buffer)


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    """Write the prompt; a process that exits without reading it is not an error."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stream.write(data)
        await stream.drain()
        stream.close()
        await stream.wait_closed()
