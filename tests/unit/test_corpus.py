"""Accuracy on the labelled corpus of real CI failure logs (``shared/corpus``).

The thresholds are the project's bar: at least 95% of categories right and the
labelled key line among the top three for at least 90% of cases.  The corpus is
a sample of kinds, not the test set: the rules must stay general.
"""

from __future__ import annotations

from bench.corpus_accuracy import score_corpus
from tests.support import require_or_skip, shared_dir


def test_corpus_category_and_key_line_accuracy() -> None:
    corpus = shared_dir() / "corpus"
    require_or_skip(corpus.is_dir(), f"the labelled corpus is not at {corpus}")
    score = score_corpus(corpus)
    print(score.summary())
    assert len(score.cases) >= 20
    assert score.category_accuracy >= 0.95, score.summary()
    assert score.key_line_top3 >= 0.90, score.summary()
