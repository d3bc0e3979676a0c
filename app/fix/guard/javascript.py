"""JavaScript and TypeScript, read with tree-sitter: skipped, focused and gutted tests.

A real parser, because the shapes that matter hide from regular expressions:
``it.skip`` behind an alias, ``xit`` after a U+2028 that ends a ``//`` comment,
an ``expect`` moved into a ``try`` whose ``catch`` swallows it.  Tests are the
``it``/``test`` calls (keyed by their ``describe`` path and name); their checks
are the ``expect``/``assert`` calls that can run and do not test a constant.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import PurePosixPath

import tree_sitter
import tree_sitter_javascript
import tree_sitter_typescript

from app.fix.guard.facts import CaseFacts, Definition, FileFacts, Marker

SUFFIXES = frozenset({".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"})
TEST_ROOTS = frozenset({"it", "test", "specify", "bench"})
SUITE_ROOTS = frozenset({"describe", "context", "suite"})
X_NAMES = frozenset({"xit", "xtest", "xdescribe", "xcontext", "xspecify", "xsuite"})
F_NAMES = frozenset({"fit", "fdescribe", "ftest", "fcontext"})
SKIP_PROPS = frozenset({"skip", "todo", "skipIf", "runIf", "fails", "fixme", "fail", "failing"})
FOCUS_PROPS = frozenset({"only"})
CONTEXT_OBJECTS = frozenset({"this", "t", "ctx", "context", "testContext"})
HOOKS = frozenset(
    {"beforeEach", "afterEach", "beforeAll", "afterAll", "before", "after", "setup", "teardown"}
)
ASSERT_METHODS = frozenset(
    {
        "is",
        "not",
        "deepEqual",
        "notDeepEqual",
        "true",
        "false",
        "truthy",
        "falsy",
        "throws",
        "throwsAsync",
        "notThrows",
        "like",
        "regex",
        "snapshot",
        "assert",
        "ok",
        "equal",
        "strictEqual",
        "notEqual",
        "notStrictEqual",
        "deepStrictEqual",
        "rejects",
        "match",
        "fail",
        "plan",
    }
)
MOCKS = re.compile(r"^(mock\w*|spyOn|stub|fn|doMock|replaceProperty|stubGlobal|stubEnv)$")
MATCHER = re.compile(
    r"^(expect|assert|should|not|resolves|rejects|to[A-Z]\w*|be[A-Z]?\w*|have\w*|equal\w*"
    r"|strict\w*|deep\w*|notEqual\w*|ok|throws|match\w*|is\w*|include\w*|contain\w*|eql|eq"
    r"|above|below|least|most|length\w*|true|false|null|undefined|exist|empty|same\w*)$"
)
LITERALS = frozenset(
    {"number", "string", "true", "false", "null", "undefined", "regex", "template_string"}
)
FUNCTIONS = frozenset(
    {
        "arrow_function",
        "function_expression",
        "function",
        "function_declaration",
        "method_definition",
    }
)
CI_VARIABLES = frozenset(
    {
        "CI",
        "JEST_WORKER_ID",
        "VITEST",
        "VITEST_WORKER_ID",
        "VITEST_POOL_ID",
        "GITHUB_ACTIONS",
        "CONTINUOUS_INTEGRATION",
        "PLAYWRIGHT_TEST_BASE_URL",
        "MOCHA_WORKER_ID",
    }
)
_SKIP_ADVICE = "do not skip, focus or disable tests; fix the code so the test passes"

Node = tree_sitter.Node


@cache
def _language(suffix: str) -> tree_sitter.Language:
    if suffix == ".tsx":
        return tree_sitter.Language(tree_sitter_typescript.language_tsx())
    if suffix in (".ts", ".mts", ".cts"):
        return tree_sitter.Language(tree_sitter_typescript.language_typescript())
    return tree_sitter.Language(tree_sitter_javascript.language())


def is_javascript(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in SUFFIXES


def _collected(path: str) -> bool:
    pure = PurePosixPath(path)
    if re.search(r"\.(test|spec)\.[cm]?[jt]sx?$", pure.name):
        return True
    return any(part in ("__tests__", "test", "tests", "spec", "e2e") for part in pure.parts[:-1])


def _text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", errors="replace")


def _line(node: Node) -> int:
    return node.start_point[0] + 1


def _chain(node: Node | None) -> list[str]:
    """The names along a callee: ``describe.each(...)`` is ``describe, each, ()``."""
    if node is None:
        return []
    if node.type in ("identifier", "property_identifier", "this"):
        return [_text(node)]
    if node.type == "member_expression":
        return [
            *_chain(node.child_by_field_name("object")),
            _text(node.child_by_field_name("property")),
        ]
    if node.type == "call_expression":
        return [*_chain(node.child_by_field_name("function")), "()"]
    if node.type in ("parenthesized_expression", "non_null_expression", "await_expression"):
        return _chain(node.named_children[0]) if node.named_children else []
    return ["?"]


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _digest(parts: list[str]) -> str:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=10).hexdigest()


_TYPES = frozenset({"type_annotation", "type_arguments", "type_parameters", "comment"})
_TYPE_WRAPPERS = frozenset({"as_expression", "satisfies_expression", "non_null_expression"})


def _walk_values(node: Node) -> Iterator[Node]:
    """Like ``_walk`` without TypeScript's types: an added annotation changes no value."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in _TYPES:
            continue
        if current.type in _TYPE_WRAPPERS and current.named_children:
            stack.append(current.named_children[0])
            continue
        yield current
        stack.extend(reversed(current.children))


