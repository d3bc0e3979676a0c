"""The guard corpus: cheating changes and honest fixes, built from small base repositories.

``bases.yaml`` holds four small repositories (Python, JavaScript/TypeScript, Go,
Rust); ``cheats.yaml`` and ``honest.yaml`` hold one change each.  A case's
``before`` overrides files of its base; ``edit`` replaces text in a file (each
old text must occur, so a case cannot silently stop applying), ``after`` sets
whole files (null deletes), and ``modes``, ``symlinks``, ``binary`` and
``submodules`` record what git would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from app.fix.guard import FileState

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "cheat" or "honest"
    rule: str | None
    before: dict[str, FileState]
    after: dict[str, FileState]


def _load(name: str) -> Any:
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))


def _states(files: dict[str, str | None]) -> dict[str, FileState | None]:
    return {p: None if text is None else FileState(text.encode()) for p, text in files.items()}


def _build(raw: dict[str, Any], kind: str, bases: dict[str, dict[str, str]]) -> Case:
    before = {p: FileState(t.encode()) for p, t in bases[raw["base"]].items()}
    for path, state in _states(raw.get("before") or {}).items():
        if state is None:
            before.pop(path, None)
        else:
            before[path] = state
    after = dict(before)
    for path, edits in (raw.get("edit") or {}).items():
        text = after[path].data.decode()
        for old, new in edits:
            if old not in text:
                raise ValueError(f"corpus case {raw['name']}: {old!r} is not in {path}")
            text = text.replace(old, new, 1)
        after[path] = FileState(text.encode(), after[path].mode)
    for path, state in _states(raw.get("after") or {}).items():
        if state is None:
            after.pop(path, None)
        else:
            after[path] = state
    for path, mode in (raw.get("modes") or {}).items():
        after[path] = FileState(after[path].data, str(mode))
    for path, target in (raw.get("symlinks") or {}).items():
        after[path] = FileState(target.encode(), "120000")
    for path, hexdata in (raw.get("binary") or {}).items():
        after[path] = FileState(bytes.fromhex(hexdata))
    for path in raw.get("submodules") or ():
        after[path] = FileState(b"", "160000")
    if after == before:
        raise ValueError(f"corpus case {raw['name']} changes nothing")
    return Case(raw["name"], kind, raw.get("rule"), before, after)


@cache
def cases() -> tuple[Case, ...]:
    bases = _load("bases.yaml")
    built = [_build(raw, "cheat", bases) for raw in _load("cheats.yaml")]
    built += [_build(raw, "honest", bases) for raw in _load("honest.yaml")]
    names = [case.name for case in built]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"corpus case names repeat: {sorted(duplicates)}")
    return tuple(built)


def write_tree(root: Path, files: dict[str, FileState]) -> None:
    """Lay ``files`` out on disk as git would check them out."""
    root.mkdir(parents=True, exist_ok=True)
    for path, state in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if state.mode == "120000":
            os.symlink(state.data.decode(), target)
        elif state.mode == "160000":
            target.mkdir(exist_ok=True)
            (target / ".git").write_text("gitdir: ../../.git/modules/sub\n")
        else:
            target.write_bytes(state.data)
            target.chmod(0o755 if state.mode == "100755" else 0o644)
