"""The streaming Actions log reader: steps, the failing step, bounds, and hostile input."""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from app.diagnosis.classify import classify_parsed
from app.diagnosis.logparse import MAX_LINE_CHARS, MAX_MESSAGES, LogReader, clean_line, parse_log
from tests.support import actions_log


def test_the_failing_step_is_found_with_its_command_output_and_exit_code() -> None:
    log = actions_log(
        "npx tsc --noEmit",
        ["src/a.ts(1,2): error TS2322: Type 'string' is not assignable to type 'number'."],
        exit_code=2,
        before=[("actions/checkout@v4", ["Syncing repository: acme/web"])],
    )
    parsed = parse_log(log)
    assert parsed.steps == (
        "Set up job",
        "Run actions/checkout@v4",
        "Run npx tsc --noEmit",
        "Post job cleanup",
    )
    assert parsed.failing_step == "Run npx tsc --noEmit"
    assert parsed.failed_steps == ("Run npx tsc --noEmit",)
    assert parsed.exit_code == 2
    assert parsed.failing_command.splitlines()[0] == "npx tsc --noEmit"
    # The echoed script is not output; the output ends at the exit marker.
    assert parsed.failing_lines == (
        "src/a.ts(1,2): error TS2322: Type 'string' is not assignable to type 'number'.",
        "##[error]Process completed with exit code 2.",
    )
    assert parsed.errors[-1].step == "Run npx tsc --noEmit"
    assert parsed.tail[-1] == "Cleaning up orphan processes"


def test_timestamps_colour_codes_and_osc_sequences_are_removed() -> None:
    raw = "2024-01-02T03:04:05.1234567Z \x1b[31;1mFAIL\x1b[0m \x1b]8;;https://x.test\x07link\x1b]8;;\x07"
    assert clean_line(raw) == "FAIL link"
    assert clean_line("no timestamp here\r") == "no timestamp here"
    assert clean_line("\ufeff2024-01-02T03:04:05Z hello") == "hello"


def test_groups_nested_in_a_step_stay_in_that_step() -> None:
    log = actions_log(
        "./ci.sh",
        ["##[group]Installing", "pip install x", "##[endgroup]", "boom: it broke"],
    )
    parsed = parse_log(log)
    assert parsed.failing_step == "Run ./ci.sh"
    assert "Run Installing" not in parsed.steps
    assert "boom: it broke" in parsed.failing_lines
    assert "##[group]Installing" in parsed.failing_lines


def test_the_last_failing_step_wins_and_every_failed_step_is_listed() -> None:
    first = actions_log("make a", ["first failure"])
    second_step = [
        "2026-11-20T10:55:00.0000000Z ##[group]Run make b",
        "2026-11-20T10:55:00.0000000Z make b",
        "2026-11-20T10:55:00.0000000Z ##[endgroup]",
        "2026-11-20T10:55:00.0000000Z second failure",
        "2026-11-20T10:55:00.0000000Z ##[error]Process completed with exit code 3.",
    ]
    parsed = parse_log(first + "\n".join(second_step) + "\n")
    assert parsed.failed_steps == ("Run make a", "Run make b")
    assert parsed.failing_step == "Run make b"
    assert parsed.exit_code == 3
    assert parsed.failing_lines[0] == "second failure"


def test_a_step_with_only_an_error_line_is_failing_when_no_step_exited() -> None:
    log = actions_log(
        "sleep 600", ["waiting", "##[error]The operation was canceled."], exit_code=None
    )
    parsed = parse_log(log)
    assert parsed.failing_step == "Run sleep 600"
    assert parsed.exit_code is None
    assert parsed.failing_lines[-1] == "##[error]The operation was canceled."


def test_chunk_boundaries_do_not_change_the_result() -> None:
    log = actions_log("pytest", ["E   assert 1 == 2", "FAILED tests/test_a.py::test_b"]).encode()
    whole = parse_log(log)
    reader = LogReader()
    for i in range(len(log)):
        reader.feed(log[i : i + 1])
    assert reader.finish() == whole