def shape(node: Node) -> str:
    """A fingerprint ignoring names, comments, types and formatting; keeping literals."""
    parts = []
    for current in _walk_values(node):
        if current.type in LITERALS:
            parts.append(_text(current))
        elif current.type in ("identifier", "property_identifier", "shorthand_property_identifier"):
            parts.append("_")
        elif current.child_count == 0:
            parts.append(_text(current) if not current.is_named else current.type)
        else:
            parts.append(current.type)
    return _digest(parts)


def _literal_text(node: Node) -> str:
    if node.type == "string":
        return repr("".join(_text(c) for c in node.named_children))
    return _text(node)


def _is_literal(node: Node | None) -> bool:
    if node is None:
        return False
    if node.type in LITERALS:
        return node.type != "template_string" or not any(
            c.type == "template_substitution" for c in node.children
        )
    if node.type in ("array", "object"):
        return all(_is_literal(c) or c.type == "pair" for c in node.named_children) and all(
            _is_literal(c.child_by_field_name("value"))
            for c in node.named_children
            if c.type == "pair"
        )
    if node.type == "unary_expression":
        return _is_literal(node.child_by_field_name("argument"))
    if node.type == "binary_expression" and _text(node.child_by_field_name("operator")) == "||":
        right = node.child_by_field_name("right")
        return _is_literal(right) and _text(right) not in ("false", "0", "null", "undefined", "''")
    if node.type == "parenthesized_expression":
        return bool(node.named_children) and _is_literal(node.named_children[0])
    return False


_MATCHER_FAMILIES = {
    **dict.fromkeys(
        ("toBe", "toEqual", "toStrictEqual", "toHaveLength", "toMatchObject", "equal", "equals",
         "eql", "eq", "deepEqual", "strictEqual", "deepStrictEqual", "is", "deep", "same"),
        "eq",
    ),
    **dict.fromkeys(("toContain", "toContainEqual", "include", "includes", "contain"), "in"),
    **dict.fromkeys(("toBeGreaterThan", "above", "greaterThan", "gt"), "gt"),
    **dict.fromkeys(("toBeGreaterThanOrEqual", "least", "gte"), "ge"),
    **dict.fromkeys(("toBeLessThan", "below", "lessThan", "lt"), "lt"),
    **dict.fromkeys(("toBeLessThanOrEqual", "most", "lte"), "le"),
    **dict.fromkeys(("toThrow", "toThrowError", "throws", "throw", "rejects"), "throws"),
    **dict.fromkeys(("toMatch", "match", "regex"), "match"),
    **dict.fromkeys(("toBeTruthy", "ok", "truthy", "true", "assert"), "truthy"),
}  # fmt: skip
_IMPLIED = {  # matchers that carry their expected value in their name
    "toBeFalsy": ("truthy", None, True),
    "falsy": ("truthy", None, True),
    "false": ("truthy", None, True),
    "toBeNull": ("eq", "null", False),
    "toBeUndefined": ("eq", "undefined", False),
    "toBeDefined": ("eq", "undefined", True),
    "toBeNaN": ("eq", "NaN", False),
}
_COMPARISONS = {"===": "eq", "==": "eq", "!==": "eq", "!=": "eq", "<": "lt", "<=": "le",
                ">": "gt", ">=": "ge"}  # fmt: skip
