"""Python, read with ``ast``: skips in every import form, gutted tests, changed expectations.

Names are resolved through the file's imports and simple assignments, so
``from pytest import mark as m`` then ``@m.skip`` is ``pytest.mark.skip``.  A
test's checks are counted where they can run: an ``assert True``, an
assertion after ``return``, inside ``if False:``, or inside a ``try`` whose
``except`` swallows the failure does not count.  Expected values are the
literals inside assertions, keyed by where they sit (``== 4`` is not
``!= 4``), so a changed expectation shows as one missing.
"""

from __future__ import annotations

import ast
import hashlib
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from app.fix.guard.facts import CaseFacts, Definition, FileFacts, Marker
from app.fix.guard.paths import is_test_path

TESTING_ROOTS = frozenset(
    {"pytest", "_pytest", "unittest", "unittest2", "nose", "nose2", "twisted"}
)
SKIP_NAMES = frozenset(
    {
        "skip",
        "skipif",
        "xfail",
        "skipIf",
        "skipUnless",
        "expectedFailure",
        "importorskip",
        "skipTest",
        "SkipTest",
        "Skipped",
        "XFailed",
        "skip_if",
        "skip_unless",
        "nottest",
    }
)
EXIT_CALLS = frozenset({"sys.exit", "os._exit", "pytest.exit", "exit", "quit", "os.abort"})
CI_VARIABLES = frozenset(
    {
        "PYTEST_CURRENT_TEST",
        "PYTEST_XDIST_WORKER",
        "PYTEST_VERSION",
        "GITHUB_ACTIONS",
        "CI",
        "CONTINUOUS_INTEGRATION",
        "TF_BUILD",
        "BUILDKITE",
        "CIRCLECI",
        "GITLAB_CI",
        "JENKINS_URL",
        "RUNNER_OS",
    }
)
HARMLESS_MARKS = frozenset({"parametrize", "asyncio", "anyio", "django_db", "trio", "timeout"})
CHECK_PREFIXES = ("assert", "fail")
CHECK_NAMES = frozenset({"raises", "warns", "deprecated_call", "expect", "verify", "fail"})
MOCK_NAMES = frozenset(
    {
        "patch",
        "setattr",
        "setitem",
        "setenv",
        "delattr",
        "delenv",
        "delitem",
        "Mock",
        "MagicMock",
        "AsyncMock",
        "create_autospec",
        "stub",
        "spy",
        "object",
        "multiple",
    }
)
SWALLOWED = frozenset({"AssertionError", "Exception", "BaseException"})
EXPECTED_NAME = re.compile(r"^_?(expected|expect|want|wanted|exp|answer|correct)", re.IGNORECASE)
_SKIP_ADVICE = "do not skip or disable tests; fix the code so the test passes"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def shape(node: ast.AST) -> str:
    """A fingerprint of ``node`` that ignores names and formatting but not literals.

    A consistent rename or a formatter leaves it unchanged; a changed value,
    operator or statement does not.
    """
    parts: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, ast.AnnAssign):
            # An added annotation changes nothing a test checks: ``x: int = 1`` is ``x = 1``.
            parts.append("Assign")
            visit(value.target)
            visit(value.value)
        elif isinstance(value, ast.AST):
            parts.append(type(value).__name__)
            for name, child in ast.iter_fields(value):
                if name in ("ctx", "type_comment", "returns", "annotation", "type_params"):
                    continue
                if name in ("id", "attr", "name", "arg", "asname", "module") and isinstance(
                    child, str
                ):
                    parts.append("_")
                    continue
                visit(child)
        elif isinstance(value, list):
            parts.append("[")
            for item in value:
                visit(item)
            parts.append("]")
        else:
            parts.append(repr(value))

    visit(node)
    return _digest("|".join(parts))


