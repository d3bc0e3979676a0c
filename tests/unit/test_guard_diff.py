"""Lines end at ``\\n`` only: a form feed, U+2028 or ``\\r`` inside a line cannot desync the guard.

``str.splitlines`` also splits at those characters; a parser built on it ends a
hunk early and stops judging the lines after it (issue 12, finding 4).
"""

from __future__ import annotations

import pytest

from app.fix.guard import line_changes, parse_diff, split_lines
from tests.guard_support import judge, rules

SEPARATORS = ["\f", "\u2028", "\u2029", "\r", "\x1c", "\x85", "\v"]


def _diff(added: list[str]) -> str:
    body = "".join(f"+{line}\n" for line in added)
    return (
        "diff --git a/tests/test_a.py b/tests/test_a.py\n"
        "--- a/tests/test_a.py\n+++ b/tests/test_a.py\n"
        f"@@ -1,1 +1,{len(added) + 1} @@\n import pytest\n{body}"
    )


@pytest.mark.parametrize("separator", SEPARATORS)
def test_parse_diff_keeps_a_separator_inside_its_line(separator):
    added = [f"x = 1  {separator} y", "@pytest.mark.skip", "def test_a():", "    pass"]
    (fd,) = parse_diff(_diff(added))
    assert [line.text for line in fd.added] == added
    assert [line.number for line in fd.added] == [2, 3, 4, 5]


@pytest.mark.parametrize("separator", SEPARATORS)
def test_parse_diff_sees_the_next_file_after_a_separator(separator):
    diff = _diff([f"a{separator}b"]) + (
        "diff --git a/src/b.py b/src/b.py\n--- a/src/b.py\n+++ b/src/b.py\n@@ -0,0 +1 @@\n+z = 2\n"
    )
    files = parse_diff(diff)
    assert [f.path for f in files] == ["tests/test_a.py", "src/b.py"]
    assert [line.text for line in files[1].added] == ["z = 2"]


def test_many_suppressions_behind_a_form_feed_are_all_counted():
    added = ["\f"] + ["x = f()  # type: ignore"] * 300
    (fd,) = parse_diff(_diff(added))
    assert sum("type: ignore" in line.text for line in fd.added) == 300


@pytest.mark.parametrize("separator", SEPARATORS)
def test_split_lines_splits_on_newline_only(separator):
    assert split_lines(f"a{separator}b\nc\n") == [f"a{separator}b", "c"]


@pytest.mark.parametrize("separator", SEPARATORS)
def test_line_changes_number_lines_as_git_does(separator):
    before = "a\nb\n"
    after = f"a\nq{separator}r\nb\nnew\n"
    added, removed = line_changes(before, after)
    assert [(line.number, line.text) for line in added] == [(2, f"q{separator}r"), (4, "new")]
    assert removed == []


@pytest.mark.parametrize("separator", ["\f", "\u2028", "\r"])
def test_a_skip_after_a_separator_is_rejected(separator):
    before = "import pytest\n\n\ndef test_a():\n    assert f() == 1\n"
    after = (
        f"import pytest\n# note{separator}\n\n@pytest.mark.skip\ndef test_a():\n"
        "    assert f() == 1\n"
    )
    verdict = judge({"tests/test_a.py": before}, {"tests/test_a.py": after})
    assert "test-skip" in rules(verdict)
    assert any(v.line == 4 for v in verdict.violations if v.rule == "test-skip")


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_a_javascript_line_comment_ended_by_a_separator_hides_nothing(separator):
    before = "it('adds', () => {\n  expect(add(1, 1)).toBe(2)\n})\n"
    after = f"// note{separator}it.skip('adds', () => {{\n  expect(add(1, 1)).toBe(2)\n}})\n"
    verdict = judge({"src/add.test.js": before}, {"src/add.test.js": after})
    assert "test-skip" in rules(verdict)


def test_three_hundred_suppressions_count_as_three_hundred_lines():
    before = "x = 1\n"
    after = "x = 1\n\f" + "y = f()  # type: ignore\n" * 300
    verdict = judge({"src/a.py": before}, {"src/a.py": after})
    assert verdict.lines_added == 300  # the form feed starts no line of its own
    assert "size-lines" in rules(verdict)
    assert sum(v.rule == "suppression" for v in verdict.violations) == 300
