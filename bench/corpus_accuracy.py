"""Measure the classifier on labelled corpora of real CI failure logs.

Each case is a folder with ``log.txt`` (a job log as the API returns it, or a
real excerpt of one) and ``meta.json`` (``category``, ``failed_jobs``, ``tool``,
``key_line``; the real-world corpus adds ``ecosystem`` and ``source``).  Two
figures matter: how often the category is right, and how often the labelled key
line is among the classifier's top three.  ``tests/unit/test_corpus.py`` asserts
on them; ``python bench/corpus_accuracy.py [CORPUS ...] [--markdown]`` prints
them per category and per ecosystem, with every miss.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.diagnosis.classify import classify_text

TOP_KEY_LINES = 3


@dataclass(frozen=True)
class CaseResult:
    name: str
    expected_category: str
    category: str
    expected_key_line: str | None
    top_key_lines: tuple[str, ...]
    ecosystem: str = "-"

    @property
    def category_ok(self) -> bool:
        return self.category == self.expected_category

    @property
    def key_line_ok(self) -> bool:
        if not self.expected_key_line:
            return True
        expected = _normalise(self.expected_key_line)
        return any(
            expected in _normalise(t) or _normalise(t) in expected
            for t in self.top_key_lines
            if t.strip()
        )


@dataclass(frozen=True)
class CorpusScore:
    cases: tuple[CaseResult, ...] = field(default=())

    @property
    def category_accuracy(self) -> float:
        return sum(c.category_ok for c in self.cases) / len(self.cases) if self.cases else 0.0

    @property
    def key_line_top3(self) -> float:
        keyed = [c for c in self.cases if c.expected_key_line]
        return sum(c.key_line_ok for c in keyed) / len(keyed) if keyed else 0.0

    def table(self, group: Callable[[CaseResult], str], title: str) -> str:
        """A Markdown table of the two figures per group (category, ecosystem)."""
        groups: defaultdict[str, list[CaseResult]] = defaultdict(list)
        for case in self.cases:
            groups[group(case)].append(case)
        rows = [f"| {title} | cases | category right | key line in top {TOP_KEY_LINES} |"]
        rows.append("|---|---:|---:|---:|")
        for name in sorted(groups):
            part = CorpusScore(tuple(groups[name]))
            rows.append(
                f"| {name} | {len(part.cases)} | {part.category_accuracy:.0%} "
                f"| {part.key_line_top3:.0%} |"
            )
        rows.append(
            f"| **all** | {len(self.cases)} | {self.category_accuracy:.1%} "
            f"| {self.key_line_top3:.1%} |"
        )
        return "\n".join(rows)

    def summary(self) -> str:
        lines = [
            f"cases: {len(self.cases)}",
            f"category accuracy: {self.category_accuracy:.1%}",
            f"key line in top {TOP_KEY_LINES}: {self.key_line_top3:.1%}",
        ]
        for case in self.cases:
            if not case.category_ok:
                lines.append(
                    f"  {case.name}: category {case.category}, expected {case.expected_category}"
                )
            if not case.key_line_ok:
                lines.append(
                    f"  {case.name}: key line {case.expected_key_line!r} not in "
                    f"{list(case.top_key_lines)!r}"
                )
        return "\n".join(lines)


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def score_corpus(corpus: Path | Iterable[Path]) -> CorpusScore:
    """Classify every case in the corpus (or corpora) and compare with its labels."""
    folders = [corpus] if isinstance(corpus, Path) else list(corpus)
    cases = sorted(
        (p for folder in folders for p in folder.iterdir() if (p / "meta.json").is_file()),
        key=lambda p: (str(p.parent), p.name),
    )
    results = []
    for case in cases:
        meta = json.loads((case / "meta.json").read_text(encoding="utf-8"))
        diagnosis = classify_text((case / "log.txt").read_bytes(), meta.get("failed_jobs", ()))
        results.append(
            CaseResult(
                name=case.name,
                expected_category=meta["category"],
                category=diagnosis.category.value,
                expected_key_line=meta.get("key_line"),
                top_key_lines=tuple(k.text for k in diagnosis.key_lines[:TOP_KEY_LINES]),
                ecosystem=str(meta.get("ecosystem") or meta.get("tool") or "-"),
            )
        )
    return CorpusScore(tuple(results))


def main() -> int:
    # The shared reference data sits beside the clone; CI_FIX_SHARED_DIR points elsewhere.
    shared = os.environ.get("CI_FIX_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="*", type=Path, help="case folders' parent(s)")
    parser.add_argument("--markdown", action="store_true", help="tables per category/ecosystem")
    args = parser.parse_args()
    score = score_corpus(args.corpus or [Path(shared) / "corpus"])
    if args.markdown:
        print(score.table(lambda c: c.expected_category, "category"))
        print()
        print(score.table(lambda c: c.ecosystem, "ecosystem"))
        print()
    print(score.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
