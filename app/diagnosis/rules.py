"""What CI tools print when they fail, as data.

Each ``Rule`` recognises one kind of line and says two separate things about it:

* ``weight``: how much the line is evidence that the failure is of
  ``category`` (``None``: no evidence either way, e.g. a Python exception line
  could come from a test, a build or a script);
* ``key``: how strongly a person would point at the line as the cause (0: not
  a key line; 9-10: the error itself; 1: the runner's generic exit line).

Patterns name a ``file`` and a ``line`` group where the line says where the
problem is.  ``hints`` are literals of which at least one must appear in a line
for the pattern to possibly match (none: always try); checking them before the
regex runs keeps classification cheap.  Each distinct hint costs one scan of the
step's output, so a hint holding a common anchor (``rror``, ``FAIL``, ``ail``...)
is reduced to that anchor: many rules then share one scan, and their patterns,
not the hints, decide.

Rules describe what the tools print in general, never one project's output:
the classifier is judged on logs it has not seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.diagnosis.model import Category

LINT = Category.LINT
TYPECHECK = Category.TYPECHECK
TEST = Category.TEST
BUILD = Category.BUILD
SSR = Category.SSR
INFRA = Category.INFRA


@dataclass(frozen=True, eq=False)
class Rule:
    """One recognisable kind of log line (compared by identity: each rule is one entry)."""

    category: Category | None
    tool: str | None
    pattern: re.Pattern[str]
    weight: float = 0.0
    key: float = 0.0
    hints: tuple[str, ...] = ()

    @property
    def key_line(self) -> bool:
        return self.key > 0


@dataclass(frozen=True)
class Hint:
    """A word in a step's command or a job's name that suggests a category (weak evidence)."""

    category: Category
    tool: str | None
    pattern: re.Pattern[str]


# Substrings most failure lines hold; a hint containing one is looked up as it (see above).
_ANCHORS = ("rror", "RROR", "FAIL", "ail", "xception", "exit code", "ssert")


def _rule(
    category: Category | None,
    tool: str | None,
    pattern: str,
    *,
    weight: float = 0.0,
    key: float = 0.0,
    hint: str | tuple[str, ...] = (),
) -> Rule:
    hints = (hint,) if isinstance(hint, str) else hint
    anchored = (next((a for a in _ANCHORS if a in h), h) for h in hints)
    return Rule(category, tool, re.compile(pattern), weight, key, tuple(dict.fromkeys(anchored)))


def _compile_rule(tool: str, extensions: str) -> Rule:
    """``File.ext:12:5: error: ...``, as the compilers of one language print it (paths may hold
    spaces or a drive letter; the extension is what names the language)."""
    return _rule(
        BUILD,
        tool,
        r"^\s*(?P<file>(?:[A-Za-z]:)?[^:\n]*?\.(?:" + extensions + r")):(?P<line>\d+):(?:\d+:)?"
        r" (?:fatal )?error: ",
        weight=4,
        key=9,
        hint="error: ",
    )


def _hint(category: Category, tool: str | None, pattern: str) -> Hint:
    return Hint(category, tool, re.compile(pattern, re.IGNORECASE))


# A path with an extension, as tools print it (relative, ./relative or absolute).
_PATH = r"(?P<file>(?:[A-Za-z]:)?[\w./\\@+~\[\]-]*[\w\]-]\.[A-Za-z][\w]{0,9})"
_PY = r"(?P<file>[\w./\\@+~-]+\.pyi?)"
_JS = r"(?P<file>[\w./\\@+~\[\]()-]+\.(?:[cm]?[jt]sx?|vue|svelte|astro))"
_GO = r"(?P<file>[\w./\\@+~-]+\.go)"
_NET = (
    r"Temporary failure in name resolution|Could not resolve host|Name or service not known"
    r"|getaddrinfo (?:EAI_AGAIN|ENOTFOUND)|i/o timeout|TLS handshake timeout"
    r"|connection reset by peer|Connection reset by peer|Connection timed out"
    r"|connection timed out|Network is unreachable|no such host"
)

RULES: tuple[Rule, ...] = (
    # --- the runner ---------------------------------------------------------
    _rule(None, None, r"^Process completed with exit code -?\d+", key=1, hint="Process completed"),
    _rule(
        INFRA,
        "oom",
        r"^Process completed with exit code 137\b",
        weight=3,
        key=1.5,
        hint="exit code 137",
    ),
    _rule(
        INFRA,
        "runner",
        r"lost communication with the server|runner has received a shutdown"
        r" signal|The runner has lost|Runner connect error",
        weight=8,
        key=10,
        hint=("lost communication", "shutdown signal", "runner has lost", "Runner connect"),
    ),
    _rule(
        INFRA,
        "runner",
        r"^(?:Error: )?The operation was canceled\.",
        weight=8,
        key=9,
        hint="canceled",
    ),
    # The runner could not fetch an action: the job failed in "Set up job", before any step.
    _rule(
        INFRA,
        "runner",
        r"An action could not be found at the URI|Unable to resolve actions?\b"
        r"|Failed to resolve action download info|Unable to download actions?\b"
        r"|Missing download info for",
        weight=8,
        key=10,
        hint=(
            "could not be found at the URI",
            "resolve action",
            "download info",
            "download action",
        ),
    ),
    # Exit statuses that mean a signal, not a verdict: SIGKILL (the OOM killer, a cancelled
    # runner), SIGTERM, SIGINT, and coreutils ``timeout``.
    _rule(
        INFRA,
        "oom",
        r"(?:Process completed|The process '[^']*' failed) with exit code (?:137|-9)\b"
        r"|\(exit code 137\)|did not complete successfully: exit code: 137\b",
        weight=6,
        key=3,
        hint=("exit code 137", "exit code -9", "exit code: 137"),
    ),
    _rule(
        INFRA,
        "runner",
        r"(?:Process completed|The process '[^']*' failed) with exit code (?:124|130|143|-15|-2)\b",
        weight=6,
        key=3,
        hint=("exit code 124", "exit code 130", "exit code 143", "exit code -15", "exit code -2"),
    ),
    _rule(
        INFRA,
        "runner",
        r"has exceeded the maximum execution time of",
        weight=8,
        key=9,
        hint="maximum execution time",
    ),
    _rule(
        INFRA,
        "runner",
        r"[Nn]o space left on device|\bENOSPC\b|not enough space on the disk",
        weight=6,
        key=9,
        hint=("space", "ENOSPC"),
    ),
    # A run interrupted from outside (the runner cancelling sends SIGINT, then SIGTERM): what
    # the tools print when the signal reaches them mid-test.
    _rule(
        INFRA,
        "runner",
        r"^!+ KeyboardInterrupt !+$|^\S+:\d+: KeyboardInterrupt$|^KeyboardInterrupt$"
        r"|\bsignal: (?:interrupt|terminated|killed)\b|\(signal: (?:2|9|15), SIG(?:INT|KILL|TERM)"
        r"|^Received (?:SIGINT|SIGTERM)\b|^Terminated$",
        weight=6,
        key=8,
        hint=("KeyboardInterrupt", "signal: ", "Received SIG", "Terminated"),
    ),
    # --- memory -------------------------------------------------------------
    _rule(
        INFRA,
        "oom",
        r"\bline \d+:\s+\d+ Killed\b|^Killed$|^Killed\s+\S|\bKilled process \d+|\S: Killed$",
        weight=5,
        key=9,
        hint="Killed",
    ),
    _rule(INFRA, "node", r"JavaScript heap out of memory", weight=6, key=9.5, hint="heap out of"),
    _rule(
        INFRA,
        "oom",
        r"Cannot allocate memory|fatal error: runtime: out of memory"
        r"|java\.lang\.OutOfMemoryError|CUDA out of memory|\bOOMKilled\b",
        weight=5,
        key=9,
        hint=("memory", "OutOfMemory", "OOMKilled"),
    ),
    # A MemoryError inside a test may be the test's own bug: weak evidence only.
    _rule(INFRA, "oom", r"^\s*(?:E\s+)?MemoryError\b", weight=1.5, key=8, hint="MemoryError"),
    _rule(INFRA, "oom", r"std::bad_alloc", weight=2, key=7, hint="bad_alloc"),
    # --- network and registries -------------------------------------------
    _rule(
        INFRA,
        "apt",
        r"Failed to fetch \S+.*(?:Temporary failure resolving|Could not connect"
        r"|Connection failed|Unable to connect|50[234] |Hash Sum mismatch|Connection timed out"
        r"|404\s+Not Found)",
        weight=6,
        key=9,
        hint="Failed to fetch",
    ),
    _rule(
        INFRA,
        "network",
        r"Temporary failure resolving '",
        weight=5,
        key=8,
        hint="Temporary failure",
    ),
    _rule(
        INFRA,
        "go",
        r"dial tcp(?: [\w.:\[\]]+)?: (?:lookup \S+?(?: on \S+)?: )?(?:"
        + _NET
        + r"|connect: connection timed out|server misbehaving)",
        weight=6,
        key=9,
        hint="dial tcp",
    ),
    _rule(
        INFRA,
        "go",
        r"proxy\.golang\.org.*(?:timeout|EOF|reset|50[234]|429)",
        weight=4,
        key=8,
        hint="proxy.golang.org",
    ),
    _rule(
        INFRA,
        "pip",
        r"Max retries exceeded with url|ReadTimeoutError|ConnectTimeoutError"
        r"|NewConnectionError|ProtocolError\('Connection aborted|RemoteDisconnected",
        weight=4,
        key=8,
        hint=(
            "Max retries",
            "TimeoutError",
            "NewConnectionError",
            "Connection aborted",
            "RemoteDisconnected",
        ),
    ),
    _rule(INFRA, "pip", r"^WARNING: Retrying \(Retry\(total=", weight=2, key=3, hint="Retrying"),
    _rule(INFRA, "git", r"^fatal: unable to access '[^']+': ", weight=5, key=9, hint="fatal:"),
    # Git refused by the host: a token without access, a repository moved or private. Not the
    # project's code, and not for a code fix.
    _rule(
        INFRA,
        "git",
        r"^\s*remote: Repository not found\.|fatal: repository '[^']+' not found"
        r"|fatal: could not read (?:Username|Password) for|fatal: Authentication failed for"
        r"|remote: Permission to \S+ denied to|Host key verification failed"
        r"|The process '[^']*git(?:\.exe)?' failed with exit code 128",
        weight=5,
        key=8.5,
        hint=(
            "not found",
            "could not read",
            "Authentication failed",
            "Permission to",
            "Host key",
            "exit code 128",
        ),
    ),
    _rule(INFRA, "curl", r"^curl: \((?:6|7|28|35|52|56)\) ", weight=4, key=8, hint="curl:"),
    _rule(
        INFRA,
        "cargo",
        r"spurious network error|failed to download from|error: failed to"
        r" download",
        weight=3,
        key=8,
        hint=("spurious network", "download"),
    ),
    _rule(
        INFRA,
        "docker",
        r"failed to solve: .*(?:" + _NET + r"|toomanyrequests|429 Too Many"
        r"|50[234] |unexpected EOF|failed to fetch oauth token|failed to do request)",
        weight=6,
        key=9,
        hint="failed to solve",
    ),
    _rule(
        INFRA,
        "docker",
        r"Error response from daemon: .*(?:" + _NET + r"|toomanyrequests"
        r"|50[234] |Client\.Timeout)",
        weight=5,
        key=9,
        hint="Error response from daemon",
    ),
    _rule(
        INFRA,
        "network",
        _NET,
        weight=5,
        key=8,
        hint=(
            "Temporary failure",
            "resolve host",
            "service not known",
            "getaddrinfo",
            "timeout",
            "reset by peer",
            "timed out",
            "unreachable",
            "no such host",
        ),
    ),
    _rule(
        INFRA,
        "network",
        r"\b(?:ECONNRESET|ETIMEDOUT|EAI_AGAIN|ESOCKETTIMEDOUT|EPIPE)\b"
        r"|socket hang up|ERR_SOCKET_TIMEOUT",
        weight=4,
        key=8,
        hint=("ECONNRESET", "ETIMEDOUT", "EAI_AGAIN", "ESOCKETTIMEDOUT", "EPIPE", "socket hang up"),
    ),
    _rule(INFRA, "network", r"\bECONNREFUSED\b", weight=1.5, key=7, hint="ECONNREFUSED"),
    _rule(
        INFRA,
        "network",
        r"\b(?:502 Bad Gateway|503 Service Unavailable|504 Gateway Time-?out"
        r"|429 Too Many Requests|Too Many Requests \(429\)|too many 50\d error responses"
        r"|toomanyrequests|rate limit exceeded|API rate limit)",
        weight=4,
        key=8,
        hint=(
            "Bad Gateway",
            "Service Unavailable",
            "Gateway Time",
            "Too Many Requests",
            "too many 50",
            "toomanyrequests",
            "rate limit",
        ),
    ),
    # A bare status number may be a test's own assertion ("expected 200, got 500"): weaker.
    _rule(
        INFRA,
        None,
        r"returned error: (?:5\d\d|429)|\bHTTP (?:error )?(?:5\d\d|429)\b"
        r"|status code:? (?:5\d\d|429)\b",
        weight=2.5,
        key=7,
        hint=("returned error", "HTTP ", "status code"),
    ),
    # The GitHub API refusing the workflow's token, and coverage uploads failing: services
    # around the build, not the project's code.
    _rule(
        INFRA,
        "github-api",
        r"Resource not accessible by integration|HttpError: Bad credentials|^Error: Bad credentials"
        r"|You have exceeded a secondary rate limit",
        weight=5,
        key=8.5,
        hint=("not accessible by integration", "Bad credentials", "secondary rate limit"),
    ),
    _rule(
        INFRA,
        "codecov",
        r"Codecov: Failed to properly upload|(?:Error|error) uploading to (?:https://)?codecov"
        r"|Rate limit reached\. Please upload with the Codecov repository upload token",
        weight=5,
        key=8.5,
        hint=("Codecov", "codecov"),
    ),
    # --- package managers: resolution and installation ---------------------
    _rule(
        INFRA,
        "npm",
        r"^npm (?:ERR!|error) code (?:ECONNRESET|ETIMEDOUT|EAI_AGAIN|ECONNREFUSED"
        r"|ENOTFOUND|E5\d\d|E429|EPIPE|ESOCKETTIMEDOUT|ERR_SOCKET_TIMEOUT)\b",
        weight=5,
        key=8,
        hint="code E",
    ),
    _rule(
        INFRA, "npm", r"^npm (?:ERR!|error) (?:network|(?:5\d\d|429) )", weight=3, key=7, hint="npm"
    ),
    _rule(
        BUILD,
        "npm",
        r"^npm (?:ERR!|error) code (?:ERESOLVE|E404|ETARGET|EUSAGE|ELOCKVERIFY"
        r"|EBADENGINE|ENOVERSIONS|EINVALIDTAGNAME|EJSONPARSE|EDUPLICATEWORKSPACE)\b",
        weight=4,
        key=8,
        hint="code E",
    ),
    _rule(
        BUILD,
        "npm",
        r"^npm (?:ERR!|error) (?:ERESOLVE could not resolve|Could not resolve"
        r" dependency|Conflicting peer dependency|While resolving|404 Not Found|notarget )",
        weight=1,
        key=5,
        hint="npm",
    ),
    _rule(
        BUILD,
        "npm",
        r"(?:`npm ci`|cipm|npm ci) (?:command )?can only install (?:packages when your"
        r" package\.json and package-lock\.json|with an existing package-lock\.json)"
        r"|package-lock\.json\S* (?:is|are) (?:not in sync|out of (?:sync|date))"
        r"|cb\(\) never called",
        weight=4,
        key=8.5,
        hint=("can only install", "package-lock.json", "never called"),
    ),
    # Dependency resolution and lockfiles, package manager by package manager: the project's
    # manifest and lock disagree, or name something that does not exist.
    _rule(
        BUILD,
        "yarn",
        r"Your lockfile needs to be updated, but yarn was run with `--frozen-lockfile`"
        r"|The lockfile would have been (?:modified|created) by this install, which is explicitly"
        r" forbidden",
        weight=4,
        key=8.5,
        hint=("lockfile",),
    ),
    _rule(
        BUILD,
        "pnpm",
        r"ERR_PNPM_(?!META_FETCH_FAIL|FETCH_|ECONN|ETIMEDOUT|EAI_AGAIN)[A-Z_]+",
        weight=3,
        key=8,
        hint="ERR_PNPM_",
    ),
    _rule(
        BUILD,
        "bundler",
        r"Bundler could not find compatible versions for gem|^Could not find gem '"
        r"|Your bundle is locked to \S+|The gemspecs for path gems changed"
        r"|You are trying to install in deployment mode after changing",
        weight=4,
        key=8.5,
        hint=(
            "compatible versions",
            "Could not find gem",
            "bundle is locked",
            "gemspecs",
            "deployment mode",
        ),
    ),
    _rule(
        BUILD,
        "composer",
        r"Your requirements could not be resolved to an installable set of packages"
        r"|Your lock file does not contain a compatible set of packages"
        r"|The lock file is not up to date with the latest changes in composer\.json",
        weight=4,
        key=8.5,
        hint=("requirements could not be resolved", "lock file"),
    ),
    _rule(
        BUILD,
        "gradle",
        r"Could not resolve all (?:files|dependencies|artifacts|task dependencies) for"
        r" configuration"
        r"|^\s*> Could not (?:find|resolve) [\w.-]+:[\w.-]+(?::[\w.+-]+)?\.?$",
        weight=3,
        key=8,
        hint=("Could not resolve", "Could not find"),
    ),
    _rule(
        BUILD,
        "maven",
        r"Could not resolve dependencies for project|Failed to collect dependencies at"
        r"|was not found in \S+ during a previous attempt",
        weight=3,
        key=8,
        hint=("Could not resolve dependencies", "collect dependencies", "previous attempt"),
    ),
    _rule(
        BUILD,
        "cargo",
        r"^error: no matching package named `|needs to be updated but --locked was passed"
        r"|^error: the lock file \S+ needs to be updated",
        weight=4,
        key=8.5,
        hint=("no matching package", "--locked", "lock file"),
    ),
    # A command or module the step needs is not there: the install or setup it depends on did
    # not happen (a missing dev dependency, PATH, toolchain).
    _rule(
        BUILD,
        None,
        r"^(?:\S+: )?(?:line \d+: |\d+: )?[\w.@/+-]+: (?:command )?not found$"
        r"|Unable to locate executable file: |^error: linker `\w+` not found"
        r"|^Error: Cannot find module '[^']+'$",
        weight=2.5,
        key=8,
        hint=("not found", "Unable to locate executable", "Cannot find module"),
    ),
    # The legacy Docker builder's way of saying a RUN step failed.
    _rule(
        BUILD,
        "docker",
        r"^The command '[^']+' returned a non-zero code: \d+|Docker build failed with exit code",
        weight=3,
        key=5,
        hint=("returned a non-zero code", "Docker build failed"),
    ),
    _rule(
        None,
        "npm",
        r"^npm (?:ERR!|error) (?:code ELIFECYCLE|Lifecycle script|command failed)",
        key=2,
        hint="npm",
    ),
    _rule(
        BUILD,
        "yarn",
        r"\bYN00(?:01|28|60|82)\b|^error Couldn't find (?:any versions|package)",
        weight=3,
        key=8,
        hint=("YN00", "error Couldn't find"),
    ),
    _rule(
        INFRA,
        "yarn",
        r"^error An unexpected error occurred: .*(?:ETIMEDOUT|ECONNRESET"
        r"|ENOTFOUND|socket hang up|50[234]|429)",
        weight=4,
        key=8,
        hint="unexpected error",
    ),
    _rule(
        BUILD,
        "pnpm",
        r"ERR_PNPM_(?:OUTDATED_LOCKFILE|PEER_DEP_ISSUES|NO_MATCHING_VERSION"
        r"|LOCKFILE_CONFIG_MISMATCH|NO_MATCHING_VERSION_INSIDE_WORKSPACE|FROZEN_LOCKFILE)",
        weight=4,
        key=8,
        hint="ERR_PNPM_",
    ),
    _rule(
        INFRA,
        "pnpm",
        r"ERR_PNPM_(?:META_FETCH_FAIL|FETCH_5\d\d|FETCH_429|ECONNRESET"
        r"|ETIMEDOUT)",
        weight=4,
        key=8,
        hint="ERR_PNPM_",
    ),
    _rule(
        BUILD,
        "pip",
        r"^ERROR: (?:Could not find a version that satisfies the requirement"
        r"|No matching distribution found for|Could not open requirements file|Invalid"
        r" requirement|Cannot install |ResolutionImpossible|Failed building wheel for"
        r"|Could not build wheels for|.* does not appear to be a Python project)",
        weight=3,
        key=7,
        hint="ERROR:",
    ),
    _rule(
        BUILD,
        "pip",
        r"ResolutionImpossible|because these package versions have conflicting"
        r" dependencies",
        weight=3,
        key=6,
        hint=("ResolutionImpossible", "conflicting dependencies"),
    ),
    _rule(
        BUILD,
        "pip",
        r"^\s*error: (?:subprocess-exited-with-error|metadata-generation-failed"
        r"|legacy-install-failure)",
        weight=2,
        key=4,
        hint="error:",
    ),
    _rule(
        BUILD,
        "pip",
        r"did not run successfully\.$|^\s*note: This error originates from a"
        r" subprocess|Failed to build installable wheels",
        weight=1,
        key=0,
        hint=("did not run successfully", "note: This error", "Failed to build installable"),
    ),
    _rule(
        BUILD,
        "build",
        r"^ERROR Backend subprocess exited|^\* (?:Creating (?:isolated )?"
        r"(?:virtualenv|environment)|Getting build dependencies for|Building (?:sdist|wheel))",
        weight=1.5,
        key=0,
        hint=("ERROR Backend", "* "),
    ),
    _rule(BUILD, "build", r"^ERROR Backend subprocess exited", weight=2, key=6, hint="Backend"),
    _rule(
        BUILD,
        "poetry",
        r"version solving failed|SolverProblemError|pyproject\.toml changed"
        r" significantly since poetry\.lock|poetry\.lock is not consistent with pyproject",
        weight=4,
        key=8,
        hint=("version solving", "SolverProblemError", "poetry.lock"),
    ),
    _rule(
        BUILD,
        "poetry",
        r"^\s*(?:- )?Building (?:sdist|wheel)$|^Building [\w.-]+ \(\d[^()\s]*\)$",
        weight=1,
        key=0,
        hint="Building",
    ),
    _rule(
        BUILD,
        "poetry",
        r"^The Poetry configuration is invalid",
        weight=3,
        key=7,
        hint="Poetry configuration",
    ),
    _rule(
        BUILD,
        "uv",
        r"No solution found when resolving dependencies|error: Failed to (?:build|"
        r"prepare distributions)",
        weight=4,
        key=8,
        hint=("No solution found", "error: Failed to"),
    ),
    _rule(
        BUILD,
        "apt",
        r"^E: (?:Unable to locate package|Package '\S+' has no installation"
        r" candidate|Version '\S+' for '\S+' was not found)",
        weight=2,
        key=6,
        hint="E: ",
    ),
    _rule(
        BUILD,
        "cargo",
        r"failed to select a version for|^error: failed to run custom build"
        r" command for",
        weight=3,
        key=8,
        hint="failed to",
    ),
    # --- Python lint, format, types, tests ---------------------------------
    _rule(
        LINT,
        None,
        r"^\s*" + _PY + r":(?P<line>\d+):\d+: [A-Z]{1,4}\d{2,4} ",
        weight=3,
        key=8,
        hint=".py",
    ),
    _rule(
        LINT,
        "ruff",
        r"^\s*(?:" + _PY + r":(?P<line>\d+):\d+: )?[A-Z]{1,4}\d{2,4} \[\*\] ",
        weight=2,
        key=8,
        hint="[*]",
    ),
    _rule(LINT, "ruff", r"^[A-Z]{1,4}\d{3,4}(?: \[\*\])? \S", weight=1, key=7),
    _rule(
        LINT,
        "ruff",
        r"^\[\*\] \d+ fixable with the `--fix` option|^Found \d+ errors?\.$"
        r"|^No fixes available \(\d+ hidden",
        weight=2,
        key=2,
        hint=("fixable with", "Found ", "No fixes available"),
    ),
    _rule(LINT, "ruff", r"^Would reformat: " + _PATH, weight=3, key=8, hint="Would reformat"),
    _rule(
        LINT,
        "ruff",
        r"^\d+ files? would be reformatted, \d+ files? already formatted",
        weight=2,
        key=3,
        hint="already formatted",
    ),
    _rule(LINT, "ruff", r"^(?:Ruff|ruff) \([A-Z]+\d+\)$", weight=3, key=0, hint="uff ("),
    _rule(
        LINT,
        "pylint",
        r"^\s*" + _PY + r":(?P<line>\d+):\d+: [CRWEFI]\d{4}: .*\([a-z-]+\)$",
        weight=3,
        key=8,
        hint=".py",
    ),
    _rule(
        LINT,
        "pylint",
        r"^Your code has been rated at |^\*{13} Module \S+$",
        weight=2,
        key=0,
        hint=("rated at", "*************"),
    ),
    _rule(LINT, "black", r"^would reformat " + _PATH, weight=3, key=8, hint="would reformat"),
    # pre-commit's report: one dotted line per hook, then what the failing hook said or did.
    _rule(
        LINT,
        "pre-commit",
        r"^\S.*?\.{4,}(?:\(no files to check\))?Failed$",
        weight=2,
        key=6,
        hint="Failed",
    ),
    _rule(
        LINT,
        "pre-commit",
        r"^- files were modified by this hook$|^- hook id: \S+$",
        weight=1,
        hint=("files were modified", "hook id"),
    ),
    _rule(
        LINT,
        "black",
        r"^reformatted " + _PATH + r"$|^\d+ files? reformatted(?:, \d+ files? left unchanged)?\.$",
        weight=3,
        key=7,
        hint="reformatted",
    ),
    # Fixer hooks (trailing whitespace, end of file, isort) name each file they rewrote.
    _rule(LINT, "pre-commit", r"^Fixing " + _PATH + r"$", weight=2, key=7, hint="Fixing "),
    _rule(
        LINT,
        "black",
        r"^Oh no! |\d+ files? would be reformatted(?:, \d+ files? would be left"
        r" unchanged)?\.$",
        weight=2,
        key=3,
        hint=("Oh no!", "would be reformatted"),
    ),
    _rule(
        LINT,
        "isort",
        r"^ERROR: " + _PATH + r" Imports are incorrectly sorted",
        weight=3,
        key=8,
        hint="Imports are incorrectly sorted",
    ),
    _rule(
        TYPECHECK,
        "mypy",
        r"^\s*" + _PY + r":(?P<line>\d+):(?:\d+:)? error: ",
        weight=3,
        key=8.5,
        hint=": error: ",
    ),
    _rule(
        TYPECHECK,
        "mypy",
        r"^Found \d+ errors? in \d+ files? \(checked \d+ source files?\)",
        weight=3,
        key=2,
        hint="checked",
    ),
    _rule(
        TYPECHECK,
        "pyright",
        r"^\s*" + _PY + r":(?P<line>\d+):\d+ - error: ",
        weight=3,
        key=8.5,
        hint=" - error: ",
    ),
    _rule(
        TYPECHECK,
        "pyright",
        r"^\d+ errors?, \d+ warnings?, \d+ informations?",
        weight=3,
        key=2,
        hint="information",
    ),
    _rule(
        TEST,
        "pytest",
        r"^FAILED (?P<file>[^\s:]+\.py)::(?!mypy(?:-status)?\b)\S+",
        weight=3,
        key=8,
        hint="FAILED ",
    ),
    # Type checkers run through pytest plugins (pytest-mypy): type errors, not failed tests.
    _rule(
        TYPECHECK,
        "mypy",
        r"^FAILED (?P<file>[^\s:]+\.pyi?)::mypy(?:-status)?\b|^_+ \[mypy\] \S+ _+$"
        r"|^mypy exited with status [1-9]",
        weight=4,
        key=4,
        hint=("::mypy", "[mypy]", "mypy exited"),
    ),
    _rule(
        TYPECHECK,
        "mypy",
        r"^(?P<line>\d+): error: .*\[[a-z][\w-]*\]$",
        weight=3,
        key=9,
        hint=": error: ",
    ),
    _rule(
        TEST,
        "pytest",
        r"^ERROR (?P<file>[^\s:]+\.py)(?:::\S+)?(?: - .*)?$",
        weight=2.5,
        key=7,
        hint="ERROR ",
    ),
    _rule(
        TEST,
        "pytest",
        r"^E\s+(?:[\w.]+\.)?(?:[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning)"
        r"|Failed)\b|^E\s+assert ",
        weight=2,
        key=9,
        hint="E ",
    ),
    _rule(TEST, "pytest", r"^E\s{2,}\S", weight=1, key=5, hint="E  "),
    _rule(
        TEST,
        "pytest",
        r"^=+ (?:FAILURES|ERRORS|short test summary info) =+$",
        weight=2,
        key=0,
        hint="==",
    ),
    _rule(
        TEST,
        "pytest",
        r"^=+ (?:.*\b)?\d+ (?:failed|errors?)\b.* in [\d.]+s(?: \([\d:]+\))? =+$",
        weight=3,
        key=3,
        hint="==",
    ),
    _rule(
        TEST,
        "pytest",
        r"^Interrupted: \d+ errors? during collection|^_+ ERROR collecting ",
        weight=3,
        key=5,
        hint="collect",
    ),
    _rule(TEST, "pytest", r"^=+ test session starts =+$", weight=1, key=0, hint="session"),
    _rule(TEST, "unittest", r"^(?:FAIL|ERROR): \w+ \([\w.]+\)", weight=3, key=7.5, hint=": "),
    _rule(TEST, "unittest", r"^FAILED \((?:failures|errors)=\d+", weight=3, key=3, hint="FAILED ("),
    _rule(TEST, "unittest", r"^Ran \d+ tests? in [\d.]+s$", weight=1, key=0, hint="Ran "),
    # --- JavaScript / TypeScript lint and types -----------------------------
    _rule(
        LINT,
        "eslint",
        r"^\s+(?P<line>\d+):\d+\s+(?:error|warning)\s{2,}\S",
        weight=2,
        key=8,
        hint="  ",
    ),
    _rule(
        LINT,
        "eslint",
        r"^" + _PATH + r": line (?P<line>\d+), col \d+, (?:Error|Warning) - ",
        weight=3,
        key=8,
        hint=": line ",
    ),
    _rule(
        LINT,
        "eslint",
        r"^✖ \d+ problems? \(\d+ errors?, \d+ warnings?\)|potentially fixable"
        r" with the `--fix` option|^Oops! Something went wrong! :\(",
        weight=3,
        key=3,
        hint=("problem", "fixable with", "Oops!"),
    ),
    _rule(LINT, "prettier", r"^\[warn\] " + _PATH + r"$", weight=3, key=8, hint="[warn] "),
    _rule(
        LINT,
        "prettier",
        r"^\[error\] " + _PATH + r": SyntaxError",
        weight=3,
        key=8,
        hint="[error] ",
    ),
    _rule(
        LINT,
        "prettier",
        r"Code style issues (?:found|were found) in .*Prettier|Forgot to run"
        r" Prettier\?",
        weight=3,
        key=3,
        hint="Prettier",
    ),
    _rule(LINT, "prettier", r"^Checking formatting\.\.\.$", weight=1, key=0, hint="Checking"),
    _rule(
        LINT,
        "oxlint",
        r"^\s*[⚠×✖!x] (?:eslint|typescript|unicorn|oxc|import|react|jsx[-_]a11y"
        r"|jest|vitest|promise|node|nextjs|jsdoc|react[-_]perf|regexp)(?:-plugin-[\w-]+)?"
        r"\([\w/-]+\): ",
        weight=3,
        key=8,
        hint="(",
    ),
    _rule(
        LINT,
        "oxlint",
        r"^(?:eslint|typescript|unicorn|oxc|import|react|jsx[-_]a11y|jest|vitest"
        r"|promise|node|nextjs|jsdoc|regexp)(?:-plugin-[\w-]+)?\([\w/-]+\)$",
        weight=3,
        key=0,
        hint="(",
    ),
    _rule(
        LINT,
        "oxlint",
        r"^Found \d+ warnings? and \d+ errors?\.$|^Finished in [\d.]+m?s on \d+"
        r" files? with \d+ rules",
        weight=3,
        key=3,
        hint=("Found ", "Finished in"),
    ),
    _rule(
        LINT,
        "biome",
        r"^" + _PATH + r"(?::(?P<line>\d+):\d+)? (?:lint|assist)/[\w/]+\b",
        weight=3,
        key=8,
        hint="/",
    ),
    _rule(
        LINT, "biome", r"^" + _PATH + r" (?:format|organizeImports|ci) ━", weight=3, key=8, hint="━"
    ),
    _rule(
        LINT,
        "biome",
        r"Formatter would have printed the following content|^Checked \d+ files?"
        r" in \S+\. No fixes applied\.",
        weight=2,
        key=0,
        hint=("Formatter would", "No fixes applied"),
    ),
    _rule(
        LINT,
        "stylelint",
        r"^\s+(?P<line>\d+):\d+\s+[✖⚠×]\s{1,2}\S",
        weight=3,
        key=8,
        hint=("✖", "⚠", "×"),
    ),
    _rule(
        LINT,
        "markdownlint",
        r"^" + _PATH + r":(?P<line>\d+)(?::\d+)? MD\d{3}",
        weight=3,
        key=8,
        hint=" MD",
    ),
    _rule(
        TYPECHECK,
        "tsc",
        r"^\s*" + _PATH + r"\((?P<line>\d+),\d+\): error TS\d+:",
        weight=4,
        key=9,
        hint="error TS",
    ),
    _rule(
        TYPECHECK,
        "tsc",
        r"^\s*(?:Error: )?" + _PATH + r":(?P<line>\d+):\d+ - error (?:TS|NG)\d+:",
        weight=4,
        key=9,
        hint="error TS",
    ),
    _rule(TYPECHECK, "tsc", r"\berror TS\d{4}: ", weight=3, key=8, hint="error TS"),
    # ts-node compiling a test or script on the fly: its type errors are type errors.
    _rule(
        TYPECHECK,
        "ts-node",
        r"TSError: ⨯ Unable to compile TypeScript",
        weight=4,
        key=5,
        hint="Unable to compile TypeScript",
    ),
    _rule(
        TYPECHECK,
        "tsc",
        r"^Found \d+ errors? in (?:\d+ files|the same file|\S+:\d+)",
        weight=2,
        key=2,
        hint="Found",
    ),
    # ``next build`` type-checks: its "Type error:" must outweigh its "Failed to compile.".
    _rule(TYPECHECK, "next", r"^Type error: ", weight=4, key=8, hint="Type error"),
    _rule(TYPECHECK, "next", r"^Failed to type check\.", weight=2, key=3, hint="type check"),
    _rule(
        TYPECHECK,
        "svelte-check",
        r"svelte-check found \d+ errors?",
        weight=4,
        key=3,
        hint=("svelte-check",),
    ),
    # --- JavaScript tests ---------------------------------------------------
    _rule(
        TEST, "jest", r"^\s*● (?!Console\b|Test suite failed to run)\S", weight=3, key=9, hint="●"
    ),
    # The suite never ran (a syntax, import or type error): what follows says which.
    _rule(None, "jest", r"^\s*● Test suite failed to run", key=3, hint="●"),
    _rule(
        TEST,
        "jest",
        r"^\s*FAIL\s+" + _JS + r"(?:\s+\([\d.]+ m?s\))?$",
        weight=2,
        key=7,
        hint="FAIL",
    ),
    _rule(
        TEST,
        "jest",
        r"^Tests:\s+\d+ failed",
        weight=3,
        key=2,
        hint="Test",
    ),
    # A failed suite is not yet a failed test (see "Test suite failed to run").
    _rule(
        TEST,
        "jest",
        r"^Test Suites:\s+\d+ failed",
        weight=1,
        key=2,
        hint="Test",
    ),
    _rule(
        TEST,
        "jest",
        r"expect\(received\)|^\s*Expected:|^\s*Received:",
        weight=1,
        key=0,
        hint=("expect(received)", "Expected:", "Received:"),
    ),
    _rule(
        TEST,
        "vitest",
        r"^\s*FAIL\s+(?:\|[\w-]+\|\s+)?" + _JS + r" > ",
        weight=3,
        key=8.5,
        hint="FAIL",
    ),
    _rule(
        TEST,
        "vitest",
        r"^\s*Test Files\s+\d+ failed|^\s*Tests\s+\d+ failed \||⎯ Failed Tests?"
        r" \d+ ⎯",
        weight=3,
        key=2,
        hint=("Test Files", "Tests ", "Failed Test"),
    ),
    _rule(TEST, "mocha", r"^\s*\d+ failing$", weight=3, key=3, hint="failing"),
    # jest and vitest list each failed test under its file with a cross.
    _rule(TEST, None, r"^\s+[✕×] \S.*\(\d+(?:\.\d+)? ?m?s\)$", weight=2, key=8, hint=("✕", "×")),
    _rule(TEST, "mocha", r"^\s+\d+\) \S.*:$", weight=0.5, key=6, hint=") "),
    _rule(
        TEST,
        "node",
        r"^not ok \d+ - |^# fail [1-9]|^✖ failing tests:",
        weight=3,
        key=8,
        hint=("not ok", "# fail", "failing tests"),
    ),
    _rule(
        TEST,
        "playwright",
        r"^\s*\d+\) \[[\w -]+\] › " + _JS + r":(?P<line>\d+):\d+ › ",
        weight=3,
        key=8,
        hint="›",
    ),
    # --- bundlers and SSR ---------------------------------------------------
    _rule(BUILD, "webpack", r"^ERROR in " + _PATH + r"?", weight=4, key=8, hint="ERROR in"),
    _rule(
        BUILD,
        "webpack",
        r"Module not found: (?:Error: )?Can't resolve|^Module build failed"
        r"|webpack \S+ compiled with \d+ errors?",
        weight=3,
        key=8,
        hint=("Module not found", "Module build failed", "compiled with"),
    ),
    _rule(
        BUILD,
        "vite",
        r"\[vite\]: Rollup failed to resolve import",
        weight=4,
        key=9,
        hint="Rollup failed",
    ),
    # "[vite:esbuild] Transform failed": the plugin's wrapper; its cause follows.
    _rule(BUILD, "vite", r"\[vite:[\w-]+\] ", weight=3, key=7, hint="[vite:"),
    _rule(BUILD, "vite", r"^error during build:", weight=3, key=5, hint="during build"),
    _rule(
        BUILD,
        "esbuild",
        r"^\s*(?:[✘X] \[ERROR\] |" + _PATH + r":(?P<line>\d+):\d+: ERROR: )",
        weight=4,
        key=9,
        hint=("[ERROR]", ": ERROR: "),
    ),
    _rule(
        BUILD,
        "esbuild",
        r"Transform failed with \d+ errors?|^\s*Build failed with \d+ errors?",
        weight=2,
        key=6,
        hint="failed with",
    ),
    _rule(
        BUILD,
        "rollup",
        r"^\[!\] (?:\w+Error: )?(?:" + _PATH + r" \((?P<line>\d+):\d+\))?",
        weight=4,
        key=9,
        hint="[!]",
    ),
    _rule(
        BUILD,
        "next",
        r"^Failed to compile\.|^> Build (?:error occurred|failed because)",
        weight=2,
        key=3,
        hint=("Failed to compile", "> Build"),
    ),
    _rule(BUILD, "parcel", r"🚨 Build failed\.", weight=3, key=4, hint="Build failed"),
    _rule(
        SSR,
        None,
        r"\bReferenceError: (?:window|document|localStorage|sessionStorage|navigator"
        r"|self|location|HTMLElement|requestAnimationFrame|matchMedia|IntersectionObserver"
        r"|ResizeObserver) is not defined\b",
        weight=4,
        key=9.5,
        hint="is not defined",
    ),
    _rule(
        SSR,
        None,
        r"\b(?:window|document|localStorage|sessionStorage|navigator) is not"
        r" defined\b",
        weight=2,
        key=8,
        hint="is not defined",
    ),
    _rule(
        SSR,
        "next",
        r"Error occurred prerendering page|Export encountered errors on following"
        r" paths",
        weight=4,
        key=6,
        hint=("prerendering", "Export encountered"),
    ),
    _rule(
        SSR,
        None,
        r"is not available during server[- ]side rendering|only works in (?:a )?Client Component",
        weight=4,
        key=9,
        hint=("server", "Server", "Client Component"),
    ),
    # Next.js evaluates pages on the server while collecting their data.
    _rule(
        SSR,
        "next",
        r"Failed to collect (?:page data|configuration) for",
        weight=1,
        key=5,
        hint="Failed to collect",
    ),
    _rule(
        SSR,
        "vue",
        r"@vue/server-renderer|^\[Vue warn\]",
        weight=1,
        hint=("@vue/server-renderer", "[Vue warn]"),
    ),
    _rule(
        SSR,
        "react",
        r"react-dom/server|renderToString|renderToPipeableStream|Hydration failed because",
        weight=1,
        hint=("react-dom/server", "renderTo", "Hydration failed"),
    ),
    _rule(SSR, "nuxt", r"\[nuxt\] \[request error\]", weight=1, hint="[nuxt]"),
    _rule(SSR, None, r"\bprerender(?:ing)? ", weight=1, hint="prerender"),
    # --- Go -------------------------------------------------------------------
    _rule(
        BUILD,
        "go",
        r"^\s*" + _GO + r":(?P<line>\d+):(?:\d+:)? (?:\S+ undefined \(type |undefined: "
        r"|cannot use |declared and not used|\S+ declared and not used"
        r"|\"[^\"]+\" imported and not used"
        r"|missing return|too (?:many|few) arguments|syntax error|invalid operation|undeclared"
        r" name|has no field or method|cannot find package|mismatched types)",
        weight=4,
        key=9,
        hint=".go:",
    ),
    _rule(None, "go", r"^\s*(?:vet: )?" + _GO + r":(?P<line>\d+):(?:\d+:)? \S", key=7, hint=".go:"),
    # Module bookkeeping: go.mod/go.sum out of step with the imports.
    _rule(
        BUILD,
        "go",
        r"missing go\.sum entry|go: updates to go\.mod needed|no required module provides package"
        r"|go: inconsistent vendoring|verifying \S+: checksum mismatch|go\.mod file indicates go"
        r" [\d.]+, but maximum supported version",
        weight=4,
        key=8.5,
        hint=("go.sum", "go.mod", "required module", "vendoring", "checksum mismatch"),
    ),
    _rule(LINT, "go vet", r"^# \[[\w./@-]+\]$", weight=3, key=0, hint="# ["),
    _rule(LINT, "go vet", r"^vet: ", weight=3, key=0, hint="vet: "),
    _rule(
        LINT,
        "golangci-lint",
        r"^\s*" + _GO + r":(?P<line>\d+):(?:\d+:)? .+ \((?:errcheck"
        r"|govet|staticcheck|unused|gosimple|ineffassign|revive|gofmt|gofumpt|goimports"
        r"|gocritic|gosec|stylecheck|misspell|lll|dupl|goconst|gocyclo|unparam|nakedret"
        r"|prealloc|exhaustive|wrapcheck|errorlint|bodyclose|noctx|whitespace|godot"
        r"|nolintlint|unconvert|copyloopvar|perfsprint|usestdlibvars|testifylint|errcheck"
        r"|forcetypeassert|nilerr|err113|mnd|funlen|cyclop|gocognit|nestif|wsl|depguard"
        r"|predeclared|contextcheck|errname|dogsled|dupword|intrange|sloglint|typecheck)\)$",
        weight=4,
        key=8.5,
        hint=".go:",
    ),
    _rule(
        LINT,
        "golangci-lint",
        r"^\d+ issues?:$|^level=error msg=\"\[linters_context\]"
        r"|^issues found$",
        weight=2,
        key=3,
        hint=("issue", "linters_context"),
    ),
    _rule(TEST, "go test", r"^\s*--- FAIL: \S+", weight=3, key=8, hint="--- FAIL"),
    _rule(
        TEST,
        "go test",
        r"^\s+(?P<file>\w+_test\.go):(?P<line>\d+): ",
        weight=2,
        key=8.5,
        hint="_test.go:",
    ),
    _rule(TEST, "go test", r"^FAIL\t\S+\t[\d.]+s$", weight=3, key=3, hint="FAIL\t"),
    _rule(BUILD, "go", r"^FAIL\t\S+ \[(?:build|setup) failed\]$", weight=4, key=4, hint="failed]"),
    _rule(TEST, "go test", r"^\s*panic: ", weight=2, key=9, hint="panic: "),
    # --- Rust -----------------------------------------------------------------
    _rule(BUILD, "cargo", r"^error\[E\d{4}\]: ", weight=4, key=9, hint="error[E"),
    _rule(
        BUILD, "cargo", r"^error: could not compile `", weight=2, key=3, hint="could not compile"
    ),
    _rule(
        LINT,
        "clippy",
        r"\bclippy::[a-z_]+|rust-clippy/(?:master|stable)/index\.html",
        weight=4,
        key=0,
        hint="clippy",
    ),
    _rule(
        LINT,
        "rustfmt",
        r"^Diff in " + _PATH + r"(?: at line |:)(?P<line>\d+):?$",
        weight=4,
        key=8,
        hint="Diff in ",
    ),
    _rule(
        TEST,
        "cargo test",
        r"^thread '[^']*'(?: \(\d+\))? panicked at (?:'.*', )?"
        r"(?:(?P<file>[^\s:']+):(?P<line>\d+))?",
        weight=2,
        key=9,
        hint="panicked at",
    ),
    _rule(
        TEST,
        "cargo test",
        r"^test result: FAILED\.|^error: test failed, to rerun pass"
        r"|^---- \S+ stdout ----$",
        weight=3,
        key=2,
        hint=("test result: FAILED", "test failed", "----"),
    ),
    _rule(TEST, "cargo test", r"^test \S+ \.\.\. FAILED$", weight=2, key=7, hint="FAILED"),
    # --- C, C++, Java, make ---------------------------------------------------
    _rule(
        BUILD,
        "gcc",
        r"^\s*(?P<file>(?:[A-Za-z]:)?[^:\n]*?\.(?:c|cc|cpp|cxx|c\+\+|h|hh|hpp|hxx|m|mm|cu"
        r"|ino|zig)):(?P<line>\d+):(?:\d+:)? (?:fatal )?error: ",
        weight=4,
        key=9,
        hint="error: ",
    ),
    _rule(
        BUILD,
        "ld",
        r"undefined reference to [`'‘]|Undefined symbols for architecture"
        r"|^(?:/usr/bin/)?ld(?:\.\w+)?: (?:error: |cannot find -l)",
        weight=4,
        key=9,
        hint=("undefined reference", "Undefined symbols", "ld"),
    ),
    _rule(
        BUILD,
        "ld",
        r"collect2: error: ld returned \d+ exit status|linker command failed with"
        r" exit code",
        weight=3,
        key=4,
        hint=("collect2", "linker command"),
    ),
    _rule(
        BUILD,
        "make",
        r"^g?make(?:\[\d+\])?: \*\*\* No rule to make target",
        weight=4,
        key=8,
        hint="***",
    ),
    _rule(BUILD, "make", r"^g?make(?:\[\d+\])?: \*\*\* .*Error \d+", weight=2, key=3, hint="***"),
    _rule(
        BUILD,
        "cmake",
        r"^CMake Error(?: at (?P<file>[^\s:]+):(?P<line>\d+))?",
        weight=4,
        key=8,
        hint="CMake Error",
    ),
    _rule(
        BUILD,
        "ninja",
        r"^FAILED: \S|^ninja: build stopped: subcommand failed",
        weight=2,
        key=4,
        hint=("FAILED: ", "ninja:"),
    ),
    # --- Docker ---------------------------------------------------------------
    _rule(
        BUILD,
        "docker",
        r"^(?:ERROR|error): failed to solve: |(?:ERROR|error): failed to solve: process \"[^\n]*\""
        r" did not complete successfully: exit code: \d+",
        weight=4,
        key=8,
        hint="failed to solve",
    ),
    _rule(
        BUILD,
        "docker",
        r"failed to compute cache key: .*not found",
        weight=3,
        key=8,
        hint="cache key",
    ),
    _rule(
        BUILD,
        "docker",
        r"^ERROR \[[\w\s/-]*\d+/\d+\] (?:RUN|COPY|ADD|FROM|WORKDIR)\b"
        r"|^#\d+ ERROR: ",
        weight=3,
        key=6,
        hint="ERROR",
    ),
    # --- compilers of the JVM, Swift and .NET ------------------------------------
    _compile_rule("javac", "java"),
    _compile_rule("kotlinc", "kt|kts"),
    _compile_rule("scalac", "scala"),
    _compile_rule("swift", "swift"),
    _rule(
        BUILD,
        "kotlin",
        r"^e: (?:file://)?(?P<file>(?:/?[A-Za-z]:)?[^:\n]*?\.kts?):(?P<line>\d+):\d+ ",
        weight=4,
        key=9,
        hint="e: ",
    ),
    _rule(
        BUILD,
        "kotlin",
        r"^e: (?P<file>(?:[A-Za-z]:)?[^:\n]*?\.kts?): \((?P<line>\d+), \d+\): ",
        weight=4,
        key=9,
        hint="e: ",
    ),
    _rule(
        BUILD,
        "dotnet",
        r"(?:^|\s)(?P<file>(?:[A-Za-z]:)?[^(:\n]*\.(?:cs|fs|vb))\((?P<line>\d+),\d+\):"
        r" error (?:CS|FS|BC)\d{4}: |\berror (?:CS|FS|BC)\d{4}: ",
        weight=4,
        key=9,
        hint=("error CS", "error FS", "error BC"),
    ),
    _rule(
        BUILD,
        "msvc",
        r"(?:^|\s|\))(?:fatal\s+)?error (?:C|LNK)\d{4}\s*: ",
        weight=4,
        key=9,
        hint=("error C", "error LNK"),
    ),
    _rule(
        BUILD,
        "msbuild",
        r"\berror (?:MSB|NU|NETSDK|BC)\d{4}: ",
        weight=4,
        key=8.5,
        hint=("error MSB", "error NU", "error NETSDK"),
    ),
    _rule(BUILD, "msbuild", r"^\s*Build FAILED\.$", weight=2, key=2, hint="Build FAILED"),
    # --- Gradle, Maven, JUnit, TestNG ----------------------------------------------
    _rule(
        BUILD,
        "gradle",
        r"Execution failed for task '[\w:.-]*:(?:compile|kapt|ksp|link|process|merge|dex|bundle"
        r"|assemble|minify|package|generate|verify\w*Resources)\w*'|^> Task :[\w:.-]*:?"
        r"(?:compile|kapt|ksp|link|process|merge|dex|bundle)\w* FAILED$",
        weight=2,
        key=4,
        hint=("Execution failed for task", "FAILED"),
    ),
    _rule(
        TEST,
        "gradle",
        r"Execution failed for task '[\w:.-]*:(?:\w*[tT]est\w*|check)'"
        r"|^> Task :[\w:.-]*:?(?:\w*[tT]est\w*|check) FAILED$|^:\w*[tT]est FAILED$",
        weight=3,
        key=4,
        hint=("Execution failed for task", "FAILED"),
    ),
    _rule(
        TEST,
        "gradle",
        r"There were failing tests\. See the report at",
        weight=4,
        key=5,
        hint="There were failing tests",
    ),
    _rule(
        TEST,
        "gradle",
        r"^\d+ tests? completed, \d+ failed",
        weight=4,
        key=6,
        hint="tests completed",
    ),
    _rule(TEST, "gradle", r"^Tests with failures:$", weight=2, hint="Tests with failures"),
    _rule(
        TEST,
        None,
        r"^\s*- (?:[a-z_]\w*\.)+[A-Z][\w$]*\.\S+",
        weight=0.5,
        key=8,
        hint="- ",
    ),
    _rule(None, "gradle", r"^FAILURE: Build failed with an exception\.", key=2, hint="FAILURE:"),
    _rule(
        BUILD,
        "maven",
        r"^\[ERROR\] (?P<file>(?:[A-Za-z]:)?\S+\.(?:java|kt|scala|groovy)):\[(?P<line>\d+),\d+\] ",
        weight=4,
        key=9,
        hint="[ERROR]",
    ),
    _rule(
        BUILD,
        "maven",
        r"\[ERROR\] COMPILATION ERROR|maven-compiler-plugin:\S+:(?:test)?[cC]ompile .*"
        r"Compilation failure",
        weight=4,
        key=4,
        hint=("COMPILATION ERROR", "Compilation failure"),
    ),
    _rule(
        TEST,
        "maven",
        r"maven-(?:surefire|failsafe)-plugin:\S+ .*There (?:are|were) test failures",
        weight=5,
        key=7,
        hint="test failures",
    ),
    _rule(
        TEST,
        "maven",
        r"^\[ERROR\] Tests run: \d+, Failures: \d+, Errors: \d+"
        r"|^\[ERROR\] (?:Failures|Errors):\s*$",
        weight=3,
        key=3,
        hint="[ERROR]",
    ),
    _rule(
        TEST,
        "maven",
        r"^\[ERROR\]\s{2,}[\w$.]+\.[\w$]+:\d+ \S",
        weight=2,
        key=8.5,
        hint="[ERROR]",
    ),
    _rule(
        TEST,
        "junit",
        r"org\.opentest4j\.AssertionFailedError|org\.junit\.(?:ComparisonFailure|AssertionFailedError)"
        r"|^java\.lang\.AssertionError\b|^\s*junit\.framework\.\w+Error",
        weight=2,
        key=9,
        hint=("AssertionFailedError", "ComparisonFailure", "AssertionError", "junit.framework"),
    ),
    _rule(
        TEST,
        None,
        r"^There (?:was|were) \d+ (?:failures?|errors?):$|^FAILURES!{1,3}$",
        weight=2,
        key=2,
        hint=("There w", "FAILURES!"),
    ),
    _rule(
        TEST,
        "junit",
        r"^Tests run: \d+,\s+Failures: [1-9]|^\d+\) \w+\([\w.$]+\)$",
        weight=2,
        key=7,
        hint=("Tests run", ") "),
    ),
    _rule(
        TEST,
        "testng",
        r"^Total tests run: \d+, (?:Passes: \d+, )?Failures: [1-9]|^FAILED: [\w.$]+",
        weight=3,
        key=7,
        hint=("Total tests run", "FAILED: "),
    ),
    # Lint tasks run by Gradle (Android lint, detekt, ktlint, Spotless, Checkstyle, PMD...).
    _rule(
        LINT,
        "gradle",
        r"Execution failed for task '[\w:.-]*:(?:lint|detekt|ktlint|spotless|checkstyle|pmd"
        r"|spotbugs)\w*'|^(?:> Task )?:[\w:.-]*:?(?:lint|detekt|ktlint|spotless|checkstyle)\w*"
        r" FAILED$",
        weight=3,
        key=4,
        hint=("Execution failed for task", "FAILED"),
    ),
    _rule(
        LINT,
        "android lint",
        r"Lint found (?:\d+ )?errors? in the project; aborting build|^Lint found \d+ errors?",
        weight=4,
        key=8.5,
        hint="Lint found",
    ),
    # --- Android -----------------------------------------------------------------
    _rule(
        BUILD,
        "android",
        r"(?P<file>\S+\.xml):(?P<line>\d+)(?::[\d:-]+)?: (?:AAPT: )?error: ",
        weight=4,
        key=9,
        hint="error: ",
    ),
    _rule(
        BUILD,
        "android",
        r"Android resource linking failed|AAPT: error:|failed linking (?:file resources|references)"
        r"|Manifest merger failed|^ERROR: \S*AndroidManifest\.xml",
        weight=3,
        key=5,
        hint=("resource linking", "AAPT", "failed linking", "Manifest merger", "AndroidManifest"),
    ),
    # --- .NET tests ----------------------------------------------------------------
    _rule(
        TEST,
        "dotnet test",
        r"^\s*Failed \S.* \[(?:< ?)?\d+(?:\.\d+)? ?m?s\]$|\[xUnit\.net [\d:.]+\]\s+\S.* \[FAIL\]$",
        weight=3,
        key=7,
        hint=("Failed ", "[FAIL]"),
    ),
    _rule(
        TEST,
        "dotnet test",
        r"\bAssert\.\w+\(\) Failure\b",
        weight=2,
        key=9,
        hint="() Failure",
    ),
    _rule(TEST, "dotnet test", r"^\s*Error Message:$", weight=2, hint="Error Message"),
    _rule(
        TEST,
        "dotnet test",
        r"^Failed!\s+- Failed:\s+[1-9]|^Test Run Failed\.$|^\s+Failed: [1-9]\d*\.?$",
        weight=3,
        key=2,
        hint=("Failed", "Test Run Failed"),
    ),
    # --- Swift and Xcode -------------------------------------------------------------
    _rule(
        BUILD,
        "xcodebuild",
        r"^\s*\*\* (?:BUILD|ARCHIVE|CLEAN|ANALYZE) FAILED \*\*$"
        r"|The following build commands failed:",
        weight=4,
        key=3,
        hint=("FAILED **", "build commands failed"),
    ),
    _rule(
        BUILD,
        "xcodebuild",
        r"^\s*(?:Ld|CodeSign|CompileSwift\w*|SwiftCompile|SwiftEmitModule|CompileC|Libtool"
        r"|PhaseScriptExecution|CompileAssetCatalog\w*|CompileStoryboard|LinkStoryboards"
        r"|ProcessInfoPlistFile|GenerateDSYMFile|CopySwiftLibs|ValidateEmbeddedBinary"
        r"|EmitSwiftModule|MergeSwiftModule|ProcessProductPackaging) \S",
        weight=1,
        key=8,
        # xcodebuild lists the failed commands indented by a tab; fastlane and xcpretty relay
        # them without it.
        hint=(
            "\t",
            "Ld ",
            "CodeSign ",
            "Compile",
            "Swift",
            "Libtool ",
            "PhaseScriptExecution ",
            "LinkStoryboards ",
            "Process",
            "GenerateDSYMFile ",
            "CopySwiftLibs ",
            "ValidateEmbeddedBinary ",
        ),
    ),
    _rule(
        TEST,
        "xcodebuild",
        r"^\s*\*\* TEST FAILED \*\*$|^Testing failed:$",
        weight=2,
        key=3,
        hint=("TEST FAILED", "Testing failed"),
    ),
    _rule(
        TEST,
        "xctest",
        r"Test Case '-?\[?[^']+\]?' failed|error: -\[\S+ \S+\] : XCT\w+|^\s*✘ Test \S",
        weight=3,
        key=9,
        hint=("Test Case", "XCT", "✘ Test"),
    ),
    _rule(
        BUILD,
        "swift",
        r"^error: (?:root manifest not found|manifest parse error|Dependencies could not be"
        r" resolved|the package at '[^']*' cannot be accessed|could not find (?:a )?package)",
        weight=4,
        key=8,
        hint="error: ",
    ),
    # SwiftLint prints its violations in the compiler's shape; the "Violation:" and the rule
    # name in parentheses say it is a linter.
    _rule(
        LINT,
        "swiftlint",
        r"^\s*(?P<file>(?:[A-Za-z]:)?[^:\n]*?\.swift):(?P<line>\d+)(?::\d+)?: (?:error|warning):"
        r" .*Violation: .*\([a-z_]+\)$",
        weight=5,
        key=9,
        hint="Violation:",
    ),
    _rule(
        LINT,
        "swiftlint",
        r"^Done linting! Found \d+ violations?, [1-9]\d* serious in \d+ files?",
        weight=4,
        key=3,
        hint="Done linting",
    ),
    # --- Ruby ----------------------------------------------------------------------
    _rule(TEST, "rspec", r"^\s*Failure/Error: ", weight=3, key=9, hint="Failure/Error"),
    _rule(
        TEST,
        "rspec",
        r"^rspec (?P<file>\./\S+?\.rb):(?P<line>\d+) # ",
        weight=3,
        key=6,
        hint="rspec ",
    ),
    _rule(
        TEST,
        "rspec",
        r"^\d+ examples?, [1-9]\d* failures?|^Failed examples:$",
        weight=3,
        key=2,
        hint=("example", "Failed examples"),
    ),
    _rule(
        TEST,
        "minitest",
        r"^\s*\d+\) (?:Failure|Error):$"
        r"|^\d+ runs, \d+ assertions, (?:[1-9]\d* failures|\d+ failures, [1-9]\d* errors)",
        weight=3,
        key=5,
        hint=(") Failure", ") Error", " runs, "),
    ),
    _rule(
        LINT,
        "rubocop",
        r"^(?P<file>\S+?\.(?:rb|rake|gemspec|ru)|Gemfile|Rakefile):(?P<line>\d+):\d+: [CWEFR]: "
        r"(?:\[Correctable\] )?[A-Z]\w+/\w+: ",
        weight=3,
        key=8.5,
        hint=(": C: ", ": W: ", ": E: ", ": F: ", ": R: "),
    ),
    _rule(
        LINT,
        "rubocop",
        r"^\d+ files? inspected, [1-9]\d* offenses? detected",
        weight=3,
        key=2,
        hint="inspected",
    ),
    # --- PHP -----------------------------------------------------------------------
    _rule(TEST, "phpunit", r"^Failed asserting that ", weight=3, key=9, hint="Failed asserting"),
    _rule(
        TEST,
        "phpunit",
        r"^Tests: \d+, Assertions: \d+, (?:Failures|Errors): [1-9]|^\d+\) [\w\\]+::\w+",
        weight=3,
        key=6,
        hint=(", Assertions: ", ") "),
    ),
    _rule(
        TYPECHECK,
        "phpstan",
        r"\[ERROR\] Found \d+ errors?\b",
        weight=4,
        key=8,
        hint="[ERROR] Found",
    ),
    _rule(TYPECHECK, "phpstan", r"^\s*Line\s+\S+\.php\s*$", weight=2, hint="Line "),
    _rule(
        TYPECHECK,
        "psalm",
        r"^ERROR: \w+ - (?P<file>\S+\.php):(?P<line>\d+):\d+ - ",
        weight=4,
        key=9,
        hint="ERROR: ",
    ),
    _rule(
        LINT,
        "phpcs",
        r"^FOUND \d+ ERRORS? (?:AND \d+ WARNINGS? )?AFFECTING \d+ LINES?",
        weight=3,
        key=3,
        hint="FOUND ",
    ),
    _rule(BUILD, "php", r"PHP (?:Parse|Fatal) error: ", weight=3, key=9, hint="PHP "),
    # --- Elixir --------------------------------------------------------------------
    _rule(
        BUILD,
        "mix",
        r"\*\* \((?:CompileError|SyntaxError|TokenMissingError|MismatchedDelimiterError)\) "
        r"(?:(?P<file>\S+\.exs?):(?P<line>\d+))?|^== Compilation error in file ",
        weight=4,
        key=9,
        hint=("Error) ", "Compilation error"),
    ),
    _rule(
        TEST,
        "exunit",
        r"^\s+\d+\) test .+ \([\w.]+\)$",
        weight=3,
        key=7,
        hint=") test ",
    ),
    _rule(
        TEST,
        "exunit",
        r"^\s+(?:Assertion with \S+ failed|Expected truthy, got \S+|Expected false or nil, got"
        r"|match \(=\) failed)",
        weight=3,
        key=9,
        hint=("Assertion with", "Expected ", "match (=)"),
    ),
    _rule(TEST, "exunit", r"^\d+ tests?, [1-9]\d* failures?", weight=3, key=2, hint="failure"),
    _rule(LINT, "credo", r"┃ \[[FRCDW]\] [↗→↘↑↓] ", weight=3, key=8, hint="┃ ["),
    # --- end-to-end tests ------------------------------------------------------------
    _rule(
        TEST,
        "playwright",
        r"Error: Timed out \d+ms waiting for expect\("
        r"|^\s*Error: expect\((?:received|locator|page)\)"
        r"|Test timeout of \d+ms exceeded",
        weight=3,
        key=9,
        hint=("waiting for expect", "expect(", "Test timeout"),
    ),
    _rule(
        TEST,
        "playwright",
        r"^\s*\d+ failed$|^\s*Locator: |^\s*Expected string: ",
        weight=1,
        key=0,
        hint=("failed", "Locator", "Expected string"),
    ),
    _rule(
        TEST,
        "cypress",
        r"AssertionError: Timed out retrying|CypressError: |^\s*✖\s+\d+ of \d+ failed",
        weight=4,
        key=9,
        hint=("Timed out retrying", "CypressError", "failed"),
    ),
    # --- frameworks' own build phases: type check, prerender, links ----------------
    _rule(TYPECHECK, "vitest", r"\bTypeCheckError: ", weight=6, key=9.5, hint="TypeCheckError"),
    _rule(
        TYPECHECK, "vitest", r"^\s*Type Errors\s+\d+ failed", weight=3, key=2, hint="Type Errors"
    ),
    _rule(
        TYPECHECK,
        "astro",
        r"^(?P<file>\S+\.(?:astro|tsx?|vue|svelte)):(?P<line>\d+):\d+ (?:- )?[Ee]rror"
        r"(?: ts\(\d+\))?: ",
        weight=4,
        key=9,
        hint=("rror: ", "rror ts("),
    ),
    _rule(
        TYPECHECK,
        "astro",
        r"^Result \(\d+ files?\):|^- [1-9]\d* errors?$",
        weight=2,
        key=2,
        hint=("Result (", " error"),
    ),
    _rule(
        SSR,
        "nuxt",
        r"Exiting due to prerender errors",
        weight=6,
        key=9,
        hint="prerender errors",
    ),
    _rule(
        SSR,
        "nuxt",
        r"^Errors prerendering:$|[├└]── (?:Error: )?\[\d{3}\]",
        weight=2,
        key=4,
        hint=("Errors prerendering", "──"),
    ),
    _rule(
        SSR,
        "sveltekit",
        r"^Error: \d{3} /\S* \(linked from /\S*\)|\bduring prerendering\b|Cannot prerender pages"
        r"|prerendering is not supported",
        weight=5,
        key=9,
        hint=("linked from", "prerender"),
    ),
    _rule(
        SSR,
        "sveltekit",
        r"implement `handle(?:HttpError|MissingId|EntryGeneratorMismatch|UnseenRoutes)`",
        weight=4,
        key=2,
        hint="implement `handle",
    ),
    _rule(
        SSR,
        "docusaurus",
        r"server-side rendering could not render static page|Can't render static file for pathname",
        weight=5,
        key=9,
        hint=("could not render static page", "render static file"),
    ),
    _rule(
        BUILD,
        "docusaurus",
        r"Docusaurus found broken (?:links|Markdown links|anchors)"
        r"|Unable to build website for locale",
        weight=5,
        key=9,
        hint=("Docusaurus found broken", "Unable to build website"),
    ),
    _rule(
        BUILD,
        "esbuild",
        r"^\s*> (?:[\w-]+:)?" + _PATH + r":(?P<line>\d+):\d+: error: "
        r"|\berror: Could not resolve \"",
        weight=4,
        key=9,
        hint=(": error: ", "Could not resolve"),
    ),
    # --- Go vet, gofmt, golangci-lint ------------------------------------------------
    _rule(
        LINT,
        "go vet",
        r"^\s*(?:vet: )?" + _GO + r":(?P<line>\d+):(?:\d+:)? (?:\S+ format %\S* has arg"
        r"|\S+ call has arguments but no formatting directives|\S+ call has possible Printf"
        r"|\S+ format %\S+ reads arg|unreachable code|possible misuse of|self-assignment of"
        r"|result of \S+ call not used|\S+ passes lock by value|\S+ composite literal uses unkeyed"
        r"|struct field tag|loop variable \S+ captured|the cancel function|\S+ redundant"
        r"|misuse of unbuffered|unusedresult|printf: )",
        weight=4,
        key=8.5,
        hint=".go:",
    ),
    _rule(
        LINT,
        "gofmt",
        r"^diff (?:-u )?(?P<file>\S+\.go)\.orig \S+\.go$",
        weight=4,
        key=8,
        hint=".go.orig",
    ),
    _rule(
        LINT,
        "golangci-lint",
        r"^[A-Z`][^\n]* \((?:errcheck|govet|staticcheck|unused|gosimple|ineffassign|revive|gofmt"
        r"|gofumpt|goimports|gocritic|gosec|stylecheck|misspell|lll|dupl|goconst|gocyclo|unparam"
        r"|nakedret|prealloc|exhaustive|wrapcheck|errorlint|bodyclose|noctx|whitespace|godot"
        r"|nolintlint|unconvert|copyloopvar|perfsprint|usestdlibvars|testifylint|forcetypeassert"
        r"|nilerr|err113|mnd|funlen|cyclop|gocognit|nestif|wsl|depguard|predeclared|contextcheck"
        r"|errname|dogsled|dupword|intrange|sloglint)\)$",
        weight=3,
        key=8,
        hint=")",
    ),
    _rule(LINT, "golangci-lint", r"^\* [a-z][\w-]*: \d+$", weight=1, hint="* "),
    # --- shell, YAML, workflows, Dockerfiles, commit messages ------------------------
    _rule(
        LINT,
        "shellcheck",
        r"^(?:(?:Notice|Warning|Error): )?(?P<file>\S+\.(?:sh|bash|ksh|zsh)):(?P<line>\d+):\d+:"
        r" (?:note|info|style|warning|error): .* \[SC\d{4}\]$",
        weight=4,
        key=8.5,
        hint="[SC",
    ),
    _rule(
        LINT,
        "shellcheck",
        r"^In \S+ line \d+:$|\bSC\d{4}(?::\w+:\d+:\d+)?: |^\s*\^-+ SC\d{4} ",
        weight=3,
        key=4,
        hint=(" line ", "SC"),
    ),
    _rule(
        LINT,
        "actionlint",
        r"^(?P<file>\.github/workflows/\S+\.ya?ml):(?P<line>\d+):\d+: .+ \[[a-z-]+\]$",
        weight=4,
        key=8.5,
        hint=".github/workflows/",
    ),
    _rule(
        LINT, "super-linter", r"Found errors in \[[\w-]+\] linter!", weight=4, key=4, hint="linter!"
    ),
    _rule(
        LINT,
        "yamllint",
        r"^(?:Error|Warning): \[[a-z-]+\] \S|^(?P<file>\S+\.ya?ml):(?P<line>\d+):\d+:"
        r" \[(?:error|warning)\] ",
        weight=3,
        key=8,
        hint=("] ",),
    ),
    _rule(
        LINT,
        "hadolint",
        r"^(?P<file>\S*Dockerfile\S*):(?P<line>\d+) (?:DL|SC)\d{4} (?:error|warning|info|style): ",
        weight=4,
        key=8.5,
        hint="Dockerfile",
    ),
    _rule(
        LINT,
        "commitlint",
        r"^✖\s+found \d+ problems?, \d+ warnings?|^✖\s+.+ \[[a-z-]+\]$",
        weight=3,
        key=7,
        hint="✖",
    ),
    # --- Terraform -------------------------------------------------------------------
    _rule(
        BUILD,
        "terraform",
        r"^[│\s]*on (?P<file>[\w./-]+\.tf) line (?P<line>\d+)",
        weight=3,
        hint=".tf line",
    ),
    _rule(None, "terraform", r"^[│╷]\s*Error: (?!Process completed)[A-Z]", key=8.5, hint="Error: "),
    # `terraform init`: a provider the registry does not have is the configuration's fault; a
    # registry that cannot be reached is not.
    _rule(
        BUILD,
        "terraform",
        r"Failed to query available provider packages|does not have a provider named"
        r"|Failed to install provider|Unsupported Terraform Core version|Module not installed",
        weight=3,
        key=6,
        hint=("provider", "Terraform Core", "Module not installed"),
    ),
    _rule(
        INFRA,
        "terraform",
        r"could not connect to registry\.terraform\.io|Failed to request discovery document"
        r"|error requesting provider|Error: Failed to install provider.*(?:timeout|connection)",
        weight=6,
        key=8,
        hint=("registry.terraform.io", "discovery document", "requesting provider"),
    ),
    _rule(
        LINT,
        "terraform",
        r"^(?P<file>[\w./-]+\.(?:tf|tfvars|hcl))$|^--- old/\S+\.(?:tf|tfvars|hcl)$",
        weight=2,
        key=8,
        hint=(".tf", ".hcl"),
    ),
    # --- generic shapes: key lines, no category ---------------------------------
    # PHP exceptions are named by namespace: ``App\Db\LockTimeout: message``.
    _rule(None, None, r"^\\?(?:[A-Z]\w*\\)+[A-Z]\w*: \S", key=8, hint="\\"),
    _rule(
        None,
        None,
        r"^\s*(?:E\s+|\[cause\]: |Uncaught |Caused by: )?(?:[\w$]+\.)*[A-Z][\w$]*"
        r"(?:Error|Exception)(?: \[[A-Z_]+\])?: (?!Process completed)\S",
        key=8,
        hint="rror",
    ),
    _rule(
        None,
        None,
        r"^\s*(?:E\s+|Caused by: )?(?:[\w$]+\.)*[A-Z][\w$]*Exception(?: \[\w+\])?:"
        r" \S",
        key=8,
        hint="Exception",
    ),
    _rule(
        None,
        None,
        r"^\s*" + _PATH + r":(?P<line>\d+):(?:\d+:)? (?:fatal )?error: ",
        key=7.5,
        hint="error: ",
    ),
    _rule(
        None,
        None,
        r"^\s*(?:error|ERROR|Error|fatal|FATAL)(?:\[\w+\])?: (?!Process completed)",
        key=6.5,
        hint=("rror", "RROR", "atal", "ATAL"),
    ),
)

# A step's command names the tool it runs; a hint, never proof (``npm run build``
# may fail in its SSR pass, ``make`` may run the tests).
COMMAND_HINTS: tuple[Hint, ...] = (
    _hint(LINT, "ruff", r"\bruff\b"),
    _hint(LINT, "flake8", r"\bflake8\b"),
    _hint(LINT, "pylint", r"\bpylint\b"),
    _hint(LINT, "black", r"\bblack\b"),
    _hint(LINT, "isort", r"\bisort\b"),
    _hint(LINT, "eslint", r"\beslint\b"),
    _hint(LINT, "prettier", r"\bprettier\b"),
    _hint(LINT, "oxlint", r"\boxlint\b"),
    _hint(LINT, "biome", r"\bbiome\b"),
    _hint(LINT, "golangci-lint", r"\bgolangci-lint\b"),
    _hint(LINT, "go vet", r"\bgo vet\b"),
    _hint(LINT, "clippy", r"\bclippy\b"),
    _hint(LINT, "rustfmt", r"\brustfmt\b|\bcargo fmt\b"),
    _hint(LINT, None, r"\blint\b|\bpre-commit\b|\bformat(?::check| --check)\b"),
    _hint(LINT, "gofmt", r"\bgofmt\b|\bgoimports\b"),
    _hint(LINT, "rubocop", r"\brubocop\b|\bstandardrb\b"),
    _hint(LINT, "phpcs", r"\bphpcs\b|\bphp-cs-fixer\b"),
    _hint(LINT, "credo", r"\bmix credo\b|\bmix format --check-formatted\b"),
    _hint(LINT, "terraform", r"\bterraform fmt\b|\btflint\b"),
    _hint(LINT, None, r"\b(?:swiftlint|ktlint|detekt|spotless\w*|checkstyle\w*|dotnet format)\b"),
    _hint(TYPECHECK, "mypy", r"\bmypy\b"),
    _hint(TYPECHECK, "phpstan", r"\bphpstan\b"),
    _hint(TYPECHECK, "psalm", r"\bpsalm\b"),
    _hint(TYPECHECK, "astro", r"\bastro check\b"),
    _hint(TYPECHECK, "svelte-check", r"\bsvelte-check\b"),
    _hint(TYPECHECK, None, r"\bmix dialyzer\b|\bsrb tc\b"),
    _hint(TYPECHECK, "pyright", r"\b(?:based)?pyright\b"),
    _hint(TYPECHECK, "tsc", r"\b(?:vue-)?tsc\b"),
    _hint(TYPECHECK, None, r"\btype-?check\b|\bcheck-types\b"),
    _hint(TEST, "pytest", r"\bpytest\b"),
    _hint(TEST, "unittest", r"\bunittest\b"),
    _hint(TEST, "jest", r"\bjest\b"),
    _hint(TEST, "vitest", r"\bvitest\b"),
    _hint(TEST, "mocha", r"\bmocha\b"),
    _hint(TEST, "playwright", r"\bplaywright test\b"),
    _hint(TEST, "go test", r"\bgo test\b"),
    _hint(TEST, "rspec", r"\brspec\b"),
    _hint(TEST, "phpunit", r"\bphpunit\b|\bpest\b"),
    _hint(TEST, "exunit", r"\bmix test\b"),
    _hint(TEST, "dotnet test", r"\bdotnet test\b|\bvstest\b"),
    _hint(TEST, "gradle", r"\bgradlew?(?:\.bat)? .*\b(?:test|check|connected\w*Test)\b"),
    _hint(TEST, "maven", r"\bmvnw? .*\b(?:test|verify)\b"),
    _hint(TEST, "cypress", r"\bcypress run\b"),
    _hint(TEST, "xcodebuild", r"\bxcodebuild\b.*\btest\b|\bswift test\b"),
    _hint(TEST, "cargo test", r"\bcargo (?:test|nextest)\b"),
    _hint(
        TEST,
        None,
        r"\b(?:npm|yarn|pnpm|bun)(?: run)? test\b|\btox\b|\bnox\b|\bctest\b"
        r"|\bmake (?:test|check)\b",
    ),
    _hint(BUILD, "docker", r"\bdocker (?:buildx )?build\b"),
    _hint(BUILD, "terraform", r"\bterraform (?:validate|plan|init)\b"),
    _hint(BUILD, "dotnet", r"\bdotnet (?:build|publish|pack)\b|\bmsbuild\b"),
    _hint(BUILD, "xcodebuild", r"\bxcodebuild\b|\bswift build\b"),
    _hint(BUILD, "gradle", r"\bgradlew?(?:\.bat)? .*\b(?:assemble\w*|build|bundle\w*)\b"),
    _hint(BUILD, "mix", r"\bmix compile\b"),
    _hint(BUILD, "poetry", r"\bpoetry build\b"),
    _hint(BUILD, "build", r"\bpython3? -m build\b|\bpip wheel\b"),
    _hint(BUILD, "cargo", r"\bcargo build\b"),
    _hint(BUILD, "go", r"\bgo build\b"),
    _hint(BUILD, "webpack", r"\bwebpack\b"),
    _hint(BUILD, "vite", r"\bvite build\b"),
    _hint(BUILD, "rollup", r"\brollup\b"),
    _hint(BUILD, "esbuild", r"\besbuild\b"),
    _hint(BUILD, "make", r"^\s*make\b|\bcmake\b"),
    _hint(
        BUILD,
        None,
        r"\b(?:npm|yarn|pnpm|bun) (?:ci|install)\b|\bpip3? install\b"
        r"|\bpoetry install\b|\buv sync\b|\bbuild\b|\bbundle\b|\bcompile\b",
    ),
)

# Job names are weaker still: a job called "check" may lint, type-check or test.
JOB_NAME_HINTS: tuple[Hint, ...] = (
    _hint(LINT, None, r"\b(?:lint|linters?|style|format|fmt)\b"),
    _hint(TYPECHECK, None, r"\b(?:typecheck|type-check|types|mypy|tsc|pyright)\b"),
    _hint(TEST, None, r"\b(?:tests?|unit|integration|e2e|pytest|jest)\b"),
    _hint(BUILD, None, r"\b(?:build|bundle|compile|package|docker)\b"),
)