def test_crlf_invalid_utf8_and_lines_without_timestamps() -> None:
    log = (
        b"##[group]Run ./x\r\n##[endgroup]\r\nbad \xff\xfe bytes\r\n"
        b"##[error]Process completed with exit code 1.\r\n"
    )
    parsed = parse_log(log)
    assert parsed.failing_step == "Run ./x"
    assert parsed.failing_lines == (
        "bad \ufffd\ufffd bytes",
        "##[error]Process completed with exit code 1.",
    )


def test_a_huge_line_is_truncated_and_memory_stays_bounded() -> None:
    reader = LogReader()
    reader.feed(b"2026-11-20T10:54:00.0000000Z ##[group]Run ./gen\n##[endgroup]\n")
    chunk = b"x" * 65536
    tracemalloc.start()
    try:
        for _ in range(400):  # a 26 MB line
            reader.feed(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    reader.feed(b"\nafter\n##[error]Process completed with exit code 1.\n")
    parsed = reader.finish()
    assert peak < 2 * 1024 * 1024
    assert parsed.failing_lines[0] == "x" * MAX_LINE_CHARS
    assert parsed.failing_lines[1:] == ("after", "##[error]Process completed with exit code 1.")


def test_a_long_step_keeps_its_start_and_end_and_says_what_was_dropped() -> None:
    output = [f"line {i} " + "." * 90 for i in range(20000)]
    parsed = parse_log(actions_log("pytest", [*output, "E   KeyError: 'AT'"]))
    assert parsed.failing_lines[0] == output[0]
    assert parsed.failing_lines[-2:] == (
        "E   KeyError: 'AT'",
        "##[error]Process completed with exit code 1.",
    )
    assert parsed.failing_omitted_bytes > 1_000_000
    assert sum(len(line) for line in parsed.failing_lines) < 400 * 1024


def test_the_tail_size_is_configurable() -> None:
    reader = LogReader(tail_bytes=1024)
    reader.feed(actions_log("x", [f"noise {i}" for i in range(5000)]).encode())
    parsed = reader.finish()
    assert sum(len(line) + 1 for line in parsed.tail) <= 1024
    assert parsed.tail[-1] == "Cleaning up orphan processes"


def test_error_lines_are_kept_but_bounded() -> None:
    parsed = parse_log(actions_log("x", [f"##[error]problem {i}" for i in range(500)]))
    assert len(parsed.errors) == MAX_MESSAGES
    assert parsed.errors[0].text == "##[error]problem 0"


def test_a_marker_in_the_middle_of_a_line_is_just_text() -> None:
    parsed = parse_log(actions_log("echo", ["echo '##[group]Run fake' done"]))
    assert parsed.steps.count("Run fake") == 0
    assert parsed.failing_lines[0] == "echo '##[group]Run fake' done"


_FRAGMENTS = st.sampled_from(
    [
        b"2024-01-02T03:04:05.1234567Z ",
        b"##[group]Run x\n",
        b"##[endgroup]\n",
        b"##[error]Process completed with exit code 1.\n",
        b"##[error]",
        b"Post job cleanup.\n",
        b"\x1b[31m",
        b"\xff\xfe\xc3",
        b"\r\n",
        b"E   KeyError: 'x'\n",
        b"::error file=a.py,line=x::boom\n",
        b"y" * 5000,
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), _FRAGMENTS), max_size=40))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    reader = LogReader(step_head_bytes=512, step_tail_bytes=1024, tail_bytes=512)
    for chunk in chunks:
        reader.feed(chunk)
    parsed = reader.finish()
    assert all(len(line) <= MAX_LINE_CHARS for line in parsed.failing_lines + parsed.tail)
    diagnosis = classify_parsed(parsed, ["fuzz"])
    assert 0.0 <= diagnosis.confidence <= 1.0


