"""Turn parsed job logs into a ``Diagnosis``: what kind of failure, which tool, which lines.

The decision is a weighted vote.  Every line of the failing step is checked
against the rule table (``app.diagnosis.rules``); each recognised line adds its rule's
weight to the rule's category.  The rest of the log (its tail, ``##[error]``
lines of other steps) and the check run's annotations vote with less weight,
and the step's command and the job's name only nudge: a job called "check"
proves nothing.  When no category collects enough evidence the answer is
``unknown``, which is a real answer: the fixer should then be told so.

Key lines are ranked separately from the vote: the line a person would point
at (``E   KeyError: 'AT'``) beats the tool's summary (``1 failed``) which beats
the runner's ``Process completed with exit code 1``; lines that voted for a
losing category are demoted.  When no rule knows a line, the error-looking lines
near the end of the failing step are offered instead, so a reader still gets
the lines most likely to matter.

What GitHub says besides the log comes first: a job GitHub reports as
``cancelled`` or ``timed_out``, or a job that failed in "Set up job" before any
step ran, is an ``infra`` failure whatever its log holds (the tests it was
running when it was stopped did not fail).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from app.diagnosis.logparse import SETUP_STEP, ParsedLog, parse_log
from app.diagnosis.model import Category, Diagnosis, KeyLine
from app.diagnosis.rules import COMMAND_HINTS, JOB_NAME_HINTS, RULES, Hint, Rule

# Below this a category is a guess: the command and job name together cannot reach it.
MIN_EVIDENCE = 2.0
# Lines outside the failing step (other steps' errors, the log's tail) are weaker evidence.
SECONDARY_FACTOR = 0.3
ANNOTATION_FACTOR = 0.5
COMMAND_PRIOR = 1.0
JOB_NAME_PRIOR = 0.5
MAX_KEY_LINES = 10
EXCERPT_CHARS = 8000
# A key line that voted for a category that lost is probably a symptom, not the cause.
WRONG_CATEGORY_FACTOR = 0.6
# How far below a message tools print its location (jest prints a code frame in between).
LOCATION_LOOKAHEAD = 20
TRACEBACK_LOOKBACK = 60
# The step's command names the tool when its own lines carry nearly as many votes as the best.
TOOL_TIE_FACTOR = 0.75
# How sure a category decided by the step's command alone is (its output said nothing known).
COMMAND_ONLY_CONFIDENCE = 0.35
STEP_VERDICT_CONFIDENCE = 0.9
# Where the fallback looks for error-looking lines, and how many it offers.
FALLBACK_WINDOW = 400
FALLBACK_LINES = 5
# A rule key line at least this strong means the cause was found (not just a summary line).
RECOGNISED_KEY = 5.0
# Job conclusions that mean GitHub stopped the job, whatever it was doing.
STOPPED_CONCLUSIONS = frozenset({"cancelled", "timed_out"})
# Steps the runner runs itself: failing there means the job never reached the project's code.
RUNNER_STEPS = frozenset({SETUP_STEP, "Initialize containers", "Set up runner", "Stop containers"})

_RUNNER_ROOT = re.compile(
    r"^(?:/home/runner/work|/Users/runner/work|[A-Za-z]:[\\/]a)[\\/][^\\/]+[\\/][^\\/]+[\\/]"
)
_WORKFLOW_COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")
# The web UI shows ``##[error]x`` as ``Error: x``; text copied from it keeps that form.
_UI_ERROR = re.compile(r"^Error:\s+(?=\S)")
_MARKER_RANK = {
    "##[error]": 5.0,
    "##[warning]": 4.0,
    "Error:": 6.5,
    "error": 7.5,
    "warning": 7.0,
    "notice": 4.0,
}
# Outside the failing step only errors may be the cause: other steps' warnings did not fail it.
_OTHER_STEP_MARKER_RANK = {m: _MARKER_RANK[m] for m in ("##[error]", "Error:", "error")}
_LOC = r"(?P<file>[\w./\\@+~\[\]()-]*[\w\])-]\.[A-Za-z]\w{0,9}):(?P<line>\d+)"
_LOCATION_AFTER = (
    re.compile(r"^\s*-->\s*" + _LOC),
    re.compile(r"^\s*[╭┌]─+\[" + _LOC),
    re.compile(r"^\s*❯ " + _LOC),
    re.compile(r"^\s*" + _LOC + r":\d+:?$"),
    re.compile(r"^" + _LOC + r": \w+$"),
    re.compile(r"^\s*at (?:.*? \()?(?:file://)?" + _LOC + r":\d+\)?$"),
    re.compile(r"^\s+" + _LOC + r" \+0x[0-9a-f]+$"),
    re.compile(r"^\s+" + _LOC + r"$"),
    re.compile(r"^[│\s]*on (?P<file>[\w./-]+\.tf) line (?P<line>\d+)"),
    re.compile(r"^\s*at .* in (?P<file>(?:[A-Za-z]:)?[^:\n]+\.(?:cs|fs|vb)):line (?P<line>\d+)$"),
)
_TRACEBACK_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+\.\w+)", line (?P<line>\d+)')
_THIRD_PARTY = re.compile(
    r"node_modules|site-packages|dist-packages|/usr/lib/|/usr/local/lib/|hostedtoolcache"
    r"|^node:|^internal/|/_temp/|^/tmp/|/\.cargo/registry|/rustc/|/go/pkg/mod/"
)
_HEADER_FILE = re.compile(r"^(?:/|\.{1,2}/)?[\w@.+~-]+(?:/[\w@.+~\[\]()-]+)*\.\w{1,10}$")
# Tools that print the file once above a table of its problems (PHPStan): a row is the line
# number and the message.
_TABLE_HEADER_FILE = re.compile(r"^\s*Line\s+(\S+\.\w{1,10})\s*$")
_TABLE_ROW = re.compile(r"^\s{1,4}(?P<line>\d+)\s{3,}(?P<text>\S.*)$")
TABLE_ROW_RANK = 8.5
_NOISE = re.compile(
    r"^(?:[\W_]*|\s+at .*|Node\.js v[\d.]+|npm (?:ERR!|error)(?: (?:A complete log|For a full"
    r" report|\S*/_logs/).*)?|note: .*|##\[.*|Post job cleanup\.|Cleaning up orphan processes"
    r"|.*\[end of output\].*|\s*Done in [\d.]+m?s\.?|\d+ errors?|\s*\d+\s*[│|:].*"
    r"|\s*\d+: 0x[0-9a-f]+ .*|Aborted(?: \(core dumped\))?|> .*|\s*\d+|\s*\d+m?s"
    r"|\s*ELIFECYCLE\s+Command failed.*|error Command failed with exit code \d+\.?"
    r"|\s+(?:shell|env): .*|\s+env:|\* (?:What went wrong|Try|Get more help.*):?"
    r"|(?:> )?Run with --\w+ option.*|Error: Process completed with exit code \d+\.)$"
)
# What makes an unknown line look like an error (the fallback's ranking).
_ERROR_WORDS = re.compile(
    r"\b(?:error|errors|fail(?:ed|ure|s)?|fatal|exception|panic(?:ked)?|abort(?:ed)?|denied"
    r"|refused|cannot|can't|could not|couldn't|unable|not found|no such|missing|invalid"
    r"|undefined|unexpected|unresolved|timed? ?out|killed|segmentation fault|traceback"
    r"|not allowed|forbidden|unauthori[sz]ed|conflict)\b",
    re.IGNORECASE,
)
_UNESCAPE = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


@dataclass(frozen=True)
class JobLog:
    """One failed job's parsed log; ``failed_steps`` and ``conclusion`` as the jobs API gives
    them, when known (``failure``, ``cancelled``, ``timed_out``)."""

    job_name: str
    parsed: ParsedLog
    failed_steps: tuple[str, ...] = ()
    conclusion: str | None = None


@dataclass(frozen=True)
class Annotation:
    """A check-run annotation (problem matchers, ``::error`` commands) for the failed run."""

    path: str
    start_line: int | None
    message: str
    annotation_level: str = "failure"
    title: str | None = None


@dataclass(frozen=True)
class _Match:
    rule: Rule
    file: str | None
    line: int | None


@dataclass
class _Candidate:
    """A line that may be a key line, with where it sits in its job's log."""

    text: str
    matches: tuple[_Match, ...]
    order: tuple[int, int, int]
    job: str | None
    step: str | None
    floor: float = 0.0
    file: str | None = None
    line: int | None = None

    def rank(self, winner: Category) -> float:
        best = self.floor
        for match in self.matches:
            key = match.rule.key
            if match.rule.category is not None and match.rule.category != winner:
                key *= WRONG_CATEGORY_FACTOR
            best = max(best, key)
        return best


