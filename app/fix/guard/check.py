"""The guard's decision: judge every changed file before and after, and the tests across files.

One function, ``check_change``, used by the loop and by ``python -m app
guard`` alike.  It reads the two versions of each changed file (never the
agent's account of them, never a diff): path policy first, then the added
lines, then each language's analyzer on both versions, then the tests of all
changed files together, so a test may move between files but not vanish.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from app.config.model import GuardConfig
from app.fix.guard import go, javascript, python, rust
from app.fix.guard.diff import DiffLine, line_changes
from app.fix.guard.facts import CaseFacts, Definition, FileFacts, Marker
from app.fix.guard.lines import line_rules
from app.fix.guard.manifests import check_manifest, is_manifest, same_meaning
from app.fix.guard.paths import (
    LOCKFILES,
    allowed,
    is_code,
    is_test_path,
    kind_of,
    matches_glob,
)
from app.fix.guard.tree import EXECUTABLE, GITLINK, SYMLINK, FileChange, TreeView
from app.fix.guard.verdict import GuardVerdict, Violation, violation

# Rules ``guard.allow_test_edits: true`` lifts: edits that change what an existing test
# checks.  Skips, deletions, focus, early returns and collection changes stay refused.
TEST_EDIT_RULES = frozenset(
    {"test-weakened", "test-expectation", "test-mocked", "test-fixture", "test-data"}
)
_ALLOW_HINT = "or ask a maintainer to list the path in guard.allow_paths"
_TEST_ADVICE = "fix the code so the existing test passes as it was written"

Analyzer = Callable[[str, str], FileFacts]


def _analyzer(path: str) -> Analyzer | None:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".py", ".pyi"):
        return python.analyze
    if suffix in javascript.SUFFIXES:
        return javascript.analyze
    if suffix == ".go":
        return go.analyze
    if suffix == ".rs":
        return rust.analyze
    return None


@dataclass
class _Tests:
    """Tests of the changed files, before and after, with where they live."""

    before: list[tuple[str, CaseFacts]] = field(default_factory=list)
    after: list[tuple[str, CaseFacts]] = field(default_factory=list)


@dataclass
class _Judgement:
    config: GuardConfig
    violations: list[Violation] = field(default_factory=list)
    test_changes: list[str] = field(default_factory=list)
    tests: _Tests = field(default_factory=_Tests)

    def add(self, item: Violation) -> None:
        if item.rule in TEST_EDIT_RULES and self.config.allow_test_edits:
            return
        self.violations.append(item)


_REFERENCE = re.compile(
    r"(?<![\w/.-])(?:\./)?((?:[\w.-]+/)*[\w.-]+\.(?:sh|bash|py|js|mjs|cjs|ts|rb|pl|ps1|mk))\b"
)
_REFERENCING = (
    "Makefile",
    "makefile",
    "GNUmakefile",
    "justfile",
    "package.json",
    "tox.ini",
    "noxfile.py",
    ".pre-commit-config.yaml",
    "Taskfile.yml",
    ".gitlab-ci.yml",
)
_SOURCE_ROOTS = frozenset({"src", "lib", "app", "pkg", "cmd", "internal", "packages", "crates"})


def ci_references(context: TreeView | None) -> set[str]:
    """Files the CI definitions and task runners name, such as ``scripts/check_docs.py``."""
    if context is None:
        return set()
    names = [
        *context.files(".github/workflows"),
        *context.files(".github/actions"),
        *_REFERENCING,
    ]
    found: set[str] = set()
    for name in names:
        data = context.read(name)
        if data is None:
            continue
        for match in _REFERENCE.finditer(data.decode("utf-8", errors="replace")):
            found.add(match.group(1))
    return found


def _path_rules(change: FileChange, judge: _Judgement, references: set[str]) -> bool:
    """Path policy; True when the path is configuration (its content is not judged further)."""
    path, before, after = change.path, change.before, change.after
    config = judge.config
    first = _first_changed_line(change)
    hit = next((p for p in config.forbidden_paths if matches_glob(path, p)), None)
    if hit:
        judge.add(
            violation(
                "forbidden-path",
                path,
                first,
                f"is under the forbidden path `{hit}`",
                "the fix must not touch it; change the code or tests instead",
            )
        )
        return True
    if allowed(path, config):
        if after is not None and after.mode == SYMLINK and _escapes(path, after.data):
            judge.add(
                violation(
                    "symlink",
                    path,
                    None,
                    "is a symbolic link leaving the repository",
                    "a fix must not point outside the repository",
                )
            )
        return False
    modes = {s.mode for s in (before, after) if s is not None}
    if SYMLINK in modes and after is not None:
        judge.add(
            violation(
                "symlink",
                path,
                None,
                "adds or changes a symbolic link",
                f"write a regular file instead, {_ALLOW_HINT}",
            )
        )
        return True
    if GITLINK in modes:
        judge.add(
            violation(
                "submodule",
                path,
                None,
                "adds, moves or removes a submodule",
                f"a fix must not change submodules, {_ALLOW_HINT}",
            )
        )
        return True
    if after is not None and after.text is None:
        judge.add(
            violation(
                "binary",
                path,
                None,
                "adds or changes a binary file, which cannot be reviewed as text",
                f"a fix changes text files only, {_ALLOW_HINT}",
            )
        )
        return True
    if before is not None and after is not None and before.mode != after.mode:
        judge.add(
            violation(
                "mode-change",
                path,
                None,
                f"changes the file mode from {before.mode} to {after.mode}",
                f"keep the mode as it was, {_ALLOW_HINT}",
            )
        )
    elif before is None and after is not None and after.mode == EXECUTABLE:
        judge.add(
            violation(
                "mode-change",
                path,
                None,
                "adds an executable file",
                f"add it without the executable bit, {_ALLOW_HINT}",
            )
        )
    kind = kind_of(path)
    if kind is not None and not same_meaning(path, _text(before), _text(after)):
        rule, what = kind
        judge.add(
            violation(
                rule,
                path,
                first,
                f"changes {what}, which decides what CI runs and how it judges the result",
                f"fix the code instead, {_ALLOW_HINT}",
            )
        )
        return True
    if is_manifest(path):
        for item in check_manifest(path, _text(before), _text(after)):
            judge.add(item)
        return True
    if LOCKFILES.search(path):
        return True
    parts = PurePosixPath(path).parts
    if path in references and not is_test_path(path) and parts[0] not in _SOURCE_ROOTS:
        judge.add(
            violation(
                "ci-script",
                path,
                first,
                "changes a file the CI configuration runs",
                f"fix the code it checks instead, {_ALLOW_HINT}",
            )
        )
        return True
    if "__mocks__" in PurePosixPath(path).parts:
        judge.add(
            violation(
                "test-fixture",
                path,
                first,
                "changes a manual mock, which replaces a module in every test that imports it",
                _TEST_ADVICE,
            )
        )
        return True
    if is_test_path(path) and before is not None and _analyzer(path) is None and not is_code(path):
        judge.add(
            violation(
                "test-data",
                path,
                first,
                "changes or deletes test data (expected output, snapshots, fixtures)",
                _TEST_ADVICE,
            )
        )
    return False


def _first_changed_line(change: FileChange) -> int | None:
    """Where a text file's change starts (for a path-level rule's sentence), if it is text."""
    before, after = _text(change.before), _text(change.after)
    if before is None and after is None:
        return None
    if before is None or after is None:
        return 1
    added, removed = line_changes(before, after)
    numbers = [line.number for line in added] or [line.number for line in removed]
    return min(numbers) if numbers else None


def _escapes(path: str, target: bytes) -> bool:
    link = target.decode("utf-8", errors="replace")
    if link.startswith("/"):
        return True
    parent = PurePosixPath(path).parent
    depth = len(parent.parts)
    for part in PurePosixPath(link).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


def _text(state: object) -> str | None:
    return getattr(state, "text", None) if state is not None else None


def _new_markers(before: FileFacts | None, after: FileFacts, added: list[DiffLine]) -> list[Marker]:
    """Markers in ``after`` beyond as many of the same kind as ``before`` had."""
    had = Counter(m.key for m in before.markers) if before else Counter()
    fresh_lines = {line.number for line in added}
    by_key: dict[str, list[Marker]] = {}
    for marker in after.markers:
        by_key.setdefault(marker.key, []).append(marker)
    out = []
    for key, markers in by_key.items():
        extra = len(markers) - had[key]
        if extra <= 0:
            continue
        # Report the ones on added lines first: those are the new ones.
        ranked = sorted(markers, key=lambda m: (m.line not in fresh_lines, m.line))
        out.extend(sorted(ranked[:extra], key=lambda m: m.line))
    return out


# Code that runs when a test module loads: added to an existing test file, it can
# patch what every test in it exercises.
_FILE_WIDE = frozenset({"module-level code", "module mocks"})


def _guarded(
    path: str, before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]],
    judge: _Judgement,
) -> None:  # fmt: skip
    """Definitions that decide what runs at all: any addition, change or removal is refused."""
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and old[1] == new[1]:
            continue
        verb = "adds" if old is None else "removes" if new is None else "changes"
        line = (new or old or (None, ""))[0]
        judge.test_changes.append(f"{path}: {key} {_DONE[verb]}")
        judge.add(
            violation(
                "test-collection",
                path,
                line,
                f"{verb} the {key}, which decides which tests are collected and run",
                "leave test collection as it is and fix the code",
            )
        )


_DONE = {"adds": "added", "removes": "removed", "changes": "changed"}


def _kind(key: str) -> str:
    """What a support key names without its owner: ``TestMul.setUp`` is a ``setUp``."""
    return key.rsplit(".", 1)[-1] if "." in key else key.split(" ", 1)[0]


def _pair_renamed(
    before: dict[str, Definition], after: dict[str, Definition], judge: _Judgement, path: str
) -> tuple[dict[str, Definition], dict[str, Definition]]:
    """Match a removed definition with an added one of the same kind that keeps its content.

    A consistent rename (a test class, a fixture) moves ``TestMul.setUp`` to
    ``TestMultiply.setUp``; it is compared, not reported as removed.
    """
    gone = [k for k in before if k not in after]
    new = [k for k in after if k not in before]
    before, after = dict(before), dict(after)
    for old_key in gone:
        old = before[old_key]
        match = next(
            (
                k
                for k in new
                if _kind(k) == _kind(old_key)
                and not (Counter(old.literals) - Counter(after[k].literals))
                and after[k].checks >= old.checks
                and after[k].mocks <= old.mocks
            ),
            None,
        )
        if match is not None:
            new.remove(match)
            judge.test_changes.append(f"{path}: {old_key} renamed to {match}")
            after[old_key] = after.pop(match)
    return before, after


def _support(
    path: str,
    before: dict[str, Definition],
    after: dict[str, Definition],
    judge: _Judgement,
    *,
    existing: bool,
) -> None:
    """Fixtures, setup and test data: they may change shape, not lose what they check."""
    before, after = _pair_renamed(before, after, judge, path)
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old is None and new is not None:
            judge.test_changes.append(f"{path}: {key} added")
            if existing and key in _FILE_WIDE:
                judge.add(
                    violation(
                        "test-fixture",
                        path,
                        new.line,
                        f"adds {key} to an existing test file, which runs before every test in it",
                        _TEST_ADVICE,
                    )
                )
            continue
        if old is None:
            continue
        if new is None:
            judge.test_changes.append(f"{path}: {key} removed")
            judge.add(
                violation("test-fixture", path, old.line,
                          f"removes the {key} that existing tests rely on", _TEST_ADVICE)
            )  # fmt: skip
            continue
        if new == old:
            continue
        judge.test_changes.append(f"{path}: {key} changed")
        lost = Counter(old.literals) - Counter(new.literals)
        problems = (
            [f"no longer has {_shown(Counter({f'={v}': n for v, n in lost.items()}))}"]
            if lost
            else []
        )
        if new.mocks > old.mocks:
            problems.append("adds a mock or fake")
        if new.checks < old.checks:
            problems.append(f"checks less ({old.checks} check(s) before, {new.checks} after)")
        if problems:
            judge.add(
                violation(
                    "test-fixture",
                    path,
                    new.line,
                    f"changes the {key} that existing tests rely on: it {'; '.join(problems)}",
                    _TEST_ADVICE,
                )
            )


def _judge_file(change: FileChange, judge: _Judgement) -> tuple[int, int]:
    """Line and language rules for one text file; returns (lines added, lines removed)."""
    before, after = _text(change.before), _text(change.after)
    added, removed = line_changes(before or "", after or "")
    path = change.path
    for item in line_rules(path, added, removed):
        judge.add(item)
    analyze = _analyzer(path)
    if analyze is None:
        return len(added), len(removed)
    try:
        facts_before = analyze(path, before) if before is not None else None
        facts_after = analyze(path, after) if after is not None else None
    except RecursionError:
        # Nesting no honest code has; what cannot be judged is not published.
        judge.add(
            violation(
                "unparseable",
                path,
                None,
                "is nested too deeply to be judged",
                "write the change without thousands of nested levels",
            )
        )
        return len(added), len(removed)
    if facts_after is not None:
        newly_broken = not facts_after.parsed and (facts_before is None or facts_before.parsed)
        judged = facts_after.collected or is_test_path(path) or path.endswith((".py", ".pyi"))
        if newly_broken and judged:
            judge.add(
                violation(
                    "unparseable",
                    path,
                    None,
                    "does not parse after the change, so it cannot be judged",
                    "leave the file syntactically valid",
                )
            )
        for marker in _new_markers(facts_before, facts_after, added):
            judge.add(violation(marker.rule, path, marker.line, marker.what, marker.advice))
    _guarded(
        path,
        facts_before.guarded if facts_before else {},
        facts_after.guarded if facts_after else {},
        judge,
    )
    if facts_before is not None or (facts_after is not None and is_test_path(path)):
        # New code that runs on import is refused in a test file that already had
        # tests and in support files (conftest, helpers, ``__init__``), new or not;
        # a new test module may set up what its own new tests need.
        support_file = facts_after is not None and not facts_after.collected
        _support(
            path,
            facts_before.support if facts_before else {},
            facts_after.support if facts_after else {},
            judge,
            existing=support_file or bool(facts_before and facts_before.tests),
        )
    if facts_before is not None and facts_before.collected:
        judge.tests.before.extend((path, t) for t in facts_before.tests)
    elif facts_before is not None and is_test_path(path) and change.after is None:
        judge.add(
            violation(
                "test-deleted",
                path,
                None,
                "deletes a test support file",
                "restore it and fix the code it tests",
            )
        )
    if facts_after is not None and facts_after.collected:
        judge.tests.after.extend((path, t) for t in facts_after.tests)
    return len(added), len(removed)


def _family(path: str) -> str:
    return PurePosixPath(path).suffix.lower().lstrip(".")[:2]


def _shown(terms: Counter[str]) -> str:
    values = [term.rsplit("=", 1)[-1] for term in terms.elements()]
    shown = ", ".join(f"`{v[:40]}`" for v in values[:3])
    return shown + (f" and {len(values) - 3} more" if len(values) > 3 else "")


def _compare(path: str, old: CaseFacts, new: CaseFacts, judge: _Judgement) -> None:
    """An existing test, before and after: it may keep or gain checks, never lose them."""
    name = f"`{new.key}`"
    if new.checks < old.checks:
        neutral = (
            f" (neutralised at line {', '.join(map(str, new.neutral[:3]))})" if new.neutral else ""
        )
        judge.add(
            violation(
                "test-weakened",
                path,
                new.line,
                f"weakens the test {name}: {old.checks} check(s) before, {new.checks} reachable "
                f"after{neutral}",
                _TEST_ADVICE,
            )
        )
    missing = old.terms - new.terms
    if missing:
        judge.add(
            violation(
                "test-expectation",
                path,
                new.line,
                f"changes what the test {name} expects (no longer checks {_shown(missing)})",
                _TEST_ADVICE,
            )
        )
    if old.cases:
        now = new.cases or Counter()
        lost = old.cases - now
        if lost and sum(now.values()) < sum(old.cases.values()):
            judge.add(
                violation(
                    "test-cases",
                    path,
                    new.line,
                    f"removes {sum(lost.values())} parametrized case(s) of {name} "
                    f"({_shown(Counter(set(lost)))})",
                    "keep every case and fix the code",
                )
            )
        elif lost:
            judge.add(
                violation(
                    "test-expectation",
                    path,
                    new.line,
                    f"changes parametrized case(s) of {name} ({_shown(Counter(set(lost)))})",
                    _TEST_ADVICE,
                )
            )
    if new.returns > old.returns:
        judge.add(
            violation(
                "test-early-return",
                path,
                new.line,
                f"adds an early `return` to the test {name}, so its checks may never run",
                "let the test run to its end",
            )
        )
    if new.mocks > old.mocks:
        judge.add(
            violation(
                "test-mocked",
                path,
                new.line,
                f"adds a mock or patch to the existing test {name}, changing what it exercises",
                _TEST_ADVICE,
            )
        )
    marks = Counter(
        {k: v for k, v in (new.marks - old.marks).items() if k not in python.HARMLESS_MARKS}
    )
    marks = Counter({k: v for k, v in marks.items() if k not in python.SKIP_NAMES})
    if marks:
        judge.add(
            violation(
                "test-marks",
                path,
                new.line,
                f"adds the mark(s) {', '.join(f'`{m}`' for m in marks)} to {name}, which can "
                "deselect it",
                "leave the test's marks as they were",
            )
        )


def _account_tests(judge: _Judgement) -> None:
    """Match tests before and after across all changed files, then compare each pair."""
    after = list(judge.tests.after)
    used: set[int] = set()

    def take(predicate: Callable[[str, CaseFacts], bool]) -> tuple[str, CaseFacts] | None:
        for i, (path, facts) in enumerate(after):
            if i not in used and predicate(path, facts):
                used.add(i)
                return path, facts
        return None

    def same_place(path: str, old: CaseFacts) -> Callable[[str, CaseFacts], bool]:
        return lambda p, t: p == path and t.key == old.key

    def same_name(path: str, old: CaseFacts) -> Callable[[str, CaseFacts], bool]:
        return lambda p, t: t.key == old.key and _family(p) == _family(path)

    def renamed(path: str, old: CaseFacts) -> Callable[[str, CaseFacts], bool]:
        """A new test name with at least the old checks and every old expectation."""
        return lambda p, t: (
            t.key not in keys_before
            and _family(p) == _family(path)
            and t.checks >= old.checks
            and t.checks > 0
            and not (old.terms - t.terms)
            and not ((old.cases or Counter()) - (t.cases or Counter()))
        )

    keys_before = {t.key for _, t in judge.tests.before}
    unmatched: list[tuple[str, CaseFacts]] = []
    for path, old in judge.tests.before:
        pair = take(same_place(path, old))
        if pair is None:
            unmatched.append((path, old))
            continue
        _compare(path, old, pair[1], judge)
        if pair[1].shape != old.shape:
            judge.test_changes.append(f"{path}: test `{old.key}` changed")
    for path, old in unmatched:
        pair = take(same_name(path, old))
        if pair is None:
            pair = take(renamed(path, old))
            if pair is not None:
                judge.test_changes.append(
                    f"{path}: test `{old.key}` renamed to `{pair[1].key}` in {pair[0]}"
                )
        elif pair[0] != path:
            judge.test_changes.append(f"test `{old.key}` moved from {path} to {pair[0]}")
        if pair is None:
            judge.test_changes.append(f"{path}: test `{old.key}` removed")
            judge.add(
                violation(
                    "test-removed",
                    path,
                    old.line,
                    f"removes the test `{old.key}` (it is not collected anywhere after the change)",
                    "tests must be fixed, not deleted, renamed away or moved out of the suite",
                )
            )
            continue
        _compare(pair[0], old, pair[1], judge)
    for i, (path, new) in enumerate(after):
        if i not in used:
            judge.test_changes.append(f"{path}: test `{new.key}` added")


def check_change(
    changes: Sequence[FileChange],
    config: GuardConfig,
    *,
    context: TreeView | None = None,
    category: str | None = None,
) -> GuardVerdict:
    """Judge a change (every changed path, before and after) against the guard config.

    ``context`` reads unchanged files of the tree (which scripts CI runs);
    ``category`` is the failure's category, recorded for the reader: the rules
    are the same for every category, because a cheat is one whatever failed.
    """
    del category  # the same rules hold for every kind of failure
    judge = _Judgement(config)
    references = ci_references(context)
    added = removed = 0
    sizes: list[tuple[str, int, int]] = []
    for change in changes:
        configuration = _path_rules(change, judge, references)
        plus = minus = 0
        if _text(change.before) is not None or _text(change.after) is not None:
            if configuration:
                lines_added, lines_removed = line_changes(
                    _text(change.before) or "", _text(change.after) or ""
                )
                plus, minus = len(lines_added), len(lines_removed)
                for item in line_rules(change.path, lines_added, lines_removed):
                    judge.add(item)
            else:
                plus, minus = _judge_file(change, judge)
        sizes.append((change.path, plus, minus))
        added, removed = added + plus, removed + minus
    _account_tests(judge)
    head: list[Violation] = []
    if added + removed > config.max_changed_lines:
        biggest = sorted(sizes, key=lambda s: s[1] + s[2], reverse=True)[:5]
        largest = ", ".join(f"{p} (+{a}/-{r})" for p, a, r in biggest)
        head.append(
            Violation(
                "size-lines",
                biggest[0][0],
                None,
                f"The change touches {added + removed} lines ({added} added, {removed} removed); "
                f"the limit is {config.max_changed_lines}. Largest: {largest}. Make a smaller, "
                "more focused fix (rule: size-lines).",
            )
        )
    if len(changes) > config.max_files:
        paths = ", ".join(c.path for c in changes[:20]) + (", ..." if len(changes) > 20 else "")
        head.append(
            Violation(
                "size-files",
                changes[0].path,
                None,
                f"The change touches {len(changes)} files ({paths}); the limit is "
                f"{config.max_files}. Change only the files the failure needs (rule: size-files).",
            )
        )
    violations = tuple(dict.fromkeys([*head, *judge.violations]))
    return GuardVerdict(
        ok=not violations,
        reasons=tuple(dict.fromkeys(v.message for v in violations)),
        files_changed=len(changes),
        lines_added=added,
        lines_removed=removed,
        violations=violations,
        test_changes=tuple(dict.fromkeys(judge.test_changes)),
    )
