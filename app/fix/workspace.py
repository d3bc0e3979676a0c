"""A private checkout of the failing commit, built from GitHub's tarball, and its change.

The tarball is downloaded from the API (which redirects to a storage host), then
extracted by hand rather than with ``tarfile.extractall``: every member is checked
before anything is written, because the archive is built from a repository whose
content whoever pushed controls.

The checkout is the one directory untrusted code may write, so nothing the app
relies on lives in it.  Git's directory is a private sibling the sandbox never
mounts (``GIT_DIR`` elsewhere, the checkout only its work tree); a ``.git`` an
agent creates in the checkout is never read.  Every git command runs without
system, global or repository-supplied configuration, hooks or attributes, and
git never reads a file of the checkout to make a blob: the app reads each file
once itself (never through a symlink) and compares it with the baseline's blob
ids.  So a ``.gitattributes`` with ``-diff`` or a filter, or an agent's
``.git/config``, changes nothing: the guard judges exactly the bytes that are
published (``ChangeSet``), against the baseline's own blobs.  ``diff`` shows the
same bytes through ``git hash-object --no-filters`` and ``diff-tree --text``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO, TypeVar

import aiohttp

from app.core.errors import DownloadError, UnsafeArchive, WorkspaceError
from app.fix.sandbox import remove_tree
from app.github.client import AppGitHubAPI

T = TypeVar("T")

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_FILES = 50_000
DEFAULT_MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024
GIT_TIMEOUT_S = 300.0
# More changed paths than any guard allows (100 files at most): refuse before hashing them all.
MAX_CHANGED_PATHS = 2_000

# Command-line -c beats any configuration file; with GIT_CONFIG_GLOBAL=/dev/null and
# GIT_CONFIG_NOSYSTEM=1 the only other one is the app's own private repository config.
GIT_OPTIONS = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.attributesFile=/dev/null",
    "-c", "core.excludesFile=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.autocrlf=false",
    "-c", "core.safecrlf=false",
    "-c", "core.symlinks=true",
    "-c", "core.quotePath=false",
    "-c", "diff.external=",
    "-c", "diff.noprefix=false",
    "-c", "diff.mnemonicPrefix=false",
    "-c", "diff.relative=false",
)  # fmt: skip

# Caches tools write into a checkout; never part of a fix (the private info/exclude).
EXCLUDED = ("__pycache__/", "*.pyc", ".pytest_cache/", ".ruff_cache/", ".mypy_cache/")

GITLINK_MODE = "160000"
SYMLINK_MODE = "120000"
FILE_MODE = "100644"
EXECUTABLE_MODE = "100755"
ZERO_OID = "0" * 40


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

            try:
                status = await gh.download(
                    "/repos/{owner}/{repo}/tarball/{ref}",
                    {"owner": owner, "repo": name, "ref": sha},
                    sink,
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Retried by the client already: the archive host stays unreachable.
                raise DownloadError(
                    "downloading the repository tarball failed: the archive host could not "
                    f"be reached ({type(exc).__name__}), even after retries"
                ) from exc
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


@dataclass(frozen=True)
class Entry:
    """A file as git stores it: mode and content (a symlink's content is its target)."""

    mode: str
    content: bytes

    @property
    def oid(self) -> str:
        return blob_oid(self.content)


@dataclass(frozen=True)
class ChangeSet:
    """The fix, as read once from the checkout: what the guard judges is what is published.

    ``files`` maps each changed path to its new bytes (None: deleted); ``modes``
    gives the git mode of every path not deleted.
    """

    files: dict[str, bytes | None] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.files)


def blob_oid(content: bytes) -> str:
    """The object id git gives these bytes as a blob (``git hash-object --no-filters``)."""
    header = f"blob {len(content)}\0".encode()
    return hashlib.sha1(header + content, usedforsecurity=False).hexdigest()


