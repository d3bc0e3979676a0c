"""``python -m app doctor``: is this installation able to run, and is its jail shut?

Each check is a function returning a typed ``Check`` so start-up (and tests) can
run the same checks and act on them; the CLI prints one line per check and
exits non-zero when one failed.  The sandbox check is an attack, not a smoke
test: a probe inside the jail tries to read the private key, ``.env`` and the
store and to connect to the app's port and the database, and every one of
those must fail.
"""

from __future__ import annotations

import contextlib
import enum
import os
import shlex
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.core.errors import OperatorError, SettingsError
from app.fix.sandbox import Network, Sandbox, SandboxMode
from app.github.auth import AppAuth
from app.settings import Settings, load_settings

GITHUB_TIMEOUT_S = 10.0
PROBE_DONE = "ci-fix-loop probe finished"


class Status(enum.StrEnum):
    OK = "ok"
    FAILED = "FAIL"
    SKIPPED = "skip"


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``detail`` is the sentence an operator reads."""

    name: str
    status: Status
    detail: str
    # A failure that may pass on its own (GitHub unreachable): start-up warns, doctor fails.
    transient: bool = False

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def line(self) -> str:
        return f"{self.status.value:<4}  {self.name}: {self.detail}"


def check_settings(environ: dict[str, str] | None, env_file: Path) -> tuple[Check, Settings | None]:
    try:
        settings = load_settings(environ, env_file)
    except SettingsError as exc:
        return Check("settings", Status.FAILED, "; ".join(exc.problems)), None
    return Check("settings", Status.OK, f"App id {settings.app_id}"), settings


def check_key(settings: Settings) -> Check:
    """The private key is an RSA key whose signature its own public key verifies."""
    try:
        key = serialization.load_pem_private_key(settings.private_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        return Check("private key", Status.FAILED, f"cannot be loaded as PEM: {exc}")
    if not isinstance(key, rsa.RSAPrivateKey):
        return Check("private key", Status.FAILED, "is not an RSA key (GitHub Apps sign RS256)")
    message = b"ci-fix-loop doctor"
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    return Check("private key", Status.OK, f"RSA {key.key_size} bits, signs and verifies")


async def check_store(settings: Settings) -> Check:
    from app.store.open import open_store

    where = (
        f"DATABASE_URL (host {urlsplit(settings.database_url).hostname})"
        if settings.database_url
        else f"STORE_PATH={settings.store_path}"
    )
    try:
        store = await open_store(settings)
    except (ImportError, RuntimeError, OSError) as exc:
        return Check("store", Status.FAILED, f"{where} cannot be opened: {exc}")
    await store.close()
    return Check("store", Status.OK, f"{where} opens")


async def check_sandbox(settings: Settings, env_file: Path) -> Check:
    """The jail starts, and from inside it the app's secrets, store and ports are out of reach."""
    sandbox = Sandbox.from_settings(settings)
    if sandbox.mode is SandboxMode.NONE:
        return Check(
            "sandbox",
            Status.FAILED,
            "SANDBOX=none (INSECURE_NO_SANDBOX=1): repository code runs with the app's rights",
        )
    try:
        await sandbox.check()
    except OperatorError as exc:
        return Check("sandbox", Status.FAILED, str(exc))
    targets = _secret_files(settings, env_file)
    ports = _app_ports(settings)
    reached = await probe_jail(sandbox, targets, ports)
    if reached:
        return Check("sandbox", Status.FAILED, "from inside the jail: " + "; ".join(reached))
    what = ", ".join([*(str(t) for t in targets), *(f"port {p}" for p in ports)])
    return Check("sandbox", Status.OK, f"bwrap jail starts; unreachable from inside: {what}")