@dataclass
class _Tally:
    """Votes per category and per tool, summed over jobs, sources and annotations."""

    scores: defaultdict[Category, float] = field(default_factory=lambda: defaultdict(float))
    # Weighted votes per tool, per category (floats: a Counter would be typed as ints).
    tools: defaultdict[Category, defaultdict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )

    def add_rules(self, counts: Counter[Rule], factor: float) -> defaultdict[Category, float]:
        """Add the votes of recognised lines; a rule seen again counts less, up to twice."""
        added: defaultdict[Category, float] = defaultdict(float)
        for rule, count in counts.items():
            if rule.category is None or rule.weight <= 0:
                continue
            vote = factor * rule.weight * (1 + 0.5 * min(count - 1, 2))
            self.scores[rule.category] += vote
            added[rule.category] += vote
            if rule.tool:
                self.tools[rule.category][rule.tool] += vote
        return added


def repo_path(path: str) -> str | None:
    """A path as the repository knows it: runner checkout prefix and ``./`` removed."""
    path = path.strip().strip("'\"")
    if path.startswith("file://"):
        path = path[len("file://") :]
    root = _RUNNER_ROOT.match(path)
    if root:
        path = path[root.end() :]
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    if not path or path in {".github", "."} or "/_temp/" in path:
        return None
    return path


