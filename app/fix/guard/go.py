"""Go, by token rules on scanned code: ``t.Skip``, removed checks, build constraints.

Go tests are ``func TestXxx(t *testing.T)`` in ``_test.go`` files; their checks
are the calls that can fail them (``t.Error*``, ``t.Fatal*``, ``t.Fail*``,
testify's ``assert``/``require``, gomega's ``Expect``, and helpers handed
``t``).  Strings and comments are blanked first, so a ``t.Skip`` in a message
is not a skip.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from app.fix.guard.facts import CaseFacts, Definition, FileFacts, Marker
from app.fix.guard.tokens import (
    Scanned,
    argument_spans,
    literals_outside,
    matching_brace,
    normalised,
    scan,
)

_TEST_FUNC = re.compile(
    r"\bfunc\s+(?P<name>(?:Test|Fuzz)\w*)\s*\(\s*(?P<t>\w+)\s+\*\s*testing\.(?:T|F)\s*\)"
)
_TEST_MAIN = re.compile(r"\bfunc\s+TestMain\s*\(")
_SKIP = re.compile(r"\.\s*(Skip|SkipNow|Skipf)\s*\(")
_EXIT = re.compile(r"\bos\s*\.\s*Exit\s*\(|\bsyscall\s*\.\s*Exit\s*\(")
_TESTING = re.compile(r"\btesting\s*\.\s*Testing\s*\(")
_LIBRARY_CHECK = re.compile(
    r"\b(assert|require|is|qt|c)\s*\.\s*[A-Z]\w*\s*\(|\b(Expect|Eventually|Consistently|Ω)\s*\("
)
_CI_STRINGS = frozenset({'"CI"', '"GITHUB_ACTIONS"', '"CONTINUOUS_INTEGRATION"', "`CI`"})
_SKIP_ADVICE = "do not skip or disable tests; fix the code so the test passes"


def _checks(name: str) -> re.Pattern[str]:
    """Calls that can fail the test whose ``*testing.T`` is called ``name``."""
    t = re.escape(name)
    return re.compile(
        rf"\b{t}\s*\.\s*(Error|Errorf|Fatal|Fatalf|Fail|FailNow)\s*\("
        rf"|\b\w+\s*\(\s*{t}\s*[,)]"
        rf"|{_LIBRARY_CHECK.pattern}"
    )


def _messages(code: str, t: str) -> list[tuple[int, int]]:
    """Spans of failure messages and subtest names: words about a check, not its values."""
    spans = []
    pattern = rf"\b{re.escape(t)}\s*\.\s*(Error|Errorf|Fatal|Fatalf|Log|Logf|Skip|Skipf|Run)\s*\("
    for call in re.finditer(pattern + r"|\b(fmt\s*\.\s*\w+|errors\s*\.\s*New)\s*\(", code):
        arguments = argument_spans(code, call.end() - 1)
        spans.extend(arguments[:1] if call[1] == "Run" else arguments)
    return spans


def _silent_returns(code: str, start: int, end: int, checks: re.Pattern[str]) -> int:
    """``return`` statements whose block has no check before them: the test just stops."""
    count = 0
    for match in re.finditer(r"\breturn\b", code[start:end]):
        at = start + match.start()
        depth, block = 0, start
        for i in range(at - 1, start - 1, -1):
            if code[i] == "}":
                depth += 1
            elif code[i] == "{":
                if depth == 0:
                    block = i
                    break
                depth -= 1
        if not checks.search(code, block, at):
            count += 1
    return count


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def analyze(path: str, text: str) -> FileFacts:
    """Facts about one version of a Go file."""
    facts = FileFacts(collected=path.endswith("_test.go"))
    scanned = scan(text, "go")
    code = scanned.code
    _markers(scanned, facts)
    covered: list[tuple[int, int]] = []
    for match in _TEST_FUNC.finditer(code):
        open_at = code.find("{", match.end())
        if open_at < 0:
            continue
        end = matching_brace(code, open_at)
        covered.append((match.start(), end))
        checks = _checks(match["t"])
        terms = Counter(
            f"lit={lit}"
            for lit in literals_outside(scanned, open_at, end, _messages(code, match["t"]))
            if "%" not in lit
        )
        facts.tests.append(
            CaseFacts(
                key=match["name"],
                line=scanned.line_at(match.start()),
                checks=len(checks.findall(code, open_at, end)),
                terms=terms,
                returns=_silent_returns(code, open_at, end, checks),
                shape=_digest(normalised(scanned, open_at, end)),
            )
        )
    main = _TEST_MAIN.search(code)
    if main:
        open_at = code.find("{", main.end())
        end = matching_brace(code, open_at) if open_at >= 0 else len(code)
        covered.append((main.start(), end))
        facts.guarded["TestMain"] = (
            scanned.line_at(main.start()),
            _digest(normalised(scanned, main.start(), end)),
        )
    if facts.collected:
        _package_level(scanned, facts, covered)
    return facts


def _markers(scanned: Scanned, facts: FileFacts) -> None:
    code = scanned.code
    for match in _SKIP.finditer(code):
        facts.markers.append(
            Marker(
                "test-skip",
                f"go:{match[1]}",
                scanned.line_at(match.start()),
                f"adds `{match[1]}`, which skips the test",
                _SKIP_ADVICE,
            )
        )
    if facts.collected:
        for match in _EXIT.finditer(code):
            facts.markers.append(
                Marker(
                    "test-exit",
                    "go:exit",
                    scanned.line_at(match.start()),
                    "calls `os.Exit`, which ends the test binary early",
                    "let the tests run to the end",
                )
            )
    for match in _TESTING.finditer(code):
        facts.markers.append(
            Marker(
                "test-detection",
                "go:testing.Testing",
                scanned.line_at(match.start()),
                "calls `testing.Testing()` to behave differently under test",
                "code must behave the same under test; fix it for real",
            )
        )
    for offset, literal in scanned.literals:
        # "CI" alone is also a word; it counts only where the environment is read.
        if literal in _CI_STRINGS and re.search(
            r"(?i)(env|var)\w*\s*\(\s*$", code[max(0, offset - 40) : offset]
        ):
            facts.markers.append(
                Marker(
                    "test-detection",
                    f"go:{literal}",
                    scanned.line_at(offset),
                    f"reads {literal} to tell whether it runs under CI",
                    "code must behave the same under test and in CI; fix it for real",
                )
            )
    constraints = [
        " ".join(comment.split())
        for _, comment in scanned.comments
        if re.match(r"//\s*(go:build|\+build)\b", comment)
    ]
    if constraints:
        first = next(o for o, c in scanned.comments if re.match(r"//\s*(go:build|\+build)", c))
        facts.guarded["build constraint"] = (scanned.line_at(first), _digest("|".join(constraints)))


def _package_level(scanned: Scanned, facts: FileFacts, covered: list[tuple[int, int]]) -> None:
    """Package-level declarations of a test file (test tables live there) as support."""
    code = scanned.code
    spans = sorted(covered)
    outside, cursor = [], 0
    for start, end in spans:
        outside.append((cursor, start))
        cursor = max(cursor, end)
    outside.append((cursor, len(code)))
    pieces = (normalised(scanned, s, e) for s, e in outside)
    text = "".join(piece for piece in pieces if piece != "|")
    if not text.strip():
        return
    imports = re.compile(r"\bimport\s*(\([^)]*\)|\"[^\"]*\")")
    literals = [
        lit
        for s, e in outside
        for offset, lit in scanned.literals
        if s <= offset < e
        and not any(m.start() <= offset < m.end() for m in imports.finditer(code))
    ]
    checks = sum(len(_LIBRARY_CHECK.findall(code, s, e)) for s, e in outside)
    facts.support["package-level declarations"] = Definition(
        1, _digest(text), tuple(sorted(literals)), 0, checks
    )