class _Names:
    """Resolves names to dotted paths through imports and simple aliases."""

    def __init__(self, nodes: list[ast.AST]) -> None:
        self.aliases: dict[str, str] = {}
        self.star_testing = False
        assignments = []
        for node in nodes:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                assignments.append(node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        self.aliases[root] = root
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    if alias.name == "*":
                        if node.module.split(".")[0] in TESTING_ROOTS:
                            self.star_testing = True
                        continue
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        # Simple aliases (``m = pytest.mark``), to a fixed point of two rounds.
        for _ in range(2):
            for assignment in assignments:
                target = assignment.targets[0]
                if isinstance(target, ast.Name):
                    resolved = self.qualify(assignment.value)
                    if resolved:
                        self.aliases.setdefault(target.id, resolved)

    def qualify(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if self.star_testing and node.id in SKIP_NAMES | {"mark", "param"}:
                return f"pytest.{node.id}"
            return None
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            return self.qualify(node.func)
        return None

    def testing(self, node: ast.AST) -> str | None:
        """The dotted path when ``node`` refers into a testing module."""
        name = self.qualify(node)
        return name if name and name.split(".")[0] in TESTING_ROOTS else None


def _last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def always_true(node: ast.AST) -> bool:
    """True when ``node`` cannot be false: ``True``, ``x or True``, ``(x, "msg")``, ``a == a``."""
    known, value = _literal(node)
    if known:
        return bool(value)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts)
    if isinstance(node, ast.Dict):
        return bool(node.keys)
    if isinstance(node, ast.Lambda):
        return True
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and v.value for v in node.values)
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.Or) and _excluded_middle(node.values):
            return True  # ``x == 2 or x != 2``
        results = [always_true(v) for v in node.values]
        return any(results) if isinstance(node.op, ast.Or) else all(results)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return always_false(node.operand)
    if isinstance(node, ast.NamedExpr):
        return always_true(node.value)
    if isinstance(node, ast.IfExp):
        return always_true(node.body) and always_true(node.orelse)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        same = ast.dump(node.left) == ast.dump(node.comparators[0])
        return same and isinstance(node.ops[0], ast.Eq | ast.Is | ast.GtE | ast.LtE)
    return False


_INVERSE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.NotEq: ast.Eq,
    ast.IsNot: ast.Is,
    ast.NotIn: ast.In,
    ast.GtE: ast.Lt,
    ast.LtE: ast.Gt,
}


def _polarity(node: ast.AST) -> tuple[str, bool]:
    """(the condition, negated?) so that ``x != 2`` and ``not x == 2`` read as one."""
    negated = False
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node, negated = node.operand, not negated
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _INVERSE:
        canonical = ast.Compare(node.left, [_INVERSE[type(node.ops[0])]()], node.comparators)
        return ast.dump(canonical), not negated
    return ast.dump(node), negated


def _excluded_middle(values: list[ast.expr]) -> bool:
    """True when some value is the negation of another: the whole ``or`` cannot be false."""
    seen: dict[str, set[bool]] = {}
    for value in values:
        condition, negated = _polarity(value)
        seen.setdefault(condition, set()).add(negated)
    return any(len(polarities) == 2 for polarities in seen.values())


def always_false(node: ast.AST) -> bool:
    known, value = _literal(node)
    if known:
        return not value
    if isinstance(node, ast.BoolOp):
        results = [always_false(v) for v in node.values]
        return any(results) if isinstance(node.op, ast.And) else all(results)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return always_true(node.operand)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        same = ast.dump(node.left) == ast.dump(node.comparators[0])
        return same and isinstance(node.ops[0], ast.NotEq | ast.IsNot | ast.Lt | ast.Gt)
    return False


def _is_check_call(call: ast.Call) -> bool:
    name = _last_name(call)
    return bool(name) and (name.startswith(CHECK_PREFIXES) or name in CHECK_NAMES)  # type: ignore[union-attr]


