"""The two trees the guard judges: files as git would record them, before and after.

A file is its bytes and its git mode (``100644``, ``100755``, ``120000`` for a
symlink whose bytes are the target, ``160000`` for a submodule).  The guard
reads nothing else: the changed files' two versions, and for context (which
scripts CI runs) unchanged files of the tree it is given.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

REGULAR, EXECUTABLE, SYMLINK, GITLINK = "100644", "100755", "120000", "160000"

# Tool caches never published (the workspace excludes the same ones from its diff).
CACHE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
CACHE_SUFFIXES = (".pyc",)


@dataclass(frozen=True)
class FileState:
    """One version of one path."""

    data: bytes
    mode: str = REGULAR

    @property
    def text(self) -> str | None:
        """The content as text, or None for binary content (a NUL byte, or not UTF-8)."""
        if b"\0" in self.data[:8000]:
            return None
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None


@dataclass(frozen=True)
class FileChange:
    """A path whose content or mode differs; ``before``/``after`` is None when absent."""

    path: str
    before: FileState | None
    after: FileState | None


class TreeView(Protocol):
    """Read access to a whole tree, for context such as the workflows CI runs."""

    def read(self, path: str) -> bytes | None: ...

    def files(self, folder: str) -> list[str]: ...


class MappingView:
    """A tree held in memory (tests, and the CLI once both trees are read)."""

    def __init__(self, files: Mapping[str, FileState]) -> None:
        self._files = files

    def read(self, path: str) -> bytes | None:
        state = self._files.get(path)
        return state.data if state is not None and state.mode != SYMLINK else None

    def files(self, folder: str) -> list[str]:
        prefix = folder.rstrip("/") + "/"
        return sorted(p for p in self._files if p.startswith(prefix))


class DirView:
    """A tree on disk, read without following symlinks (the workspace in a loop)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def read(self, path: str) -> bytes | None:
        """The file's bytes; None unless every component is a real directory or file.

        An agent can plant a symlinked folder (``tests -> /``): checking only
        the last component would let the guard read, and quote, files outside
        the checkout.
        """
        parts = PurePosixPath(path).parts
        if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
            return None
        target = self._root
        try:
            for part in parts:
                target = target / part
                mode = os.lstat(target).st_mode
                if stat.S_ISLNK(mode):
                    return None
            if not stat.S_ISREG(mode):
                return None
            return target.read_bytes()
        except OSError:
            return None

    def files(self, folder: str) -> list[str]:
        return sorted(path for path, _ in _walk(self._root, folder.strip("/")))


def _walk(root: Path, folder: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """(path, lstat) of every file below ``root/folder``; nested repositories are gitlinks."""
    stack = [folder]
    while stack:
        rel = stack.pop()
        try:
            entries = sorted(os.scandir(root / rel) if rel else os.scandir(root), key=_name)
        except OSError:
            continue
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            if entry.name == ".git":
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                if entry.name in CACHE_DIRS:
                    continue
                if os.path.lexists(os.path.join(entry.path, ".git")):
                    yield path, info  # a nested repository: recorded as a submodule
                    continue
                stack.append(path)
            elif not entry.name.endswith(CACHE_SUFFIXES):
                yield path, info


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def read_tree(root: Path) -> dict[str, FileState]:
    """Every file below ``root`` as git would record it (``.git`` and tool caches left out)."""
    files: dict[str, FileState] = {}
    for path, info in _walk(root):
        full = root / path
        if stat.S_ISLNK(info.st_mode):
            files[path] = FileState(os.fsencode(os.readlink(full)), SYMLINK)
        elif stat.S_ISDIR(info.st_mode):
            files[path] = FileState(b"", GITLINK)
        elif stat.S_ISREG(info.st_mode):
            mode = EXECUTABLE if info.st_mode & stat.S_IXUSR else REGULAR
            files[path] = FileState(full.read_bytes(), mode)
    return files


def changes_between(
    before: Mapping[str, FileState], after: Mapping[str, FileState]
) -> list[FileChange]:
    """Every path whose bytes or mode differ, in path order."""
    return [
        FileChange(path, before.get(path), after.get(path))
        for path in sorted(before.keys() | after.keys())
        if before.get(path) != after.get(path)
    ]


def published_changes(
    published: Mapping[str, bytes | None],
    modes: Mapping[str, str],
    originals: Mapping[str, tuple[str, bytes]],
) -> list[FileChange]:
    """The change a loop is about to publish, as the guard judges it.

    ``published`` maps each changed path to the bytes that will be committed
    (None: deleted), ``modes`` gives their git modes and ``originals`` the
    baseline's (mode, bytes) of the paths that existed before.
    """
    changes = []
    for path in sorted(published):
        data = published[path]
        old = originals.get(path)
        changes.append(
            FileChange(
                path,
                FileState(old[1], old[0]) if old is not None else None,
                FileState(data, modes.get(path, REGULAR)) if data is not None else None,
            )
        )
    return changes
