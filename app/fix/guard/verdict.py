"""What the guard decided: violations (rule, file, line, sentence) and the change's size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Violation:
    """One reason a change is refused.

    ``message`` is the sentence a maintainer reads in the PR and the next
    attempt reads in its prompt: it names the file, the line when there is one,
    what was wrong, what to do instead, and the rule.
    """

    rule: str
    path: str
    line: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "path": self.path, "line": self.line, "message": self.message}


def violation(rule: str, path: str, line: int | None, what: str, advice: str) -> Violation:
    """Build the sentence: ``path:line what; advice (rule: rule).``."""
    where = f"{path}:{line}" if line else path
    return Violation(rule, path, line, f"{where} {what}; {advice} (rule: {rule}).")


@dataclass(frozen=True)
class GuardVerdict:
    """Whether a change may be published, why not, how big it is, and which tests it touches.

    ``test_changes`` lists every test added, changed, moved or renamed, accepted
    or not, so the pull request can show the reviewer each one.
    """

    ok: bool
    reasons: tuple[str, ...]
    files_changed: int
    lines_added: int
    lines_removed: int
    violations: tuple[Violation, ...] = ()
    test_changes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "violations": [v.to_json() for v in self.violations],
            "files_changed": self.files_changed,
            "lines_added": self.lines_added,
            "lines_removed": self.lines_removed,
            "test_changes": list(self.test_changes),
        }