def _tautological_call(call: ast.Call) -> bool:
    """``assertTrue(True)``, ``assertEqual(x, x)``, ``assertEqual(1, 1)``."""
    name = _last_name(call) or ""
    args = call.args
    if name in ("assertTrue", "assert_", "failUnless") and args:
        return always_true(args[0])
    if name in ("assertFalse", "failIf") and args:
        return always_false(args[0])
    comparing = name.startswith(("assertEqual", "assertIs", "assertAlmostEqual", "assertCount"))
    if comparing and len(args) >= 2 and name not in ("assertIsInstance", "assertIsNotNone"):
        same = ast.dump(args[0]) == ast.dump(args[1])
        both_literal = _literal(args[0])[0] and _literal(args[1])[0]
        return same or (both_literal and _literal(args[0])[1] == _literal(args[1])[1])
    return False


_OPERATORS: dict[type[ast.cmpop], tuple[str, bool]] = {
    ast.Eq: ("eq", False),
    ast.Is: ("eq", False),
    ast.NotEq: ("eq", True),
    ast.IsNot: ("eq", True),
    ast.In: ("in", False),
    ast.NotIn: ("in", True),
    ast.Lt: ("lt", False),
    ast.LtE: ("le", False),
    ast.Gt: ("gt", False),
    ast.GtE: ("ge", False),
}
_MIRRORED = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le"}
_CHECK_CALLS: dict[str, tuple[str, bool]] = {
    **dict.fromkeys(
        ("assertEqual", "assertIs", "assertListEqual", "assertDictEqual", "assertTupleEqual",
         "assertSetEqual", "assertSequenceEqual", "assertMultiLineEqual", "assertCountEqual"),
        ("eq", False),
    ),
    "assertNotEqual": ("eq", True),
    "assertIsNot": ("eq", True),
    "assertIn": ("in", False),
    "assertNotIn": ("in", True),
    "assertTrue": ("truthy", False),
    "assertFalse": ("truthy", True),
    "assertLess": ("lt", False),
    "assertLessEqual": ("le", False),
    "assertGreater": ("gt", False),
    "assertGreaterEqual": ("ge", False),
}  # fmt: skip


def _key(negated: bool, family: str, value: str | None = None) -> str:
    return ("not " if negated else "") + family + ("" if value is None else f"={value}")


def _terms(node: ast.AST, negated: bool = False) -> Iterator[str]:
    """Expected values in an assertion: (negated?, relation, literal), however spelled.

    ``assert f(2) == 4``, ``assert 4 == f(2)`` and ``self.assertEqual(f(2), 4)``
    all give ``eq=4``; ``!= 4``, ``not … == 4``, ``>= 4`` or ``== 5`` lose it.
    Inputs (the ``2``) are not keyed here: they count among the test's literals
    wherever they sit, so extracting a variable is no change either.
    """
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        right, op = node.comparators[0], node.ops[0]
        if type(right) is ast.Constant and type(right.value) is bool and type(op) in (
            ast.Eq, ast.Is, ast.NotEq, ast.IsNot
        ):  # fmt: skip
            # ``x == True`` is ``x``; ``(a > 1) is False`` is ``not a > 1`` (E712).
            flip = (right.value is False) != isinstance(op, ast.NotEq | ast.IsNot)
            if isinstance(node.left, ast.Compare | ast.BoolOp | ast.UnaryOp):
                yield from _terms(node.left, negated != flip)
            else:
                yield _key(negated != flip, "truthy")
            return
    if isinstance(node, ast.Constant) or _literal(node)[0]:
        yield _key(negated, "truthy", ast.unparse(node))
    elif isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            family, flip = _OPERATORS.get(type(op), (type(op).__name__, False))
            for side, operand in enumerate(operands[i : i + 2]):
                if isinstance(operand, ast.Constant) or _literal(operand)[0]:
                    name = _MIRRORED.get(family, family) if side == 0 else family
                    yield _key(negated != flip, name, ast.unparse(operand))
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _terms(value, negated)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        if isinstance(node.operand, ast.Compare | ast.BoolOp | ast.UnaryOp):
            yield from _terms(node.operand, not negated)
        else:
            yield _key(not negated, "truthy")
    elif isinstance(node, ast.NamedExpr | ast.Await):
        yield from _terms(node.value, negated)
    elif isinstance(node, ast.Call) and _is_check_call(node):
        yield from _call_terms(node, negated)
    elif not isinstance(node, ast.UnaryOp):
        yield _key(negated, "truthy")  # ``assert x``


