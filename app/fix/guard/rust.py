"""Rust, by token rules on scanned code: ``#[ignore]``, ``#[should_panic]``, removed asserts.

Tests are functions carrying ``#[test]`` (or ``#[tokio::test]``, ``#[rstest]``…),
in ``src/`` as much as in ``tests/``.  An ``#[ignore]`` anywhere, or a
``#[should_panic]`` added to a test (which turns its failure into a pass), is
refused; so is an assertion removed or replaced by ``assert!(true)``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from app.fix.guard.facts import CaseFacts, FileFacts, Marker
from app.fix.guard.tokens import (
    Scanned,
    argument_spans,
    literals_outside,
    matching_brace,
    normalised,
    scan,
    split_args,
)

_FN = re.compile(r"\bfn\s+(?P<name>\w+)\s*(?:<[^>{]*>)?\s*\(")
_ATTRIBUTE = re.compile(r"#!?\[")
_TEST_ATTR = re.compile(
    r"#\[\s*(?:[\w:]+::)?(test|rstest|test_case|quickcheck|proptest|wasm_bindgen_test|test_log::test)\b"
)
_ASSERT = re.compile(
    r"\b(?P<macro>(?:debug_)?assert(?:_eq|_ne|_matches)?|prop_assert(?:_eq|_ne)?|assert_\w+|panic"
    r"|unreachable)\s*!\s*[(\[{]"
)
_IGNORE = re.compile(r"#\[\s*ignore\b|\bcfg_attr\s*\([^)]*\bignore\b")
_SHOULD_PANIC = re.compile(r"#\[\s*should_panic\b")
_CFG = re.compile(r"#(!?)\[\s*cfg\s*\((?P<arg>[^\]]*)\)\s*\]")
_EXIT = re.compile(r"\bprocess\s*::\s*(exit|abort)\s*\(")
_CFG_TEST = re.compile(r"\bcfg!\s*\(\s*test\s*\)")
_CI_STRINGS = frozenset({'"CI"', '"GITHUB_ACTIONS"', '"CONTINUOUS_INTEGRATION"'})
_SKIP_ADVICE = "do not skip or disable tests; fix the code so the test passes"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _attributes_before(code: str, at: int) -> str:
    """The attributes (and modifiers) written directly before the ``fn`` at ``at``."""
    start = max(code.rfind(";", 0, at), code.rfind("}", 0, at), code.rfind("{", 0, at)) + 1
    # An attribute's own ``]`` may be preceded by braces inside it; good enough for tests.
    return code[start:at]


def _neutral(macro: str, args: list[str]) -> bool:
    """``assert!(true)``, ``assert!(x || true)``, ``assert_eq!(a, a)``."""
    if not args:
        return False
    if macro in ("assert", "debug_assert", "prop_assert"):
        first = " ".join(args[0].split())
        return first == "true" or first.endswith("|| true") or first.startswith("true ||")
    if macro.endswith("_eq") and len(args) >= 2:
        return " ".join(args[0].split()) == " ".join(args[1].split())
    return False


def analyze(path: str, text: str) -> FileFacts:
    """Facts about one version of a Rust file."""
    facts = FileFacts(collected=True)
    scanned = scan(text, "rust")
    code = scanned.code
    has_tests = bool(_TEST_ATTR.search(code))
    _markers(scanned, facts, has_tests, path)
    for match in _FN.finditer(code):
        attributes = _attributes_before(code, match.start())
        if not _TEST_ATTR.search(attributes):
            continue
        open_at = code.find("{", match.end())
        if open_at < 0:
            continue
        end = matching_brace(code, open_at)
        checks, neutral = 0, []
        for call in _ASSERT.finditer(code, open_at, end):
            close = matching_paren(code, call.end() - 1)
            args = split_args(_with_literals(scanned, call.end(), close - 1))
            if _neutral(call["macro"], args):
                neutral.append(scanned.line_at(call.start()))
            else:
                checks += 1
        terms = Counter(
            f"lit={lit}" for lit in literals_outside(scanned, open_at, end, _messages(code))
        )
        if _SHOULD_PANIC.search(attributes):
            terms["should_panic"] += 1
        facts.tests.append(
            CaseFacts(
                key=match["name"],
                line=scanned.line_at(match.start()),
                checks=checks,
                terms=terms,
                returns=len(re.findall(r"\breturn\b", code[open_at:end])),
                shape=_digest(normalised(scanned, open_at, end)),
                neutral=neutral,
            )
        )
    return facts


_MESSAGE_ARGS = {"assert": 1, "debug_assert": 1, "prop_assert": 1, "panic": 0, "unreachable": 0}


def _messages(code: str) -> list[tuple[int, int]]:
    """Spans of assertion and panic messages (and ``.expect("...")``): words, not values."""
    spans = []
    for call in _ASSERT.finditer(code):
        macro = call["macro"]
        first = _MESSAGE_ARGS.get(macro, 2 if macro.endswith(("_eq", "_ne")) else 99)
        spans.extend(argument_spans(code, call.end() - 1)[first:])
    for call in re.finditer(r"\.\s*expect\s*\(", code):
        spans.extend(argument_spans(code, call.end() - 1))
    return spans


def matching_paren(code: str, open_at: int) -> int:
    pairs = {"(": ")", "[": "]", "{": "}"}
    opening = code[open_at]
    closing = pairs.get(opening, ")")
    depth = 0
    for i in range(open_at, len(code)):
        if code[i] == opening:
            depth += 1
        elif code[i] == closing:
            depth -= 1
            if depth == 0:
                return i + 1
    return len(code)


def _with_literals(scanned: Scanned, start: int, end: int) -> str:
    """Code between offsets with string literals put back (they matter to ``assert_eq!``)."""
    code = scanned.code[start:end]
    for offset, literal in scanned.literals:
        if start <= offset < end and literal.startswith(('"', "'", "r", "b")):
            i = offset - start
            code = code[:i] + literal + code[i + len(literal) :]
    return code


def _markers(scanned: Scanned, facts: FileFacts, has_tests: bool, path: str) -> None:
    code = scanned.code

    def mark(rule: str, key: str, offset: int, what: str, advice: str = _SKIP_ADVICE) -> None:
        facts.markers.append(Marker(rule, key, scanned.line_at(offset), what, advice))

    for match in _IGNORE.finditer(code):
        mark("test-skip", "rust:ignore", match.start(), "adds `#[ignore]`, which skips the test")
    for match in _SHOULD_PANIC.finditer(code):
        mark(
            "test-expectation",
            "rust:should_panic",
            match.start(),
            "adds `#[should_panic]`, which turns the test's failure into a pass",
            "keep what the test expects and fix the code",
        )
    for match in _CFG.finditer(code):
        argument = " ".join(match["arg"].split())
        if argument == "test":
            continue
        if match[1] == "!" or has_tests:
            mark(
                "test-collection",
                f"rust:cfg:{argument}",
                match.start(),
                f"adds `#{match[1]}[cfg({argument})]`, which can compile tests out",
                "keep the tests compiled and fix the code",
            )
    if has_tests or "/tests/" in f"/{path}":
        for match in _EXIT.finditer(code):
            mark(
                "test-exit",
                "rust:exit",
                match.start(),
                "ends the process from test code",
                "let the tests run to the end",
            )
    for match in _CFG_TEST.finditer(code):
        mark(
            "test-detection",
            "rust:cfg!(test)",
            match.start(),
            "uses `cfg!(test)` to behave differently under test",
            "code must behave the same under test; fix it for real",
        )
    for offset, literal in scanned.literals:
        # "CI" alone is also a word; it counts only where the environment is read.
        if literal in _CI_STRINGS and re.search(
            r"(?i)(env|var)\w*\s*\(\s*$", code[max(0, offset - 40) : offset]
        ):
            mark(
                "test-detection",
                f"rust:{literal}",
                offset,
                f"reads {literal} to tell whether it runs under CI",
                "code must behave the same under test and in CI; fix it for real",
            )