class Workspace:
    """A private directory holding the repository at the failing commit.

    ``path`` is the checkout fixers and verify commands work in; ``git_dir`` is a
    separate private directory holding the baseline, never handed to them.
    """

    def __init__(self, path: Path, git_dir: Path, baseline: dict[str, tuple[str, str]]) -> None:
        self.path = path
        self.git_dir = git_dir
        self._baseline = baseline  # path -> (mode, blob id), kept in memory
        self._git = _Git(git_dir, path)

    @classmethod
    async def from_tarball(
        cls,
        source: Path | bytes,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_files: int = DEFAULT_MAX_FILES,
    ) -> Workspace:
        """Extract ``source`` (a file or its bytes) safely and record the baseline.

        Raises ``UnsafeArchive`` for anything hostile; the directories are removed then.
        """
        root = Path(tempfile.mkdtemp(prefix="ci-fix-ws-"))  # mode 0700
        git_dir = Path(tempfile.mkdtemp(prefix="ci-fix-git-"))
        try:
            await asyncio.to_thread(_extract, source, root, max_bytes, max_files)
            baseline = await _init_baseline(_Git(git_dir, root))
        except BaseException:
            remove_tree(root)
            remove_tree(git_dir)
            raise
        return cls(root, git_dir, baseline)

    async def snapshot(self) -> ChangeSet:
        """Read the change once: the changed files' bytes and modes, as they will be published.

        A rename is a delete plus an add.
        """
        current = await self._changed_entries()
        return ChangeSet(
            files={path: entry.content if entry else None for path, entry in current.items()},
            modes={path: entry.mode for path, entry in current.items() if entry is not None},
        )

    async def diff(self) -> str:
        """git's diff of the change (renames detected), built from the bytes the app read."""
        current = await self._changed_entries()
        return await self._diff(current) if current else ""

    async def changes(self) -> list[Change]:
        """Every path that differs from the baseline (a rename is a delete plus an add)."""
        return [
            Change(path, entry.mode if entry else None)
            for path, entry in (await self._changed_entries()).items()
        ]

    async def changed_files(self) -> dict[str, bytes | None]:
        """Path -> new content (a symlink's target for links), None for deleted paths."""
        return {p: e.content if e else None for p, e in (await self._changed_entries()).items()}

    async def file_modes(self) -> dict[str, str]:
        """Git modes of the changed, non-deleted paths: 100644, 100755 or 120000."""
        return {p: e.mode for p, e in (await self._changed_entries()).items() if e is not None}

    async def originals(self, paths: Iterable[str]) -> dict[str, tuple[str, bytes]]:
        """Git mode and content of ``paths`` at the baseline; paths it lacks are left out.

        The guard judges each changed file before and after the fix, so it needs
        the baseline's blobs: one ``cat-file --batch`` for all of them.
        """
        entries = {path: self._baseline[path] for path in paths if path in self._baseline}
        oids = list(dict.fromkeys(oid for _, oid in entries.values()))
        blobs = await self._git.blobs(oids)
        return {path: (mode, blobs[oid]) for path, (mode, oid) in entries.items()}

    async def reset(self) -> None:
        """Put every tracked and untracked file back as the baseline had it.

        Ignored files (installed dependencies, build caches) stay: they never
        reach a change, and keeping them spares the fixer a reinstall.
        """
        await self.restore(ChangeSet())

    async def restore(self, change: ChangeSet) -> None:
        """Make the checkout hold exactly the baseline with ``change`` applied.

        Files are written by the app without following any link the checkout
        holds, so a directory swapped for a symlink cannot redirect a write.  A
        second pass catches files a changed ``.gitignore`` hid from the first.
        """
        wanted: dict[str, Entry | None] = {
            path: None if content is None else Entry(change.modes[path], content)
            for path, content in change.files.items()
        }
        for _ in range(3):
            if not await self._restore_pass(wanted):
                return

    async def _restore_pass(self, wanted: Mapping[str, Entry | None]) -> bool:
        """One pass of ``restore``; True if anything had to be put back."""
        touched = False
        for path in await self._untracked(nested_repositories=True):
            await asyncio.to_thread(_remove, self.path, path)
            touched = True
        for path in sorted({*await self._candidates(), *wanted}):
            have = await asyncio.to_thread(_read_entry, self.path, path)
            if path in wanted:
                want = wanted[path]
            else:
                base = self._baseline.get(path)
                if base is None:
                    want = None
                elif have is not None and (have.mode, have.oid) == base:
                    continue
                else:
                    want = await self._baseline_entry(path, base)
            if have != want:
                await asyncio.to_thread(_place, self.path, path, want)
                touched = True
        return touched

    async def preserving_changes(self, action: Callable[[], Awaitable[T]]) -> T:
        """Run ``action`` (the repository's verify command) and undo what it wrote.

        The verify command is the repository's own code: whatever it writes
        (reports, generated files, anything) must not become part of the fix,
        so afterwards the checkout is put back to exactly the fixer's change.
        """
        before = await self.snapshot()
        try:
            return await action()
        finally:
            await self.restore(before)

    def cleanup(self) -> None:
        remove_tree(self.path)
        remove_tree(self.git_dir)

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

    # -- reading the checkout -----------------------------------------------------------

    async def _untracked(self, *, nested_repositories: bool = False) -> list[str]:
        """Untracked, not ignored paths; or, with ``nested_repositories``, nested repos.

        ``git ls-files`` only lists names (it reads ``.gitignore`` files, which
        merely decide what counts as part of the change); a nested repository
        shows as ``dir/``, and a ``.git`` entry is never listed.
        """
        out = await self._git.run("ls-files", "-z", "--others", "--exclude-standard")
        paths = [os.fsdecode(p) for p in out.split(b"\0") if p]
        if nested_repositories:
            return [p.rstrip("/") for p in paths if p.endswith("/")]
        return [p for p in paths if not p.endswith("/")]

    async def _candidates(self) -> list[str]:
        untracked = await self._untracked()
        return sorted({*self._baseline, *untracked})

    async def _changed_entries(self) -> dict[str, Entry | None]:
        nested = await self._untracked(nested_repositories=True)
        if nested:
            raise WorkspaceError(
                f"{nested[0]} is a nested git repository; a fix cannot publish it. "
                "Remove it from the workspace."
            )
        candidates = await self._candidates()
        return await asyncio.to_thread(self._compare, candidates)

    def _compare(self, candidates: Iterable[str]) -> dict[str, Entry | None]:
        changed: dict[str, Entry | None] = {}
        for path in candidates:
            entry = _read_entry(self.path, path)
            base = self._baseline.get(path)
            if entry is None:
                if base is not None:
                    changed[path] = None
            elif base is None or (entry.mode, entry.oid) != base:
                changed[path] = entry
            if len(changed) > MAX_CHANGED_PATHS:
                raise WorkspaceError(
                    f"more than {MAX_CHANGED_PATHS} files changed; no guard allows a fix that "
                    "large. Change only what the failure needs."
                )
        return changed

    async def _baseline_entry(self, path: str, base: tuple[str, str]) -> Entry:
        mode, oid = base
        return Entry(mode, (await self._git.blobs([oid]))[oid])

    async def _diff(self, changed: Mapping[str, Entry | None]) -> str:
        """git's diff from the baseline tree to a tree of exactly ``changed``'s bytes.

        ``--text`` shows every byte as lines to judge (a NUL byte cannot make a file
        "binary" and unread), and attributes are read from nowhere: the work tree
        given to this git is an empty private directory and the index a new one.
        """
        index = self.git_dir / "index.fix"
        index.unlink(missing_ok=True)
        fix = self._git.with_index(index)
        await fix.run("read-tree", "baseline")
        lines = []
        for path, entry in sorted(changed.items(), key=lambda item: item[1] is not None):
            if entry is None:
                lines.append(f"0 {ZERO_OID}\t{path}")
            else:
                oid = (await fix.run("hash-object", "-w", "--no-filters", "--stdin",
                                     stdin=entry.content)).decode().strip()  # fmt: skip
                if oid != entry.oid:
                    raise WorkspaceError(f"git hashed {path} differently from the app ({oid})")
                lines.append(f"{entry.mode} {oid}\t{path}")
        data = b"".join(os.fsencode(line) + b"\0" for line in lines)
        await fix.run("update-index", "-z", "--index-info", stdin=data)
        tree = (await fix.run("write-tree")).decode().strip()
        blind = self._git.detached()
        out = await blind.run(
            "diff-tree", "-p", "-r", "--text", "--find-renames", "--no-textconv",
            "--no-ext-diff", "--no-color", "--src-prefix=a/", "--dst-prefix=b/",
            "baseline", tree,
        )  # fmt: skip
        return out.decode("utf-8", errors="replace")


