"""Failure fingerprints: the same failure on shifted lines, at another time, in another
temporary directory is still the same failure (so "the fix did not change it" is noticed)."""

from __future__ import annotations

import pytest

from app.diagnosis.model import Category, Diagnosis, KeyLine


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("tests/test_calc.py:12: AssertionError", "tests/test_calc.py:48: AssertionError"),
        ("src/a.ts(12,5): error TS2322: nope", "src/a.ts(40,9): error TS2322: nope"),
        ("src/main.rs:12:5 mismatched types", "src/main.rs:20:1 mismatched types"),
        ('File "app.py", line 42, in f', 'File "app.py", line 7, in f'),
        ("[12:34:56] ERROR boom", "[01:02:03] ERROR boom"),
        ("2024-05-01T10:00:01.123+02:00 E boom", "2025-01-01T00:00:00Z E boom"),
        ("/tmp/pytest-of-runner/pytest-3/t0/a.py: bad", "/tmp/pytest-of-runner/p-9/a.py: bad"),
        ("/var/folders/ab/cd/T/tmpq1/x.py:9 E501", "/var/folders/zz/yy/T/tmpw2/x.py:3 E501"),
        ("/home/runner/work/_temp/abc.sh: exit 1", "/home/runner/work/_temp/def.sh: exit 1"),
    ],
)  # fmt: skip
def test_fingerprint_ignores_line_numbers_times_and_temp_paths(before: str, after: str) -> None:
    def fingerprint(text: str) -> str:
        return Diagnosis(Category.TEST, 0.9, key_lines=(KeyLine(text),)).fingerprint

    assert fingerprint(before) == fingerprint(after)


def test_fingerprint_still_tells_different_failures_apart() -> None:
    def fingerprint(text: str) -> str:
        return Diagnosis(Category.TEST, 0.9, key_lines=(KeyLine(text),)).fingerprint

    assert fingerprint("tests/a.py:1: assert 0 == 4") != fingerprint("tests/b.py:1: assert 0 == 4")
    assert fingerprint("error TS2322: nope") != fingerprint("error TS2345: nope")
