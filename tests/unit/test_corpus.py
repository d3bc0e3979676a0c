"""Accuracy on the labelled corpora of real CI failure logs.

``shared/corpus`` holds real tool output wrapped as job logs; ``tests/corpus_wild``
holds logs as they are found in the wild (excerpts posted in public issues, and
real tools run here), each with its source.  The thresholds are the project's
bar: at least 95% of categories right and the labelled key line among the top
three for at least 90% of cases.  Both are samples of kinds, not the test set:
the rules must stay general.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.corpus_accuracy import score_corpus
from tests.support import require_or_skip, shared_dir

WILD = Path(__file__).resolve().parents[1] / "corpus_wild"
# Every ecosystem the classifier claims to know has real cases behind the claim.
ECOSYSTEMS = {
    "jvm",
    "dotnet",
    "msvc",
    "swift",
    "android",
    "ruby",
    "php",
    "elixir",
    "e2e",
    "docker",
    "terraform",
    "web-frameworks",
    "go",
    "runner",
}


def test_corpus_category_and_key_line_accuracy() -> None:
    corpus = shared_dir() / "corpus"
    require_or_skip(corpus.is_dir(), f"the labelled corpus is not at {corpus}")
    score = score_corpus(corpus)
    print(score.summary())
    assert len(score.cases) >= 20
    assert score.category_accuracy >= 0.95, score.summary()
    assert score.key_line_top3 >= 0.90, score.summary()


def test_real_world_corpus_category_and_key_line_accuracy() -> None:
    score = score_corpus(WILD)
    print(score.summary())
    assert len(score.cases) >= 60
    assert score.category_accuracy >= 0.95, score.summary()
    assert score.key_line_top3 >= 0.90, score.summary()


def test_every_real_world_case_says_where_it_comes_from_and_every_ecosystem_is_there() -> None:
    metas = [json.loads(p.read_text(encoding="utf-8")) for p in WILD.glob("*/meta.json")]
    assert all(m.get("source") for m in metas)
    assert all(m.get("key_line") for m in metas)
    assert {m["ecosystem"] for m in metas} >= ECOSYSTEMS