_MIRRORED = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}


def _key(negated: bool, family: str, value: str | None = None) -> str:
    return ("not " if negated else "") + family + ("" if value is None else f"={value}")


def _value(node: Node) -> str:
    return _literal_text(node) if node.type == "string" else " ".join(_text(node).split())


def _condition_terms(node: Node, negated: bool) -> Iterator[str]:
    """A boolean expression checked by ``assert(…)`` or ``expect(…).toBe(true)``."""
    if node.type == "parenthesized_expression" and node.named_children:
        yield from _condition_terms(node.named_children[0], negated)
    elif node.type == "unary_expression" and _text(node.child_by_field_name("operator")) == "!":
        inner = node.child_by_field_name("argument")
        if inner is not None:
            yield from _condition_terms(inner, not negated)
    elif node.type == "binary_expression":
        operator = _text(node.child_by_field_name("operator"))
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if operator in ("&&", "||"):
            for side in (left, right):
                if side is not None:
                    yield from _condition_terms(side, negated)
        elif operator in _COMPARISONS:
            family = _COMPARISONS[operator]
            flip = operator.startswith("!")
            for index, side in enumerate((left, right)):
                if side is not None and _is_literal(side):
                    name = _MIRRORED.get(family, family) if index == 0 else family
                    yield _key(negated != flip, name, _value(side))
        else:
            yield _key(negated, "truthy")
    elif _is_literal(node):
        yield _key(negated, "truthy", _value(node))
    else:
        yield _key(negated, "truthy")


def _expect_subject(node: Node) -> Node | None:
    """The argument of the ``expect(…)`` at the root of a matcher chain."""
    current: Node | None = node
    while current is not None:
        if current.type == "call_expression":
            function = current.child_by_field_name("function")
            if function is not None and _text(function) == "expect":
                args = _call_args(current)
                return args[0] if args else None
            current = function
        elif current.type in ("member_expression", "await_expression"):
            current = current.child_by_field_name("object") or (
                current.named_children[0] if current.named_children else None
            )
        else:
            return None
    return None


def _terms(top: Node) -> Iterator[str]:
    """Expected values of one check: (negated?, relation, literal), however spelled.

    ``expect(f(2)).toBe(4)``, ``expect(f(2) === 4).toBe(true)`` and
    ``assert.strictEqual(f(2), 4)`` all give ``eq=4``; ``.not.toBe(4)``,
    ``toBeGreaterThan(0)`` or ``toBe(5)`` lose it.  Inputs (the ``2``) count
    among the test's literals instead, wherever they sit.
    """
    chain = [c for c in _chain(top.child_by_field_name("function")) if c != "()"]
    args = _call_args(top)
    if chain[:1] == ["expect"] and len(chain) > 1:
        negated = chain.count("not") % 2 == 1
        matcher = chain[-1]
        subject = _expect_subject(top)
        if matcher in _IMPLIED:
            family, value, flip = _IMPLIED[matcher]
            if family == "truthy" and subject is not None:
                yield from _condition_terms(subject, negated != flip)
            else:
                yield _key(negated != flip, family, value)
            return
        family = _MATCHER_FAMILIES.get(matcher, matcher)
        boolean = len(args) == 1 and _text(args[0]) in ("true", "false")
        if subject is not None and (family == "truthy" or (family == "eq" and boolean)):
            flip = boolean and _text(args[0]) == "false"
            yield from _condition_terms(subject, negated != flip)
            return
        for arg in args:
            if _is_literal(arg):
                yield _key(negated, family, _value(arg))
        return
    method = chain[-1] if len(chain) > 1 else "assert"
    negated = method.startswith("not") and method != "notThrows"
    family = _MATCHER_FAMILIES.get(method[3:4].lower() + method[4:] if negated else method, method)
    if family == "truthy":
        for arg in args[:1]:
            yield from _condition_terms(arg, negated)
        return
    for arg in args[:2]:
        if _is_literal(arg):
            yield _key(negated, family, _value(arg))


