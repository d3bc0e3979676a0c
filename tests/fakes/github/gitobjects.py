"""A tiny git object database whose shas match real git's.

The app commits through the Git Data API, so the fake must hash blobs, trees and commits
exactly as git does (``<type> <len>\\0<body>``, git's tree entry order): a test can then
compare the fake's shas with ``git hash-object`` and trust that what the app built is a
tree git itself would accept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

FILE_MODE = "100644"
EXEC_MODE = "100755"
TREE_MODE = "040000"
SYMLINK_MODE = "120000"
SUBMODULE_MODE = "160000"
_TYPE_OF_MODE = {
    FILE_MODE: "blob",
    EXEC_MODE: "blob",
    SYMLINK_MODE: "blob",
    TREE_MODE: "tree",
    SUBMODULE_MODE: "commit",
}


class GitObjectError(ValueError):
    """A request referred to an object that does not exist or has the wrong type."""


@dataclass(frozen=True)
class TreeEntry:
    name: str
    mode: str  # as the API shows it: "100644", "040000", ...
    sha: str

    @property
    def type(self) -> str:
        return _TYPE_OF_MODE[self.mode]


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    date: datetime

    def raw(self) -> str:
        return f"{self.name} <{self.email}> {int(self.date.timestamp())} +0000"

    @classmethod
    def parse(cls, raw: str) -> Signature:
        who, _, rest = raw.rpartition(">")
        name, _, email = who.partition(" <")
        stamp = int(rest.split()[0])
        return cls(name=name, email=email, date=datetime.fromtimestamp(stamp, UTC))


@dataclass(frozen=True)
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str


@dataclass(frozen=True)
class Change:
    """A new content for a path in :meth:`ObjectStore.apply`; ``sha`` None deletes the path."""

    sha: str | None
    mode: str = FILE_MODE


class ObjectStore:
    """Content-addressed objects of one repository."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[str, bytes]] = {}

    def put(self, kind: str, body: bytes) -> str:
        sha = hashlib.sha1(f"{kind} {len(body)}\0".encode() + body, usedforsecurity=False)
        digest = sha.hexdigest()
        self._objects[digest] = (kind, body)
        return digest

    def copy_from(self, other: ObjectStore) -> None:
        """Hold every object of ``other`` too (a fork shares its parent's history)."""
        self._objects.update(other._objects)

    def kind(self, sha: str) -> str | None:
        found = self._objects.get(sha)
        return found[0] if found else None

    def _body(self, sha: str, kind: str) -> bytes:
        found = self._objects.get(sha)
        if found is None or found[0] != kind:
            raise GitObjectError(f"{sha} is not a {kind}")
        return found[1]

    # -- blobs -------------------------------------------------------------------------

    def put_blob(self, data: bytes) -> str:
        return self.put("blob", data)

    def blob(self, sha: str) -> bytes:
        return self._body(sha, "blob")

    # -- trees -------------------------------------------------------------------------

    def put_tree(self, entries: Mapping[str, TreeEntry]) -> str:
        # git orders entries by name, comparing a tree's name as if it ended in "/".
        def order(entry: TreeEntry) -> bytes:
            return entry.name.encode() + (b"/" if entry.mode == TREE_MODE else b"")

        body = b"".join(
            f"{entry.mode.lstrip('0')} {entry.name}\0".encode() + bytes.fromhex(entry.sha)
            for entry in sorted(entries.values(), key=order)
        )
        return self.put("tree", body)

    def tree(self, sha: str) -> dict[str, TreeEntry]:
        body = self._body(sha, "tree")
        entries: dict[str, TreeEntry] = {}
        position = 0
        while position < len(body):
            space = body.index(b" ", position)
            nul = body.index(b"\0", space)
            mode = body[position:space].decode().rjust(6, "0")
            name = body[space + 1 : nul].decode()
            entries[name] = TreeEntry(name, mode, body[nul + 1 : nul + 21].hex())
            position = nul + 21
        return entries

    def walk(self, tree_sha: str, prefix: str = "") -> Iterator[tuple[str, TreeEntry]]:
        """Every entry below ``tree_sha``, depth first, with its full path."""
        for entry in self.tree(tree_sha).values():
            path = f"{prefix}{entry.name}"
            yield path, entry
            if entry.mode == TREE_MODE:
                yield from self.walk(entry.sha, f"{path}/")

    def files(self, tree_sha: str) -> dict[str, bytes]:
        return {
            path: self.blob(entry.sha)
            for path, entry in self.walk(tree_sha)
            if entry.type == "blob"
        }

    def apply(self, base_tree: str | None, changes: Mapping[str, Change]) -> str:
        """A new tree: ``base_tree`` (or empty) with ``changes`` at their (nested) paths."""
        entries = dict(self.tree(base_tree)) if base_tree else {}
        nested: dict[str, dict[str, Change]] = {}
        for path, change in changes.items():
            head, _, rest = path.strip("/").partition("/")
            if rest:
                nested.setdefault(head, {})[rest] = change
            elif change.sha is None:
                entries.pop(head, None)
            else:
                if self.kind(change.sha) != _TYPE_OF_MODE[change.mode] and (
                    change.mode != SUBMODULE_MODE
                ):
                    raise GitObjectError(
                        f"{change.sha} is not a valid {_TYPE_OF_MODE[change.mode]}"
                    )
                entries[head] = TreeEntry(head, change.mode, change.sha)
        for name, sub_changes in nested.items():
            current = entries.get(name)
            base = current.sha if current and current.mode == TREE_MODE else None
            sub_tree = self.apply(base, sub_changes)
            if self.tree(sub_tree):
                entries[name] = TreeEntry(name, TREE_MODE, sub_tree)
            else:
                entries.pop(name, None)  # git has no empty directories
        return self.put_tree(entries)

    def tree_from_files(self, files: Mapping[str, bytes]) -> str:
        changes = {path: Change(self.put_blob(data)) for path, data in files.items()}
        return self.apply(None, changes)

    # -- commits -----------------------------------------------------------------------

    def put_commit(
        self,
        tree: str,
        parents: tuple[str, ...],
        message: str,
        author: Signature,
        committer: Signature,
    ) -> str:
        if self.kind(tree) != "tree":
            raise GitObjectError(f"tree {tree} does not exist")
        for parent in parents:
            if self.kind(parent) != "commit":
                raise GitObjectError(f"parent {parent} does not exist or is not a commit")
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
        lines += [f"author {author.raw()}", f"committer {committer.raw()}"]
        return self.put("commit", ("\n".join(lines) + "\n\n" + message).encode())

    def commit(self, sha: str) -> Commit:
        header, _, message = self._body(sha, "commit").decode().partition("\n\n")
        fields: dict[str, list[str]] = {}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            fields.setdefault(key, []).append(value)
        return Commit(
            sha=sha,
            tree=fields["tree"][0],
            parents=tuple(fields.get("parent", [])),
            author=Signature.parse(fields["author"][0]),
            committer=Signature.parse(fields["committer"][0]),
            message=message,
        )

    def ancestors(self, sha: str) -> list[str]:
        """``sha`` and every commit reachable from it, nearest first (breadth first)."""
        seen: list[str] = []
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen.append(current)
            queue.extend(self.commit(current).parents)
        return seen

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return ancestor in self.ancestors(descendant)

    def merge_base(self, a: str, b: str) -> str | None:
        of_a = set(self.ancestors(a))
        return next((sha for sha in self.ancestors(b) if sha in of_a), None)