def classify(logs: Sequence[JobLog], annotations: Sequence[Annotation] = ()) -> Diagnosis:
    """Diagnose a failed run from its failed jobs' logs and its annotations."""
    return _diagnose(logs, annotations, [log.job_name for log in logs if log.job_name])


def classify_text(text: str | bytes, job_names: Sequence[str] = ()) -> Diagnosis:
    """Diagnose one job log held in memory; ``job_names`` are the failed jobs it belongs to."""
    return classify_parsed(parse_log(text), job_names)


def classify_parsed(
    parsed: ParsedLog, job_names: Sequence[str] = (), conclusion: str | None = None
) -> Diagnosis:
    """Diagnose one parsed log that stands for one or more failed jobs (the CLI's case)."""
    log = JobLog(job_name=job_names[0] if job_names else "", parsed=parsed, conclusion=conclusion)
    return _diagnose([log], (), list(job_names))


def _diagnose(
    logs: Sequence[JobLog], annotations: Sequence[Annotation], job_names: Sequence[str]
) -> Diagnosis:
    tally = _Tally()
    candidates: list[_Candidate] = []
    notes: list[str] = []
    stopped = [log for log in logs if log.conclusion in STOPPED_CONCLUSIONS]
    if stopped and len(stopped) < len(logs):
        # A job that failed on its own says more than one GitHub stopped (its tests were
        # interrupted, not failed): the stopped ones are set aside, and said so.
        for log in stopped:
            notes.append(
                f"{log.job_name or 'a job'} was {str(log.conclusion).replace('_', ' ')} by GitHub; "
                "the diagnosis rests on the jobs that failed on their own."
            )
        logs = [log for log in logs if log not in stopped]
    per_job: list[defaultdict[Category, float]] = []
    command_tools: dict[Category, str] = {}
    for job_index, log in enumerate(logs):
        per_job.append(_read_job(job_index, log, tally, candidates, notes))
        command = log.parsed.failing_command or _command_of(log.parsed.failing_step)
        # The step's name as the jobs API gives it ("Type check", "Run tests") says as much.
        said = [command, *(step for step in log.failed_steps if step != log.parsed.failing_step)]
        for hint in _matching_hints(COMMAND_HINTS, said):
            tally.scores[hint.category] += COMMAND_PRIOR
            per_job[-1][hint.category] += COMMAND_PRIOR
            if hint.tool:
                command_tools.setdefault(hint.category, hint.tool)
    for hint in _matching_hints(JOB_NAME_HINTS, job_names):
        tally.scores[hint.category] += JOB_NAME_PRIOR
    _read_annotations(annotations, len(logs), tally, candidates)

    verdict = _step_verdict(logs)
    if verdict is not None:
        winner, confidence = Category.INFRA, STEP_VERDICT_CONFIDENCE
        notes.append(verdict)
    else:
        winner, confidence = _decide(tally.scores)
        if winner is Category.UNKNOWN and command_tools:
            # Nothing in the output is known, but the step ran one named tool: trust it, lightly.
            winner = max(command_tools, key=lambda c: tally.scores[c])
            confidence = COMMAND_ONLY_CONFIDENCE
    tool = _pick_tool(winner, tally.tools[winner], command_tools.get(winner))
    source = max(range(len(logs)), key=lambda i: per_job[i][winner], default=None)
    return Diagnosis(
        category=winner,
        confidence=confidence,
        tool=tool,
        key_lines=_rank(candidates, winner),
        failed_jobs=tuple(dict.fromkeys(name for name in job_names if name)),
        failed_steps=_failed_steps(logs),
        excerpt=_excerpt(logs[source].parsed) if source is not None else "",
        notes=tuple(notes),
    )