def _call_terms(node: ast.Call, negated: bool) -> Iterator[str]:
    name = _last_name(node) or ""
    name = _ALIASES.get(name, name)
    if name in ("assertIsNone", "assertIsNotNone"):
        yield _key(negated != (name == "assertIsNotNone"), "eq", "None")
        return
    family, flip = _CHECK_CALLS.get(name, (name, False))
    for arg in node.args:
        if isinstance(arg, ast.Constant) or _literal(arg)[0]:
            yield _key(negated != flip, family, ast.unparse(arg))
        elif family == "truthy":
            yield from _terms(arg, negated != flip)
    for kw in node.keywords:
        if kw.arg != "msg" and (isinstance(kw.value, ast.Constant) or _literal(kw.value)[0]):
            yield _key(negated, f"{family}.{kw.arg}", ast.unparse(kw.value))


# unittest's deprecated spellings, which a lint fix replaces: the same check.
_ALIASES = {
    "assertEquals": "assertEqual",
    "failUnlessEqual": "assertEqual",
    "assertNotEquals": "assertNotEqual",
    "failIfEqual": "assertNotEqual",
    "assertAlmostEquals": "assertAlmostEqual",
    "failUnlessAlmostEqual": "assertAlmostEqual",
    "assertNotAlmostEquals": "assertNotAlmostEqual",
    "assert_": "assertTrue",
    "failUnless": "assertTrue",
    "failIf": "assertFalse",
    "failUnlessRaises": "assertRaises",
    "assertRaisesRegexp": "assertRaisesRegex",
    "assertRegexpMatches": "assertRegex",
    "assertNotRegexpMatches": "assertNotRegex",
    "assertItemsEqual": "assertCountEqual",
}


def _literals(func: ast.FunctionDef | ast.AsyncFunctionDef) -> Counter[str]:
    """Every literal in a test's body (not its docstring or assertion messages)."""
    words: set[int] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Assert) and node.msg is not None:
            words.update(id(n) for n in ast.walk(node.msg))
        elif isinstance(node, ast.keyword) and node.arg == "msg":
            words.update(id(n) for n in ast.walk(node.value))
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return Counter(
        f"lit={node.value!r}"
        for stmt in body
        for node in ast.walk(stmt)
        if isinstance(node, ast.Constant)
        and id(node) not in words
        and node.value not in (None, True, False, Ellipsis)  # spelling, see above
    )


