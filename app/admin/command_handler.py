"""Acts on maintainer commands left in comments on a loop's pull request or issue."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gidgethub.abc import GitHubAPI

from app.admin.commands import (
    Command,
    has_write_access,
    help_text,
    parse_command,
    refusal_text,
)
from app.admin.status import loop_summary
from app.intake.payloads import Comment
from app.loop.engine import Engine
from app.store.base import Store
from app.store.records import Loop

log = logging.getLogger(__name__)


class CommandHandler:
    def __init__(self, *, store: Store, engine: Engine, github: Callable[[int], GitHubAPI]) -> None:
        self._store = store
        self._engine = engine
        self._github = github

    async def on_comment(self, comment: Comment) -> None:
        if comment.user_is_bot:
            return
        command = parse_command(comment.body)
        if command is None:
            return
        repo, number, comment_id, user = (
            comment.repo,
            comment.number,
            comment.comment_id,
            comment.user,
        )
        owner, name = repo.split("/", 1)
        gh = self._github(comment.installation_id)

        async def reply(text: str) -> None:
            await gh.post(
                "/repos/{owner}/{repo}/issues/{number}/comments",
                {"owner": owner, "repo": name, "number": number},
                data={"body": text},
            )

        if not await has_write_access(gh, owner=owner, repo=name, username=user):
            log.info("ignoring /ci-fix %s from %s: no write access", command.kind, user)
            await reply(refusal_text(user, command))
            return
        await gh.post(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            {"owner": owner, "repo": name, "comment_id": comment_id},
            data={"content": "+1"},
        )
        loop = await self._store.loop_for_number(repo, number)
        await reply(await self._run(command, loop, user))

    async def _run(self, command: Command, loop: Loop | None, user: str) -> str:
        if command.kind in ("help", "unknown"):
            return help_text(command)
        if loop is None:
            return "There is no ci-fix-loop run attached to this conversation."
        if command.kind == "status":
            return await self._status(loop)
        if command.kind == "stop":
            stopped = await self._engine.stop(loop, f"Stopped by @{user}")
            if stopped is None:
                return f"Loop {loop.id} had already ended ({loop.state.value}); nothing to stop."
            return f"Stopped loop {loop.id}. The app will not push or comment for it again."
        if command.kind == "retry":
            restarted = await self._engine.retry(loop, user)
            if restarted is None:
                return (
                    f"Loop {loop.id} is {loop.state.value}: only a loop that ended without a "
                    "fix (exhausted or escalated) can be retried."
                )
            return f"Retrying loop {loop.id} with a fresh set of iterations, as @{user} asked."
        return help_text(command)

    async def _status(self, loop: Loop) -> str:
        summary = loop_summary(loop)
        lines = [
            f"**Loop {loop.id}**: `{summary['state']}`"
            + (f" ({summary['reason']})" if summary["reason"] else ""),
            "",
            f"- failing run: {loop.run_url} on `{loop.head_sha[:7]}`",
            f"- category: {summary['category'] or 'not diagnosed yet'}",
            f"- iterations: {summary['iterations']}, spend: ${loop.cost_usd:.2f}",
        ]
        for iteration in await self._store.iterations(loop.id):
            lines.append(
                f"  - #{iteration.n}: {iteration.status}"
                + (f", CI {iteration.ci_conclusion}" if iteration.ci_conclusion else "")
                + f", ${iteration.cost_usd:.2f}"
            )
        return "\n".join(lines)