async def _init_baseline(git: _Git) -> dict[str, tuple[str, str]]:
    """Record every extracted file as the baseline tree (``refs/tags/baseline``).

    Blobs are made with ``--no-filters`` from the files the app itself just
    extracted; nothing else has run in the checkout yet.
    """
    await git.run("init", "-q")
    exclude = git.git_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text("\n".join(EXCLUDED) + "\n")
    (git.git_dir / "hooks").mkdir(exist_ok=True)
    # Every extracted file was tracked upstream, even ones matching .gitignore.
    listed = await git.run("ls-files", "-z", "--others")
    paths = [os.fsdecode(p) for p in listed.split(b"\0") if p and not p.endswith(b"/")]
    entries = await asyncio.to_thread(lambda: {p: _read_entry(git.work_tree, p) for p in paths})
    # One git for all plain files (a name with a newline cannot travel on --stdin-paths).
    batch = [
        p for p, e in entries.items() if e is not None and e.mode != SYMLINK_MODE and "\n" not in p
    ]
    oids: dict[str, str] = {}
    if batch:
        out = await git.run(
            "hash-object", "-w", "--no-filters", "--stdin-paths",
            stdin=b"".join(os.fsencode(git.work_tree / p) + b"\n" for p in batch),
        )  # fmt: skip
        oids.update(zip(batch, out.decode().split(), strict=True))
    baseline: dict[str, tuple[str, str]] = {}
    for path, entry in entries.items():
        if entry is None:
            continue
        oid = (
            oids.get(path)
            or (await git.run("hash-object", "-w", "--no-filters", "--stdin", stdin=entry.content))
            .decode()
            .strip()
        )
        if oid != entry.oid:
            raise WorkspaceError(f"git hashed {path} differently from the app ({oid})")
        baseline[path] = (entry.mode, oid)
    data = b"".join(
        os.fsencode(f"{mode} {oid}\t{path}") + b"\0" for path, (mode, oid) in baseline.items()
    )
    await git.run("update-index", "-z", "--index-info", stdin=data)
    tree = (await git.run("write-tree")).decode().strip()
    await git.run("tag", "baseline", tree)
    return baseline