def _support(nodes: list[Node]) -> Definition:
    """A hook, module-level mock or module-level block as a ``Definition``."""
    literals, mocks, checks = [], 0, 0
    for node in nodes:
        for n in _walk_values(node):
            if n.type in LITERALS:
                literals.append(_literal_text(n))
            elif n.type == "call_expression":
                chain = _chain(n.child_by_field_name("function"))
                if chain[:1] in (["expect"], ["assert"]):
                    checks += 1
                elif any(MOCKS.match(c) for c in chain[1:]) or chain[:1] == ["sinon"]:
                    mocks += 1
    shapes = "".join(shape(n) for n in nodes)
    return Definition(_line(nodes[0]), shapes, tuple(sorted(literals)), mocks, checks)


def _call_args(node: Node) -> list[Node]:
    args = node.child_by_field_name("arguments")
    return [c for c in args.named_children if c.type != "comment"] if args is not None else []


class _Checks:
    """Counts a test callback's reachable checks, expectations, early returns and mocks."""

    def __init__(self) -> None:
        self.checks = 0
        self.terms: Counter[str] = Counter()
        self.returns = 0
        self.mocks = 0
        self.neutral: list[int] = []

    def visit(self, node: Node, live: bool) -> None:
        kind = node.type
        if kind == "statement_block" or kind == "program":
            for child in node.named_children:
                self.visit(child, live)
                if child.type in ("return_statement", "throw_statement"):
                    live = False
            return
        if kind == "if_statement":
            condition = node.child_by_field_name("condition")
            text = _text(condition).strip("() \n")
            dead = text in ("false", "0", "null", "undefined", "''", '""')
            for child in node.named_children:
                if child == condition:
                    self.visit(child, live)
                elif child.type == "else_clause":
                    self.visit(child, live and text not in ("true", "1"))
                else:
                    self.visit(child, live and not dead)
            return
        if kind == "try_statement":
            handler = node.child_by_field_name("handler")
            swallows = handler is not None and not any(
                n.type == "throw_statement" for n in _walk(handler)
            )
            for child in node.named_children:
                self.visit(child, live and not (swallows and child.type == "statement_block"))
            return
        if kind == "return_statement":
            argument = node.named_children[0] if node.named_children else None
            if argument is None or not re.search(
                r"\b(expect|assert)\b|\.should\b", _text(argument)
            ):
                self.returns += 1
        if kind == "call_expression":
            self._call(node, live)
        for child in node.named_children:
            self.visit(child, live)

    def _call(self, node: Node, live: bool) -> None:
        chain = _chain(node.child_by_field_name("function"))
        args = _call_args(node)
        is_expect = (
            chain == ["expect"]
            and node.parent is not None
            and node.parent.type == "member_expression"
        ) or chain in (["expect", "assertions"], ["expect", "hasAssertions"])
        is_assert = chain[:1] == ["assert"] or (
            len(chain) == 2 and chain[0] in ("t", "assert", "chai") and chain[1] in ASSERT_METHODS
        )
        if is_expect or is_assert:
            constant = bool(args) and _is_literal(args[0])
            if chain[:1] == ["assert"] and len(chain) > 1 and len(args) >= 2:
                constant = _is_literal(args[0]) and _is_literal(args[1])
            top = node
            while (
                is_expect
                and top.parent is not None
                and (
                    top.parent.type in ("member_expression", "await_expression")
                    or (
                        top.parent.type == "call_expression"
                        and top.parent.child_by_field_name("function") == top
                    )
                )
            ):
                top = top.parent
            self.terms.update(_terms(top))
            if constant:
                self.neutral.append(_line(node))
            elif live:
                self.checks += 1
        elif any(MOCKS.match(c) for c in chain[1:]) or chain[:1] in (["sinon"],):
            self.mocks += 1