class _TestWalker:
    """Counts a test function's reachable checks and collects its expectations."""

    def __init__(self, names: _Names, helpers: set[str]) -> None:
        self.names = names
        self.helpers = helpers
        self.checks = 0
        self.terms: Counter[str] = Counter()
        self.returns = 0
        self.mocks = 0
        self.neutral: list[int] = []

    def body(self, stmts: list[ast.stmt], counted: bool = True) -> None:
        live = counted
        for stmt in stmts:
            self.stmt(stmt, live)
            if self._terminates(stmt):
                live = False

    def _terminates(self, stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Return | ast.Continue | ast.Break):
            return True
        if isinstance(stmt, ast.Raise):
            return not self._raises_assertion(stmt)
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            name = self.names.qualify(stmt.value.func) or _last_name(stmt.value) or ""
            return name in EXIT_CALLS or name.split(".")[-1] in SKIP_NAMES
        if isinstance(stmt, ast.If) and always_true(stmt.test):
            return any(self._terminates(s) for s in stmt.body)
        return False

    @staticmethod
    def _raises_assertion(stmt: ast.Raise) -> bool:
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return _last_name(exc) == "AssertionError" if exc is not None else False

    def _expression(self, node: ast.AST | None, counted: bool) -> None:
        if node is None:
            return
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Lambda):
                continue
            if isinstance(current, ast.Call):
                name = _last_name(current) or ""
                if _is_check_call(current):
                    self.terms.update(_terms(current))
                    if _tautological_call(current):
                        self.neutral.append(current.lineno)
                    elif counted:
                        self.checks += 1
                elif isinstance(current.func, ast.Name) and current.func.id in self.helpers:
                    self.checks += 1 if counted else 0
                if name in MOCK_NAMES:
                    self.mocks += 1
            stack.extend(ast.iter_child_nodes(current))

    def stmt(self, stmt: ast.stmt, counted: bool) -> None:
        if isinstance(stmt, ast.Assert):
            self.terms.update(_terms(stmt.test))
            if always_true(stmt.test):
                self.neutral.append(stmt.lineno)
            elif counted:
                self.checks += 1
            self._expression(stmt.test, False)
        elif isinstance(stmt, ast.Return):
            self.returns += 1
            self._expression(stmt.value, counted)
        elif isinstance(stmt, ast.Raise):
            if self._raises_assertion(stmt) and counted:
                self.checks += 1
        elif isinstance(stmt, ast.If):
            self._expression(stmt.test, counted)
            self.body(stmt.body, counted and not always_false(stmt.test))
            self.body(stmt.orelse, counted and not always_true(stmt.test))
        elif isinstance(stmt, ast.While):
            self.body(stmt.body, counted and not always_false(stmt.test))
            self.body(stmt.orelse, counted)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            self._expression(stmt.iter, counted)
            self.body(stmt.body, counted)
            self.body(stmt.orelse, counted)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            self._with(stmt, counted)
        elif isinstance(stmt, ast.Try | ast.TryStar):
            swallowing = any(self._swallows(h) for h in stmt.handlers)
            self.body(stmt.body, counted and not swallowing)
            for handler in stmt.handlers:
                self.body(handler.body, counted)
            self.body(stmt.orelse, counted and not swallowing)
            self.body(stmt.finalbody, counted)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                self.body(case.body, counted)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if stmt.value is not None and any(
                isinstance(t, ast.Name) and EXPECTED_NAME.match(t.id) for t in targets
            ):
                self.terms.update(f"expected {t}" for t in _terms(stmt.value))
            self._expression(stmt.value, counted)
        else:
            for child in ast.iter_child_nodes(stmt):
                self._expression(child, counted)

    def _with(self, stmt: ast.With | ast.AsyncWith, counted: bool) -> None:
        swallow = False
        for item in stmt.items:
            expr = item.context_expr
            name = _last_name(expr) or ""
            caught = {_last_name(arg) for arg in (expr.args if isinstance(expr, ast.Call) else [])}
            if name in ("suppress", "raises", "assertRaises") and caught & SWALLOWED:
                swallow = True
                continue
            if isinstance(expr, ast.Call) and _is_check_call(expr):
                self.terms.update(_terms(expr))
                if counted:
                    self.checks += 1
            elif isinstance(expr, ast.Call) and name in MOCK_NAMES:
                self.mocks += 1
            else:
                self._expression(expr, counted)
        self.body(stmt.body, counted and not swallow)

    @staticmethod
    def _swallows(handler: ast.ExceptHandler) -> bool:
        if any(isinstance(node, ast.Raise) for node in ast.walk(handler)):
            return False
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        return any(_last_name(t) in SWALLOWED for t in types)


_FAKE = re.compile(r"(?i)^(fake|mock|stub|dummy|patch)")


