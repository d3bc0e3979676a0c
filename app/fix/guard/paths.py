"""Path policy: which files a fix may not touch, whatever their content.

CI's verdict depends on more than the code under test: the workflow, the test
runner's and linters' configuration, the scripts and Makefile targets CI calls,
ownership and attribute files, submodules.  A change to any of them can turn a
red run green without fixing anything, so they are refused by default.  A
repository may allow named paths (``guard.allow_paths``), never the workflows
nor the app's own configuration.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import PurePosixPath

from app.config.model import ALWAYS_FORBIDDEN, GuardConfig

# ── Test files ───────────────────────────────────────────────────────────────

_TEST_DIRS = frozenset(
    {"tests", "test", "__tests__", "spec", "specs", "testing", "e2e", "testdata", "__snapshots__",
     "snapshots", "golden", "goldens", "fixtures", "__fixtures__", "__mocks__"}
)  # fmt: skip
_TEST_NAME = re.compile(
    r"""^(
        test_.+\.py | .+_test\.py | conftest\.py
      | .+_test\.go
      | .+\.(test|spec)\.[a-z]+
      | .+_spec\.rb | test_.+\.rb | .+_test\.rb
      | .+Tests?\.(java|kt|kts|scala|cs|swift|php)
      | .+\.(snap|golden)
    )$""",
    re.VERBOSE,
)

CODE_SUFFIXES = frozenset(
    [
        ".py",
        ".pyi",
        ".js",
        ".jsx",
        ".mjs",
        ".cjs",
        ".ts",
        ".tsx",
        ".mts",
        ".cts",
        ".go",
        ".rs",
        ".rb",
        ".java",
        ".kt",
        ".kts",
        ".scala",
        ".cs",
        ".swift",
        ".php",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".vue",
        ".svelte",
        ".sh",
        ".bash",
        ".zsh",
        ".ps1",
    ]
)


def is_test_path(path: str) -> bool:
    """True for files a test runner collects or that tests depend on, across ecosystems."""
    parts = PurePosixPath(path).parts
    if any(part in _TEST_DIRS for part in parts[:-1]):
        return True
    if "src" in parts and "test" in parts:  # Maven/Gradle src/test/...
        return True
    return bool(_TEST_NAME.match(parts[-1])) if parts else False


def is_code(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in CODE_SUFFIXES


# ── Globs ────────────────────────────────────────────────────────────────────


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: ``**`` spans directories, ``*`` and ``?`` stay within one.

    A pattern without a slash matches a file name anywhere, as in ``.gitignore``.
    """
    if "/" not in pattern:
        pattern = "**/" + pattern
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(r".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append(r"[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    # A directory pattern ("vendor/") covers everything below it.
    return re.compile("".join(out) + (r".*" if pattern.endswith("/") else r"(?:/.*)?") + r"\Z")


def matches_glob(path: str, pattern: str) -> bool:
    return bool(_glob_regex(pattern.lstrip("/")).match(path))


def allowed(path: str, config: GuardConfig) -> bool:
    """True when the repository allowed this path (never a workflow or the app's config)."""
    if any(matches_glob(path, p) for p in ALWAYS_FORBIDDEN):
        return False
    return any(matches_glob(path, p) for p in config.allow_paths)


# ── What CI runs ─────────────────────────────────────────────────────────────

# (rule, what it is, regex on the path); the first match wins.
_KINDS: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (rule, what, re.compile(pattern, re.IGNORECASE))
    for rule, what, pattern in (
        ("ci-config", "CI configuration", r"^\.github/"),
        (
            "ci-config",
            "CI configuration",
            r"^(\.circleci|\.buildkite|\.gitlab|\.ci|ci|\.woodpecker|\.azure-pipelines|\.tekton)/"
            r"|(^|/)(\.gitlab-ci\.ya?ml|azure-pipelines[\w.-]*\.ya?ml|Jenkinsfile|\.travis\.ya?ml"
            r"|appveyor\.ya?ml|\.drone\.ya?ml|bitbucket-pipelines\.ya?ml|cloudbuild\.ya?ml"
            r"|\.woodpecker\.ya?ml|codemagic\.ya?ml|\.cirrus\.ya?ml|buildspec\.ya?ml)$",
        ),
        (
            "repo-metadata",
            "repository metadata (ownership, submodules, attributes, ignore rules)",
            r"(^|/)(CODEOWNERS|OWNERS|\.gitmodules|\.gitattributes|\.gitignore|\.git-blame-ignore-revs"
            r"|\.lfsconfig)$",
        ),
        (
            "test-config",
            "test runner or coverage configuration",
            r"(^|/)(pytest\.ini|tox\.ini|noxfile\.py|\.coveragerc[\w.-]*|\.?codecov\.ya?ml"
            r"|(jest|vitest|karma|playwright|cypress|ava|wdio|nightwatch|mocha)\.(config|conf|setup"
            r"|workspace|preset)\.[\w.]+|vitest\.workspace\.[\w.]+|setupTests\.[jt]sx?"
            r"|\.mocharc[\w.]*|\.nycrc[\w.]*|\.c8rc[\w.]*|cypress\.json|\.taprc|phpunit\.xml[\w.]*"
            r"|karma\.conf\.[jt]s|\.pytest\.ini|pytest\.toml|\.pytest\.toml)$",
        ),
        (
            "lint-config",
            "lint, format or type-checker configuration",
            r"(^|/)(\.flake8|mypy\.ini|\.mypy\.ini|\.?ruff\.toml|\.?pylintrc|pyrightconfig\.json"
            r"|\.isort\.cfg|\.pydocstyle[\w.]*|\.bandit|\.pre-commit-config\.ya?ml|\.pre-commit-hooks"
            r"\.ya?ml|\.eslintrc[\w.]*|eslint\.config\.[\w.]+|\.eslintignore|\.prettierrc[\w.]*"
            r"|prettier\.config\.[\w.]+|\.prettierignore|biome\.jsonc?|\.oxlintrc\.json"
            r"|\.stylelintrc[\w.]*|stylelint\.config\.[\w.]+|tsconfig[\w.-]*\.json|jsconfig[\w.-]*"
            r"\.json|tslint\.json|\.golangci\.(ya?ml|toml|json)|\.?clippy\.toml|\.?rustfmt\.toml"
            r"|deny\.toml|\.editorconfig|\.markdownlint[\w.-]*|\.yamllint[\w.-]*|\.rubocop[\w.-]*"
            r"\.ya?ml|\.swiftlint\.ya?ml|\.semgrep[\w./-]*|\.jshintrc|\.jscsrc|\.hadolint\.ya?ml"
            r"|\.shellcheckrc|\.typos\.toml|_typos\.toml|\.codespellrc|\.style\.yapf|\.yapfignore"
            r")$",
        ),
        (
            "build-config",
            "build or toolchain configuration",
            r"(^|/)(Makefile|makefile|GNUmakefile|[\w.-]+\.mk|justfile|Justfile|\.justfile"
            r"|Taskfile[\w.-]*\.ya?ml|CMakeLists\.txt|[\w.-]+\.cmake|build\.rs|\.cargo/config"
            r"(\.toml)?|rust-toolchain(\.toml)?|Dockerfile[\w.-]*|[\w.-]*\.Dockerfile"
            r"|(docker-)?compose[\w.-]*\.ya?ml|webpack\.config\.[\w.]+|rollup\.config\.[\w.]+"
            r"|vite\.config\.[\w.]+|babel\.config\.[\w.]+|\.babelrc[\w.]*|\.swcrc|turbo\.json"
            r"|nx\.json|lerna\.json|\.npmrc|\.yarnrc[\w.]*|\.pnpmfile\.cjs|pnpm-workspace\.yaml"
            r"|\.nvmrc|\.node-version|\.python-version|\.tool-versions|\.ruby-version|\.go-version"
            r"|setup\.py|MANIFEST\.in|tsup\.config\.[\w.]+|esbuild\.config\.[\w.]+"
            r"|(next|nuxt|svelte|astro|remix|gatsby|quasar)\.config\.[\w.]+|Gemfile|Rakefile"
            r"|Procfile|go\.work|\.bazelrc|BUILD(\.bazel)?|WORKSPACE(\.bazel)?|MODULE\.bazel"
            r"|build\.gradle(\.kts)?|settings\.gradle(\.kts)?|pom\.xml|Earthfile|Vagrantfile"
            r"|devbox\.json|flake\.nix|shell\.nix|default\.nix|\.envrc|\.dockerignore"
            r"|\.npmignore)$",
        ),
        (
            "ci-script",
            "a script CI or a developer runs",
            r"^(scripts?|hack|tools/ci|\.husky|\.githooks|githooks)/"
            r"|\.(sh|bash|zsh|ksh|fish|ps1|psm1|bat|cmd)$",
        ),
    )
)

# Lockfiles: a missing dependency's entry is an honest fix.
LOCKFILES = re.compile(
    r"(^|/)(package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|bun\.lockb?"
    r"|poetry\.lock|uv\.lock|pdm\.lock|Pipfile\.lock|Cargo\.lock|go\.sum|Gemfile\.lock"
    r"|composer\.lock|requirements[\w.-]*\.(txt|in)|constraints[\w.-]*\.txt)$"
)


def kind_of(path: str) -> tuple[str, str] | None:
    """(rule, description) when ``path`` is configuration or a script CI relies on."""
    for rule, what, pattern in _KINDS:
        if pattern.search(path):
            return rule, what
    return None