def _read_job(
    job_index: int,
    log: JobLog,
    tally: _Tally,
    candidates: list[_Candidate],
    notes: list[str],
) -> defaultdict[Category, float]:
    """Vote with one job's lines and collect its candidate key lines; returns its own votes."""
    parsed, job = log.parsed, log.job_name or None
    label = log.job_name or "the job"
    if parsed.total_bytes == 0:
        notes.append(f"{label}: the log is empty, so there was nothing to read.")
    elif not parsed.structured:
        notes.append(f"{label}: the log is an excerpt without the runner's step markers.")
    elif parsed.failing_step is None:
        notes.append(f"{label}: no step ended with an error; classified from the end of the log.")
    if parsed.failing_omitted_bytes:
        notes.append(
            f"{label}: the failing step's output was long; "
            f"{parsed.failing_omitted_bytes} bytes in its middle were not kept."
        )
    use_step = parsed.failing_step is not None or (not parsed.structured and parsed.failing_lines)
    primary = list(parsed.failing_lines if use_step else parsed.tail)
    counts: Counter[Rule] = Counter()
    titles: Counter[Rule] = Counter()
    matched = _scan(
        primary, (job_index, 0), job, parsed.failing_step, counts, titles, candidates, _MARKER_RANK
    )
    candidates.extend(_fallback_lines(primary, matched, (job_index, 0), job, parsed.failing_step))
    seen = set(primary)
    secondary = [line for line in parsed.tail if line not in seen]
    secondary += [m.text for m in parsed.errors if m.step != parsed.failing_step]
    secondary_counts: Counter[Rule] = Counter()
    _scan(
        secondary,
        (job_index, 1),
        job,
        None,
        secondary_counts,
        secondary_counts,
        candidates,
        _OTHER_STEP_MARKER_RANK,
    )
    added = tally.add_rules(counts + titles, 1.0)
    for category, vote in tally.add_rules(secondary_counts, SECONDARY_FACTOR).items():
        added[category] += vote
    return added