def _support(nodes: list[ast.AST], line: int) -> Definition:
    """A fixture, setup method, helper or module-level block as a ``Definition``."""
    docstrings = {
        id(n.value)
        for node in nodes
        for n in ast.walk(node)
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
    }
    literals, mocks, checks = [], 0, 0
    for node in nodes:
        for n in ast.walk(node):
            if isinstance(n, ast.Constant) and id(n) not in docstrings:
                literals.append(repr(n.value))
            elif isinstance(n, ast.Assert):
                checks += 1
            elif isinstance(n, ast.Call):
                name = _last_name(n) or ""
                if name in MOCK_NAMES or _FAKE.match(name):
                    mocks += 1
                elif _is_check_call(n):
                    checks += 1
    return Definition(line, _digest("".join(shape(n) for n in nodes)), tuple(sorted(literals)),
                      mocks, checks)  # fmt: skip


def _is_test_class(node: ast.ClassDef) -> bool:
    if node.name.startswith("Test"):
        return True
    return any((_last_name(base) or "").endswith(("TestCase", "Test")) for base in node.bases)


def _marks(decorators: list[ast.expr], names: _Names) -> tuple[Counter[str], list[ast.Call]]:
    """pytest marks on a definition (by mark name) and its parametrize calls."""
    marks: Counter[str] = Counter()
    params = []
    for decorator in decorators:
        name = names.qualify(decorator) or ""
        parts = name.split(".")
        if len(parts) >= 3 and parts[0] in ("pytest", "_pytest") and parts[1] == "mark":
            marks[parts[2]] += 1
            if parts[2] == "parametrize" and isinstance(decorator, ast.Call):
                params.append(decorator)
        elif _last_name(decorator) == "parametrize" and isinstance(decorator, ast.Call):
            params.append(decorator)
    return marks, params


def _cases(params: list[ast.Call]) -> Counter[str] | None:
    if not params:
        return None
    cases: Counter[str] = Counter()
    for call in params:
        values = call.args[1] if len(call.args) > 1 else None
        for kw in call.keywords:
            if kw.arg == "argvalues":
                values = kw.value
        label = ast.unparse(call.args[0]) if call.args else "?"
        if isinstance(values, ast.List | ast.Tuple | ast.Set):
            cases.update(f"{label}: {ast.unparse(v)}" for v in values.elts)
        elif values is not None:
            cases[f"{label}: {ast.unparse(values)}"] += 1
    return cases


def _checks_in(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Assert) or (isinstance(n, ast.Call) and _is_check_call(n))
        for n in ast.walk(node)
    )


