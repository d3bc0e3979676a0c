"""Streaming parser for GitHub Actions job logs.

A job log can be hundreds of megabytes, and only a small part of it explains a
failure: the output of the step that failed, the ``##[error]`` lines and the
end of the log.  ``LogReader`` therefore works on raw bytes as they arrive and
keeps only bounded pieces: the first and last bytes of the step being read, a
frozen copy of the last step that failed, the log's tail and a capped list of
``##[error]`` lines.  Nothing is decoded or cleaned until ``finish()``, and
then only what was kept, so the cost of a huge log is a few ``bytes.find``
calls per chunk.  The tails hold references to the chunks fed (views, not
copies) and lines are handled by their bounds in the chunk, so most bytes are
never copied at all.

The format: every line starts with an ISO 8601 timestamp
(``2024-01-02T03:04:05.1234567Z ``), a step begins at ``##[group]Run <cmd>``
whose group echoes the script (until the first ``##[endgroup]``), and a failed
step ends at ``##[error]Process completed with exit code N.``.  Lines may carry
ANSI colour codes, CRLF endings, invalid UTF-8 or no timestamp at all.

Logs also arrive in other shapes, and each is read as what it is:
``gh run view --log-failed`` prefixes every line with ``job<TAB>step<TAB>``;
text copied from the web UI has no timestamps, ``Run <cmd>`` without its group
marker, ``Error:`` instead of ``##[error]`` and the UI's line links
(``[12](https://github.com/...#step:3:12)``); other hosts prefix a clock time
(``20:30:17.169 | ``).  A log with no runner structure at all is an excerpt:
``finish()`` then looks for the web UI's step header and exit line in it
instead of calling its first lines "Set up job".
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

DEFAULT_TAIL_BYTES = 64 * 1024
DEFAULT_STEP_HEAD_BYTES = 64 * 1024
DEFAULT_STEP_TAIL_BYTES = 256 * 1024
MAX_LINE_CHARS = 4096
MAX_MESSAGES = 50
MAX_STEPS = 500
MAX_COMMAND_BYTES = 2048
SETUP_STEP = "Set up job"
POST_STEP = "Post job cleanup"

_BOM = "\ufeff"
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
# ``gh run view --log-failed``: ``job<TAB>step<TAB>`` before the timestamp.
_GH_PREFIX = re.compile(r"[^\t]{0,300}\t[^\t]{0,300}\t(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
# Clock prefixes other hosts and log viewers add: ``20:30:17.169 | ``, ``00:53:41.601<TAB>``,
# BuildKit's plain progress ``#12 16.51 ``, linters' own ``2021-08-27 20:45:30 ``.
_CLOCK_PREFIX = re.compile(
    r"\d\d:\d\d:\d\d\.\d+(?: \| ?|\t)|#\d+ \d+\.\d+ |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)? "
)
# Jenkins' and other CI hosts' bracketed stamps: ``[2020-06-30T12:55:26.119Z] ``, ``[12:55:26] ``,
# and fastlane's ``[15:48:30]: ▸ `` before the xcodebuild output it relays.
_BRACKET_CLOCK = re.compile(
    r"\[(?:\d{4}-\d\d-\d\d[T ])?\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]:? ?(?:▸ )?"
)
# Monorepo task runners (Turborepo) prefix each line of a task with ``package:task: ``; the
# task part starts with a letter, so ``src/a.go:12: ...`` is never taken for one.
_TASK_PREFIX = re.compile(r"[A-Za-z@][\w@/.-]{0,80}:[A-Za-z][\w:-]{0,40}: (?=\S)")
# The web UI's line links, left in text copied from it: ``C[10](https://github.com/...)10``.
_UI_LINK = re.compile(r"\[(\d+)\]\(https://github\.com/[^)\s]*\)")
# CSI sequences (colours, cursor moves), OSC sequences (titles, hyperlinks) and
# the remaining two-byte escapes.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()*+][0-9A-Za-z]"
    r"|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]"
)
_MARKER_PREFIX = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:[^\t\n]*\t[^\t\n]*\t(?=\d{4}-))?"
    rb"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?)?(?:\x1b\[[0-9;]*m)*"
)
_EXIT_CODE = re.compile(r"Process completed with exit code (-?\d+)")
# An excerpt copied from the web UI: the step header and the exit line as the UI shows them.
_UI_STEP = re.compile(r"^Run (\S.*)$")
_UI_EXIT = re.compile(r"^(?:Error: |##\[error\])Process completed with exit code (-?\d+)")
_UI_HEADER_LINE = re.compile(r"^  (?:shell: |env:$|  \S)")
UI_HEADER_LOOKAHEAD = 60
_MARKERS = (b"##[", b"Post job cleanup.")


def clean_line(raw: str) -> str:
    """One log line as a person reads it: no timestamp, no colour codes, bounded length."""
    if raw.startswith(_BOM):
        raw = raw[1:]
    raw = raw.rstrip("\r\n")
    if "\t" in raw[:600]:
        gh = _GH_PREFIX.match(raw)
        if gh:
            raw = raw[gh.end() :]
    if raw[:1].isdigit():
        match = _TIMESTAMP.match(raw) or _CLOCK_PREFIX.match(raw)
        if match:
            raw = raw[match.end() :]
    elif raw[:1] == "#":
        match = _CLOCK_PREFIX.match(raw)
        if match:
            raw = raw[match.end() :]
    elif raw[:1] == "[" and raw[1:2].isdigit():
        match = _BRACKET_CLOCK.match(raw)
        if match:
            raw = raw[match.end() :]
    if raw.startswith(_BOM):
        raw = raw[1:]
    if "\x1b" in raw or "\x9b" in raw:
        raw = _ANSI.sub("", raw)
    if "](https://github.com/" in raw:
        raw = _UI_LINK.sub(r"\1", raw)
    if ": " in raw[:130] and (raw[:1].isalpha() or raw[:1] == "@"):
        task = _TASK_PREFIX.match(raw)
        if task:
            raw = raw[task.end() :]
    if "\r" in raw:
        # A progress bar redraws the line: what remains on screen is the last part.
        raw = raw.rsplit("\r", 1)[-1] or raw.replace("\r", "")
    return raw[:MAX_LINE_CHARS]


def clean_lines(
    data: bytes, *, partial_start: bool = False, partial_end: bool = False
) -> list[str]:
    """Decode a kept buffer and clean each line, dropping lines cut by the buffer's edges."""
    lines = data.decode("utf-8", errors="replace").split("\n")
    if (lines and lines[-1] == "") or (partial_end and lines):
        lines.pop()
    if partial_start and lines:
        lines.pop(0)
    cleaned = (clean_line(line) for line in lines)
    return [line for line in cleaned if line != "##[endgroup]"]