def _scan(
    lines: Sequence[str],
    order: tuple[int, int],
    job: str | None,
    step: str | None,
    counts: Counter[Rule],
    titles: Counter[Rule],
    candidates: list[_Candidate],
    marker_ranks: Mapping[str, float],
) -> list[tuple[_Match, ...]]:
    """Match every line against the rules; count votes, keep the lines worth pointing at.

    ``titles`` counts the rules the ``title=`` of ``::error`` commands match; ``marker_ranks``
    is how high a line with a runner marker ranks when no rule knows it.  Returns each line's
    matches, so the fallback can pass over lines a rule already judged.
    """
    header_file: str | None = None
    table_file: str | None = None
    split = [_split_marker(raw) for raw in lines]
    matched = _match_all([text for text, _, _ in split])
    ui_errors = [index for index, (_, marker, _) in enumerate(split) if marker == "Error:"]
    if ui_errors:
        # ``Error: x`` may be the runner's marker or the tool's own words: rules see both.
        for index, extra in zip(ui_errors, _match_all([lines[i] for i in ui_errors]), strict=True):
            known = {id(m.rule) for m in matched[index]}
            matched[index] += tuple(m for m in extra if id(m.rule) not in known)
    for index, (raw, (_, marker, params), matches) in enumerate(
        zip(lines, split, matched, strict=True)
    ):
        if params.get("title"):
            titles.update(m.rule for m in _match(params["title"]))
        counts.update(m.rule for m in matches)
        floor = marker_ranks.get(marker, 0.0) if marker else 0.0
        if table_file is not None:
            row = _TABLE_ROW.match(raw)
            if row:
                candidates.append(
                    _Candidate(
                        text=raw.strip(),
                        matches=matches,
                        order=(order[0], order[1], index),
                        job=job,
                        step=step,
                        floor=TABLE_ROW_RANK,
                        file=table_file,
                        line=int(row.group("line")),
                    )
                )
                continue
            if not raw.strip() or raw.lstrip().startswith("["):
                table_file = None
        if any(m.rule.key_line for m in matches) or floor:
            candidate = _Candidate(
                text=raw.strip(),
                matches=matches,
                order=(order[0], order[1], index),
                job=job,
                step=step,
                floor=floor if not _is_exit_line(matches) else 0.0,
            )
            _locate(candidate, lines, index, params, header_file)
            candidates.append(candidate)
        if raw and not raw[0].isspace() and _HEADER_FILE.match(raw):
            header_file = repo_path(raw)
        elif raw.lstrip().startswith("Line "):
            table = _TABLE_HEADER_FILE.match(raw)
            if table:
                table_file = repo_path(table.group(1))
    return matched


def _split_marker(line: str) -> tuple[str, str, dict[str, str]]:
    """The text tools wrote, without the runner's ``##[error]`` or ``::error ...::`` wrapper."""
    if line.startswith("##["):
        for marker in ("##[error]", "##[warning]"):
            if line.startswith(marker):
                return line[len(marker) :], marker, {}
        return line, "", {}
    if line.startswith("Error:"):
        ui = _UI_ERROR.match(line)
        if ui:
            return line[ui.end() :], "Error:", {}
    if line.startswith("::"):
        command = _WORKFLOW_COMMAND.match(line)
        if command:
            params: dict[str, str] = {}
            for pair in (command.group(2) or "").split(","):
                name, _, value = pair.partition("=")
                if value:
                    params[name.strip()] = _unescape(value)
            return _unescape(command.group(3)), command.group(1), params
    return line, "", {}


