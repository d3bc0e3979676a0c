"""`/ci-fix retry|stop|status` in issue and pull request comments.

Parsing is pure: a command counts only at the start of a line outside quotes
(``> ``) and code blocks, so quoting someone else's command, or documenting the
commands in a fenced block, never triggers anything.  Only people with write
access may command the app, and bots are ignored outright (two bots answering
each other is how comment loops start).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

import gidgethub
from gidgethub.abc import GitHubAPI

PREFIX = "/ci-fix"
KNOWN_COMMANDS: dict[str, str] = {
    "retry": "give a loop that ended without a fix a fresh set of iterations",
    "stop": "stop the running fix loop; no more commits or comments from the app",
    "status": "show the loop's iterations, spend and what it is waiting for",
    "help": "show this help",
}
WRITE_ROLES = frozenset({"admin", "maintain", "write"})

# Up to three spaces of indentation: four would make it a Markdown code block.
_COMMAND_LINE = re.compile(r" {0,3}/ci-fix(?:[ \t]+(\S+)(?:[ \t]+(.*?))?)?[ \t]*", re.IGNORECASE)
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class Command:
    """A parsed command: ``kind`` is a key of ``KNOWN_COMMANDS`` or ``unknown``.

    ``arg`` is the rest of the line for known commands, the unrecognised word for
    ``unknown`` (empty for a bare ``/ci-fix``), so the reply can quote it.
    """

    kind: str
    arg: str = ""


def parse_command(comment_body: str) -> Command | None:
    """The first command in a comment, or None when it holds none."""
    fence: str | None = None
    for line in comment_body.splitlines():
        fence_match = _FENCE.match(line)
        if fence is not None:
            if (
                fence_match is not None
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
            ):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        match = _COMMAND_LINE.fullmatch(line)
        if match is None:
            continue
        word = (match.group(1) or "").lower()
        if word in KNOWN_COMMANDS:
            return Command(kind=word, arg=(match.group(2) or "").strip())
        return Command(kind="unknown", arg=match.group(1) or "")
    return None


async def has_write_access(gh: GitHubAPI, *, owner: str, repo: str, username: str) -> bool:
    """Whether ``username`` may command the app here: write, maintain or admin.

    A 404 (not a collaborator, or no such user) is a plain "no"; other errors
    propagate, since guessing either way would be wrong.
    """
    try:
        data = await gh.getitem(
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            {"owner": owner, "repo": repo, "username": username},
        )
    except gidgethub.BadRequest as exc:
        if exc.status_code == HTTPStatus.NOT_FOUND:
            return False
        raise
    # `permission` maps maintain to write; `role_name` names it (and custom roles).
    return data.get("permission") in WRITE_ROLES or data.get("role_name") in WRITE_ROLES


def help_text(command: Command | None = None) -> str:
    """The reply to ``/ci-fix help``, a bare ``/ci-fix`` or an unknown subcommand."""
    lines = []
    if command is not None and command.kind == "unknown" and command.arg:
        lines += [f"I don't know the command `{_quote(command.arg)}`.", ""]
    lines.append("ci-fix-loop understands these commands, at the start of a line:")
    lines.append("")
    lines += [f"- `{PREFIX} {name}`: {what}" for name, what in KNOWN_COMMANDS.items()]
    lines += ["", "Only people with write access to this repository can use them."]
    return "\n".join(lines)


def refusal_text(username: str, command: Command) -> str:
    """The polite reply to someone without write access, naming the command as they typed it."""
    word = command.arg if command.kind == "unknown" else command.kind
    typed = f"{PREFIX} {_quote(word)}".rstrip()
    return (
        f"Thanks, @{username}. `{typed}` can only be used by people"
        " with write access to this repository, so I have not acted on it."
        " A maintainer can run it for you."
    )


def _quote(text: str) -> str:
    """Keep user text inside a one-line code span (no backticks, bounded length)."""
    return text.replace("`", "'")[:40]