@dataclass(frozen=True)
class LogMessage:
    """An ``##[error]`` line and the step it was written in."""

    step: str | None
    text: str


@dataclass(frozen=True)
class ParsedLog:
    """What a job log says about its failure, cleaned and bounded.

    ``failing_lines`` is the output of ``failing_step`` (the last step that ended
    with ``Process completed with exit code``, else the last one with an
    ``##[error]``), without the echoed script; when the step wrote more than the
    reader keeps, the middle is dropped and ``failing_omitted_bytes`` says how
    much.  ``failed_steps`` lists every step that exited non-zero.  ``structured``
    is false for an excerpt (no step groups at all): its step, if any, is the one
    the web UI's ``Run <cmd>`` header names.
    """

    steps: tuple[str, ...] = ()
    failing_step: str | None = None
    failing_command: str = ""
    failing_lines: tuple[str, ...] = ()
    failing_omitted_bytes: int = 0
    failed_steps: tuple[str, ...] = ()
    errors: tuple[LogMessage, ...] = ()
    exit_code: int | None = None
    tail: tuple[str, ...] = ()
    total_bytes: int = 0
    structured: bool = True


class _Ring:
    """The last ``size`` bytes written to it, kept as views of the chunks they came from.

    A chunk much larger than the ring is copied down to what the ring needs, so a caller
    feeding one huge buffer does not have it held here.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.pieces: deque[memoryview] = deque()
        self.kept = 0
        self.total = 0

    def write(self, data: bytes, start: int, end: int) -> None:
        length = end - start
        if length <= 0:
            return
        self.total += length
        if not self.size:
            return
        if length > self.size:
            start, length = end - self.size, self.size
        piece = memoryview(data)[start:end]
        if len(data) > 4 * max(self.size, 64 * 1024):
            piece = memoryview(bytes(piece))
        self.pieces.append(piece)
        self.kept += length
        while self.kept - len(self.pieces[0]) >= self.size:
            self.kept -= len(self.pieces.popleft())

    def buffer(self) -> bytes:
        """Everything still held: at least the last ``size`` bytes written."""
        return b"".join(self.pieces)

    def value(self) -> bytes:
        return self.buffer()[-self.size :] if self.size else b""


class _Section:
    """The bounded output of one step: its first bytes, its last bytes and its size."""

    def __init__(self, name: str, head_size: int, tail_size: int) -> None:
        self.name = name
        self.head_size = head_size
        self.head = bytearray()
        self.tail = _Ring(tail_size)
        self.command = bytearray()
        self.in_header = False
        self.exit_code: int | None = None
        self.has_error = False

    def write(self, data: bytes, start: int, end: int) -> None:
        if self.in_header:
            room = MAX_COMMAND_BYTES - len(self.command)
            if room > 0:
                self.command += data[start : min(end, start + room)]
            return
        room = self.head_size - len(self.head)
        if room > 0:
            self.head += data[start : min(end, start + room)]
        self.tail.write(data, start, end)

    @property
    def failure_strength(self) -> int:
        """2 for a non-zero exit, 1 for an error line only, 0 for a clean step."""
        if self.exit_code is not None:
            return 2
        return 1 if self.has_error else 0

    def lines(self) -> tuple[list[str], int]:
        """The cleaned output and how many bytes of its middle were not kept."""
        head, total = bytes(self.head), self.tail.total
        tail = self.tail.buffer()
        if total <= len(head):
            return clean_lines(head), 0
        rest = total - len(head)
        if rest <= len(tail):
            return clean_lines(head + tail[len(tail) - rest :]), 0
        tail = tail[-self.tail.size :]
        omitted = total - len(head) - len(tail)
        lines = clean_lines(head, partial_end=True) + clean_lines(tail, partial_start=True)
        return lines, omitted


class LogReader:
    """Feed a job log in chunks of any size; memory stays bounded whatever the log size."""

    def __init__(
        self,
        *,
        tail_bytes: int = DEFAULT_TAIL_BYTES,
        step_head_bytes: int = DEFAULT_STEP_HEAD_BYTES,
        step_tail_bytes: int = DEFAULT_STEP_TAIL_BYTES,
        max_line_bytes: int = MAX_LINE_CHARS,
    ) -> None:
        self._head_size = step_head_bytes
        self._tail_size = step_tail_bytes
        self._max_line = max_line_bytes
        self._tail = _Ring(tail_bytes)
        self._carry = b""
        self._skipping_long_line = False
        self._current: _Section | None = _Section(SETUP_STEP, step_head_bytes, step_tail_bytes)
        self._first = self._current
        self._failing: _Section | None = None
        self._steps: list[str] = [SETUP_STEP]
        self._failed_steps: list[str] = []
        self._errors: list[LogMessage] = []
        self._bytes = 0
        self._finished = False
        self._structured = False

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Consume the next piece of the log; lines may be split across calls."""
        if self._finished:
            raise RuntimeError("LogReader.feed() called after finish(); create a new reader.")
        if not chunk:
            return
        if type(chunk) is not bytes:
            chunk = bytes(chunk)
        self._bytes += len(chunk)
        start = 0
        if self._skipping_long_line:
            newline = chunk.find(b"\n")
            if newline < 0:
                return
            self._skipping_long_line = False
            start = newline + 1
        last = chunk.rfind(b"\n", start)
        if last < 0:
            self._carry = self._carry + chunk[start:] if self._carry else chunk[start:]
        else:
            if self._carry:
                # The line the previous chunk began: completed by this one's first line.
                first = chunk.find(b"\n", start) + 1
                line = self._carry + chunk[start:first]
                self._block(line, 0, len(line))
                start = first
            self._block(chunk, start, last + 1)
            self._carry = chunk[last + 1 :]
        if len(self._carry) > self._max_line:
            # A line longer than anyone reads: keep its start, drop the rest of it.
            line = self._carry[: self._max_line] + b"\n"
            self._block(line, 0, len(line))
            self._carry = b""
            self._skipping_long_line = True

    def finish(self) -> ParsedLog:
        """End of the log: return what was learned."""
        if not self._finished:
            if self._carry:
                line = self._carry + b"\n"
                self._block(line, 0, len(line))
                self._carry = b""
            self._end_step()
            self._finished = True
        tail = self._tail.value()
        if not self._structured:
            return self._excerpt(tail)
        failing = self._failing
        lines: list[str] = []
        omitted = 0
        command = ""
        if failing is not None:
            lines, omitted = failing.lines()
            command = "\n".join(clean_lines(bytes(failing.command)))
        return ParsedLog(
            steps=tuple(self._steps),
            failing_step=failing.name if failing else None,
            failing_command=command,
            failing_lines=tuple(lines),
            failing_omitted_bytes=omitted,
            failed_steps=tuple(self._failed_steps),
            errors=tuple(self._errors),
            exit_code=failing.exit_code if failing else None,
            tail=tuple(clean_lines(tail, partial_start=self._tail.total > len(tail))),
            total_bytes=self._bytes,
        )

    def _excerpt(self, tail: bytes) -> ParsedLog:
        """A log without step groups: the web UI's last ``Run`` header names the failing step."""
        section = self._failing or self._first
        lines, omitted = section.lines() if section is not None else ([], 0)
        step, command, start, exit_code = _ui_step(lines)
        if step is not None:
            lines = lines[start:]
        return ParsedLog(
            steps=(step,) if step else (),
            failing_step=step,
            failing_command=command,
            failing_lines=tuple(lines),
            failing_omitted_bytes=omitted,
            failed_steps=(step,) if step and exit_code is not None else (),
            errors=tuple(self._errors),
            exit_code=exit_code,
            tail=tuple(clean_lines(tail, partial_start=self._tail.total > len(tail))),
            total_bytes=self._bytes,
            structured=False,
        )

    def _block(self, data: bytes, start: int, end: int) -> None:
        """Handle the complete lines in ``data[start:end]``: plain output between the few
        marker lines, passed on by their bounds (a slice would copy every byte)."""
        if start >= end:
            return
        self._tail.write(data, start, end)
        markers: list[int] = []
        for needle in _MARKERS:
            found = data.find(needle, start, end)
            while found >= 0:
                markers.append(found)
                found = data.find(needle, found + len(needle), end)
        markers.sort()
        written = start
        for position in markers:
            line_start = data.rfind(b"\n", start, position) + 1 or start
            if line_start < written or not _MARKER_PREFIX.fullmatch(data, line_start, position):
                continue
            line_end = data.find(b"\n", position, end) + 1 or end
            self._output(data, written, line_start)
            self._marker(data[position:line_end])
            written = line_end
        self._output(data, written, end)

    def _output(self, data: bytes, start: int, end: int) -> None:
        if start < end and self._current is not None:
            self._current.write(data, start, end)

    def _marker(self, line: bytes) -> None:
        text = clean_line(line.decode("utf-8", errors="replace"))
        if not self._structured and text.startswith(("##[group]", "Post job cleanup.")):
            self._structured = True
        if text.startswith("##[group]Run "):
            self._end_step()
            self._start_step(text[len("##[group]") :])
            return
        if text.startswith("##[endgroup]"):
            if self._current is not None:
                self._current.in_header = False
            return
        if text.startswith("Post job cleanup."):
            self._end_step()
            self._start_step(POST_STEP, header=False)
            self._output(line, 0, len(line))
            return
        self._output(line, 0, len(line))
        if text.startswith("##[error]"):
            if len(self._errors) < MAX_MESSAGES:
                step = self._current.name if self._current else None
                self._errors.append(LogMessage(step, text))
            if self._current is not None:
                self._current.has_error = True
                exit_code = _EXIT_CODE.match(text, len("##[error]"))
                if exit_code:
                    self._current.exit_code = int(exit_code.group(1))
                    self._end_step()

    def _start_step(self, name: str, *, header: bool = True) -> None:
        section = _Section(name[:200], self._head_size, self._tail_size)
        section.in_header = header
        self._current = section
        if len(self._steps) < MAX_STEPS:
            self._steps.append(section.name)

    def _end_step(self) -> None:
        """Close the current step; keep it if it is now the failure to explain."""
        section, self._current = self._current, None
        if section is None or section.failure_strength == 0:
            return
        if section.exit_code is not None and len(self._failed_steps) < MAX_STEPS:
            self._failed_steps.append(section.name)
        if self._failing is None or section.failure_strength >= self._failing.failure_strength:
            self._failing = section


