"""The edit format the ``api`` fixer asks a model for, and applying it safely.

A model called through an API cannot touch the disk; it answers with search and
replace edits, which are applied here.  The model's reply is untrusted text
(it read a log written by whoever pushed), so every path is confined to the
workspace, ``.git`` is off limits, and a search text must match exactly once.
Edits are all checked before any is written, so a bad reply leaves the workspace
as it was and the error message goes into the next iteration's prompt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from app.core.errors import EditError

EDIT_FORMAT = """\
Answer with one JSON object and nothing else, in this exact shape:
{"edits": [{"path": "src/app.py", "search": "exact text to replace", "replace": "new text"}],
 "summary": "one short paragraph for the reviewer: what you changed and why",
 "escalate": null}
Rules:
- "path" is relative to the repository root.
- "search" must be copied exactly from the file (whitespace included) and occur exactly once;
  include enough surrounding lines to make it unique.
- To create a new file, use an empty "search" and the whole content as "replace".
- If you cannot fix the failure safely, answer {"edits": [], "escalate": "<reason>"}.
"""


@dataclass(frozen=True)
class Edit:
    path: str
    search: str
    replace: str


@dataclass(frozen=True)
class EditPlan:
    """A parsed model reply: edits to apply, or a reason to escalate."""

    edits: tuple[Edit, ...]
    escalate: str | None = None
    summary: str | None = None


def parse_reply(text: str) -> EditPlan:
    """Read the JSON object out of a reply (tolerating a Markdown fence around it)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise EditError("the reply held no JSON object; answer in the edit format only")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise EditError(f"the reply was not valid JSON ({exc}); answer in the edit format") from exc
    if not isinstance(data, dict) or not isinstance(data.get("edits", []), list):
        raise EditError('the reply must be an object with an "edits" list')
    escalate = data.get("escalate")
    edits = []
    for number, item in enumerate(data.get("edits", []), start=1):
        if not isinstance(item, dict) or not all(
            isinstance(item.get(key), str) for key in ("path", "search", "replace")
        ):
            raise EditError(f'edit {number} needs string "path", "search" and "replace" fields')
        edits.append(Edit(item["path"], item["search"], item["replace"]))
    summary = data.get("summary")
    return EditPlan(
        tuple(edits),
        str(escalate) if escalate else None,
        summary.strip() or None if isinstance(summary, str) else None,
    )


def resolve_inside(root: Path, path: str) -> Path:
    """``root / path`` after resolving links, refused unless it stays in the repository."""
    parts = PurePosixPath(path).parts
    if not path or PurePosixPath(path).is_absolute() or ".." in parts:
        raise EditError(f"{path!r} is not a relative path inside the repository")
    if any(part.lower() == ".git" for part in parts):
        raise EditError(f"{path!r} is inside .git, which fixes may not touch")
    base = root.resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base) or target == base:
        raise EditError(f"{path!r} resolves outside the repository")
    # A link the repository holds (``meta -> .git``) must not lead into .git either.
    if any(part.lower() == ".git" for part in target.relative_to(base).parts):
        raise EditError(f"{path!r} leads into .git, which fixes may not touch")
    return target


def apply_edits(root: Path, edits: Sequence[Edit]) -> tuple[str, ...]:
    """Apply ``edits`` under ``root``; return the changed paths.  Raises ``EditError``."""
    planned: dict[str, tuple[Path, str]] = {}
    for number, edit in enumerate(edits, start=1):
        target = resolve_inside(root, edit.path)
        if (root / edit.path).is_symlink():
            raise EditError(f"edit {number}: {edit.path} is a symlink; edit the file it points to")
        current = planned[edit.path][1] if edit.path in planned else _read(target, number, edit)
        planned[edit.path] = (target, _apply_one(current, edit, number))
    for target, content in planned.values():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(content)
    return tuple(planned)


def _read(target: Path, number: int, edit: Edit) -> str | None:
    if not target.exists():
        return None
    if not target.is_file():
        raise EditError(f"edit {number}: {edit.path} is not a regular file")
    try:
        return target.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(
            f"edit {number}: {edit.path} is not UTF-8 text; it cannot be edited"
        ) from exc


def _apply_one(current: str | None, edit: Edit, number: int) -> str:
    if not edit.search:
        if current is not None:
            raise EditError(
                f"edit {number}: {edit.path} already exists; an empty search creates new files "
                "only, so quote the text to replace"
            )
        return edit.replace
    if current is None:
        raise EditError(f"edit {number}: {edit.path} does not exist")
    found = current.count(edit.search)
    if found != 1:
        problem = "was not found" if found == 0 else f"was found {found} times"
        raise EditError(
            f"edit {number}: the search text {problem} in {edit.path}; copy it exactly from "
            "the file, with enough surrounding lines to match exactly once"
        )
    return current.replace(edit.search, edit.replace, 1)