class _Analyzer:
    def __init__(self, facts: FileFacts) -> None:
        self.facts = facts
        self.module_code: list[Node] = []
        self.module_values: list[Node] = []
        self.module_mocks: list[Node] = []

    def markers(self, root: Node) -> None:
        for node in _walk(root):
            kind = node.type
            if kind == "member_expression":
                self._member(node)
            elif kind == "identifier" and node.parent is not None:
                name = _text(node)
                called = (
                    node.parent.type == "call_expression"
                    and node == node.parent.child_by_field_name("function")
                )
                if called and (name in X_NAMES or (name == "pending" and self.facts.collected)):
                    self._mark("test-skip", name, node, f"adds `{name}`, a skipped test")
                elif called and name in F_NAMES and self.facts.collected:
                    self._mark(
                        "test-focus",
                        name,
                        node,
                        f"adds `{name}`, a focused test that skips all others",
                    )
            elif kind == "predefined_type" and _text(node) == "any":
                self._mark(
                    "suppression",
                    "ts:any",
                    node,
                    "adds an `any` type, which silences the type checker",
                    "give the value its real type instead",
                )
            elif kind in ("property_identifier", "string_fragment") and _text(node) in CI_VARIABLES:
                context = _text(node.parent.parent if node.parent and node.parent.parent else node)
                if "env" in context:
                    self._mark(
                        "test-detection",
                        f"env:{_text(node)}",
                        node,
                        f"reads `{_text(node)}` to tell whether it runs under CI or a test",
                        "code must behave the same under test and in CI; fix it for real",
                    )
            elif kind == "pair" and self.facts.collected:
                key = _text(node.child_by_field_name("key")).strip("'\"")
                value = _text(node.child_by_field_name("value"))
                if key in ("skip", "todo", "only", "retry", "retries") and value not in (
                    "false",
                    "0",
                ):
                    rule = (
                        "test-focus"
                        if key == "only"
                        else "test-retry"
                        if key.startswith("retr")
                        else "test-skip"
                    )
                    self._mark(rule, f"option:{key}", node, f"sets the test option `{key}`")

    def _member(self, node: Node) -> None:
        chain = _chain(node)
        prop = chain[-1]
        root = chain[0]
        if root in TEST_ROOTS | SUITE_ROOTS | X_NAMES | F_NAMES or (
            len(chain) > 2 and chain[1] in SUITE_ROOTS
        ):
            if prop in FOCUS_PROPS:
                self._mark(
                    "test-focus",
                    f"{root}.{prop}",
                    node,
                    f"adds `{_text(node)}`, a focused test that skips all others",
                )
            elif prop in SKIP_PROPS:
                self._mark(
                    "test-skip",
                    f"{root}.{prop}",
                    node,
                    f"adds `{_text(node)}`, which skips or inverts a test",
                )
        elif root in CONTEXT_OBJECTS and prop in ("skip", "todo") and len(chain) == 2:
            self._mark(
                "test-skip", f"ctx.{prop}", node, f"adds `{_text(node)}`, which skips the test"
            )
        elif prop in ("retryTimes", "retries") and root in ("jest", "this", "vi", "test"):
            self._mark(
                "test-retry",
                f"retry:{prop}",
                node,
                f"adds `{_text(node)}`, which retries failing tests",
            )
        elif root == "process" and prop in ("exit", "abort", "kill") and self.facts.collected:
            self._mark(
                "test-exit",
                f"exit:{prop}",
                node,
                f"calls `{_text(node)}`, which ends the test run early",
                "let the tests run to the end",
            )

    def _mark(self, rule: str, key: str, node: Node, what: str, advice: str = _SKIP_ADVICE) -> None:
        self.facts.markers.append(Marker(rule, key, _line(node), what, advice))

    def tests(self, node: Node, prefix: str, depth: int) -> None:
        """Find test and suite calls, recursing into suite bodies."""
        for child in node.named_children:
            call = _unwrap_call(child)
            if call is None:
                if depth == 0 and self.facts.collected and _is_module_code(child):
                    self._module_code(child)
                continue
            chain = _chain(call.child_by_field_name("function"))
            names = [c for c in chain if c != "()"]
            root = names[0] if names else ""
            args = _call_args(call)
            callback = next((a for a in reversed(args) if a.type in FUNCTIONS), None)
            title = _title(args[0]) if args else "?"
            if (
                root in SUITE_ROOTS | {"xdescribe", "fdescribe", "xcontext"}
                or "describe" in names[1:2]
            ):
                if callback is not None:
                    body = callback.child_by_field_name("body")
                    if body is not None:
                        self.tests(body, f"{prefix}{title} > ", depth + 1)
                continue
            if root in HOOKS or (len(names) > 1 and names[1] in HOOKS):
                hook = names[-1] if names[-1] in HOOKS else root
                key = f"{prefix}{hook}"
                index = sum(1 for k in self.facts.support if k.startswith(key))
                self.facts.support[f"{key} #{index + 1}"] = _support([call])
                continue
            if (root in TEST_ROOTS | X_NAMES | F_NAMES) and callback is not None:
                self._test(call, f"{prefix}{title}", names, callback)
                continue
            if depth == 0 and self.facts.collected:
                if root in ("jest", "vi") and names[-1] in (
                    "mock",
                    "doMock",
                    "unmock",
                    "stubGlobal",
                ):
                    self.module_mocks.append(call)
                else:
                    self._module_code(child)

    def _module_code(self, node: Node) -> None:
        if node.type in ("lexical_declaration", "variable_declaration"):
            self.module_values.append(node)  # expected tables and shared inputs
        else:
            self.module_code.append(node)  # code that runs on import: patches, overrides

    def _test(self, call: Node, key: str, names: list[str], callback: Node) -> None:
        checks = _Checks()
        body = callback.child_by_field_name("body")
        if body is not None:
            checks.visit(body, True)
            checks.terms.update(
                f"lit={_literal_text(n)}"
                for n in _walk_values(body)
                if n.type in LITERALS and n.type not in ("true", "false", "null", "undefined")
            )
        cases: Counter[str] | None = None
        if "each" in names:
            function = call.child_by_field_name("function")
            inner = (
                function if function is not None and function.type == "call_expression" else None
            )
            table = _call_args(inner)[0] if inner is not None and _call_args(inner) else None
            if table is not None:
                rows = table.named_children if table.type == "array" else [table]
                cases = Counter(" ".join(_text(r).split()) for r in rows)
        self.facts.tests.append(
            CaseFacts(
                key=key,
                line=_line(call),
                checks=checks.checks,
                terms=checks.terms,
                cases=cases,
                returns=checks.returns,
                mocks=checks.mocks,
                shape=shape(call),
                neutral=checks.neutral,
            )
        )

    def finish(self) -> None:
        for key, nodes in (
            ("module-level code", self.module_code),
            ("module-level values", self.module_values),
            ("module mocks", self.module_mocks),
        ):
            if nodes:
                self.facts.support[key] = _support(nodes)