def _ui_step(lines: list[str]) -> tuple[str | None, str, int, int | None]:
    """In an excerpt: the failing step's ``Run`` header, its command, where its output starts
    and its exit code.

    The failing step is the last ``Run`` header before the last exit line (or the last
    header).  Lines indented under the header are the echoed script only when a ``shell:``
    line closes them; otherwise they are the tool's own indented output.
    """
    exit_at, exit_code = len(lines), None
    for index in range(len(lines) - 1, -1, -1):
        hit = _UI_EXIT.match(lines[index])
        if hit:
            exit_at, exit_code = index, int(hit.group(1))
            break
    for index in range(min(exit_at, len(lines)) - 1, -1, -1):
        header = _UI_STEP.match(lines[index])
        if header is None:
            continue
        command, start = header.group(1), index + 1
        block = lines[start : start + UI_HEADER_LOOKAHEAD]
        shell = next((i for i, line in enumerate(block) if line.startswith("  shell: ")), None)
        if shell is not None:
            echoed = [line.strip() for line in block[:shell]]
            command = "\n".join(echoed) or command
            start += shell + 1
            while start < len(lines) and _UI_HEADER_LINE.match(lines[start]):
                start += 1
        return f"Run {header.group(1)}"[:200], command[:MAX_COMMAND_BYTES], start, exit_code
    return None, "", 0, exit_code


def parse_log(log: str | bytes, *, chunk_size: int = 64 * 1024) -> ParsedLog:
    """Parse a whole log held in memory (tests, the CLI, small logs)."""
    data = log.encode("utf-8", errors="replace") if isinstance(log, str) else log
    reader = LogReader()
    view = memoryview(data)
    for start in range(0, len(data), chunk_size):
        reader.feed(bytes(view[start : start + chunk_size]))
    return reader.finish()