class _Git:
    """Runs git on the private repository with a chosen work tree and index, nothing else.

    The environment holds no variable of the app's and no HOME: only what git
    needs, and the switches that keep every configuration file but the private
    one away.
    """

    def __init__(self, git_dir: Path, work_tree: Path, index: Path | None = None) -> None:
        self.git_dir = git_dir
        self.work_tree = work_tree
        self.index = index

    def with_index(self, index: Path) -> _Git:
        return _Git(self.git_dir, self.work_tree, index)

    def detached(self) -> _Git:
        """A git that sees no checkout at all: an empty work tree and an empty index."""
        empty = self.git_dir / "empty-tree"
        empty.mkdir(exist_ok=True)
        return _Git(self.git_dir, empty, self.git_dir / "index.none")

    def env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "GIT_DIR": str(self.git_dir),
            "GIT_WORK_TREE": str(self.work_tree),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_ATTR_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_PAGER": "cat",
            "HOME": str(self.git_dir),  # nothing there: git looks for ~/.gitconfig only
        }
        if self.index is not None:
            env["GIT_INDEX_FILE"] = str(self.index)
        return env

    async def blobs(self, oids: list[str]) -> dict[str, bytes]:
        """The raw content of each blob (``cat-file --batch``: no filter, no textconv)."""
        if not oids:
            return {}
        out = await self.run("cat-file", "--batch", stdin="".join(f"{o}\n" for o in oids).encode())
        blobs: dict[str, bytes] = {}
        at = 0
        for oid in oids:
            header_end = out.index(b"\n", at)
            name, kind, size = out[at:header_end].decode().split(" ")
            if name != oid or kind != "blob":
                raise WorkspaceError(f"the baseline lacks the blob {oid}")
            start = header_end + 1
            blobs[oid] = out[start : start + int(size)]
            at = start + int(size) + 1
        return blobs

    async def run(self, *args: str, stdin: bytes | None = None) -> bytes:
        """Git's output; a non-zero exit is a ``WorkspaceError``."""
        code, out, err = await self.exec(*args, stdin=stdin)
        if code != 0:
            raise WorkspaceError(
                f"git {args[0]} failed in the workspace ({code}): "
                f"{err.decode(errors='replace').strip()[-500:]}"
            )
        return out

    async def exec(self, *args: str, stdin: bytes | None = None) -> tuple[int | None, bytes, bytes]:
        """(exit status, stdout, stderr) of one git command, killed at the time limit."""
        proc = await asyncio.create_subprocess_exec(
            "git",
            *GIT_OPTIONS,
            *args,
            cwd=self.git_dir,
            env=self.env(),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), GIT_TIMEOUT_S)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise
        return proc.returncode, out, err


