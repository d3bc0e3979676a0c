"""The tree reads like the pipeline: no stage imports a later one.

Order: core, store, github, intake, diagnosis, config, loop, fix, publish,
admin; the top-level modules (``settings``, ``assemble``, ``server``,
``__main__``) may import anything, and only ``settings`` may be imported by
the stages besides ``core`` and ``store`` (it is read once at start-up and
handed down as a value).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
STAGES = [
    "core",
    "store",
    "github",
    "intake",
    "diagnosis",
    "config",
    "loop",
    "fix",
    "publish",
    "admin",
]
SHARED_TOP_LEVEL = {"settings"}


def stage_of(module: str) -> str | None:
    """``app.loop.engine`` -> ``loop``; top-level modules -> their own name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "app" else None


def runtime_imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it runs (imports under TYPE_CHECKING do not count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "app" or name.startswith("app.")}


def stage_modules() -> list[Path]:
    return sorted(p for stage in STAGES for p in (APP / stage).rglob("*.py"))


@pytest.mark.parametrize("path", stage_modules(), ids=lambda p: str(p.relative_to(APP)))
def test_no_stage_imports_a_later_stage_or_the_assembly(path: Path) -> None:
    own = STAGES.index(path.relative_to(APP).parts[0])
    for module in runtime_imports(path):
        target = stage_of(module)
        if target is None or target in SHARED_TOP_LEVEL:
            continue
        assert target in STAGES, f"{path.name} imports the top-level {module}"
        assert STAGES.index(target) <= own, f"{path.name} imports {module}, a later stage"


def test_every_stage_package_says_what_it_owns() -> None:
    for stage in STAGES:
        init = APP / stage / "__init__.py"
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring, f"app/{stage}/__init__.py has no docstring"
