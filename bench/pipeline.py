"""Benchmark: the log pipeline's throughput and peak memory on a 100 MB log.

That measurement is ``bench/classify.py`` (parse + classify, MB/s and peak RSS,
median of several runs, each in a fresh process); this entry point only runs it,
so the two can never disagree.

    python bench/pipeline.py [--mb 100] [--runs 3]
"""

from __future__ import annotations

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).with_name("classify.py")), run_name="__main__")