def _unescape(value: str) -> str:
    for escaped, plain in _UNESCAPE:
        value = value.replace(escaped, plain)
    return value


def _match(text: str) -> tuple[_Match, ...]:
    return _match_all([text])[0]


def _match_all(texts: Sequence[str]) -> list[tuple[_Match, ...]]:
    """Match many lines at once.

    Each rule's hints are looked up in the joined text (a C-speed ``find``), so a
    rule runs its regex only on the few lines holding one of them, instead of
    every line paying a Python-level check for every rule.
    """
    block = "\n".join(texts)
    starts = list(accumulate((len(text) + 1 for text in texts), initial=0))
    found: list[list[_Match]] = [[] for _ in texts]
    # Rules share hints ("rror", "FAILED"): each hint's lines are looked up once.
    looked_up: dict[str, list[int]] = {}
    for rule in RULES:
        indexes: Sequence[int] = range(len(texts))
        if rule.hints:
            indexes = _lines_with(rule.hints, block, starts, looked_up)
        for index in indexes:
            hit = rule.pattern.search(texts[index])
            if hit is None:
                continue
            groups = hit.groupdict()
            line = groups.get("line")
            found[index].append(
                _Match(
                    rule,
                    repo_path(groups["file"]) if groups.get("file") else None,
                    int(line) if line and line.isdigit() and len(line) < 10 else None,
                )
            )
    return [tuple(matches) for matches in found]


def _lines_with(
    hints: Sequence[str], block: str, starts: Sequence[int], looked_up: dict[str, list[int]]
) -> list[int]:
    """Indexes of the lines of ``block`` (starting at ``starts``) containing any hint;
    ``looked_up`` remembers each hint's lines for the other rules that share it."""
    if len(hints) == 1:
        return _lines_with_hint(hints[0], block, starts, looked_up)
    lines: set[int] = set()
    for hint in hints:
        lines.update(_lines_with_hint(hint, block, starts, looked_up))
    return sorted(lines)


def _lines_with_hint(
    hint: str, block: str, starts: Sequence[int], looked_up: dict[str, list[int]]
) -> list[int]:
    known = looked_up.get(hint)
    if known is not None:
        return known
    lines: list[int] = []
    position = block.find(hint)
    while position >= 0:
        index = bisect_right(starts, position) - 1
        lines.append(index)
        position = block.find(hint, starts[index + 1])
    looked_up[hint] = lines
    return lines


def _is_exit_line(matches: Iterable[_Match]) -> bool:
    return any(m.rule.key == 1 and m.rule.category is None for m in matches)


def _locate(
    candidate: _Candidate,
    lines: Sequence[str],
    index: int,
    params: dict[str, str],
    header_file: str | None,
) -> None:
    """Find the file and line a key line is about: on the line, in its header, or nearby."""
    if params.get("file"):
        candidate.file = repo_path(params["file"])
        line = params.get("line", "")
        candidate.line = int(line) if line.isdigit() and len(line) < 10 else None
        return
    located = sorted((m for m in candidate.matches if m.file or m.line), key=lambda m: -m.rule.key)
    for match in located:
        if match.file:
            candidate.file, candidate.line = match.file, match.line
            if match.line is None:
                # "FAIL src/a.test.ts > adds" names the file; the stack below has the line.
                nearby = _location_after(lines, index)
                if nearby and nearby[0] == match.file:
                    candidate.line = nearby[1]
            return
    if located and header_file:
        candidate.file, candidate.line = header_file, located[0].line
        return
    if not candidate.matches or _is_exit_line(candidate.matches):
        return
    nearby = _location_after(lines, index)
    if nearby:
        candidate.file, candidate.line = nearby
        return
    for before in reversed(lines[max(0, index - TRACEBACK_LOOKBACK) : index]):
        hit = _TRACEBACK_FRAME.match(before)
        if hit and not _THIRD_PARTY.search(hit.group("file")):
            candidate.file, candidate.line = repo_path(hit.group("file")), int(hit["line"])
            return