def _collected(path: str) -> bool:
    """pytest's default ``test_*.py``/``*_test.py``, and Django's ``tests.py``."""
    name = PurePosixPath(path).name
    return (
        (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
        or (name in ("tests.py", "test.py"))
    )


def analyze(path: str, text: str) -> FileFacts:
    """Facts about one version of a Python file; ``parsed`` is False on a syntax error."""
    facts = FileFacts(collected=_collected(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are the file's business
            tree = ast.parse(text.removeprefix("\ufeff"))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        facts.parsed = False
        return facts
    nodes = list(ast.walk(tree))
    names = _Names(nodes)
    is_test_file = facts.collected or PurePosixPath(path).name == "conftest.py"
    _markers(nodes, names, facts, is_test_file)
    _module_level(tree, names, facts, is_test_file or is_test_path(path))
    helpers = {
        node.name
        for node in tree.body
        if (is_test_file or is_test_path(path))
        and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("test")
        and _checks_in(node)
    }
    if is_test_file or is_test_path(path):
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in helpers:
                facts.support[f"helper {node.name}"] = _support([node], node.lineno)
    for key, func, class_marks in _test_functions(tree.body, "", names, facts):
        marks, params = _marks(func.decorator_list, names)
        walker = _TestWalker(names, helpers)
        walker.body(func.body)
        walker.terms.update(_literals(func))
        for decorator in func.decorator_list:
            if isinstance(decorator, ast.Call) and _last_name(decorator) in MOCK_NAMES:
                walker.mocks += 1
        facts.tests.append(
            CaseFacts(
                key=key,
                line=func.lineno,
                checks=walker.checks,
                terms=walker.terms,
                cases=_cases(params),
                returns=walker.returns,
                mocks=walker.mocks,
                marks=marks + class_marks,
                shape=shape(func),
                neutral=walker.neutral,
            )
        )
    return facts


def _test_functions(
    body: list[ast.stmt], prefix: str, names: _Names, facts: FileFacts
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, Counter[str]]]:
    """(key, function, inherited marks) of every test, and the test classes' setup as support."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("test"):
                yield f"{prefix}{node.name}", node, Counter()
        elif isinstance(node, ast.ClassDef) and _is_test_class(node):
            class_marks, _ = _marks(node.decorator_list, names)
            attributes: list[ast.AST] = []
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    if not item.name.startswith("test"):
                        facts.support[f"{prefix}{node.name}.{item.name}"] = _support(
                            [item], item.lineno
                        )
                elif not isinstance(item, ast.ClassDef | ast.Expr):
                    attributes.append(item)
            if attributes:
                facts.support[f"{prefix}{node.name} class attributes"] = _support(
                    attributes, node.lineno
                )
            for key, func, marks in _test_functions(
                node.body, f"{prefix}{node.name}::", names, facts
            ):
                yield key, func, marks + class_marks


def _environment_keys(nodes: list[ast.AST], names: _Names) -> set[int]:
    """ids of the string constants used as environment variable names."""
    keys: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Call) and node.args:
            name = names.qualify(node.func) or ""
            if name in ("os.getenv", "os.environ.get", "os.environ.pop", "os.environ.setdefault"):
                keys.add(id(node.args[0]))
        elif isinstance(node, ast.Subscript):
            if (names.qualify(node.value) or "") == "os.environ":
                keys.add(id(node.slice))
        elif isinstance(node, ast.Compare) and any(
            (names.qualify(c) or "") == "os.environ" for c in node.comparators
        ):
            keys.add(id(node.left))
    return keys


def _markers(nodes: list[ast.AST], names: _Names, facts: FileFacts, is_test_file: bool) -> None:
    env_keys = _environment_keys(nodes, names)
    for node in nodes:
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute):
            if node.attr not in SKIP_NAMES:
                continue
            testing = names.testing(node.value)
            if testing or node.attr == "skipTest":
                shown = f"{testing}.{node.attr}" if testing else f"….{node.attr}"
                facts.markers.append(
                    Marker(
                        "test-skip", f"skip:{node.attr}", line, f"adds a skip (`{shown}`)",
                        _SKIP_ADVICE,
                    )
                )  # fmt: skip
        elif isinstance(node, ast.Name):
            resolved = names.qualify(node)
            if resolved and resolved.split(".")[-1] in SKIP_NAMES and names.testing(node):
                facts.markers.append(
                    Marker(
                        "test-skip",
                        f"skip:{resolved.split('.')[-1]}",
                        line,
                        f"adds a skip (`{node.id}`, which is `{resolved}`)",
                        _SKIP_ADVICE,
                    )
                )
        elif isinstance(node, ast.Call):
            _call_markers(node, names, facts, is_test_file)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # "CI" alone is also a word; it counts only where the environment is read.
            if node.value in CI_VARIABLES and (node.value != "CI" or id(node) in env_keys):
                facts.markers.append(
                    Marker(
                        "test-detection",
                        f"env:{node.value}",
                        line,
                        f"reads `{node.value}` to tell whether it runs under CI or a test",
                        "code must behave the same under test and in CI; fix it for real",
                    )
                )
        elif isinstance(node, ast.Compare):
            left = node.left
            if (
                isinstance(left, ast.Constant)
                and left.value in TESTING_ROOTS
                and any((names.qualify(c) or "").startswith("sys.") for c in node.comparators)
            ):
                facts.markers.append(
                    Marker(
                        "test-detection",
                        "sys:pytest",
                        line,
                        f"checks whether `{left.value}` is loaded to behave differently under test",
                        "code must behave the same under test; fix it for real",
                    )
                )
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name | ast.Attribute) and (
                    getattr(target, "id", None) == "__test__"
                    or getattr(target, "attr", None) == "__test__"
                ):
                    facts.markers.append(
                        Marker(
                            "test-collection",
                            "__test__",
                            line,
                            "sets `__test__`, which stops pytest collecting the tests",
                            _SKIP_ADVICE,
                        )
                    )


def _call_markers(node: ast.Call, names: _Names, facts: FileFacts, is_test_file: bool) -> None:
    line = node.lineno
    qualified = names.qualify(node.func) or _last_name(node) or ""
    if qualified == "getattr" and node.args and names.testing(node.args[0]):
        facts.markers.append(
            Marker(
                "test-skip",
                "dynamic",
                line,
                "looks up a pytest or unittest attribute by name (`getattr`), hiding what it uses",
                _SKIP_ADVICE,
            )
        )
    if qualified.split(".")[-1] in ("import_module", "__import__") and any(
        isinstance(a, ast.Constant) and str(a.value).split(".")[0] in TESTING_ROOTS
        for a in node.args
    ):
        facts.markers.append(
            Marker(
                "test-skip",
                "dynamic",
                line,
                "imports pytest or unittest dynamically, hiding what it uses",
                _SKIP_ADVICE,
            )
        )
    if is_test_file and qualified in EXIT_CALLS:
        facts.markers.append(
            Marker(
                "test-exit",
                f"exit:{qualified}",
                line,
                f"calls `{qualified}`, which ends the test run early",
                "let the tests run to the end",
            )
        )
    if _last_name(node) == "parametrize":
        values = node.args[1] if len(node.args) > 1 else None
        for kw in node.keywords:
            if kw.arg == "argvalues":
                values = kw.value
        if isinstance(values, ast.List | ast.Tuple | ast.Set) and not values.elts:
            facts.markers.append(
                Marker(
                    "test-skip",
                    "empty-parametrize",
                    line,
                    "gives `parametrize` no cases, so pytest skips the test",
                    _SKIP_ADVICE,
                )
            )


_COLLECTION_NAMES = frozenset(
    {"collect_ignore", "collect_ignore_glob", "pytest_plugins", "pytestmark"}
)


def _module_level(tree: ast.Module, names: _Names, facts: FileFacts, is_test_file: bool) -> None:
    """Collection hooks and settings (guarded); fixtures and module setup (support)."""
    setup: list[ast.AST] = []
    values: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("pytest_"):
                facts.guarded[f"hook {node.name}"] = (node.lineno, shape(node))
                continue
            fixture = next((d for d in node.decorator_list if _last_name(d) == "fixture"), None)
            if fixture is not None:
                autouse = isinstance(fixture, ast.Call) and any(
                    kw.arg == "autouse" and not always_false(kw.value) for kw in fixture.keywords
                )
                if autouse:
                    facts.guarded[f"autouse fixture {node.name}"] = (node.lineno, shape(node))
                else:
                    facts.support[f"fixture {node.name}"] = _support([node], node.lineno)
            elif is_test_file and node.name in ("setup_module", "teardown_module", "setUpModule"):
                facts.support[f"setup {node.name}"] = _support([node], node.lineno)
            continue
        touched = {
            n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in _COLLECTION_NAMES
        }
        if touched:
            for name in touched:
                old = facts.guarded.get(f"setting {name}", (node.lineno, ""))
                facts.guarded[f"setting {name}"] = (old[0], old[1] + shape(node))
            continue
        if not is_test_file or isinstance(node, ast.Import | ast.ImportFrom | ast.ClassDef):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        if isinstance(node, ast.Assign | ast.AnnAssign) and all(
            isinstance(t, ast.Name)
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        ):
            # Module-level values of a test file (expected tables): their literals count.
            values.append(node)
        else:
            setup.append(node)  # code that runs on import: patches, registrations
    if setup:
        facts.support["module-level code"] = _support(setup, getattr(setup[0], "lineno", 1))
    if values:
        facts.support["module-level values"] = _support(values, getattr(values[0], "lineno", 1))