async def probe_jail(sandbox: Sandbox, files: Sequence[Path], ports: Sequence[int]) -> list[str]:
    """What a process in the agent's jail could reach of ``files`` and loopback ``ports``.

    The probe ends by saying it finished; a probe that could not run (no bash in
    the jail) reports that instead of an empty, reassuring list.
    """
    lines = [f"cat {shlex.quote(str(f))} >/dev/null 2>&1 && echo 'read {f}'" for f in files]
    lines += [
        f"(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo 'connected to port {port}'"
        for port in ports
    ]
    app = os.getpid()
    lines += [
        f"cat /proc/{app}/environ >/dev/null 2>&1 && echo 'read the app environment'",
        f"kill -0 {app} 2>/dev/null && echo 'could signal pid {app}'",
        f"echo {PROBE_DONE}",
    ]
    with _scratch() as workspace:
        try:
            outcome = await sandbox.run(
                ["bash", "-c", "\n".join(lines)],
                workspace=workspace,
                network=Network.MODEL,
                timeout_s=60,
            )
        except FileNotFoundError:
            return ["the probe could not run (no bash in the jail)"]
    said = [line for line in outcome.stdout.decode(errors="replace").splitlines() if line]
    if PROBE_DONE not in said:
        return [f"the probe did not finish (exit {outcome.exit_code})"]
    return [line for line in said if line != PROBE_DONE]


async def check_fixer(settings: Settings) -> Check:
    """The operator's agent command exists inside the jail (tools outside /usr must be listed)."""
    if not settings.fixer_command:
        return Check("fixer", Status.SKIPPED, "FIXER_COMMAND is not set")
    argv = shlex.split(settings.fixer_command)
    if not argv:
        return Check("fixer", Status.FAILED, "FIXER_COMMAND is empty")
    sandbox = Sandbox.from_settings(settings)
    with _scratch() as workspace:
        outcome = await sandbox.run(
            ["/bin/sh", "-c", 'command -v "$0"', argv[0]],
            workspace=workspace,
            timeout_s=30,
        )
    if outcome.exit_code != 0:
        return Check(
            "fixer",
            Status.FAILED,
            f"{argv[0]!r} is not found inside the sandbox: install it under /usr or list its "
            "directory in SANDBOX_READONLY_PATHS",
        )
    return Check("fixer", Status.OK, f"{argv[0]} resolves to {outcome.stdout.decode().strip()}")


async def check_github(settings: Settings) -> Check:
    """``GET /app`` with the App's JWT answers with this App's id."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=GITHUB_TIMEOUT_S)) as s:
        auth = AppAuth(
            app_id=settings.app_id,
            private_key=settings.private_key,
            api_url=settings.github_api_url,
            session=s,
            clock=lambda: 0.0,
        )
        headers = {
            "Authorization": f"Bearer {auth.app_jwt()}",
            "Accept": "application/vnd.github+json",
            "User-Agent": "ci-fix-loop-doctor",
        }
        try:
            async with s.get(f"{settings.github_api_url}/app", headers=headers) as response:
                body = await response.json(content_type=None) if response.status == 200 else {}
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Check(
                "github",
                Status.FAILED,
                f"{settings.github_api_url} unreachable: {exc}",
                transient=True,
            )
    if status != 200:
        return Check(
            "github",
            Status.FAILED,
            f"GET /app answered {status}: check APP_ID and that the key belongs to this App",
        )
    if body.get("id") != settings.app_id:
        return Check(
            "github", Status.FAILED, f"GET /app names App {body.get('id')}, not {settings.app_id}"
        )
    return Check(
        "github", Status.OK, f"GET /app confirms App {settings.app_id} ({body.get('slug')})"
    )


async def run_checks(
    environ: dict[str, str] | None = None, env_file: Path = Path(".env"), *, github: bool = True
) -> list[Check]:
    """Every check, in order; later checks are skipped when the settings do not load."""
    first, settings = check_settings(environ, env_file)
    if settings is None:
        return [first]
    checks = [first, check_key(settings), await check_store(settings)]
    checks.append(await check_sandbox(settings, env_file))
    checks.append(await check_fixer(settings))
    if github:
        checks.append(await check_github(settings))
    return checks


def _secret_files(settings: Settings, env_file: Path) -> list[Path]:
    files = [env_file.resolve()] if env_file.exists() else []
    if not settings.database_url:
        files.append(settings.store_path.resolve())
    if settings.private_key_path:
        files.append(settings.private_key_path.expanduser().resolve())
    return files


def _app_ports(settings: Settings) -> list[int]:
    ports = [settings.port] if settings.port else []
    if settings.database_url:
        db_port = urlsplit(settings.database_url).port or 5432
        ports.append(db_port)
    return ports


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """An empty directory to stand in for a workspace."""
    with tempfile.TemporaryDirectory(prefix="ci-fix-doctor-") as directory:
        yield Path(directory)