def _location_after(lines: Sequence[str], index: int) -> tuple[str | None, int] | None:
    """The first project location printed below a line (a ``-->`` pointer, a stack frame)."""
    for after in lines[index + 1 : index + 1 + LOCATION_LOOKAHEAD]:
        for pattern in _LOCATION_AFTER:
            hit = pattern.match(after)
            if hit and not _THIRD_PARTY.search(hit.group("file")):
                return repo_path(hit.group("file")), int(hit["line"])
    return None


def _fallback_lines(
    lines: Sequence[str],
    matched: Sequence[tuple[_Match, ...]],
    order: tuple[int, int],
    job: str | None,
    step: str | None,
) -> list[_Candidate]:
    """The lines most likely to matter when no rule knows the tool: error-looking lines near
    the failing step's end, ranked (an error word counts most, closeness to the end breaks
    ties), then the last meaningful lines when nothing looks like an error.  When rules did
    find the cause, only the last few lines are added: more guesses would be noise beside it
    (and every line offered reaches the fixer's prompt).

    A line some rule recognised is skipped: it is a candidate on its own merit already, or
    the rule knows it is no cause (``=== short test summary info ===``, ``Building sdist``).
    Their ranks stay below any rule's key line but above the runner's exit line.
    """
    recognised = any(m.rule.key >= RECOGNISED_KEY for found in matched for m in found)
    start = max(0, len(lines) - FALLBACK_WINDOW)
    errorish: list[tuple[float, int]] = []
    plain: list[int] = []
    for index in range(len(lines) - 1, start - 1, -1):
        text = lines[index]
        if matched[index] or _NOISE.match(text):
            continue
        if not recognised and _ERROR_WORDS.search(text):
            closeness = (index - start + 1) / (len(lines) - start)
            errorish.append((3.0 + closeness, index))
        elif len(plain) < 3:
            plain.append(index)
    ranked = sorted(errorish, reverse=True)[:FALLBACK_LINES]
    ranked += [(2.0 - 0.1 * n, index) for n, index in enumerate(plain)]
    return [
        _Candidate(
            text=lines[index].strip(),
            matches=(),
            order=(order[0], order[1], index),
            job=job,
            step=step,
            floor=floor,
        )
        for floor, index in ranked[: FALLBACK_LINES + 3]
    ]


def _read_annotations(
    annotations: Sequence[Annotation], after: int, tally: _Tally, candidates: list[_Candidate]
) -> None:
    """Annotations vote with less weight than logs; each one may be a key line (it names a file)."""
    counts: Counter[Rule] = Counter()
    for index, note in enumerate(annotations):
        if note.annotation_level not in {"failure", "warning"} or not note.message.strip():
            continue
        text = note.message.strip().splitlines()[0]
        matches = _match(text)
        counts.update(m.rule for m in matches)
        if note.title:
            counts.update(m.rule for m in _match(note.title))
        candidates.append(
            _Candidate(
                text=text,
                matches=matches,
                order=(after, 2, index),
                job=None,
                step=None,
                floor=0.0 if any(m.rule.key_line for m in matches) else 6.0,
                file=repo_path(note.path) if note.path else None,
                line=note.start_line,
            )
        )
    tally.add_rules(counts, ANNOTATION_FACTOR)


