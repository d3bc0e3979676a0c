"""A private checkout of the failing commit, built from GitHub's tarball, and its diff.

The tarball is downloaded from the API (which redirects to a storage host), then
extracted by hand rather than with ``tarfile.extractall``: every member is checked
before anything is written, because the archive is built from a repository whose
content whoever pushed controls.  A local git repository with one baseline commit
is created on top so the fixer's change can be diffed, renamed files recognised
and the changed contents read back for publishing.

Git runs with hooks disabled, no global or system configuration and the stripped
environment, because an agent that ran in the workspace may have written to
``.git/config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, TypeVar

from app.core.errors import DownloadError, UnsafeArchive, WorkspaceError
from app.fix.sandbox import clean_env, remove_tree
from app.github.client import AppGitHubAPI

T = TypeVar("T")

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_FILES = 50_000
DEFAULT_MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024
GIT_TIMEOUT_S = 300.0

# Command-line -c beats anything an agent wrote into .git/config.
GIT_OPTIONS = (
    "-c", "user.name=ci-fix-loop",
    "-c", "user.email=ci-fix-loop@users.noreply.github.com",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.autocrlf=false",
    "-c", "core.symlinks=true",
    "-c", "commit.gpgsign=false",
    "-c", "core.quotePath=false",
)  # fmt: skip

# Caches tools write into a checkout; never part of a fix, excluded from the diff.
EXCLUDED = ("__pycache__/", "*.pyc", ".pytest_cache/", ".ruff_cache/", ".mypy_cache/")

GITLINK_MODE = "160000"
SYMLINK_MODE = "120000"


async def download_source(
    gh: AppGitHubAPI,
    repo: str,
    sha: str,
    dest: Path,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
) -> Path:
    """Fetch ``GET /repos/{owner}/{repo}/tarball/{sha}`` into ``dest`` (mode 0600).

    ``gh.download`` follows GitHub's redirect to the storage host without the
    installation token; the body is streamed to disk and the download aborted
    once it exceeds ``max_bytes``.
    """
    owner, name = repo.split("/", 1)
    too_large = DownloadError(
        f"the repository tarball is larger than {max_bytes} bytes; raise the download "
        "limit if this repository really is that large"
    )
    received = 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:

            def sink(chunk: bytes) -> None:
                nonlocal received
                received += len(chunk)
                if received > max_bytes:
                    raise too_large
                out.write(chunk)

            status = await gh.download(
                "/repos/{owner}/{repo}/tarball/{ref}",
                {"owner": owner, "repo": name, "ref": sha},
                sink,
            )
        if status != 200:
            raise DownloadError(
                f"downloading the repository tarball failed: HTTP {status}; "
                "check the App can read the repository contents"
            )
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest)
        raise
    return dest


@dataclass(frozen=True)
class Change:
    """One path that differs from the baseline: its new git mode, or None if deleted."""

    path: str
    mode: str | None


class Workspace:
    """A private directory holding the repository at the failing commit, under git."""

    def __init__(self, path: Path, baseline: str) -> None:
        self.path = path
        self.baseline = baseline

    @classmethod
    async def from_tarball(
        cls,
        source: Path | bytes,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_files: int = DEFAULT_MAX_FILES,
    ) -> Workspace:
        """Extract ``source`` (a file or its bytes) safely and record the baseline.

        Raises ``UnsafeArchive`` for anything hostile; the directory is removed then.
        """
        root = Path(tempfile.mkdtemp(prefix="ci-fix-ws-"))  # mode 0700
        try:
            await asyncio.to_thread(_extract, source, root, max_bytes, max_files)
            baseline = await _init_baseline(root)
        except BaseException:
            remove_tree(root)
            raise
        return cls(root, baseline)

    async def diff(self) -> str:
        """The change since the baseline, untracked files included, renames detected."""
        out = await _staged_diff(self.path, self.baseline, "--find-renames")
        return out.decode("utf-8", errors="replace")

    async def reset(self) -> None:
        """Put every tracked and untracked file back as the baseline had it.

        Ignored files (installed dependencies, build caches) stay: they never
        reach a diff, and keeping them spares the fixer a reinstall.
        """
        await _git(self.path, "reset", "-q", "--hard", self.baseline)
        await _git(self.path, "clean", "-q", "-f", "-d")

    async def preserving_changes(self, action: Callable[[], Awaitable[T]]) -> T:
        """Run ``action`` (the repository's verify command) and undo what it wrote.

        The verify command is the repository's own code: whatever it writes
        (reports, generated files, anything) must not become part of the fix,
        so afterwards the tree is put back to exactly the fixer's change.
        """
        files = await self.changed_files()
        modes = await self.file_modes()
        try:
            return await action()
        finally:
            await self.reset()
            for path, content in files.items():
                target = self.path / path
                if content is None:
                    target.unlink(missing_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if modes.get(path) == SYMLINK_MODE:
                    target.unlink(missing_ok=True)
                    target.symlink_to(os.fsdecode(content))
                else:
                    target.write_bytes(content)
                    target.chmod(0o755 if modes.get(path) == "100755" else 0o644)

    async def changes(self) -> list[Change]:
        """Every path that differs from the baseline (a rename is a delete plus an add)."""
        return _parse_raw(
            await _staged_diff(self.path, self.baseline, "--raw", "-z", "--no-renames")
        )

    async def changed_files(self) -> dict[str, bytes | None]:
        """Path -> new content (a symlink's target for links), None for deleted paths."""
        files: dict[str, bytes | None] = {}
        for change in await self.changes():
            if change.mode is None:
                files[change.path] = None
            elif change.mode == GITLINK_MODE:
                raise WorkspaceError(
                    f"{change.path} is a nested git repository; a fix cannot publish it. "
                    "Remove it from the workspace."
                )
            elif change.mode == SYMLINK_MODE:
                files[change.path] = os.fsencode(os.readlink(self.path / change.path))
            else:
                files[change.path] = (self.path / change.path).read_bytes()
        return files

    async def originals(self, paths: Iterable[str]) -> dict[str, tuple[str, bytes]]:
        """Git mode and content of ``paths`` at the baseline; paths it lacks are left out.

        The guard judges each changed file before and after the fix, so it needs
        the baseline's blobs: one ``ls-tree`` and one ``cat-file --batch`` for all.
        """
        wanted = set(paths)
        listing = await _git(self.path, "ls-tree", "-r", "-z", "--full-tree", self.baseline)
        entries: dict[str, tuple[str, str]] = {}
        for record in listing.decode("utf-8", errors="surrogateescape").split("\0"):
            meta, _, path = record.partition("\t")
            if path in wanted:
                mode, kind, sha = meta.split(" ")
                entries[path] = (mode, sha if kind == "blob" else "")
        blobs: dict[str, bytes] = {"": b""}  # a submodule has no blob to read
        shas = "".join(f"{sha}\n" for _, sha in entries.values() if sha).encode()
        if not shas:
            return {path: (mode, b"") for path, (mode, _) in entries.items()}
        out = await _git(self.path, "cat-file", "--batch", stdin=shas)
        at = 0
        for sha in (sha for _, sha in entries.values() if sha):
            header_end = out.index(b"\n", at)
            size = int(out[at:header_end].split(b" ")[2])
            blobs[sha] = out[header_end + 1 : header_end + 1 + size]
            at = header_end + 1 + size + 1
        return {path: (mode, blobs[sha]) for path, (mode, sha) in entries.items()}

    async def file_modes(self) -> dict[str, str]:
        """Git modes of the changed, non-deleted paths: 100644, 100755 or 120000."""
        return {c.path: c.mode for c in await self.changes() if c.mode is not None}

    def cleanup(self) -> None:
        remove_tree(self.path)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    async def __aenter__(self) -> Workspace:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Off the event loop: a checkout may hold tens of thousands of files.
        await asyncio.to_thread(self.cleanup)


async def changed_paths(root: Path) -> tuple[str, ...]:
    """Paths changed since the baseline in the workspace at ``root`` (for fixer reports)."""
    out = await _staged_diff(root, "baseline", "--name-only", "-z")
    return tuple(p for p in out.decode("utf-8", errors="replace").split("\0") if p)


async def _staged_diff(root: Path, baseline: str, *options: str) -> bytes:
    """Stage everything (new files too, ignored ones not) and diff it against the baseline."""
    await _git(root, "add", "-A", "--", ".")
    return await _git(
        root, "diff", "--no-ext-diff", "--no-textconv", "--cached", *options, baseline, "--"
    )


def _parse_raw(raw: bytes) -> list[Change]:
    """Parse ``git diff --raw -z``: ``:old new sha sha status\\0path\\0`` per entry."""
    fields = raw.decode("utf-8", errors="surrogateescape").split("\0")
    changes = []
    for header, path in zip(fields[0::2], fields[1::2], strict=False):
        if not header.startswith(":"):
            continue
        _old_mode, new_mode, _old_sha, _new_sha, status = header[1:].split(" ")
        changes.append(Change(path, None if status.startswith("D") else new_mode))
    return changes


async def _init_baseline(root: Path) -> str:
    await _git(root, "init", "-q", "-b", "ci-fix-baseline")
    exclude = root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text("\n".join(EXCLUDED) + "\n")
    # -f: every extracted file was tracked upstream, even ones matching .gitignore.
    await _git(root, "add", "-A", "-f", "--", ".")
    await _git(root, "commit", "-q", "--no-verify", "--allow-empty", "-m", "baseline")
    await _git(root, "tag", "baseline")
    return (await _git(root, "rev-parse", "HEAD")).decode().strip()


async def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = clean_env()
    env.update({"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "GIT_PAGER": "cat"})
    proc = await asyncio.create_subprocess_exec(
        "git",
        *GIT_OPTIONS,
        *args,
        cwd=root,
        env=env,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), GIT_TIMEOUT_S)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    if proc.returncode != 0:
        raise WorkspaceError(
            f"git {args[0]} failed in the workspace ({proc.returncode}): "
            f"{err.decode(errors='replace').strip()[-500:]}"
        )
    return out


# -- safe extraction ---------------------------------------------------------------------


def _extract(source: Path | bytes, root: Path, max_bytes: int, max_files: int) -> None:
    with _open_tar(source) as tar:
        extractor = _Extractor(root, max_bytes, max_files)
        while (member := _next_member(tar)) is not None:
            try:
                extractor.add(tar, member)
            except (OSError, tarfile.TarError, EOFError, zlib.error) as exc:
                # A name the filesystem refuses (over 255 bytes), a member cut short:
                # the archive cannot become a checkout, which is what callers handle.
                raise UnsafeArchive(f"{member.name[:200]} cannot be extracted ({exc})") from exc
        extractor.check_links()


def _next_member(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    try:
        return tar.next()
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UnsafeArchive(f"the archive is damaged ({exc})") from exc


def _open_tar(source: Path | bytes) -> tarfile.TarFile:
    try:
        if isinstance(source, bytes):
            return tarfile.open(fileobj=io.BytesIO(source), mode="r:*")
        return tarfile.open(source, mode="r:*")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:  # OSError: bad gzip
        raise UnsafeArchive(f"not a readable tar archive ({exc})") from exc


class _Extractor:
    """Checks and writes one member at a time, so a bomb is stopped before it lands."""

    def __init__(self, root: Path, max_bytes: int, max_files: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.top: str | None = None
        self.count = 0
        self.total = 0
        self.files: set[str] = set()
        self.links: list[Path] = []

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.count += 1
        if self.count > self.max_files:
            raise UnsafeArchive(f"more than {self.max_files} members (an archive bomb?)")
        rel = self._relative(member)
        if rel is None:
            return
        target = self.root.joinpath(*rel.parts)
        if member.isdir():
            self._make_dirs(rel.parts)
        elif member.isreg():
            self._count_bytes(member.size)
            self._make_dirs(rel.parts[:-1])
            self._write(tar, member, target)
            self.files.add(rel.as_posix())
        elif member.issym():
            self._symlink(member, rel, target)
        elif member.islnk():
            self._hardlink(member, rel, target)
        else:
            kind = "device file" if member.ischr() or member.isblk() else "fifo or special file"
            raise UnsafeArchive(f"{member.name} is a {kind}")

    def _count_bytes(self, size: int) -> None:
        self.total += size
        if self.total > self.max_bytes:
            raise UnsafeArchive(f"more than {self.max_bytes} bytes uncompressed (an archive bomb?)")

    def _relative(self, member: tarfile.TarInfo) -> PurePosixPath | None:
        """The member's path below GitHub's ``<owner>-<repo>-<sha>/`` folder, checked."""
        name = member.name
        if name.startswith("/") or PurePosixPath(name).is_absolute():
            raise UnsafeArchive(f"{name} is an absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise UnsafeArchive(f"{name} contains a '..' component")
        if any(p.lower() == ".git" for p in parts):
            raise UnsafeArchive(f"{name} is inside a .git directory")
        if not parts:
            raise UnsafeArchive(f"{name!r} is an empty path")
        if self.top is None:
            self.top = parts[0]
        if parts[0] != self.top:
            raise UnsafeArchive(
                f"{name} is outside the single top-level folder {self.top}/ GitHub archives have"
            )
        if len(parts) == 1:
            if not member.isdir():
                raise UnsafeArchive(f"{name} is not a folder")
            return None
        return PurePosixPath(*parts[1:])

    def _make_dirs(self, parts: tuple[str, ...]) -> None:
        current = self.root
        for part in parts:
            current = current / part
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                current.mkdir(mode=0o755)
                continue
            if not stat.S_ISDIR(mode):
                raise UnsafeArchive(
                    f"{current.relative_to(self.root)} would be written through a link or file"
                )

    def _write(self, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
        mode = 0o755 if member.mode & 0o111 else 0o644
        fd = _create(target, mode, member)
        source = tar.extractfile(member)
        if source is None:
            raise UnsafeArchive(f"{member.name} has no data")
        with os.fdopen(fd, "wb") as out, source:
            _copy(source, out, member.size)
        os.chmod(target, mode)  # umask may have narrowed it

    def _symlink(self, member: tarfile.TarInfo, rel: PurePosixPath, target: Path) -> None:
        link = member.linkname
        if not link or link.startswith("/"):
            raise UnsafeArchive(f"{member.name} is a symlink to an absolute path ({link})")
        resolved = os.path.normpath(os.path.join(rel.parent.as_posix(), link))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchive(f"{member.name} is a symlink leaving the repository ({link})")
        self._make_dirs(rel.parts[:-1])
        try:
            os.symlink(link, target)
        except FileExistsError as exc:
            raise UnsafeArchive(f"{member.name} appears twice in the archive") from exc
        self.links.append(target)

    def _hardlink(self, member: tarfile.TarInfo, rel: PurePosixPath, target: Path) -> None:
        """Allowed only to a regular file extracted earlier; written as an independent copy.

        The copy counts towards the size limit: a thousand links to one large file
        would otherwise write a thousand times its size.
        """
        try:
            source_rel = self._relative_name(member.linkname)
        except UnsafeArchive as exc:
            raise UnsafeArchive(
                f"{member.name} is a hard link leaving the repository ({member.linkname})"
            ) from exc
        if source_rel not in self.files:
            raise UnsafeArchive(
                f"{member.name} is a hard link to {member.linkname}, not a file in the archive"
            )
        source = self.root / source_rel
        info = os.lstat(source)
        self._count_bytes(info.st_size)
        self._make_dirs(rel.parts[:-1])
        fd = _create(target, stat.S_IMODE(info.st_mode), member)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out, CHUNK)
        self.files.add(rel.as_posix())

    def _relative_name(self, name: str) -> str:
        probe = tarfile.TarInfo(name)
        rel = self._relative(probe)
        if rel is None:
            raise UnsafeArchive(f"{name} is the top-level folder")
        return rel.as_posix()

    def check_links(self) -> None:
        """Resolve every symlink once all exist: chains of links may still leave the tree."""
        root = os.path.realpath(self.root)
        for link in self.links:
            resolved = os.path.realpath(link)
            if resolved != root and not resolved.startswith(root + os.sep):
                raise UnsafeArchive(
                    f"{link.relative_to(self.root)} is a symlink that resolves outside the "
                    "repository"
                )


def _create(target: Path, mode: int, member: tarfile.TarInfo) -> int:
    """A new file for ``member``, never one already there nor through a link."""
    try:
        return os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError as exc:
        raise UnsafeArchive(f"{member.name} appears twice in the archive") from exc


def _copy(source: IO[bytes], out: IO[bytes], size: int) -> None:
    remaining = size
    while remaining > 0:
        chunk = source.read(min(CHUNK, remaining))
        if not chunk:
            raise UnsafeArchive("the archive is truncated")
        out.write(chunk)
        remaining -= len(chunk)
