"""What a language analyzer reports about one version of one file.

The engine compares the facts of the version before with the version after:
markers (skips, focus, exits, collection switches) are counted, so only new
ones count; tests are matched by name across files, so a test may move but
not disappear; each test's checks, expected values and cases may grow but not
shrink.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Marker:
    """Something that switches a test off or changes what runs, found at ``line``.

    ``key`` identifies the kind (markers are counted per key); ``what`` is the
    sentence fragment the violation uses ("adds a pytest skip mark (`mark.skip`)").
    """

    rule: str
    key: str
    line: int
    what: str
    advice: str


@dataclass
class CaseFacts:
    """One test: where it is and what it checks."""

    key: str
    line: int
    checks: int = 0
    terms: Counter[str] = field(default_factory=Counter)
    cases: Counter[str] | None = None
    returns: int = 0
    mocks: int = 0
    marks: Counter[str] = field(default_factory=Counter)
    shape: str = ""
    neutral: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Definition:
    """Something tests rely on (a fixture, a setup method, module-level test data).

    It may change shape (a rename, a new argument, an annotation); it may not
    lose a literal, lose a check or gain a mock, since each of those can make
    every test using it pass without the code being fixed.
    """

    line: int
    shape: str
    literals: tuple[str, ...] = ()
    mocks: int = 0
    checks: int = 0


@dataclass
class FileFacts:
    """Everything an analyzer found in one version of a file.

    ``guarded`` are definitions that decide what runs at all (collection hooks,
    autouse fixtures, build constraints): any change is refused.  ``support``
    are fixtures, setup methods and helpers tests rely on: changing one may
    weaken every test using it, so it counts as a test edit.  ``guarded`` maps a
    key to (line, fingerprint).
    """

    tests: list[CaseFacts] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    guarded: dict[str, tuple[int, str]] = field(default_factory=dict)
    support: dict[str, Definition] = field(default_factory=dict)
    parsed: bool = True
    collected: bool = False
