"""`/ci-fix` comment commands: parsing, bots, and who may use them (against the fake GitHub)."""

from __future__ import annotations

from typing import Any

import pytest

from app.admin.commands import (
    KNOWN_COMMANDS,
    Command,
    has_write_access,
    help_text,
    parse_command,
    refusal_text,
)
from app.intake.payloads import is_bot
from tests.support import installation_client

INSTALLATION = 11


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/ci-fix retry", Command("retry")),
        ("/ci-fix stop", Command("stop")),
        ("/ci-fix status", Command("status")),
        ("/ci-fix help", Command("help")),
        ("/CI-Fix RETRY", Command("retry")),
        (
            "/ci-fix retry please, the runner was down",
            Command("retry", "please, the runner was down"),
        ),
        ("Thanks!\r\n\r\n/ci-fix stop\r\n", Command("stop")),
        ("   /ci-fix status   ", Command("status")),
        ("/ci-fix\tstatus", Command("status")),
        ("/ci-fix frobnicate", Command("unknown", "frobnicate")),
        ("/ci-fix", Command("unknown", "")),
        ("/ci-fix stop\n/ci-fix retry", Command("stop")),
        # not commands
        ("", None),
        ("please /ci-fix retry", None),
        ("/ci-fixer retry", None),
        ("> /ci-fix retry", None),
        (">/ci-fix retry", None),
        ("    /ci-fix retry", None),  # an indented code block
        ("`/ci-fix retry`", None),
        ("```\n/ci-fix retry\n```", None),
        ("~~~sh\n/ci-fix stop\n~~~\n", None),
        ("````\n```\n/ci-fix stop\n````", None),
        ("```\nunterminated\n/ci-fix stop", None),
        # a command after a closed code block still counts
        ("```\n/ci-fix stop\n```\n/ci-fix status", Command("status")),
        ("> /ci-fix stop\n\n/ci-fix retry", Command("retry")),
    ],
)
def test_parse_command(body: str, expected: Command | None) -> None:
    assert parse_command(body) == expected


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ({"login": "octocat", "type": "User"}, False),
        ({"login": "ci-fix-loop[bot]", "type": "Bot"}, True),
        ({"login": "dependabot[bot]"}, True),
        ({"login": "renovate", "type": "Bot"}, True),
        ({}, False),
    ],
)
def test_is_bot(sender: dict[str, str], expected: bool) -> None:
    assert is_bot(sender) is expected


def test_help_lists_every_command_and_quotes_the_unknown_one() -> None:
    text = help_text(Command("unknown", "fr`ob"))
    assert "I don't know the command `fr'ob`" in text
    for name in KNOWN_COMMANDS:
        assert f"`/ci-fix {name}`" in text
    assert "I don't know" not in help_text(Command("help"))


def test_refusal_is_polite_and_names_the_command() -> None:
    text = refusal_text("mallory", Command("retry"))
    assert text.startswith("Thanks, @mallory.")
    assert "`/ci-fix retry`" in text
    assert "write access" in text
    assert "`/ci-fix frob`" in refusal_text("mallory", Command("unknown", "frob"))
    assert "`/ci-fix` can only" in refusal_text("mallory", Command("unknown"))


# --- who may command the app: the collaborator permission API of the fake GitHub ---------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", True),
        ("maintain", True),
        ("write", True),
        ("triage", False),
        ("read", False),
        ("none", False),
    ],
)
async def test_write_access_follows_the_collaborator_role(
    fake_github: Any, role: str, expected: bool
) -> None:
    fake_github.add_repo("acme/app", installation_id=INSTALLATION)
    fake_github.set_permission("acme/app", "dana", role)

    async with installation_client(fake_github, INSTALLATION) as gh:
        allowed = await has_write_access(gh, owner="acme", repo="app", username="dana")

    assert allowed is expected
    assert fake_github.calls("GET", "/repos/acme/app/collaborators/dana/permission")


async def test_someone_who_is_not_a_collaborator_has_no_write_access(fake_github: Any) -> None:
    fake_github.add_repo("acme/app", installation_id=INSTALLATION)

    async with installation_client(fake_github, INSTALLATION) as gh:
        allowed = await has_write_access(gh, owner="acme", repo="app", username="stranger")

    assert allowed is False