# -- files, read and written without following links ---------------------------------------


def _open_parent(root: Path, path: str) -> tuple[int, str] | None:
    """A descriptor of ``path``'s directory reached through real directories only."""
    parts = PurePosixPath(path).parts
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError):
                os.close(fd)
                return None
            except OSError as exc:  # ELOOP: a symlink where a directory was
                if exc.errno == errno.ELOOP:
                    os.close(fd)
                    return None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd, parts[-1]


def _read_entry(root: Path, path: str) -> Entry | None:
    """The file at ``path`` as git would store it, or None if there is no file there."""
    opened = _open_parent(root, path)
    if opened is None:
        return None
    dir_fd, name = opened
    try:
        try:
            info = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            return Entry(SYMLINK_MODE, os.fsencode(os.readlink(name, dir_fd=dir_fd)))
        if stat.S_ISDIR(info.st_mode):
            return None  # a directory where a file was: the file is gone
        if not stat.S_ISREG(info.st_mode):
            raise WorkspaceError(f"{path} is not a regular file or link; a fix cannot publish it")
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
        with os.fdopen(fd, "rb") as handle:
            content = handle.read()
        mode = EXECUTABLE_MODE if info.st_mode & stat.S_IXUSR else FILE_MODE
        return Entry(mode, content)
    finally:
        os.close(dir_fd)


def _remove(root: Path, path: str) -> None:
    opened = _open_parent(root, path)
    if opened is None:
        return
    dir_fd, name = opened
    try:
        try:
            info = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def _place(root: Path, path: str, entry: Entry | None) -> None:
    """Write ``entry`` at ``path`` (None removes it), replacing links and files in the way."""
    if entry is None:
        _remove(root, path)
        return
    parts = PurePosixPath(path).parts
    current = root
    for part in parts[:-1]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            current.mkdir(mode=0o755)
            continue
        if not stat.S_ISDIR(info.st_mode):
            current.unlink()
            current.mkdir(mode=0o755)
    _remove(root, path)
    target = root / path
    if entry.mode == SYMLINK_MODE:
        os.symlink(os.fsdecode(entry.content), target)
        return
    mode = 0o755 if entry.mode == EXECUTABLE_MODE else 0o644
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    os.fchmod(fd, mode)  # the umask may have narrowed it
    with os.fdopen(fd, "wb") as out:
        out.write(entry.content)


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


async def merge_three_way(ours: bytes, base: bytes, theirs: bytes) -> bytes | None:
    """``git merge-file``: ``base``→``theirs`` applied onto ``ours``; None when they conflict.

    This is how ``git revert`` merges a file (base: the commit, theirs: its parent,
    ours: the branch now).  Three private temporary files and the same hardened git
    environment as the workspace: no repository, configuration, attributes or
    drivers of anyone's.
    """
    with tempfile.TemporaryDirectory(prefix="ci-fix-merge-") as tmp:
        root = Path(tmp)
        names = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            (root / name).write_bytes(data)
            names.append(str(root / name))
        code, out, err = await _Git(root, root).exec("merge-file", "-p", "--quiet", *names)
    if code == 0:
        return out
    if code is not None and 0 < code < 128:
        return None  # the exit status counts the conflicts
    raise WorkspaceError(f"git merge-file failed: {err.decode(errors='replace').strip()[-300:]}")
