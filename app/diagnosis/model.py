"""The diagnosis of a failed CI run: plain, serialisable data.

A diagnosis is produced once (by the classifier, from the logs the gatherer
fetched) and then read by everything downstream: the loop engine (category,
fingerprint), the prompt builder, the pull request body and the escalation
issue.  Keeping it plain data means it can be stored as JSON in the loop's
history and rebuilt after a restart without re-downloading logs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Category(StrEnum):
    """What kind of failure a run had; decides the prompt, the model and triage."""

    LINT = "lint"
    TYPECHECK = "typecheck"
    TEST = "test"
    BUILD = "build"
    SSR = "ssr"
    INFRA = "infra"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class KeyLine:
    """One log line a person would point at as the cause, with where it came from."""

    text: str
    file: str | None = None
    line: int | None = None
    job: str | None = None
    step: str | None = None
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyLine:
        return cls(
            text=str(data["text"]),
            file=data.get("file"),
            line=data.get("line"),
            job=data.get("job"),
            step=data.get("step"),
            score=float(data.get("score", 0.0)),
        )


@dataclass(frozen=True)
class Diagnosis:
    """Why a run failed, with the evidence.

    ``excerpt`` is the cleaned output of the failing step (timestamps and colour
    codes removed), bounded in size; it is untrusted text written by whoever
    pushed the code and must only ever reach a prompt fenced as data.
    ``notes`` say what could not be gathered (an expired log, say), so a reader
    knows how much of the evidence is missing.
    """

    category: Category
    confidence: float
    tool: str | None = None
    key_lines: tuple[KeyLine, ...] = ()
    failed_jobs: tuple[str, ...] = ()
    failed_steps: tuple[str, ...] = ()
    excerpt: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def fingerprint(self) -> str:
        """A stable identity of the failure, blind to timings, addresses, ids, line
        numbers and temporary paths.

        Two runs failing "the same way" share a fingerprint, which is how the
        loop notices that a fix did not change the failure.
        """
        parts = [self.category.value]
        parts.extend(sorted({normalise_for_fingerprint(k.text) for k in self.key_lines[:5]}))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "confidence": self.confidence,
            "tool": self.tool,
            "key_lines": [k.to_dict() for k in self.key_lines],
            "failed_jobs": list(self.failed_jobs),
            "failed_steps": list(self.failed_steps),
            "excerpt": self.excerpt,
            "notes": list(self.notes),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        return cls(
            category=Category(data["category"]),
            confidence=float(data.get("confidence", 0.0)),
            tool=data.get("tool"),
            key_lines=tuple(KeyLine.from_dict(k) for k in data.get("key_lines", ())),
            failed_jobs=tuple(data.get("failed_jobs", ())),
            failed_steps=tuple(data.get("failed_steps", ())),
            excerpt=str(data.get("excerpt", "")),
            notes=tuple(data.get("notes", ())),
        )


_VOLATILE = [
    # Temporary paths first, so nothing below eats part of one.
    (
        re.compile(
            r"(?:/private)?/(?:tmp|var/folders|var/tmp)/[^\s:'\"),]+"
            r"|/home/runner/work/_temp/[^\s:'\"),]+"
            r"|[A-Za-z]:\\(?:Users\\[^\\\s]+\\AppData\\Local\\)?Te?mp\\[^\s:'\"),]+"
        ),
        "<tmp>",
    ),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<addr>"),
    (re.compile(r"\b[0-9a-f]{7,40}\b"), "<sha>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s*(?:ms|s|sec|seconds|m|min)\b"), "<dur>"),
    # Where in a file: path:12, path:12:5, file.ts(12,5), "line 12", "on line 12".
    (re.compile(r"(?<=[\w.)\]\"'>]):\d+(?::\d+)?\b"), ":<line>"),
    (re.compile(r"\(\d+,\s*\d+\)"), "(<line>)"),
    (re.compile(r"\b(line|lines|ln|col|column)\s+\d+\b", re.IGNORECASE), r"\1 <n>"),
    (re.compile(r"\(\d+\)"), "(<n>)"),
    (re.compile(r"\s+"), " "),
]


def normalise_for_fingerprint(text: str) -> str:
    """Strip what changes between two runs of the same failure."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text.strip()


def key_line_text(k: KeyLine) -> str:
    """A key line as a person (or an agent) reads it: ``file:line: text``, as far as known."""
    where = f"{k.file}:{k.line}: " if k.file and k.line else (f"{k.file}: " if k.file else "")
    return where + k.text


MERGED_EXCERPT_LIMIT = 64 * 1024


def merge_diagnoses(diagnoses: list[Diagnosis]) -> Diagnosis:
    """Several failed workflows of one commit as one diagnosis, for one fix attempt.

    The first code failure's category leads (an infra or unknown one gives way
    to lint, types, tests or build), key lines are ranked together, jobs,
    steps and notes are joined, and the excerpts are kept in order within one
    bound.  A single diagnosis is returned as it is.
    """
    if not diagnoses:
        raise ValueError("nothing to merge")
    if len(diagnoses) == 1:
        return diagnoses[0]
    vague = (Category.INFRA, Category.UNKNOWN)
    lead = next((d for d in diagnoses if d.category not in vague), diagnoses[0])
    key_lines = sorted((k for d in diagnoses for k in d.key_lines), key=lambda k: -k.score)
    excerpt = "\n\n".join(d.excerpt for d in diagnoses if d.excerpt)[:MERGED_EXCERPT_LIMIT]
    return Diagnosis(
        category=lead.category,
        confidence=min(d.confidence for d in diagnoses),
        tool=lead.tool or next((d.tool for d in diagnoses if d.tool), None),
        key_lines=tuple(key_lines),
        failed_jobs=tuple(dict.fromkeys(j for d in diagnoses for j in d.failed_jobs)),
        failed_steps=tuple(dict.fromkeys(s for d in diagnoses for s in d.failed_steps)),
        excerpt=excerpt,
        notes=tuple(dict.fromkeys(n for d in diagnoses for n in d.notes)),
    )