def test_gh_log_failed_lines_are_read_as_the_job_log_they_carry() -> None:
    log = actions_log("pytest", ["E   KeyError: 'AT'", "FAILED tests/test_a.py::test_b"])
    gh = "".join(f"test (3.12)\tRun pytest\t{line}\n" for line in log.splitlines())
    parsed = parse_log(gh)
    assert parsed.failing_step == "Run pytest"
    assert parsed.exit_code == 1
    assert parsed.failing_lines[:2] == ("E   KeyError: 'AT'", "FAILED tests/test_a.py::test_b")


def test_other_hosts_prefixes_and_web_ui_artefacts_are_removed() -> None:
    assert clean_line("20:30:17.169 |  > src/a.ts:1:2: error: x") == " > src/a.ts:1:2: error: x"
    assert clean_line("00:53:41.601\t✘ [ERROR] Could not resolve") == "✘ [ERROR] Could not resolve"
    assert clean_line("#0 16.51 [ERROR] Error: boom") == "[ERROR] Error: boom"
    link = "(https://github.com/o/r/actions/runs/1/job/2#step:3:11)"
    ui = f"x.ixx(1,1): fatal  error C[10]{link}10: y"
    assert clean_line(ui) == "x.ixx(1,1): fatal  error C1010: y"
    assert clean_line("\x1b[31m-    a\x1b(B\x1b[m") == "-    a"
    assert clean_line("[2020-06-30T12:55:26.119Z] Test Run Failed.") == "Test Run Failed."
    assert clean_line("[12:55:26] Starting 'build'...") == "Starting 'build'..."
    assert clean_line("[15:48:30]: ▸ ** BUILD FAILED **") == "** BUILD FAILED **"
    assert clean_line("[10](https://github.com/o/r) x") == "10 x"
    # A time-like start that is the tool's own text stays.
    assert clean_line("12:30 meeting") == "12:30 meeting"


def test_an_excerpt_copied_from_the_web_ui_names_its_step_command_and_exit_code() -> None:
    text = "\n".join(
        [
            "Run mypy src",
            "  mypy src",
            "  shell: /usr/bin/bash -e {0}",
            "  env:",
            "    PYTHONPATH: src",
            "src/a.py:3: error: Incompatible return value type",
            "Found 1 error in 1 file (checked 2 source files)",
            "Error: Process completed with exit code 1.",
        ]
    )
    parsed = parse_log(text)
    assert not parsed.structured
    assert parsed.failing_step == "Run mypy src"
    assert parsed.failing_command == "mypy src"
    assert parsed.exit_code == 1
    assert parsed.failed_steps == ("Run mypy src",)
    assert parsed.failing_lines[0] == "src/a.py:3: error: Incompatible return value type"


def test_an_excerpt_keeps_indented_output_that_is_no_echoed_script() -> None:
    parsed = parse_log("Run dotnet test\n  Determining projects to restore...\n  Failed X [2 s]\n")
    assert parsed.failing_step == "Run dotnet test"
    assert parsed.failing_lines == ("  Determining projects to restore...", "  Failed X [2 s]")
    assert parsed.exit_code is None


def test_an_excerpt_without_a_step_header_has_no_failing_step() -> None:
    text = "error: root manifest not found\n##[error]Process completed with exit code 1.\n"
    parsed = parse_log(text)
    assert not parsed.structured
    assert parsed.failing_step is None
    assert parsed.exit_code == 1
    assert "error: root manifest not found" in parsed.failing_lines


def test_a_monorepo_task_prefix_is_removed_but_file_locations_are_kept() -> None:
    assert clean_line("web:typecheck: src/a.ts(1,14): error TS2322: x") == (
        "src/a.ts(1,14): error TS2322: x"
    )
    assert clean_line("@acme/ui:test:unit: FAIL src/b.test.ts") == "FAIL src/b.test.ts"
    for kept in ("src/a.go:12: undefined: x", "Error: Cannot find module", "main.tf:6: y"):
        assert clean_line(kept) == kept