def _step_verdict(logs: Sequence[JobLog]) -> str | None:
    """What GitHub says besides the log, decided before the log is read: a stopped job, or a
    job that failed in the runner's own steps.  Returns the note explaining an ``infra``
    verdict, or ``None`` when the log must decide.

    Stopped jobs decide only when no job failed on its own (``_diagnose`` sets them aside
    otherwise).  A matrix with fail-fast cancels the siblings of a failing job; those never
    reach here, since only failed and timed-out jobs are gathered.
    """
    if not logs:
        return None
    conclusions = {log.conclusion for log in logs}
    if conclusions <= STOPPED_CONCLUSIONS and None not in conclusions:
        if "timed_out" in conclusions:
            return "GitHub reports the job as timed out: it was stopped at its time limit."
        return "GitHub reports the job as cancelled: it was stopped, not failed by its own work."
    for log in logs:
        steps = set(log.failed_steps)
        if log.parsed.structured and log.parsed.failing_step:
            steps.add(log.parsed.failing_step)
        runner_steps = steps & RUNNER_STEPS
        if runner_steps and not (steps - RUNNER_STEPS):
            step = sorted(runner_steps)[0]
            return f"The job failed in the runner's {step!r} step, before any step of its own."
    return None


def _command_of(step: str | None) -> str:
    return step[len("Run ") :] if step and step.startswith("Run ") else ""


def _matching_hints(hints: Sequence[Hint], texts: Sequence[str]) -> list[Hint]:
    """Hints found in any of the texts, at most one per category."""
    found: dict[Category, Hint] = {}
    for hint in hints:
        if hint.category not in found and any(hint.pattern.search(t) for t in texts if t):
            found[hint.category] = hint
    return list(found.values())


def _decide(scores: dict[Category, float]) -> tuple[Category, float]:
    """The category with the most evidence, and how sure that is (0..1)."""
    if not scores:
        return Category.UNKNOWN, 0.5
    winner = max(scores, key=lambda c: scores[c])
    best, total = scores[winner], sum(scores.values())
    if best < MIN_EVIDENCE:
        return Category.UNKNOWN, round(0.5 * (1 - best / MIN_EVIDENCE), 2)
    confidence = (best / total) * (1 - math.exp(-best / 4))
    return winner, round(min(confidence, 0.99), 2)


def _pick_tool(
    winner: Category, tools: Mapping[str, float], from_command: str | None
) -> str | None:
    """The tool that printed the evidence; the command's tool breaks near-ties (``make`` runs
    ``gcc``: the compiler's lines outweigh it)."""
    if winner is Category.UNKNOWN:
        return None
    if not tools:
        return from_command
    best, votes = max(tools.items(), key=lambda item: item[1])
    if from_command and tools.get(from_command, 0.0) >= TOOL_TIE_FACTOR * votes:
        return from_command
    return best


def _rank(candidates: Sequence[_Candidate], winner: Category) -> tuple[KeyLine, ...]:
    """Best key lines first; one entry per distinct text."""
    best: dict[str, tuple[float, _Candidate]] = {}
    for candidate in candidates:
        if not candidate.text:
            continue
        rank = candidate.rank(winner)
        if rank <= 0:
            continue
        held = best.get(candidate.text)
        if held is None or rank > held[0]:
            if held is not None and held[1].file and not candidate.file:
                candidate.file, candidate.line = held[1].file, held[1].line
            best[candidate.text] = (rank, candidate)
    ordered = sorted(best.values(), key=lambda item: (-item[0], item[1].order))
    return tuple(
        KeyLine(
            text=c.text,
            file=c.file,
            line=c.line,
            job=c.job,
            step=c.step,
            score=round(float(rank), 2),
        )
        for rank, c in ordered[:MAX_KEY_LINES]
    )


def _failed_steps(logs: Sequence[JobLog]) -> tuple[str, ...]:
    steps: list[str] = []
    for log in logs:
        parsed = log.parsed
        if log.failed_steps:
            steps.extend(log.failed_steps)
        elif parsed.failed_steps:
            steps.extend(parsed.failed_steps)
        elif parsed.failing_step:
            steps.append(parsed.failing_step)
    return tuple(dict.fromkeys(steps))


def _excerpt(parsed: ParsedLog) -> str:
    lines = parsed.failing_lines if parsed.failing_step is not None else parsed.tail
    return "\n".join(lines)[-EXCERPT_CHARS:]
