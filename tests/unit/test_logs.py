"""Structured logging: context fields on every line, JSON lines, and secrets masked."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from app.core.logctx import configure_logging, log_context

SECRET = "ghs_installationtoken1234567890"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers: give them back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    access = logging.getLogger("aiohttp.access")
    access_level = access.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        access.setLevel(access_level)


def json_lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_json_lines_carry_the_context_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json", level="INFO")
    log = logging.getLogger("app.test")
    with log_context(delivery_id="d-1", event="workflow_run", repo="octo/app", loop_id=7):
        log.info("loop %s opened", 7)
    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["message"] == "loop 7 opened"
    assert entry["level"] == "info"
    assert entry["logger"] == "app.test"
    assert (entry["delivery_id"], entry["event"], entry["repo"], entry["loop_id"]) == (
        "d-1", "workflow_run", "octo/app", 7,
    )  # fmt: skip


def test_fields_outside_any_context_are_dashes(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json", level="INFO")
    logging.getLogger("app").info("started")
    (entry,) = json_lines(capsys.readouterr().err)
    assert [entry[k] for k in ("delivery_id", "event", "repo", "loop_id")] == [None] * 4


def test_nested_contexts_merge_and_end_with_their_block(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(fmt="json", level="INFO")
    log = logging.getLogger("app")
    with log_context(delivery_id="d-1", repo="octo/app"):
        with log_context(loop_id=3, repo=None):
            log.info("inner")
        log.info("outer")
    log.info("after")
    inner, outer, after = json_lines(capsys.readouterr().err)
    assert (inner["delivery_id"], inner["repo"], inner["loop_id"]) == ("d-1", "octo/app", 3)
    assert (outer["delivery_id"], outer["loop_id"]) == ("d-1", None)
    assert after["delivery_id"] is None


async def test_tasks_started_inside_a_context_keep_its_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(fmt="json", level="INFO")

    async def background() -> None:
        logging.getLogger("app.worker").info("working")

    with log_context(delivery_id="d-9", repo="octo/app"):
        task = asyncio.create_task(background())
    await task
    (entry,) = json_lines(capsys.readouterr().err)
    assert (entry["delivery_id"], entry["repo"]) == ("d-9", "octo/app")


def test_text_format_shows_the_context_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="text", level="INFO")
    with log_context(delivery_id="d-2", repo="octo/app", loop_id=4):
        logging.getLogger("app").warning("careful")
    err = capsys.readouterr().err
    assert "WARNING app [delivery=d-2 repo=octo/app loop=4] careful" in err


def test_lines_below_the_level_are_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json", level="WARNING")
    logging.getLogger("app").info("chatter")
    logging.getLogger("app").warning("kept")
    assert [e["message"] for e in json_lines(capsys.readouterr().err)] == ["kept"]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_in_messages_and_arguments_are_redacted(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt=fmt, level="INFO", secrets=(SECRET, "short"))
    log = logging.getLogger("app")
    log.info("token is %s", SECRET)
    log.info(f"inline {SECRET} too")
    log.info("headers %s", {"authorization": f"token {SECRET}"})
    err = capsys.readouterr().err
    assert SECRET not in err
    assert err.count("[redacted]") == 3


def test_installation_tokens_are_masked_without_being_listed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tokens are minted after start-up, so the filter knows them by their format."""
    configure_logging(fmt="json", level="INFO")
    logging.getLogger("app").info("cloning with ghs_Ab1-x_9ZmQ4rT7uV2wY5kL8nP3sD6fG0hJ")
    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["message"] == "cloning with [redacted]"


def test_secrets_shorter_than_eight_characters_are_not_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Masking "abc" would mangle every word containing it; such a value is no secret anyway.
    configure_logging(fmt="json", level="INFO", secrets=("abc",))
    logging.getLogger("app").info("abcdef")
    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["message"] == "abcdef"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_in_exception_tracebacks_are_redacted(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(fmt=fmt, level="INFO", secrets=(SECRET,))
    try:
        raise RuntimeError(f"request to https://x-access-token:{SECRET}@github.com failed")
    except RuntimeError:
        logging.getLogger("app").exception("push failed")
    err = capsys.readouterr().err
    assert "RuntimeError: request to https://x-access-token:[redacted]@github.com failed" in err
    assert SECRET not in err
    if fmt == "json":
        (entry,) = json_lines(err)
        assert "Traceback" in entry["exception"]


def test_json_time_has_a_zone_and_fields_keep_one_type(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json", level="INFO")
    log = logging.getLogger("app.test")
    with log_context(repo="octo/app", loop_id="17"):  # a string id is still a number
        log.info("step", extra={"step": "fixing", "iteration": "2", "run_id": 55})
    log.info("outside any loop")
    first, second = json_lines(capsys.readouterr().err)
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert (first["loop_id"], first["step"], first["iteration"], first["run_id"]) == (
        17, "fixing", 2, 55,
    )  # fmt: skip
    assert second["loop_id"] is None and second["repo"] is None  # absent is null, not "-"
    assert "step" not in second


def test_text_lines_are_stamped_in_utc(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="text", level="INFO")
    logging.getLogger("app.test").info("hello")
    stamp = capsys.readouterr().err.split(" ", 1)[0]
    assert stamp.endswith("Z") and stamp[10] == "T"