_DECLARATIONS = frozenset(
    {
        "import_statement",
        "comment",
        "function_declaration",
        "class_declaration",
        "type_alias_declaration",
        "interface_declaration",
        "enum_declaration",
        "empty_statement",
    }
)


def _is_module_code(node: Node) -> bool:
    """Top-level code of a test file that runs on import (``require`` lines excepted)."""
    if node.type in _DECLARATIONS:
        return False
    return not (
        node.type in ("lexical_declaration", "variable_declaration") and "require(" in _text(node)
    )


def _unwrap_call(node: Node) -> Node | None:
    if node.type == "expression_statement" and node.named_children:
        node = node.named_children[0]
    while node.type == "await_expression" and node.named_children:
        node = node.named_children[0]
    return node if node.type == "call_expression" else None


def _title(node: Node) -> str:
    if node.type == "string":
        return "".join(_text(c) for c in node.named_children)
    return " ".join(_text(node).split())


def analyze(path: str, text: str) -> FileFacts:
    """Facts about one version of a JavaScript/TypeScript file."""
    facts = FileFacts(collected=_collected(path))
    parser = tree_sitter.Parser(_language(PurePosixPath(path).suffix.lower()))
    tree = parser.parse(text.encode("utf-8"))
    root = tree.root_node
    facts.parsed = not root.has_error
    analyzer = _Analyzer(facts)
    analyzer.markers(root)
    analyzer.tests(root, "", 0)
    analyzer.finish()
    return facts
