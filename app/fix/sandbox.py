"""How untrusted processes run: in a bubblewrap jail, with an allow-listed environment.

Autofix commands, agent CLIs and verify commands execute code that whoever pushed
the failing commit controls (a ``conftest.py``, a ``package.json`` script, the
repository's own lint config).  Every one of them goes through ``Sandbox.run``,
which starts it under bubblewrap (``bwrap``) with:

* new user, pid, ipc, uts, cgroup and (unless allowed) network namespaces, an
  unprivileged uid inside, no capabilities, no nested user namespaces;
* a filesystem made of the system directories read-only, a few ``/etc`` files,
  a fresh ``/proc`` of its own, private tmpfs ``/tmp`` and ``HOME``, and the one
  workspace writable: the app's directory, ``.env``, key, store, other
  workspaces and the app's own ``/proc`` do not exist in there;
* an environment *built* from an allow-list (``--clearenv``), so a secret added
  to the app later cannot leak by default; the arguments, values included, go to
  bwrap through a pipe (``--args``), never on a command line other users can read;
* resource limits (memory, processes, file size, CPU time) set with
  ``setrlimit`` before bwrap starts, inherited by everything inside;
* one life: the pid namespace's init dies with bwrap (``--die-with-parent``) and
  takes every process inside with it, ``setsid`` daemons included, when the step
  ends or times out.

The agent gets the model endpoints only, through ``app.fix.egress``; autofix and
verify get no network unless the operator allows it (``SANDBOX_ALLOW_NETWORK``).

The one trade-off: an agent CLI such as ``claude -p`` needs its model credential
(``ANTHROPIC_API_KEY``) to work at all.  Such credentials are passed explicitly
through ``extra`` by the operator's fixer configuration, and only there.  The app's
own secrets (GitHub App key, webhook secret, tokens, database URL) are refused even
through ``extra``, so a misconfiguration cannot hand them to repository code.

``SANDBOX=none`` (refused unless ``INSECURE_NO_SANDBOX=1``) keeps only the
allow-listed environment, private HOME and process-group kill; it exists for
hosts without user namespaces and is announced at every start.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fnmatch
import json
import logging
import os
import resource
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.errors import SandboxUnavailable
from app.fix.egress import PROXY_PORT, EgressGate, Endpoint
from app.settings import Settings

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


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    stdin: bytes | None = None,
    output_limit: int = OUTPUT_TAIL_BYTES,
    merge_stderr: bool = False,
    preexec: Callable[[], None] | None = None,
    pass_fds: Sequence[int] = (),
    reap: Callable[[], Awaitable[None]] | None = None,
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
        preexec_fn=preexec,
        pass_fds=tuple(pass_fds),
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
        if reap:
            await reap()
        for task in [*readers, feeder]:
            if task:
                task.cancel()
        raise
    _kill_group(proc.pid)
    if reap:
        await reap()
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


# -- the jail -------------------------------------------------------------------------

log = logging.getLogger(__name__)

JAIL_UID = 1000
JAIL_HOME = "/home/sandbox"
JAIL_RUN = "/run/ci-fix"  # the relay and the egress sockets, as seen inside
RELAY = Path(__file__).with_name("egress_relay.py")

# System directories mounted read-only; merged-/usr links are recreated as links.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The /etc files programs need to run: loader, certificates, alternatives, locale.
# Not /etc as a whole: it can hold operator secrets (an /etc/ci-fix-loop.env).
ETC_FILES = (
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ssl",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/mime.types",
    "/etc/protocols",
    "/etc/services",
)
DEFAULT_AGENT_ENDPOINTS = (Endpoint("api.anthropic.com", 443), Endpoint("api.openai.com", 443))
NETWORK_ETC_FILES = ("/etc/resolv.conf", "/etc/gai.conf", "/etc/host.conf")


class SandboxMode(enum.StrEnum):
    BWRAP = "bwrap"
    NONE = "none"


class Network(enum.Enum):
    """What a sandboxed step may reach."""

    NONE = "none"  # loopback of its own only
    MODEL = "model"  # the agent: the allow-listed model endpoints through the egress gate
    HOST = "host"  # the host's network (autofix/verify with SANDBOX_ALLOW_NETWORK=1)


@dataclass(frozen=True)
class Limits:
    """Per-process resource limits (``setrlimit``), inherited by everything in the jail.

    ``memory_bytes`` limits each process's data segment and anonymous memory
    (``RLIMIT_DATA``), not its address space: JIT runtimes such as node reserve
    far more address space than they use.  ``processes`` (``RLIMIT_NPROC``) counts
    the host user's processes and is not enforced by the kernel for root: run the
    app as a dedicated user.
    """

    memory_bytes: int = 4 << 30
    processes: int = 512
    file_bytes: int = 1 << 30
    cpu_seconds: int = 3600

    def apply(self) -> None:
        """Set the limits on the calling process (runs in the child before ``exec``)."""
        for kind, value in (
            (resource.RLIMIT_DATA, self.memory_bytes),
            (resource.RLIMIT_NPROC, self.processes),
            (resource.RLIMIT_FSIZE, self.file_bytes),
            (resource.RLIMIT_CPU, self.cpu_seconds),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(kind, (value, value))


@dataclass(frozen=True)
class Sandbox:
    """How every untrusted process runs; built once from the operator's settings."""

    mode: SandboxMode = SandboxMode.BWRAP
    limits: Limits = field(default_factory=Limits)
    allow_network: bool = False
    agent_endpoints: tuple[Endpoint, ...] = ()
    readonly_paths: tuple[Path, ...] = ()
    writable_paths: tuple[Path, ...] = ()
    bwrap: str = "bwrap"

    @classmethod
    def from_settings(cls, settings: Settings) -> Sandbox:
        """The operator's sandbox; the agent may reach the configured model endpoints only.

        Those are ``SANDBOX_AGENT_HOSTS`` plus the hosts of ``ANTHROPIC_BASE_URL``
        and ``OPENAI_BASE_URL``; with none of them set, the providers' public APIs.
        """
        endpoints = list(settings.sandbox_agent_hosts)
        for url in (settings.anthropic_base_url, settings.openai_base_url):
            if url:
                endpoints.append(Endpoint.from_url(url))
        if not endpoints:
            endpoints = list(DEFAULT_AGENT_ENDPOINTS)
        return cls(
            mode=SandboxMode(settings.sandbox),
            limits=Limits(
                memory_bytes=settings.sandbox_memory_mb << 20,
                processes=settings.sandbox_max_processes,
                file_bytes=settings.sandbox_max_file_mb << 20,
                cpu_seconds=settings.sandbox_cpu_seconds,
            ),
            allow_network=settings.sandbox_allow_network,
            agent_endpoints=tuple(sorted(set(endpoints))),
            readonly_paths=settings.sandbox_readonly_paths,
            writable_paths=settings.sandbox_writable_paths,
        )

    async def run(
        self,
        argv: Sequence[str],
        *,
        workspace: Path,
        timeout_s: float,
        network: Network = Network.NONE,
        extra_env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        output_limit: int = OUTPUT_TAIL_BYTES,
        merge_stderr: bool = False,
    ) -> ProcessOutcome:
        """Run ``argv`` (no shell) with ``workspace`` as its working directory.

        Raises ``FileNotFoundError`` when ``argv[0]`` cannot be found (outside or,
        under bwrap, inside the jail) and ``SandboxUnavailable`` when bwrap itself
        is missing.
        """
        if self.mode is SandboxMode.NONE:
            with private_env(extra_env) as env:
                return await run_process(
                    argv,
                    cwd=workspace,
                    env=env,
                    timeout_s=timeout_s,
                    stdin=stdin,
                    output_limit=output_limit,
                    merge_stderr=merge_stderr,
                    preexec=self.limits.apply,
                )
        if network is Network.HOST and not self.allow_network:
            network = Network.NONE
        async with self._jail(argv, workspace, network, extra_env) as (args_file, command):
            info_file = args_file.with_name("info")
            bwrap = shutil.which(self.bwrap)
            if bwrap is None:
                raise SandboxUnavailable(_BWRAP_MISSING.format(bwrap=self.bwrap))
            with args_file.open("rb") as args, info_file.open("wb") as info:
                try:
                    outcome = await run_process(
                        [
                            bwrap,
                            "--args",
                            str(args.fileno()),
                            "--info-fd",
                            str(info.fileno()),
                            "--",
                            *command,
                        ],
                        cwd=Path("/"),
                        env={},
                        timeout_s=timeout_s,
                        stdin=stdin,
                        output_limit=output_limit,
                        merge_stderr=merge_stderr,
                        preexec=self.limits.apply,
                        pass_fds=(args.fileno(), info.fileno()),
                        reap=lambda: _end_jail(info_file),
                    )
                except FileNotFoundError as exc:
                    raise SandboxUnavailable(_BWRAP_MISSING.format(bwrap=self.bwrap)) from exc
        if outcome.exit_code in (1, 127) and _not_found_inside(outcome):
            raise FileNotFoundError(f"{argv[0]} is not found inside the sandbox")
        return outcome

    @contextlib.asynccontextmanager
    async def _jail(
        self,
        argv: Sequence[str],
        workspace: Path,
        network: Network,
        extra_env: Mapping[str, str] | None,
    ) -> AsyncIterator[tuple[Path, list[str]]]:
        """A file of bwrap's options and the command to run in the jail, the run's files ready.

        The options travel in a file read through ``--args FD`` so the values of
        the allow-listed variables (the model key) never show on a command line.
        """
        run_dir = Path(tempfile.mkdtemp(prefix="ci-fix-jail-"))
        try:
            etc = run_dir / "etc"
            egress = run_dir / "egress"
            etc.mkdir()
            egress.mkdir()
            (etc / "passwd").write_text(
                f"root:x:0:0::/root:/usr/sbin/nologin\n"
                f"sandbox:x:{JAIL_UID}:{JAIL_UID}::{JAIL_HOME}:/bin/sh\n"
                "nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n"
            )
            (etc / "group").write_text(f"root:x:0:\nsandbox:x:{JAIL_UID}:\nnogroup:x:65534:\n")
            (etc / "hosts").write_text("127.0.0.1 localhost\n::1 localhost\n")
            (etc / "hostname").write_text("sandbox\n")
            env = clean_env(extra_env, home=Path(JAIL_HOME), tmpdir=Path("/tmp"))
            args = self._arguments(workspace, network, run_dir)
            command = list(argv)
            if network is Network.MODEL:
                gate = EgressGate(self.agent_endpoints, egress)
                async with gate:
                    command = [*self._relay(gate), "--", *command]
                    if gate.needs_proxy:
                        proxy = f"http://127.0.0.1:{PROXY_PORT}"
                        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
                            env[name] = proxy
                        env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1,::1"
                    yield _args_file(run_dir, [*args, *_setenv(env)]), command
                return
            yield _args_file(run_dir, [*args, *_setenv(env)]), command
        finally:
            remove_tree(run_dir)

    def _relay(self, gate: EgressGate) -> list[str]:
        """The relay's command line inside the jail (the app's own interpreter, isolated)."""
        return [
            _interpreter(),
            "-I",
            "-S",
            f"{JAIL_RUN}/relay.py",
            *gate.relay_routes(f"{JAIL_RUN}/egress"),
        ]

    def _arguments(self, workspace: Path, network: Network, run_dir: Path) -> list[str]:
        args = [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup",
            "--disable-userns",
            "--cap-drop",
            "ALL",
            "--uid",
            str(JAIL_UID),
            "--gid",
            str(JAIL_UID),
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
        ]
        if network is not Network.HOST:
            args.append("--unshare-net")
        for path in SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        etc_files = ETC_FILES + (NETWORK_ETC_FILES if network is Network.HOST else ())
        for path in etc_files:
            args += ["--ro-bind-try", path, path]
        for name in ("passwd", "group", "hosts", "hostname"):
            args += ["--ro-bind", str(run_dir / "etc" / name), f"/etc/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
        args += ["--dir", JAIL_HOME, "--tmpfs", JAIL_HOME]
        for tool in _tool_paths(self.readonly_paths, relay=network is Network.MODEL):
            args += ["--ro-bind", str(tool), str(tool)]
        if network is Network.MODEL:
            args += ["--ro-bind", str(RELAY), f"{JAIL_RUN}/relay.py"]
            args += ["--ro-bind", str(run_dir / "egress"), f"{JAIL_RUN}/egress"]
        for shared in self.writable_paths:
            args += ["--bind", str(shared), str(shared)]
        real = str(workspace.resolve())
        args += ["--bind", real, real, "--chdir", real]
        # The root is bwrap's own tmpfs: read-only too, so /etc cannot be planted on.
        args += ["--remount-ro", "/"]
        return args

    async def check(self) -> None:
        """Start a jail once (``true`` inside); raise ``SandboxUnavailable`` saying what is missing.

        Run at start-up so a host without user namespaces is found before the
        first repository's code is due to run, not during it.
        """
        if self.mode is SandboxMode.NONE:
            return
        with tempfile.TemporaryDirectory(prefix="ci-fix-check-") as probe:
            outcome = await self.run(["/bin/sh", "-c", ":"], workspace=Path(probe), timeout_s=60)
        if outcome.exit_code != 0:
            raise SandboxUnavailable(explain_failure(outcome.stderr.decode(errors="replace")))


_BWRAP_MISSING = (
    "bubblewrap ({bwrap}) is not installed: install it (Debian/Ubuntu: apt-get install "
    "bubblewrap), or set SANDBOX=none with INSECURE_NO_SANDBOX=1 to run repository code "
    "unjailed (not for production)."
)


def explain_failure(stderr: str) -> str:
    """What the operator must change, from bwrap's complaint."""
    said = stderr.strip().splitlines()[-1:] or ["no output"]
    userns = (
        "No permissions to creat",
        "Operation not permitted",
        "setting up uid map",
        "Creating new namespace failed",
        "unshare failed",
    )
    if any(marker in stderr for marker in userns):
        return (
            f"the sandbox cannot create user namespaces (bwrap said: {said[0]}). "
            "On the host: sysctl kernel.unprivileged_userns_clone=1 (Debian) and, on Ubuntu "
            "23.10+, kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile "
            "for bwrap; in Docker: run with --security-opt seccomp=unconfined --security-opt "
            "apparmor=unconfined (or a seccomp profile that allows clone/unshare with "
            "CLONE_NEWUSER); in Kubernetes: a pod securityContext with seccompProfile "
            "Unconfined. Or set SANDBOX=none with INSECURE_NO_SANDBOX=1 (not for production)."
        )
    return f"the sandbox does not start: bwrap said: {said[0]}"


def _setenv(env: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for name, value in sorted(env.items()):
        args += ["--setenv", name, value]
    return args


def _tool_paths(paths: Sequence[Path], *, relay: bool) -> list[Path]:
    """Operator tool paths, plus the app's interpreter for the relay unless /usr holds it."""
    prefix = Path(sys.base_prefix)
    extra = [prefix] if relay and not prefix.is_relative_to("/usr") else []
    seen: list[Path] = []
    for path in [*paths, *extra]:
        if path not in seen:
            seen.append(path)
    return seen


def _interpreter() -> str:
    """The app's base interpreter (not the venv's, whose site-packages stay outside)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(Path(sys.base_prefix) / "bin" / version)


def _not_found_inside(outcome: ProcessOutcome) -> bool:
    """bwrap (or the relay) could not start the command: it says ``execvp NAME: ...``."""
    return any(b"execvp" in stream[-512:] for stream in (outcome.stderr, outcome.stdout))


async def _end_jail(info_file: Path) -> None:
    """Kill the jail's init and wait until it is gone, with every process in its namespace.

    Killing bwrap reaches the init only through ``--die-with-parent``, which is
    asynchronous; the kernel kills a pid namespace's processes when its init
    exits, and the init's exit completes only after they are gone, so waiting
    on the init (a pidfd) means nothing of the step runs any more.
    """
    pid = _jail_init_pid(info_file)
    if pid is None:
        return
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return  # already gone and reaped
    try:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        loop = asyncio.get_running_loop()
        gone: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, _resolve, gone)
        try:
            await asyncio.wait_for(gone, KILL_GRACE_S)
        except TimeoutError:
            log.error("the sandbox's init (pid %s) did not exit after SIGKILL", pid)
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _jail_init_pid(info_file: Path) -> int | None:
    """The host pid of the jail's init, from bwrap's ``--info-fd`` (None if it never started)."""
    try:
        return int(json.loads(info_file.read_text() or "{}")["child-pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _args_file(run_dir: Path, args: Sequence[str]) -> Path:
    path = run_dir / "args"
    path.write_bytes(b"".join(arg.encode() + b"\0" for arg in args))
    return path
